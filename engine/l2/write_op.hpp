// engine/l2/write_op.hpp — one set, purge or flush barrier on its way from a caller to L2.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "engine/base/one_shot.hpp"
#include "tiercache/error.hpp"

namespace tiercache::engine {

struct WriteOp {
  enum class Kind : std::uint8_t {
    set,      // a caller's set
    fill,     // a loader's value: written only where L2 holds nothing (a newer set wins)
    purge,    // a caller's purge
    barrier,  // a flush
  };
  Kind kind = Kind::set;
  // fill: the loader said the key does not exist; L2 gets the marker that says so, not a value.
  bool absent = false;
  // fill: an early refresh's value, which replaces L2's (older) copy, sent as a set, if nothing
  // could have gone unheard since it began: the cache's coherence epoch is still replace_epoch
  // when it is sent, and it was not sent before (a write that came back in doubt was sent over
  // a connection that went, and changes then may have been missed; one refused for now goes as a
  // fill too, to be safe). Otherwise it goes as a fill.
  bool replaces = false;
  std::uint32_t replace_epoch = 0;
  std::uint64_t expires_at_ms = 0;  // coarse clock; kNeverExpires for no TTL
  std::uint64_t hash = 0;           // XXH3 of key: finds its shard and pending record again
  // The order of the writes to one key, as L1 took them: drawn under the key's shard lock, so
  // for one key a larger seq is always the later write. A retried write is merged back by it.
  std::uint64_t seq = 0;
  // The order the writer took ops from the queue in; a barrier covers every op before it.
  std::uint64_t ordinal = 0;
  // Times it was sent and came back to be sent again (in doubt, or refused for now), up to 255:
  // 0 means never sent.
  std::uint8_t attempts = 0;
  // The times in a row its connection was lost under it (backend_unavailable), up to 255: what
  // sets it alone and, at last, gives it up (writer.cpp). A refusal for now resets it.
  std::uint8_t lost = 0;
  // Set for sync writes and flush barriers: completed with the write's outcome.
  std::shared_ptr<OneShot<Result<void>>> done;

  // Key and value (a set's) in one allocation: one malloc per write, and one free on the
  // writer thread, instead of two of each.
  void assign(std::string_view key, std::string_view value = {}) {
    data_.reserve(key.size() + value.size());
    data_.assign(key);
    data_.append(value);
    key_bytes_ = key.size();
  }
  std::string_view key() const noexcept { return {data_.data(), key_bytes_}; }
  std::string_view value() const noexcept { return std::string_view(data_).substr(key_bytes_); }
  // What the op holds against Options.writer.queue_max_bytes and batch_max_bytes.
  std::size_t bytes() const noexcept { return data_.size(); }

 private:
  std::string data_;
  std::size_t key_bytes_ = 0;
};

}  // namespace tiercache::engine
