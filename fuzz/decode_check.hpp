// fuzz/decode_check.hpp — what every decoder fuzz target checks: whatever bytes L2 holds, the
// decoder answers a value or errc::serialization (no crash, no throw, no allocation the bytes ask
// for past their length), and a value that decodes encodes again to bytes that decode to it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tiercache/codec.hpp"

namespace fuzz {

template <tiercache::Codec C, class Same>
void check_decoder(const std::uint8_t* data, std::size_t size, Same same) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto decoded = C::decode(bytes);
  if (!decoded) {
    if (decoded.error() != tiercache::errc::serialization) std::abort();
    return;
  }
  auto again = C::encode(*decoded);
  if (!again) return;  // e.g. JSON text that decoded to a string that is not UTF-8: refused
  auto back = C::decode(*again);
  if (!back || !same(*back, *decoded)) std::abort();
}

}  // namespace fuzz
