#pragma once
// Wire: how the attacker reaches the appliance, whichever packet path runs
// it — the engine in-process (InlineGate) or ftzgate-dp on veth links
// (dp_evasion_test.cpp).

#include <chrono>
#include <vector>

#include "frame.hpp"
#include "ftz/engine/reasons.hpp"
#include "ftz/engine/worker.hpp"

namespace ftz::evasion {

// What the engine decided for one frame, when the path can tell (the
// in-process gate); ftzgate-dp's decisions show only in what arrives.
struct Outcome {
  bool judged = false;
  engine::Disposition disposition = engine::Disposition::kForward;
  engine::Reason reason = engine::Reason::kNone;
  engine::Action action = engine::Action::kAllow;
  bool resets = false;
};

class Wire {
 public:
  virtual ~Wire() = default;
  // A frame onto the inside link, from the FTZ side.
  virtual Outcome from_inside(Bytes frame) = 0;
  // A frame onto the outside link that the server host did not send (a
  // colluding offshore peer forging it).
  virtual Outcome from_outside(Bytes frame) = 0;
  // A frame to the server by a path around the appliance; replies come back
  // the same way. Not every path has one.
  virtual void bypass(const Bytes& frame) = 0;
  // Lets what is in flight arrive (waiting up to `wait` for something).
  virtual void pump(std::chrono::milliseconds wait) = 0;
  // Frames that reached the client side.
  virtual std::vector<Bytes>& inbox() = 0;
};

}  // namespace ftz::evasion
