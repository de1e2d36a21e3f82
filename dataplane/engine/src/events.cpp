#include "ftz/engine/events.hpp"

#include <bit>

namespace ftz::engine {

EventQueue::EventQueue(uint32_t capacity)
    : storage_(std::make_unique<Event[]>(std::bit_ceil(capacity < 2 ? 2u : capacity))),
      slots_(storage_.get(), std::bit_ceil(capacity < 2 ? 2u : capacity)),
      mask_(slots_.size() - 1) {}

}  // namespace ftz::engine
