#include "ftz/engine/signatures/run_automaton.hpp"

#include <algorithm>
#include <map>

namespace ftz::engine::sig {

namespace {

// Symbols as bits of a mask: 0-9, A-Z, a-z (RunAutomaton's numbering).
using SymbolMask = uint64_t;
constexpr int kAlnum = 62;

int symbol_of(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'Z') return 10 + (c - 'A');
  if (c >= 'a' && c <= 'z') return 36 + (c - 'a');
  return -1;
}

SymbolMask fold_case(SymbolMask m) noexcept {
  const SymbolMask upper = (m >> 10) & ((SymbolMask{1} << 26) - 1);
  const SymbolMask lower = (m >> 36) & ((SymbolMask{1} << 26) - 1);
  return m | (lower << 10) | (upper << 36);
}

// A Thompson NFA without loops (the syntax has bounded repeats only):
// states with edges on symbol masks and epsilon edges; one accepting state
// per rule.
struct Nfa {
  struct State {
    std::vector<std::pair<SymbolMask, uint32_t>> edges;
    std::vector<uint32_t> eps;
    int64_t accept = -1;  // rule id
  };
  std::vector<State> states;
  uint32_t add() {
    states.emplace_back();
    return static_cast<uint32_t>(states.size() - 1);
  }
};

// Recursive descent over is_run_pattern's syntax: alnum literals, \d,
// classes of them (ranges, no negation), (?: | ), and ?, {n}, {n,m} after an
// atom. Builds the NFA fragment from `from` and returns its end state; sets
// ok = false on anything else.
class Parser {
 public:
  Parser(std::string_view re, bool caseless, Nfa& nfa) : re_(re), caseless_(caseless), nfa_(nfa) {}
  bool parse(uint32_t from, uint32_t& to) {
    to = alternation(from);
    return ok_ && at_ == re_.size();
  }

 private:
  uint32_t alternation(uint32_t from) {
    std::vector<uint32_t> ends{sequence(from)};
    while (ok_ && at_ < re_.size() && re_[at_] == '|') {
      ++at_;
      ends.push_back(sequence(from));
    }
    if (ends.size() == 1) return ends[0];
    const uint32_t end = nfa_.add();
    for (uint32_t e : ends) nfa_.states[e].eps.push_back(end);
    return end;
  }
  uint32_t sequence(uint32_t from) {
    uint32_t cur = from;
    while (ok_ && at_ < re_.size() && re_[at_] != '|' && re_[at_] != ')') cur = repeated(cur);
    return cur;
  }
  // An atom with its quantifier: the atom's text is read again for every copy.
  uint32_t repeated(uint32_t from) {
    const size_t atom_at = at_;
    const size_t states_before = nfa_.states.size();
    const size_t edges_before = nfa_.states[from].edges.size();
    const size_t eps_before = nfa_.states[from].eps.size();
    const uint32_t once = atom(from);
    size_t lo = 1;
    size_t hi = 1;
    if (at_ < re_.size() && re_[at_] == '?') {
      ++at_;
      lo = 0;
    } else if (at_ < re_.size() && re_[at_] == '{') {
      ++at_;
      lo = number();
      hi = lo;
      if (at_ < re_.size() && re_[at_] == ',') {
        ++at_;
        hi = number();
      }
      if (at_ >= re_.size() || re_[at_] != '}' || hi < lo || hi > 64 || hi == 0) {
        ok_ = false;
        return once;
      }
      ++at_;
    }
    if (!ok_ || (lo == 1 && hi == 1)) return once;
    // Undo the single copy; build `lo` copies, then `hi - lo` that may each
    // be skipped to the end.
    const size_t after = at_;
    nfa_.states.resize(states_before);
    nfa_.states[from].edges.resize(edges_before);
    nfa_.states[from].eps.resize(eps_before);
    uint32_t cur = from;
    for (size_t k = 0; k < lo; ++k) {
      at_ = atom_at;
      cur = atom(cur);
    }
    const uint32_t end = nfa_.add();
    for (size_t k = lo; k < hi; ++k) {
      nfa_.states[cur].eps.push_back(end);
      at_ = atom_at;
      cur = atom(cur);
    }
    nfa_.states[cur].eps.push_back(end);
    at_ = after;
    return end;
  }
  size_t number() {
    size_t n = 0;
    const size_t start = at_;
    while (at_ < re_.size() && re_[at_] >= '0' && re_[at_] <= '9' && n <= 1000) {
      n = n * 10 + static_cast<size_t>(re_[at_] - '0');
      ++at_;
    }
    if (at_ == start) ok_ = false;
    return n;
  }
  uint32_t edge(uint32_t from, SymbolMask m) {
    const uint32_t to = nfa_.add();
    nfa_.states[from].edges.emplace_back(caseless_ ? fold_case(m) : m, to);
    return to;
  }
  uint32_t atom(uint32_t from) {
    if (at_ >= re_.size()) {
      ok_ = false;
      return from;
    }
    const char c = re_[at_];
    if (re_.compare(at_, 3, "(?:") == 0) {
      at_ += 3;
      const uint32_t end = alternation(from);
      if (at_ >= re_.size() || re_[at_] != ')') {
        ok_ = false;
        return end;
      }
      ++at_;
      return end;
    }
    if (re_.compare(at_, 2, "\\d") == 0) {
      at_ += 2;
      return edge(from, (SymbolMask{1} << 10) - 1);
    }
    if (c == '[') return edge(from, char_class());
    const int s = symbol_of(c);
    if (s < 0) {
      ok_ = false;
      return from;
    }
    ++at_;
    return edge(from, SymbolMask{1} << s);
  }
  SymbolMask char_class() {
    SymbolMask m = 0;
    for (++at_; at_ < re_.size() && re_[at_] != ']';) {
      if (re_.compare(at_, 2, "\\d") == 0) {
        m |= (SymbolMask{1} << 10) - 1;
        at_ += 2;
        continue;
      }
      const int lo = symbol_of(re_[at_]);
      if (lo < 0) {
        ok_ = false;
        return m;
      }
      int hi = lo;
      if (at_ + 2 < re_.size() && re_[at_ + 1] == '-' && re_[at_ + 2] != ']') {
        hi = symbol_of(re_[at_ + 2]);
        // A range within one kind (is_run_pattern): contiguous symbols.
        if (hi < lo) {
          ok_ = false;
          return m;
        }
        at_ += 3;
      } else {
        ++at_;
      }
      for (int s = lo; s <= hi; ++s) m |= SymbolMask{1} << s;
    }
    if (at_ >= re_.size()) {
      ok_ = false;
      return m;
    }
    ++at_;
    return m;
  }

  std::string_view re_;
  bool caseless_;
  Nfa& nfa_;
  size_t at_ = 0;
  bool ok_ = true;
};

void close_over_eps(const Nfa& nfa, std::vector<uint32_t>& set) {
  for (size_t i = 0; i < set.size(); ++i) {
    for (uint32_t t : nfa.states[set[i]].eps) {
      if (std::find(set.begin(), set.end(), t) == set.end()) set.push_back(t);
    }
  }
  std::sort(set.begin(), set.end());
}

}  // namespace

std::optional<RunAutomaton> RunAutomaton::build(std::span<const Rule> rules) {
  Nfa nfa;
  const uint32_t start = nfa.add();
  for (const Rule& r : rules) {
    uint32_t end = 0;
    if (!Parser(r.regex, r.caseless, nfa).parse(start, end)) return std::nullopt;
    // Two rules ending in one state cannot happen (each rule's end is a
    // fresh state unless the rule is empty, which is_run_pattern excludes).
    if (end == start || nfa.states[end].accept >= 0) return std::nullopt;
    nfa.states[end].accept = r.id;
  }
  // Subset construction over the 62 symbols; state 0 is the empty set.
  RunAutomaton a;
  std::map<std::vector<uint32_t>, uint32_t> index;
  std::vector<std::vector<uint32_t>> sets{{}};
  index[{}] = kDead;
  std::vector<uint32_t> first{start};
  close_over_eps(nfa, first);
  index[first] = kStart;
  sets.push_back(first);
  for (size_t s = 0; s < sets.size(); ++s) {
    a.next_.resize((s + 1) * kSymbols, kDead);
    if (s == kDead) continue;
    for (int sym = 0; sym < kAlnum; ++sym) {
      std::vector<uint32_t> to;
      for (uint32_t q : sets[s]) {
        for (const auto& [mask, t] : nfa.states[q].edges) {
          if ((mask >> sym & 1u) != 0 && std::find(to.begin(), to.end(), t) == to.end()) to.push_back(t);
        }
      }
      close_over_eps(nfa, to);
      auto [it, added] = index.emplace(to, static_cast<uint32_t>(sets.size()));
      if (added) {
        if (sets.size() >= kMaxStates) return std::nullopt;
        sets.push_back(to);
      }
      a.next_[s * kSymbols + static_cast<size_t>(sym)] = it->second;
    }
  }
  a.accept_from_.reserve(sets.size() + 1);
  for (const auto& set : sets) {
    a.accept_from_.push_back(static_cast<uint32_t>(a.accepts_.size()));
    const size_t from = a.accepts_.size();
    for (uint32_t q : set) {
      if (nfa.states[q].accept >= 0) a.accepts_.push_back(static_cast<uint32_t>(nfa.states[q].accept));
    }
    std::sort(a.accepts_.begin() + static_cast<std::ptrdiff_t>(from), a.accepts_.end());
  }
  a.accept_from_.push_back(static_cast<uint32_t>(a.accepts_.size()));
  return a;
}

}  // namespace ftz::engine::sig
