// engine/fail.hpp — builds the unexpected side of a Result with a readable detail.
//
// g++ 12 has no <format>; the parts are joined with a stream. The detail names the operation,
// the field, the value and the limit; callers branch on the code, never on the text.
#pragma once

#include <expected>
#include <sstream>

#include "tiercache/error.hpp"

namespace tiercache::engine {

template <class... Parts>
std::unexpected<Error> fail(errc code, const Parts&... parts) {
  std::ostringstream detail;
  (detail << ... << parts);
  return std::unexpected(Error{make_error_code(code), std::move(detail).str()});
}

}  // namespace tiercache::engine
