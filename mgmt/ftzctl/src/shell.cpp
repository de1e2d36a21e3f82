// ftzctl's interactive shell (issue 12 §1): what `ftzctl` with no command
// runs on a terminal. A Junos-like shell over the one-shot commands: the
// same command tree and output (execute()), operational and configuration
// mode, TAB completion from the live model, `?` help, unique-prefix
// abbreviations, history across sessions, `| match REGEX`, `| count`,
// `| json`, `| no-more` and a pager. Line editing is libedit (decision 0018).
#include <histedit.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "ftzctl.hpp"

namespace ftz::ctl {
namespace {

namespace pb = ftzgate::v1;

// What a command needs of the account's role: ftzgated's own rule
// (controlplane/daemon/src/service.cpp, authorize()), so that completion
// never offers what the daemon would refuse.
enum class Need : uint8_t { kAny, kRead, kPolicy, kAudit, kSystem };

bool allowed(Need need, pb::Role role) {
  switch (need) {
    case Need::kAny:
      return true;
    case Need::kRead:
      return role != pb::ROLE_AUDADMIN;
    case Need::kPolicy:
      return role == pb::ROLE_SECADMIN;
    case Need::kAudit:
      return role == pb::ROLE_AUDADMIN;
    case Need::kSystem:
      return role == pb::ROLE_SYSADMIN;
  }
  return false;
}

// Where an argument's completions come from.
enum class Names : uint8_t { kNone, kDataplanes, kInterfaces, kSections, kRoles, kKinds };

// One word of the command tree: a keyword, or an argument ("<N>") that
// takes any word; `rest` takes every word to the end of the line.
struct Node {
  std::string word;
  std::string help;
  Need need = Need::kAny;
  std::vector<Node> next;
  Names names = Names::kNone;
  bool rest = false;
  [[nodiscard]] bool argument() const { return word.front() == '<'; }
};

Node arg(std::string word, std::string help, std::vector<Node> next = {}, Names names = Names::kNone) {
  return {std::move(word), std::move(help), Need::kAny, std::move(next), names, false};
}
Node rest(std::string word, std::string help, Names names = Names::kNone) {
  return {std::move(word), std::move(help), Need::kAny, {}, names, true};
}
Node key(std::string word, std::string help, std::vector<Node> next = {}, Need need = Need::kAny) {
  return {std::move(word), std::move(help), need, std::move(next), Names::kNone, false};
}

Node show_tree() {
  return key(
      "show", "show state and configuration",
      {key("configuration", "the running configuration",
           {key("candidate", "your candidate configuration"),
            key("rollback", "a kept generation", {arg("<N>", "generation")})}),
       key("system", "the control plane",
           {key("status", "version, uptime, generation, data planes, expiring certificates"),
            key("commit", "the commit history"), key("users", "accounts and their roles")}),
       key("dataplanes", "which data plane runs which generation, and its counters"),
       key("fleet", "every member of this appliance's fleet: generation, lag, data planes"),
       key("compliance", "individuals counted this year, all data planes",
           {key("fleet", "of every member, as the fleet's ledger counted them",
                {key("year", "a past year's, as its owner last wrote it", {arg("<YEAR>", "e.g. 2026")})})}),
       key("alerts", "the newest alerts, masked",
           {key("last", "how many", {arg("<N>", "1 to 10000")}),
            key("dataplane", "of one data plane", {arg("<ID>", "data plane", {}, Names::kDataplanes)})}),
       key("certificates", "every certificate issued for mutual TLS"),
       key("zones", "the running configuration's zones"),
       key("tenants", "its tenants, with this year's individuals and threshold state"),
       key("flows", "flows that ended",
           {key("summary", "zone pairs by bytes and flows by deciding rule, all data planes")}),
       key("interfaces", "the data planes' own ports and their counters",
           {arg("<NAME>", "DATAPLANE/PORT", {key("extensive", "every counter")}, Names::kInterfaces),
            key("extensive", "every counter of every interface")})},
      Need::kRead);
}

Node operational_tree() {
  Node root;
  root.next = {
      show_tree(),
      key("configure", "enter configuration mode", {}, Need::kPolicy),
      key("monitor", "counters refreshed every 2 s, until Ctrl-C",
          {key("interface", "the data planes' ports, with rates",
               {arg("<NAME>", "DATAPLANE/PORT", {}, Names::kInterfaces)})},
          Need::kRead),
      key("request", "ask a part of the appliance to act",
          {key("dataplane", "a data plane",
               {key("restart", "it stops as at SIGTERM and starts again",
                    {arg("<ID>", "data plane", {}, Names::kDataplanes)})})},
          Need::kSystem),
      key("clear", "reset what you see",
          {key("statistics", "count interfaces from now on (your view only; nothing else is reset)")},
          Need::kRead),
      key("audit", "the audit log",
          {key("verify", "verify the hash chain and the signed checkpoints"),
           key("show", "records as stored",
               {key("since", "from a time (+08:00)", {arg("<TIME>", "YYYY-MM-DD[THH:MM[:SS]]")}),
                key("last", "the newest N", {arg("<N>", "how many")})})},
          Need::kAudit),
      key("user", "accounts",
          {key("passwd", "your own password"),
           key("add", "an operator account", {arg("<NAME>", "account")}, Need::kSystem),
           key("del", "delete an account and revoke its certificates", {arg("<NAME>", "account")},
               Need::kSystem),
           key("grant", "give an account a role",
               {arg("<NAME>", "account", {arg("<ROLE>", "role", {}, Names::kRoles)})}, Need::kPolicy)}),
      key("certificate", "certificates for mutual TLS",
          {key("issue", "a key and its certificate",
               {arg("<KIND>", "dataplane or admin",
                    {arg("<NAME>", "its name", {key("to", "directory", {arg("<DIR>", "directory")})})},
                    Names::kKinds)}),
           key("revoke", "refused from the next call on", {arg("<SERIAL>", "serial")})},
          Need::kPolicy),
      key("help", "the commands of this mode"),
      key("exit", "leave the shell"),
      key("quit", "leave the shell"),
  };
  return root;
}

Node configuration_tree() {
  Node root;
  root.next = {
      key("set", "set a value: set PATH... VALUE", {rest("<PATH>", "path and value", Names::kSections)},
          Need::kPolicy),
      key("delete", "delete a value or an item", {rest("<PATH>", "path", Names::kSections)}, Need::kPolicy),
      key("load", "replace your candidate with a file",
          {key("merge", "merge a file into your candidate", {arg("<FILE>", "file")}), arg("<FILE>", "file")},
          Need::kPolicy),
      key("commit", "commit your candidate",
          {key("check", "validate, change nothing"), key("confirm", "keep a commit confirmed"),
           key("comment", "a comment", {rest("<TEXT>", "comment")}),
           key("confirmed", "roll back unless confirmed", {arg("<MINUTES>", "minutes")}),
           key("local-only", "in a fleet: here alone, until the fleet's next commit (audited)",
               {key("comment", "why (required)", {rest("<TEXT>", "reason")})})},
          Need::kPolicy),
      key("rollback", "a kept generation into your candidate", {arg("<N>", "generation")}, Need::kPolicy),
      key("edit", "go down to a level: set, delete and show then start there",
          {rest("<PATH>", "section [item ...]", Names::kSections)}, Need::kPolicy),
      key("up", "one level up"),
      key("top", "the top level"),
      key("show", "your candidate at this level (| compare: the whole candidate against the running one)", {},
          Need::kRead),
      key("run", "an operational command", {rest("<COMMAND>", "operational command")}),
      key("help", "the commands of this mode"),
      key("exit", "leave configuration mode"),
      key("quit", "leave configuration mode"),
  };
  return root;
}

// Filters after a pipe.
const std::vector<std::pair<std::string, std::string>> kPipes = {
    {"compare", "(show configuration) differences from the running configuration"},
    {"match", "only lines matching a regular expression"},
    {"count", "count the lines"},
    {"json", "the output as JSON"},
    {"no-more", "do not page"}};

std::vector<std::string> split_words(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  bool have = false;
  for (const char c : line) {
    if (c == '"') {
      quoted = !quoted;
      have = true;
    } else if (!quoted && (c == ' ' || c == '\t')) {
      if (have) out.push_back(cur);
      cur.clear();
      have = false;
    } else if (!quoted && c == '|') {
      if (have) out.push_back(cur);
      out.emplace_back("|");
      cur.clear();
      have = false;
    } else {
      cur += c;
      have = true;
    }
  }
  if (have) out.push_back(cur);
  return out;
}

struct Filters;

class Shell {
 public:
  Shell(const Args& a, mgmt::Session& s) : args_(a), session_(s), role_(s.role()) {}

  int run();
  // libedit's callbacks.
  unsigned char complete();
  unsigned char help();
  [[nodiscard]] const char* prompt() const { return prompt_.c_str(); }

 private:
  struct Parsed {
    std::vector<std::string> words;  // the command, abbreviations expanded
    const Node* last = nullptr;      // the node of the last word
    bool denied = false;             // a word the account's role may not use
    std::string error;
  };

  [[nodiscard]] const Node& tree() const { return configuring_ ? config_ : operational_; }
  std::vector<const Node*> candidates(const Node& at, const std::string& prefix) const;
  std::vector<std::string> argument_names(const Node& n, const std::vector<std::string>& before) const;
  Parsed parse(const std::vector<std::string>& words) const;
  // The words typed before the one being completed, walked down the tree.
  const Node* walk(const std::vector<std::string>& words) const;
  // A whole command of this mode (the shell's own words included).
  [[nodiscard]] bool runnable(const std::vector<std::string>& words) const;
  void load_names();
  void run_line(const std::string& line);
  void run_command(std::vector<std::string> words, const std::vector<std::vector<std::string>>& pipes);
  void page(const std::string& text, bool paged) const;
  // `show` below the top level: that part of the candidate.
  void show_level(const std::vector<std::vector<std::string>>& pipes);
  void finish(std::string out, const Filters& f) const;
  void list(const std::vector<std::pair<std::string, std::string>>& items) const;

  Args args_;
  mgmt::Session& session_;
  pb::Role role_;
  Node operational_ = operational_tree();
  Node config_ = configuration_tree();
  bool configuring_ = false;
  // Configuration mode's level ([edit zones inside]): set, delete and show
  // start there.
  std::vector<std::string> edit_path_;
  bool done_ = false;
  std::string user_;
  std::string host_ = "ftzgate";
  std::string prompt_;
  std::vector<std::string> dataplanes_;
  std::vector<std::string> interfaces_;                       // DATAPLANE/PORT
  std::map<std::string, std::vector<std::string>> sections_;  // top-level key -> item names
  std::string current_line_;                                  // what complete()/help() see
  EditLine* el_ = nullptr;
};

std::vector<const Node*> Shell::candidates(const Node& at, const std::string& prefix) const {
  std::vector<const Node*> out;
  for (const Node& n : at.next) {
    if (!allowed(n.need, role_)) continue;
    if (n.argument() || n.word.rfind(prefix, 0) == 0) out.push_back(&n);
  }
  return out;
}

Shell::Parsed Shell::parse(const std::vector<std::string>& words) const {
  Parsed p;
  const Node* at = &tree();
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (at->rest) {
      p.words.push_back(w);
      continue;
    }
    const Node* exact = nullptr;
    const Node* any_arg = nullptr;
    std::vector<const Node*> prefixed;
    for (const Node& n : at->next) {
      if (n.argument()) {
        any_arg = any_arg != nullptr ? any_arg : &n;
      } else if (n.word == w) {
        exact = &n;
      } else if (n.word.rfind(w, 0) == 0) {
        prefixed.push_back(&n);
      }
    }
    const Node* take = exact;
    if (take == nullptr && prefixed.size() == 1) take = prefixed[0];
    if (take == nullptr && prefixed.size() > 1 && any_arg == nullptr) {
      p.error = "'" + w + "' is ambiguous:";
      for (const Node* n : prefixed) p.error += " " + n->word;
      return p;
    }
    if (take == nullptr) take = any_arg;
    if (take == nullptr) {
      p.error = at->next.empty() ? "'" + w + "': nothing more is expected" : "syntax error at '" + w + "'";
      return p;
    }
    p.denied = p.denied || !allowed(take->need, role_);
    p.words.push_back(take->argument() ? w : take->word);
    p.last = take;
    at = take;
  }
  return p;
}

const Node* Shell::walk(const std::vector<std::string>& words) const {
  const Parsed p = parse(words);
  if (!p.error.empty()) return nullptr;
  return p.last != nullptr ? p.last : &tree();
}

bool Shell::runnable(const std::vector<std::string>& words) const {
  if (words.size() == 1 &&
      (words[0] == "exit" || words[0] == "quit" || words[0] == "help" || words[0] == "configure" ||
       (configuring_ && (words[0] == "show" || words[0] == "up" || words[0] == "top"))))
    return true;
  if (configuring_ && words.size() >= 2 && words[0] == "edit") return true;
  if (configuring_ && !words.empty() && words[0] == "run")
    return known_command(std::vector<std::string>(words.begin() + 1, words.end()));
  return known_command(words);
}

std::vector<std::string> Shell::argument_names(const Node& n, const std::vector<std::string>& before) const {
  switch (n.names) {
    case Names::kDataplanes:
      return dataplanes_;
    case Names::kInterfaces:
      return interfaces_;
    case Names::kRoles:
      return {"sysadmin", "secadmin", "audadmin", "operator"};
    case Names::kKinds:
      return {"dataplane", "admin"};
    case Names::kSections: {
      // set/delete/edit SECTION ITEM...: the configuration's own names,
      // from the level edit went down to.
      std::vector<std::string> path = edit_path_;
      path.insert(path.end(), before.begin() + 1, before.end());  // the words after set/delete/edit
      if (path.empty()) {
        std::vector<std::string> keys;
        for (const auto& [k, v] : sections_) keys.push_back(k);
        return keys;
      }
      const auto s = sections_.find(path[0]);
      if (path.size() == 1 && s != sections_.end()) return s->second;
      return {};
    }
    case Names::kNone:
      break;
  }
  return {};
}

void Shell::list(const std::vector<std::pair<std::string, std::string>>& items) const {
  std::fputs("\n", stdout);
  size_t width = 0;
  for (const auto& [w, h] : items) width = std::max(width, w.size());
  for (const auto& [w, h] : items) std::printf("  %-*s  %s\n", static_cast<int>(width), w.c_str(), h.c_str());
  std::fflush(stdout);
}

// The line up to the cursor: the words before, and the one being typed.
std::pair<std::vector<std::string>, std::string> typed(EditLine* el) {
  const LineInfo* li = el_line(el);
  const std::string upto(li->buffer, li->cursor);
  std::vector<std::string> words = split_words(upto);
  std::string partial;
  if (!upto.empty() && upto.back() != ' ' && !words.empty()) {
    partial = words.back();
    words.pop_back();
  }
  // After a pipe: only the filters.
  const auto pipe = std::find(words.rbegin(), words.rend(), "|");
  if (pipe != words.rend()) words = std::vector<std::string>(pipe.base() - 1, words.end());
  return {words, partial};
}

unsigned char Shell::complete() {
  auto [words, partial] = typed(el_);
  std::vector<std::string> options;
  if (!words.empty() && words[0] == "|") {
    if (words.size() == 1)
      for (const auto& [w, h] : kPipes)
        if (w.rfind(partial, 0) == 0) options.push_back(w);
  } else {
    const Node* at = walk(words);
    if (at == nullptr) return CC_ERROR;
    const Node* rest_node = at->rest ? at : nullptr;
    for (const Node* n :
         rest_node != nullptr ? std::vector<const Node*>{rest_node} : candidates(*at, partial)) {
      if (!n->argument()) {
        options.push_back(n->word);
        continue;
      }
      for (const std::string& name : argument_names(*n, words))
        if (name.rfind(partial, 0) == 0) options.push_back(name);
    }
  }
  std::sort(options.begin(), options.end());
  options.erase(std::unique(options.begin(), options.end()), options.end());
  if (options.empty()) return CC_ERROR;
  std::string common = options[0];
  for (const std::string& o : options) {
    size_t k = 0;
    while (k < common.size() && k < o.size() && common[k] == o[k]) ++k;
    common.resize(k);
  }
  if (options.size() == 1) common += ' ';
  if (common.size() > partial.size()) {
    el_insertstr(el_, common.substr(partial.size()).c_str());
    return CC_REFRESH;
  }
  std::vector<std::pair<std::string, std::string>> shown;
  shown.reserve(options.size());
  for (const std::string& o : options) shown.emplace_back(o, "");
  list(shown);
  return CC_REDISPLAY;
}

unsigned char Shell::help() {
  auto [words, partial] = typed(el_);
  std::vector<std::pair<std::string, std::string>> items;
  if (!words.empty() && words[0] == "|") {
    for (const auto& [w, h] : kPipes)
      if (w.rfind(partial, 0) == 0) items.emplace_back(w, h);
  } else if (const Node* at = walk(words); at != nullptr) {
    if (at->rest) items.emplace_back(at->word, at->help);
    for (const Node* n : candidates(*at, partial)) items.emplace_back(n->word, n->help);
    if (at != &tree() && runnable(parse(words).words))
      items.emplace_back("<[Enter]>", "execute this command");
    if (at != &tree()) items.emplace_back("|", "pipe the output through a filter");
  }
  if (items.empty()) items.emplace_back("", "nothing fits here");
  list(items);
  return CC_REDISPLAY;
}

void Shell::load_names() {
  pb::ShowSystemStatusReply status;
  if (session_.call(&pb::Management::Stub::ShowSystemStatus, pb::ShowSystemStatusRequest(), &status).ok() &&
      !status.host().empty())
    host_ = status.host();
  if (!allowed(Need::kRead, role_)) return;
  pb::ShowDataplanesReply dps;
  if (session_.call(&pb::Management::Stub::ShowDataplanes, pb::ShowDataplanesRequest(), &dps).ok())
    for (const auto& d : dps.dataplanes()) {
      dataplanes_.push_back(d.id());
      for (const auto& port : d.totals().ports()) interfaces_.push_back(d.id() + "/" + port.name());
    }
  pb::ShowConfigurationRequest req;
  req.set_running(true);
  pb::ShowConfigurationReply conf;
  if (!session_.call(&pb::Management::Stub::ShowConfiguration, req, &conf).ok()) return;
  try {
    const YAML::Node root = YAML::Load(conf.yaml());
    for (const auto& section : root) {
      std::vector<std::string>& names = sections_[section.first.as<std::string>()];
      if (!section.second.IsSequence()) continue;
      for (const auto& item : section.second)
        if (item.IsMap() && item["name"]) names.push_back(item["name"].as<std::string>());
    }
  } catch (const YAML::Exception&) {
    // Completion of names is a convenience: without it, words still run.
  }
}

int terminal_rows() {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 2) return ws.ws_row;
  return 24;
}

// One key from the terminal, without echo or waiting for Enter.
int read_key() {
  termios old{};
  if (::tcgetattr(STDIN_FILENO, &old) != 0) return 'q';
  termios raw = old;
  raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  ::tcsetattr(STDIN_FILENO, TCSANOW, &raw);
  unsigned char c = 'q';
  if (::read(STDIN_FILENO, &c, 1) != 1) c = 'q';
  ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
  return c;
}

// A screen at a time: space the next page, Enter the next line, q stops.
void Shell::page(const std::string& text, bool paged) const {
  std::istringstream in(text);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  const size_t rows = static_cast<size_t>(terminal_rows()) - 1;
  size_t shown = 0;
  size_t budget = rows;
  for (const std::string& l : lines) {
    if (paged && shown == budget) {
      std::fputs("---(more)---", stdout);
      std::fflush(stdout);
      const int k = read_key();
      std::fputs("\r\033[K", stdout);
      if (k == 'q' || k == 'Q' || k == 3) break;
      budget += (k == '\n' || k == '\r') ? 1 : rows;
    }
    std::printf("%s\n", l.c_str());
    ++shown;
  }
  std::fflush(stdout);
}

// What a command prints on stdout, and its exit status.
std::pair<std::string, int> captured(const std::function<int()>& fn) {
  std::fflush(stdout);
  std::FILE* tmp = std::tmpfile();
  if (tmp == nullptr) return {"", fn()};
  const int saved = ::dup(STDOUT_FILENO);
  ::dup2(fileno(tmp), STDOUT_FILENO);
  const int rc = fn();
  std::fflush(stdout);
  ::dup2(saved, STDOUT_FILENO);
  ::close(saved);
  std::string out;
  std::rewind(tmp);
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, tmp)) > 0;) out.append(buf, n);
  std::fclose(tmp);
  return {out, rc};
}

// What the pipes after a command ask for; nullopt (said) when one is wrong.
struct Filters {
  bool json = false;
  bool compare = false;
  bool paged = true;
  bool count = false;
  std::optional<std::regex> match;
};

std::optional<Filters> filters_of(const std::vector<std::vector<std::string>>& pipes, bool json) {
  Filters f;
  f.json = json;
  for (const auto& p : pipes) {
    std::vector<std::string> options;
    for (const auto& [w, h] : kPipes)
      if (w.rfind(p[0], 0) == 0) options.push_back(w);
    if (options.size() != 1) {
      std::printf("%s '| %s'\n", options.empty() ? "unknown filter" : "ambiguous filter", p[0].c_str());
      return std::nullopt;
    }
    const std::string& name = options[0];
    if (name == "compare") {
      f.compare = true;
    } else if (name == "json") {
      f.json = true;
    } else if (name == "no-more") {
      f.paged = false;
    } else if (name == "count") {
      f.count = true;
    } else if (p.size() < 2) {
      std::puts("| match needs a regular expression");
      return std::nullopt;
    } else {
      try {
        f.match.emplace(p[1]);
      } catch (const std::regex_error& e) {
        std::printf("| match: not a regular expression: %s\n", e.what());
        return std::nullopt;
      }
    }
  }
  return f;
}

// `out` through | match and | count, then the pager.
void Shell::finish(std::string out, const Filters& f) const {
  if (f.match || f.count) {
    std::istringstream in(out);
    std::string kept;
    size_t n = 0;
    for (std::string l; std::getline(in, l);) {
      if (f.match && !std::regex_search(l, *f.match)) continue;
      kept += l + "\n";
      ++n;
    }
    out = f.count ? "Count: " + std::to_string(n) + " lines\n" : kept;
  }
  page(out, f.paged && ::isatty(STDOUT_FILENO) != 0);
}

void Shell::run_command(std::vector<std::string> words, const std::vector<std::vector<std::string>>& pipes) {
  const std::optional<Filters> f = filters_of(pipes, args_.json);
  if (!f) return;
  if (f->compare) words.insert(words.end(), {"|", "compare"});
  if (!known_command(words)) {
    std::puts("incomplete command (? lists what may follow)");
    return;
  }
  Args a = args_;
  a.json = f->json;
  if (words[0] == "monitor") {
    // It owns the screen until Ctrl-C: neither captured nor paged.
    if (!pipes.empty()) {
      std::puts("monitor takes no filter");
      return;
    }
    (void)execute(a, session_, words);
    return;
  }
  auto [out, rc] = captured([&] { return execute(a, session_, words); });
  (void)rc;  // errors are on stderr already
  finish(std::move(out), *f);
}

void Shell::show_level(const std::vector<std::vector<std::string>>& pipes) {
  const std::optional<Filters> f = filters_of(pipes, false);
  if (!f) return;
  pb::ShowConfigurationRequest req;
  req.set_candidate(true);
  pb::ShowConfigurationReply reply;
  if (const grpc::Status st = session_.call(&pb::Management::Stub::ShowConfiguration, req, &reply);
      !st.ok()) {
    (void)fail(st);
    return;
  }
  std::string level;
  for (const std::string& w : edit_path_) level += (level.empty() ? "" : " ") + w;
  try {
    // Down the path as set and delete read it: a key of a mapping, or the
    // item of a list whose name (an approval: id) is the word.
    YAML::Node at = YAML::Load(reply.yaml());
    for (const std::string& w : edit_path_) {
      YAML::Node next;
      if (at.IsMap()) {
        next = at[w];
      } else if (at.IsSequence()) {
        for (const YAML::Node& item : at)
          if (item.IsMap() && ((item["name"] && item["name"].as<std::string>() == w) ||
                               (item["id"] && item["id"].as<std::string>() == w)))
            next = item;
      }
      if (!next.IsDefined() || next.IsNull()) {
        std::printf("nothing at [edit %s] in your candidate yet\n", level.c_str());
        return;
      }
      at = next;
    }
    YAML::Emitter out;
    out << at;
    finish(std::string("# [edit ") + level + "] of your candidate (based on generation " +
               std::to_string(reply.generation()) + ")\n" + out.c_str() + "\n",
           *f);
  } catch (const YAML::Exception& e) {
    std::printf("the candidate does not read as YAML: %s\n", e.what());
  }
}

void Shell::run_line(const std::string& line) {
  std::vector<std::string> all = split_words(line);
  if (all.empty()) return;
  // The command, then what follows each pipe.
  std::vector<std::string> words;
  std::vector<std::vector<std::string>> pipes;
  for (const std::string& w : all) {
    if (w == "|") {
      pipes.emplace_back();
    } else if (pipes.empty()) {
      words.push_back(w);
    } else {
      pipes.back().push_back(w);
    }
  }
  for (const auto& p : pipes) {
    if (p.empty()) {
      std::puts("a filter is missing after '|'");
      return;
    }
  }
  Parsed p = parse(words);
  if (!p.error.empty()) {
    std::printf("%s\n", p.error.c_str());
    return;
  }
  if (p.denied) {
    std::printf("ftzctl: role %s may not run '%s'\n", role_word(role_).c_str(), p.words[0].c_str());
    return;
  }
  std::vector<std::string>& w = p.words;
  if (w.empty()) return;
  const Node& mode_tree = tree();
  if (w[0] == "help") {
    std::vector<std::pair<std::string, std::string>> items;
    for (const Node* n : candidates(mode_tree, "")) items.emplace_back(n->word, n->help);
    list(items);
    return;
  }
  if (w[0] == "exit" || w[0] == "quit") {
    if (configuring_ && !edit_path_.empty() && w[0] == "exit") {
      edit_path_.clear();  // as Junos: from a level back to the top first
    } else if (configuring_) {
      configuring_ = false;
      edit_path_.clear();
    } else {
      done_ = true;
    }
    return;
  }
  if (configuring_ && (w[0] == "edit" || w[0] == "up" || w[0] == "top")) {
    if (w[0] == "edit") {
      if (w.size() == 1) {
        std::puts("edit needs a path: edit SECTION [ITEM ...]");
        return;
      }
      edit_path_.insert(edit_path_.end(), w.begin() + 1, w.end());
    } else if (edit_path_.empty()) {
      std::puts("already at the top level");
    } else if (w[0] == "up") {
      edit_path_.pop_back();
    } else {
      edit_path_.clear();
    }
    return;
  }
  if (configuring_ && (w[0] == "set" || w[0] == "delete"))
    w.insert(w.begin() + 1, edit_path_.begin(), edit_path_.end());
  if (w[0] == "configure") {
    configuring_ = true;
    std::puts("Entering configuration mode (your candidate is kept until you commit or log out)");
    return;
  }
  if (configuring_ && w[0] == "run") {
    std::vector<std::string> op(w.begin() + 1, w.end());
    configuring_ = false;
    const Parsed q = parse(op);
    configuring_ = true;
    if (!q.error.empty()) {
      std::printf("%s\n", q.error.c_str());
      return;
    }
    if (q.denied) {
      std::printf("ftzctl: role %s may not run '%s'\n", role_word(role_).c_str(), q.words[0].c_str());
      return;
    }
    run_command(q.words, pipes);
    return;
  }
  if (configuring_ && w[0] == "show") {
    // The candidate; `| compare`: the one-shot form compares the candidate.
    const bool compare = std::any_of(
        pipes.begin(), pipes.end(), [](const auto& q) { return std::string("compare").rfind(q[0], 0) == 0; });
    w = compare ? std::vector<std::string>{"show", "configuration"}
                : std::vector<std::string>{"show", "configuration", "candidate"};
    if (!compare && !edit_path_.empty()) {
      show_level(pipes);
      return;
    }
  }
  run_command(w, pipes);
}

unsigned char on_complete(EditLine* el, int /*ch*/) {
  void* self = nullptr;
  el_get(el, EL_CLIENTDATA, &self);
  return static_cast<Shell*>(self)->complete();
}
unsigned char on_help(EditLine* el, int /*ch*/) {
  void* self = nullptr;
  el_get(el, EL_CLIENTDATA, &self);
  return static_cast<Shell*>(self)->help();
}
char* on_prompt(EditLine* el) {
  void* self = nullptr;
  el_get(el, EL_CLIENTDATA, &self);
  return const_cast<char*>(static_cast<Shell*>(self)->prompt());
}

std::string history_file() {
  const char* home = std::getenv("HOME");
  return home != nullptr ? std::string(home) + "/.ftzctl_history" : std::string();
}

void ignore_signal(int /*sig*/) {}

int Shell::run() {
  user_ = args_.user;
  // Ctrl-C at the prompt or during a command starts a new prompt.
  struct sigaction sa {};
  sa.sa_handler = ignore_signal;
  ::sigaction(SIGINT, &sa, nullptr);
  load_names();
  el_ = el_init("ftzctl", stdin, stdout, stderr);
  History* hist = history_init();
  HistEvent ev{};
  history(hist, &ev, H_SETSIZE, 1000);
  history(hist, &ev, H_SETUNIQUE, 1);
  const std::string hfile = history_file();
  if (!hfile.empty()) history(hist, &ev, H_LOAD, hfile.c_str());
  el_set(el_, EL_CLIENTDATA, this);
  el_set(el_, EL_EDITOR, "emacs");
  el_set(el_, EL_SIGNAL, 1);
  el_set(el_, EL_HIST, history, hist);
  el_set(el_, EL_PROMPT, on_prompt);
  el_set(el_, EL_ADDFN, "ftz-complete", "complete a word", on_complete);
  el_set(el_, EL_BIND, "^I", "ftz-complete", nullptr);
  el_set(el_, EL_ADDFN, "ftz-help", "what may come here", on_help);
  el_set(el_, EL_BIND, "?", "ftz-help", nullptr);
  std::printf("ftzctl on %s as %s (%s); ? for help, TAB completes\n", host_.c_str(), user_.c_str(),
              role_word(role_).c_str());
  while (!done_) {
    if (configuring_) {
      std::string level = "[edit";
      for (const std::string& w : edit_path_) level += " " + w;
      std::printf("\n%s]\n", level.c_str());
    }
    prompt_ = user_ + "@" + host_ + (configuring_ ? "# " : "> ");
    int n = 0;
    errno = 0;
    const char* got = el_gets(el_, &n);
    if (got == nullptr) {
      std::puts("");
      if (errno == EINTR) continue;  // Ctrl-C: a new prompt
      break;                         // Ctrl-D: the end
    }
    std::string line(got, static_cast<size_t>(n));
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    history(hist, &ev, H_ENTER, line.c_str());
    if (!hfile.empty()) history(hist, &ev, H_SAVE, hfile.c_str());
    run_line(line);
  }
  if (!hfile.empty()) ::chmod(hfile.c_str(), 0600);
  history_end(hist);
  el_end(el_);
  return 0;
}

}  // namespace

int run_shell(const Args& a, mgmt::Session& s) {
  Shell shell(a, s);
  return shell.run();
}

}  // namespace ftz::ctl
