// examples/backend/map_backend.hpp — a complete Backend in one page: an in-process map as L2.
//
// What docs/backends.md walks through, and what the conformance suite (tests/conformance/)
// checks on every backend, this one included. It is a model of the contract, not a store to
// deploy: the "server" is a MapStore several MapBackends may share, as instances share Redis.
//
//   - read() and write() only hand the batch over: a worker thread of the backend answers it,
//     never the caller's thread (the engine never waits inside a call).
//   - A write batch's views die when write() returns: it is copied first.
//   - Every batch is answered exactly once; the destructor answers what is still queued with
//     errc::closed, then joins the worker.
//   - TTLs are kept as deadlines; a read answers the time left, so L1 never outlives this copy.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "tiercache/backend.hpp"

namespace example {

// The shared "server": values with their deadlines, behind one mutex.
class MapStore {
 public:
  using Clock = std::chrono::steady_clock;

  struct Item {
    std::string value;
    bool absent = false;
    Clock::time_point expires_at = Clock::time_point::max();  // max: never
  };

  // The live item of `key`, or nothing (an expired one is dropped on the way).
  std::optional<Item> find(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = items_.find(key);
    if (it == items_.end()) return std::nullopt;
    if (it->second.expires_at <= Clock::now()) {
      items_.erase(it);
      return std::nullopt;
    }
    return it->second;
  }

  void apply(const tiercache::BackendWrite::Kind kind, const std::string& key, Item item) {
    std::lock_guard lock(mu_);
    auto it = items_.find(key);
    const bool live = it != items_.end() && it->second.expires_at > Clock::now();
    switch (kind) {
      case tiercache::BackendWrite::Kind::set:
        items_[key] = std::move(item);
        break;
      case tiercache::BackendWrite::Kind::fill:
        if (!live) items_[key] = std::move(item);
        break;
      case tiercache::BackendWrite::Kind::purge:
        if (it != items_.end()) items_.erase(it);
        break;
    }
  }

 private:
  std::mutex mu_;
  std::map<std::string, Item> items_;
};

class MapBackend final : public tiercache::Backend {
 public:
  explicit MapBackend(std::shared_ptr<MapStore> store)
      : store_(std::move(store)), worker_([this] { run(); }) {}

  ~MapBackend() override {
    std::deque<Job> left;
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      left.swap(jobs_);
    }
    wake_.notify_one();
    worker_.join();
    for (Job& job : left) job(/*closed=*/true);
  }

  void read(std::vector<std::string> keys, ReadDone done) override {
    submit([this, keys = std::move(keys), done = std::move(done)](bool closed) {
      std::vector<tiercache::Result<tiercache::BackendValue>> out;
      out.reserve(keys.size());
      for (const std::string& key : keys) {
        if (closed) {
          out.push_back(tiercache::fail(tiercache::errc::closed, "map backend: closed"));
        } else if (auto item = store_->find(key)) {
          out.push_back(tiercache::BackendValue{item->value, ttl_left(*item), item->absent});
        } else {
          out.push_back(tiercache::fail(tiercache::errc::not_found, "map backend: no such key"));
        }
      }
      done(std::move(out));
    });
  }

  void write(std::span<const tiercache::BackendWrite> writes, WriteDone done) override {
    struct Owned {
      tiercache::BackendWrite::Kind kind;
      std::string key;
      MapStore::Item item;
    };
    std::vector<Owned> owned;  // the views in `writes` die when this returns
    owned.reserve(writes.size());
    for (const tiercache::BackendWrite& w : writes) {
      MapStore::Item item{std::string(w.value), w.absent, MapStore::Clock::time_point::max()};
      if (w.ttl.count() > 0) item.expires_at = MapStore::Clock::now() + w.ttl;
      owned.push_back({w.kind, std::string(w.key), std::move(item)});
    }
    submit([this, owned = std::move(owned), done = std::move(done)](bool closed) mutable {
      std::vector<tiercache::Result<void>> out;
      out.reserve(owned.size());
      for (Owned& w : owned) {
        if (closed) {
          out.push_back(tiercache::fail(tiercache::errc::closed, "map backend: closed"));
          continue;
        }
        store_->apply(w.kind, w.key, std::move(w.item));
        out.emplace_back();
      }
      done(std::move(out));
    });
  }

  bool is_available() const noexcept override { return true; }
  bool stores_absent() const noexcept override { return true; }

 private:
  // Runs on the worker with closed = false, or on the destructor's thread with closed = true.
  using Job = std::function<void(bool closed)>;

  static tiercache::TtlLeft ttl_left(const MapStore::Item& item) {
    if (item.expires_at == MapStore::Clock::time_point::max())
      return tiercache::TtlLeft::never_expires();
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(item.expires_at -
                                                                            MapStore::Clock::now());
    return tiercache::TtlLeft::expires_after(std::max(left, std::chrono::milliseconds(0)));
  }

  void submit(Job job) {
    {
      std::lock_guard lock(mu_);
      if (!stopping_) {
        jobs_.push_back(std::move(job));
        job = nullptr;
      }
    }
    if (job) {
      job(/*closed=*/true);  // only a call racing the destructor gets here
      return;
    }
    wake_.notify_one();
  }

  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;  // the destructor answers what is left
      Job job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job(/*closed=*/false);
      lock.lock();
    }
  }

  std::shared_ptr<MapStore> store_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  std::thread worker_;  // last: started once everything it touches exists
};

}  // namespace example
