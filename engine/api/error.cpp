#include "tiercache/error.hpp"

namespace tiercache {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tiercache"; }
  std::string message(int code) const override {
    switch (static_cast<errc>(code)) {
      case errc::not_found:
        return "not found";
      case errc::backend_unavailable:
        return "backend unavailable";
      case errc::timeout:
        return "timeout";
      case errc::cancelled:
        return "cancelled";
      case errc::serialization:
        return "serialization error";
      case errc::overloaded:
        return "overloaded";
      case errc::invalid_argument:
        return "invalid argument";
      case errc::backend_error:
        return "backend error";
      case errc::closed:
        return "closed";
      case errc::buffer_too_small:
        return "buffer too small";
    }
    return "unknown tiercache error " + std::to_string(code);
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

}  // namespace tiercache
