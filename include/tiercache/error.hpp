// tiercache/error.hpp — what can go wrong, and what the caller should do about it.
//
// Every fallible call returns Result<T> = std::expected<T, Error>. Callers branch on
// `error().code` (compare with an errc value); `detail` is for humans and logs only.
#pragma once

#include <cstddef>
#include <expected>
#include <sstream>
#include <string>
#include <system_error>

namespace tiercache {

enum class errc {
  not_found = 1,        // 0 stays "no error". Absent in every tier: an answer, not a fault.
  backend_unavailable,  // L2 down or breaker open: retry later. L1 hits still work with
                        // invalidation off (or stale_if_l2_down); with it on, L1's values are
                        // not trusted until the change stream is back.
  timeout,              // ctx deadline passed, or L2 made no progress for redis.command_timeout;
                        // the operation may still take effect.
  cancelled,            // ctx stop_token fired; same caveat as timeout.
  serialization,        // L2 holds a value the cache cannot take (longer than max_value_bytes),
                        // or a TypedCache codec cannot decode or encode a value.
  overloaded,           // write queue full (refused, or dropped under drop_oldest): shed load.
                        // Also open() out of memory (nothing kept): retry later, or ask less.
  invalid_argument,     // the input is wrong; retrying cannot help. Nothing changed.
  backend_error,        // L2 (or a loader) replied with an error; its text is in Error::detail.
  closed,               // the Cache was closed: nothing was done. Open a new one.
  buffer_too_small,     // get_into: the value does not fit; Error::needed_bytes says what does.
};

// The category behind errc; its name is "tiercache".
const std::error_category& error_category() noexcept;

std::error_code make_error_code(errc e) noexcept;

struct Error {
  std::error_code code;
  std::string detail;  // names the operation, the field, the value and the limit
  // buffer_too_small only: the size of the value that did not fit, so the caller can retry with
  // a buffer that large without parsing `detail`.
  std::size_t needed_bytes = 0;

  // Lets callers write `if (r.error() == errc::timeout)`.
  friend bool operator==(const Error& e, errc c) noexcept { return e.code == make_error_code(c); }
};

template <class T>
using Result = std::expected<T, Error>;

// The failure side of a Result, its detail joined from `parts` as a stream would print them:
//   return tiercache::fail(errc::backend_error, "orders db: ", status);
// For loaders and backends as much as for tiercache itself.
template <class... Parts>
[[nodiscard]] std::unexpected<Error> fail(errc code, const Parts&... parts) {
  std::ostringstream detail;
  if constexpr (sizeof...(parts) > 0) (detail << ... << parts);
  return std::unexpected(Error{make_error_code(code), std::move(detail).str()});
}

}  // namespace tiercache

template <>
struct std::is_error_code_enum<tiercache::errc> : std::true_type {};
