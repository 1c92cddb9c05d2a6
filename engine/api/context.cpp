#include "tiercache/context.hpp"

#include <algorithm>

namespace tiercache {

// One link of the value chain; children point at parents, so deriving never copies values.
struct Context::ValueNode {
  std::string key;
  std::any value;
  std::shared_ptr<const ValueNode> parent;
};

Context Context::with_timeout(clock::duration timeout) const {
  const auto now = clock::now();
  // Saturate rather than overflow when a caller passes duration::max() (a longer one in another
  // unit was clamped to it by the template overload in context.hpp).
  const auto room = clock::time_point::max() - now;
  return with_deadline(timeout >= room ? clock::time_point::max() : now + timeout);
}

Context Context::with_deadline(clock::time_point deadline) const {
  Context child = *this;
  child.deadline_ = std::min(deadline_, deadline);
  return child;
}

Context Context::with_stop_token(std::stop_token token) const {
  Context child = *this;
  child.stop_ = std::move(token);
  return child;
}

Context Context::with_value(std::string key, std::any value) const {
  Context child = *this;
  child.values_ =
      std::make_shared<const ValueNode>(ValueNode{std::move(key), std::move(value), values_});
  return child;
}

const std::any* Context::value(std::string_view key) const noexcept {
  for (const ValueNode* node = values_.get(); node != nullptr; node = node->parent.get())
    if (node->key == key) return &node->value;
  return nullptr;
}

std::optional<errc> Context::done() const noexcept {
  if (stop_.stop_requested()) return errc::cancelled;
  if (deadline_ != clock::time_point::max() && clock::now() >= deadline_) return errc::timeout;
  return std::nullopt;
}

}  // namespace tiercache
