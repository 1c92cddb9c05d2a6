// tiercache/detail/decoded_object.hpp — a TypedCache value as L1 keeps it, decoded, next to its
// bytes (detail/typed_access.hpp). Not for programs.
#pragma once

namespace tiercache::detail {

// The decoded value of one L1 entry: a holder of the value type derives from it. Made by the
// entry's first typed read, destroyed through `destroy` when the entry is freed.
struct DecodedObject {
  void (*destroy)(DecodedObject* self) noexcept;
};

}  // namespace tiercache::detail
