// tests/support/scripted_backend.hpp — a Backend whose answers the test decides, to force exact
// interleavings: in the writer (a batch lost at a chosen point, an answer that never comes) and
// on the miss path (a read answered late, a change heard while it was on its way). It tests the
// engine against its interface; every promise it checks also has a test against a real
// redis-server. Not a Redis stand-in: reads answer only what the test put(), and writes change
// nothing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tiercache/backend.hpp"

namespace test {

class ScriptedBackend final : public tiercache::Backend {
 public:
  // A write as the backend keeps it: the views it is handed die with the call.
  struct Write {
    tiercache::BackendWrite::Kind kind;
    std::string key;
    std::string value;
  };
  struct Batch {
    std::vector<Write> writes;
    WriteDone done;
    bool answered = false;
  };

  // Reads the values put() here, as they are when the read arrives (as a server would: its
  // answer is decided then, however late it reaches the cache); not available: every key fails
  // with backend_unavailable. While hold_reads(true), the answer waits for answer_read().
  struct Read {
    std::vector<std::string> keys;
    std::vector<tiercache::Result<tiercache::BackendValue>> answer;
    ReadDone done;
    bool answered = false;
  };

  // Other than none: the cache takes this backend's events (fire them with events()).
  explicit ScriptedBackend(tiercache::ChangesHeard heard = tiercache::ChangesHeard::none)
      : changes_heard_(heard) {}

  void read(std::vector<std::string> keys, ReadDone done) override {
    std::vector<tiercache::Result<tiercache::BackendValue>> answer;
    std::unique_lock lock(mu_);
    for (const std::string& key : keys) {
      const auto it = values_.find(key);
      if (!available_) {
        answer.push_back(tiercache::fail(tiercache::errc::backend_unavailable));
      } else if (it == values_.end()) {
        answer.push_back(tiercache::fail(tiercache::errc::not_found));
      } else {
        answer.push_back(tiercache::BackendValue{it->second, tiercache::TtlLeft::never_expires()});
      }
    }
    reads_.push_back(Read{std::move(keys), std::move(answer), std::move(done)});
    cv_.notify_all();
    if (hold_reads_) return;
    Read& r = reads_.back();
    r.answered = true;
    ReadDone call = r.done;
    auto result = r.answer;
    lock.unlock();
    call(std::move(result));
  }

  // What later reads answer for `key`.
  void put(const std::string& key, const std::string& value) {
    std::lock_guard lock(mu_);
    values_[key] = value;
  }

  // Later reads answer not_found for `key`.
  void erase(const std::string& key) {
    std::lock_guard lock(mu_);
    values_.erase(key);
  }

  // While true, reads are kept until answer_read(); false does not answer those already kept.
  void hold_reads(bool hold) {
    std::lock_guard lock(mu_);
    hold_reads_ = hold;
  }

  // Waits (bounded) until read `n` (0-based) was asked for; returns its keys.
  std::vector<std::string> wait_for_read(std::size_t n, std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, limit, [&] { return reads_.size() > n; }))
      throw std::runtime_error("ScriptedBackend: read " + std::to_string(n) + " never came");
    return reads_[n].keys;
  }

  // Delivers the answer read `n` got when it arrived.
  void answer_read(std::size_t n) { answer_read_with(n, std::nullopt); }
  // Delivers `answer` instead (say, a connection lost while the read was on its way).
  void answer_read(std::size_t n, std::vector<tiercache::Result<tiercache::BackendValue>> answer) {
    answer_read_with(n, std::move(answer));
  }

  std::size_t read_count() const {
    std::lock_guard lock(mu_);
    return reads_.size();
  }

  tiercache::ChangesHeard changes_heard() const noexcept override { return changes_heard_; }

  // Changes are heard from the start (coherence_restored() at once), as a backend whose change
  // stream is up when the cache opens.
  void set_events(tiercache::BackendEvents* events) override {
    std::lock_guard lock(mu_);
    events_ = events;
    if (events_ != nullptr) events_->coherence_restored();
  }

  // The cache's events, for the test to fire as the backend's thread would (one at a time).
  tiercache::BackendEvents& events() {
    std::lock_guard lock(mu_);
    if (events_ == nullptr) throw std::runtime_error("ScriptedBackend: no events taken");
    return *events_;
  }

  void write(std::span<const tiercache::BackendWrite> writes, WriteDone done) override {
    std::vector<Write> kept;
    for (const tiercache::BackendWrite& w : writes)
      kept.push_back({w.kind, std::string(w.key), std::string(w.value)});
    std::lock_guard lock(mu_);
    batches_.push_back(Batch{std::move(kept), std::move(done)});
    cv_.notify_all();
  }

  bool is_available() const noexcept override {
    std::lock_guard lock(mu_);
    return available_;
  }

  void set_available(bool available) {
    std::lock_guard lock(mu_);
    available_ = available;
  }

  // Whether write() would be tried now: is_available() and, apart from it, whether the write
  // side is up (Redis: the write connection can be lost while the read connection is not).
  bool accepts_writes() const noexcept override {
    std::lock_guard lock(mu_);
    return available_ && writes_available_;
  }

  // Takes the write side down (or back up) alone; reads and is_available() are unchanged.
  void set_writes_available(bool available) {
    std::lock_guard lock(mu_);
    writes_available_ = available;
  }

  // Waits (bounded) until batch `n` (0-based) was sent; returns a copy of its writes.
  std::vector<Write> wait_for_batch(std::size_t n, std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, limit, [&] { return batches_.size() > n; }))
      throw std::runtime_error("ScriptedBackend: batch " + std::to_string(n) + " never came");
    return batches_[n].writes;
  }

  // Answers batch `n`: every write with `outcome`.
  void answer(std::size_t n, const tiercache::Result<void>& outcome) {
    WriteDone done;
    std::size_t count;
    {
      std::lock_guard lock(mu_);
      Batch& b = batches_.at(n);
      if (b.answered) throw std::runtime_error("ScriptedBackend: batch answered twice");
      b.answered = true;
      done = b.done;
      count = b.writes.size();
    }
    done(std::vector<tiercache::Result<void>>(count, outcome));
  }

  std::size_t batch_count() const {
    std::lock_guard lock(mu_);
    return batches_.size();
  }

  // Every write sent, in order, as "key=value" or "key purged".
  std::vector<std::string> sent() const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const Batch& b : batches_)
      for (const Write& w : b.writes)
        out.push_back(w.kind == tiercache::BackendWrite::Kind::purge ? w.key + " purged"
                      : w.kind == tiercache::BackendWrite::Kind::fill
                          ? w.key + "=" + w.value + " if absent"
                          : w.key + "=" + w.value);
    return out;
  }

 private:
  void answer_read_with(
      std::size_t n,
      std::optional<std::vector<tiercache::Result<tiercache::BackendValue>>> instead) {
    ReadDone done;
    std::vector<tiercache::Result<tiercache::BackendValue>> answer;
    {
      std::lock_guard lock(mu_);
      Read& r = reads_.at(n);
      if (r.answered) throw std::runtime_error("ScriptedBackend: read answered twice");
      r.answered = true;
      done = r.done;
      answer = instead ? std::move(*instead) : r.answer;
    }
    done(std::move(answer));
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> batches_;
  bool available_ = true;
  bool writes_available_ = true;
  const tiercache::ChangesHeard changes_heard_;
  tiercache::BackendEvents* events_ = nullptr;
  std::map<std::string, std::string> values_;
  std::deque<Read> reads_;
  bool hold_reads_ = false;
};

}  // namespace test
