#include "adapters/memcached/memcached_backend.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <unordered_map>

#include "adapters/memcached/memcached_key.hpp"
#include "adapters/memcached/return_code.hpp"
#include "adapters/memcached/stored_item.hpp"
#include "tiercache/memcached.hpp"

namespace tiercache::memcached {

std::int64_t expiration_of(std::chrono::milliseconds ttl, std::int64_t now_unix) {
  if (ttl.count() <= 0) return 0;
  const std::int64_t seconds = (ttl.count() + 999) / 1000;
  return seconds > kMaxRelativeExpiration ? std::min(now_unix + seconds, kMaxAbsoluteExpiration)
                                          : seconds;
}

Result<std::unique_ptr<MemcachedBackend>> MemcachedBackend::start(Config config) {
  Result<std::unique_ptr<MemcachedLane>> reads = MemcachedLane::start(config, "memcached reads");
  if (!reads) return std::unexpected(std::move(reads.error()));
  Result<std::unique_ptr<MemcachedLane>> writes = MemcachedLane::start(config, "memcached writes");
  if (!writes) return std::unexpected(std::move(writes.error()));
  return std::unique_ptr<MemcachedBackend>(
      new MemcachedBackend(std::move(config), std::move(*reads), std::move(*writes)));
}

MemcachedBackend::MemcachedBackend(Config config, std::unique_ptr<MemcachedLane> reads,
                                   std::unique_ptr<MemcachedLane> writes)
    : config_(std::move(config)), reads_(std::move(reads)), writes_(std::move(writes)) {}

bool MemcachedBackend::is_available() const noexcept {
  return reads_->accepts() && writes_->accepts();
}

bool MemcachedBackend::accepts_writes() const noexcept {
  return writes_->accepts();
}

bool MemcachedBackend::accepts_reads() const noexcept {
  return reads_->accepts();
}

BackendHealth MemcachedBackend::health() const {
  MemcachedLane::Health r = reads_->health_any_thread();
  MemcachedLane::Health w = writes_->health_any_thread();
  BackendHealth h;
  h.available = is_available();
  // A lane that is down says why; else the writes' last failure, else the reads'.
  if (!writes_->accepts() || (reads_->accepts() && !w.last_error.empty())) {
    h.last_error = std::move(w.last_error);
  } else {
    h.last_error = std::move(r.last_error);
  }
  h.reconnects = r.reconnects + w.reconnects;
  h.unreadable_values = unreadable_values_.load(std::memory_order_relaxed);
  return h;
}

void MemcachedBackend::read(std::vector<std::string> keys, ReadDone done) {
  if (keys.empty()) return done({});
  for (std::string& key : keys) key = stored_key(config_.key_prefix, key);
  // The job owns the callback; exactly one of run and abandon calls it.
  auto shared_done = std::make_shared<ReadDone>(std::move(done));
  auto shared_keys = std::make_shared<std::vector<std::string>>(std::move(keys));
  reads_->post({[this, shared_done, shared_keys](MemcachedLane& lane) {
                  (*shared_done)(read_on(lane, *shared_keys));
                },
                [shared_done, shared_keys](const Error& e) {
                  (*shared_done)(
                      std::vector<Result<BackendValue>>(shared_keys->size(), std::unexpected(e)));
                }});
}

std::vector<Result<BackendValue>> MemcachedBackend::read_on(MemcachedLane& lane,
                                                            const std::vector<std::string>& keys) {
  std::vector<Result<BackendValue>> out(keys.size(), fail(errc::not_found));
  // Keys by server, in server order: one multi-get per server.
  std::map<std::uint32_t, std::vector<std::size_t>> by_server;
  for (std::size_t i = 0; i < keys.size(); ++i) by_server[lane.server_of(keys[i])].push_back(i);
  memcached_st* m = lane.handle();
  for (const auto& [server, indices] : by_server) {
    if (std::optional<Error> refused = lane.refusal(server)) {
      for (std::size_t i : indices) out[i] = std::unexpected(*refused);
      continue;
    }
    // A key asked twice is sent once and answers both.
    std::unordered_map<std::string_view, std::vector<std::size_t>> waiting;
    std::vector<const char*> key_ptrs;
    std::vector<std::size_t> key_lengths;
    for (std::size_t i : indices) {
      auto [it, fresh] = waiting.try_emplace(keys[i]);
      it->second.push_back(i);
      if (!fresh) continue;
      key_ptrs.push_back(keys[i].data());
      key_lengths.push_back(keys[i].size());
    }
    // The group key routes the whole get to `server`: it hashes there like every key of it.
    const std::string& group = keys[indices.front()];
    memcached_return_t rc = memcached_mget_by_key(m, group.data(), group.size(), key_ptrs.data(),
                                                  key_lengths.data(), key_ptrs.size());
    if (rc != MEMCACHED_SUCCESS) {
      const Error e = lane.failed(server, rc, "get");
      for (std::size_t i : indices) out[i] = std::unexpected(e);
      continue;
    }
    memcached_result_st item;
    memcached_result_create(m, &item);
    for (;;) {
      if (memcached_fetch_result(m, &item, &rc) == nullptr) break;
      const std::string_view key(memcached_result_key_value(&item),
                                 memcached_result_key_length(&item));
      auto it = waiting.find(key);
      if (it == waiting.end()) continue;  // not asked (a duplicate answer): nothing to fill
      Result<BackendValue> value = decode(item);
      for (std::size_t i : it->second) out[i] = value;
      waiting.erase(it);
    }
    memcached_result_free(&item);
    // libmemcached's fetch stops at any line but VALUE, END or NOT_FOUND, and then answers
    // NOTFOUND if no VALUE came before it, as it does after a plain miss: what it recorded
    // (mget cleared the record) tells the two apart. It records SERVER_ERROR <text>,
    // CLIENT_ERROR <text> and an unknown line; not "SERVER_ERROR out of memory...", "SERVER_ERROR
    // object too large...", ERROR, nor another command's reply: those still read as a miss
    // (docs/backends.md, memcached, Errors).
    if (rc == MEMCACHED_NOTFOUND && !waiting.empty()) {
      const memcached_return_t recorded = memcached_last_error(m);
      if (recorded != MEMCACHED_SUCCESS) rc = recorded;
    }
    if (rc != MEMCACHED_END && rc != MEMCACHED_NOTFOUND) {
      // Those not answered before the failure get it; those answered keep their value.
      const Error e = lane.failed(server, rc, "get");
      for (const auto& [key, left] : waiting)
        for (std::size_t i : left) out[i] = std::unexpected(e);
      // The rest of the reply, if any, must not be read as the next get's: that one starts on
      // a new connection (failed() already closed them after a connection failure).
      memcached_quit(m);
    }
  }
  return out;
}

Result<BackendValue> MemcachedBackend::decode(const memcached_result_st& item) {
  const std::size_t bytes = memcached_result_length(&item);
  switch (classify_item(memcached_result_flags(&item), bytes, config_.max_value_bytes)) {
    case ItemKind::value:
      return BackendValue{std::string(memcached_result_value(&item), bytes), TtlLeft::not_known(),
                          false};
    case ItemKind::absent:
      return BackendValue{std::string(), TtlLeft::not_known(), true};
    case ItemKind::too_long:
      return fail(errc::serialization, "memcached holds a value of ", bytes,
                  " bytes; MemcachedOptions.max_value_bytes is ", config_.max_value_bytes);
    case ItemKind::unreadable:
      break;
  }
  unreadable_values_.fetch_add(1, std::memory_order_relaxed);
  return fail(errc::not_found);
}

void MemcachedBackend::write(std::span<const BackendWrite> writes, WriteDone done) {
  if (writes.empty()) return done({});
  auto owned = std::make_shared<std::vector<OwnedWrite>>();
  owned->reserve(writes.size());
  for (const BackendWrite& w : writes)
    owned->push_back(
        {w.kind, stored_key(config_.key_prefix, w.key),
         w.kind == BackendWrite::Kind::purge || w.absent ? std::string() : std::string(w.value),
         w.ttl, w.absent});
  auto shared_done = std::make_shared<WriteDone>(std::move(done));
  writes_->post({[this, owned, shared_done](MemcachedLane& lane) {
                   std::vector<Result<void>> results;
                   results.reserve(owned->size());
                   for (const OwnedWrite& w : *owned) results.push_back(write_on(lane, w));
                   (*shared_done)(std::move(results));
                 },
                 [owned, shared_done](const Error& e) {
                   (*shared_done)(std::vector<Result<void>>(owned->size(), std::unexpected(e)));
                 }});
}

Result<void> MemcachedBackend::write_on(MemcachedLane& lane, const OwnedWrite& w) const {
  const std::uint32_t server = lane.server_of(w.key);
  // Not sent to a server backing off: in doubt, so the writer sends it again once it is back,
  // and never after a later write to the key (nothing reaches that server meanwhile).
  if (std::optional<Error> refused = lane.refusal(server)) return std::unexpected(*refused);
  memcached_st* m = lane.handle();
  memcached_return_t rc;
  const char* op;
  if (w.kind == BackendWrite::Kind::purge) {
    op = "delete";
    rc = memcached_delete(m, w.key.data(), w.key.size(), 0);
    if (rc == MEMCACHED_SUCCESS || rc == MEMCACHED_DELETED || rc == MEMCACHED_NOTFOUND) return {};
  } else {
    if (w.value.size() > config_.max_value_bytes)
      return fail(errc::backend_error, "memcached writes: a value of ", w.value.size(),
                  " bytes; MemcachedOptions.max_value_bytes is ", config_.max_value_bytes);
    const auto now_unix = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    const auto expiration = static_cast<time_t>(expiration_of(w.ttl, now_unix));
    const std::uint32_t flags = w.absent ? kAbsentFlags : kValueFlags;
    const bool fill = w.kind == BackendWrite::Kind::fill;
    op = fill ? "add" : "set";
    rc = fill ? memcached_add(m, w.key.data(), w.key.size(), w.value.data(), w.value.size(),
                              expiration, flags)
              : memcached_set(m, w.key.data(), w.key.size(), w.value.data(), w.value.size(),
                              expiration, flags);
    if (rc == MEMCACHED_SUCCESS || rc == MEMCACHED_STORED) return {};
    // add found the key taken: the fill is done, the value there stays.
    if (fill && rc == MEMCACHED_NOTSTORED) return {};
  }
  return std::unexpected(lane.failed(server, rc, op));
}

}  // namespace tiercache::memcached

namespace tiercache {

Result<std::shared_ptr<Backend>> make_memcached_backend(const MemcachedOptions& options) {
  Result<memcached::Config> config = memcached::check_options(options);
  if (!config) return std::unexpected(std::move(config.error()));
  Result<std::unique_ptr<memcached::MemcachedBackend>> backend =
      memcached::MemcachedBackend::start(std::move(*config));
  if (!backend) return std::unexpected(std::move(backend.error()));
  return std::shared_ptr<Backend>(std::move(*backend));
}

}  // namespace tiercache
