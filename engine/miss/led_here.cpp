#include "engine/miss/led_here.hpp"

#include <algorithm>
#include <vector>

namespace tiercache::engine::led_here {
namespace {

// Rarely more than one or two: the slots of one call, and of the loaders nested in it.
thread_local std::vector<const PromiseSlot*> led;

}  // namespace

void add(const PromiseSlot* slot) {
  if (!includes(slot)) led.push_back(slot);
}

void remove(const PromiseSlot* slot) noexcept {
  const auto it = std::find(led.begin(), led.end(), slot);
  if (it == led.end()) return;
  *it = led.back();
  led.pop_back();
}

bool includes(const PromiseSlot* slot) noexcept {
  return std::find(led.begin(), led.end(), slot) != led.end();
}

}  // namespace tiercache::engine::led_here
