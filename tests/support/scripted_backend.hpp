// tests/support/scripted_backend.hpp — a Backend whose answers the test decides, to force exact
// interleavings in the writer (a batch lost at a chosen point, an answer that never comes).
// It tests the writer against its interface; every promise it checks also has a test against a
// real redis-server. Not a Redis stand-in: it keeps no data and answers only what it is told.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
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

  void read(std::vector<std::string> keys, ReadDone done) override {
    done(std::vector<tiercache::Result<tiercache::BackendValue>>(
        keys.size(), tiercache::fail(tiercache::errc::not_found)));
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
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> batches_;
  bool available_ = true;
};

}  // namespace test
