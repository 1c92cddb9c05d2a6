#include "engine/l2/writer.hpp"

#include <chrono>
#include <deque>
#include <unordered_map>

#include "engine/l1/coarse_clock.hpp"

namespace tiercache::engine {
namespace {

using namespace std::chrono_literals;

// How often the writer looks again while L2 is unavailable; the backend reconnects on its own
// schedule, this only bounds how late the writer notices.
constexpr auto kUnavailablePollInterval = 2ms;
// How often a caller under QueueFullPolicy::wait tries again for room.
constexpr auto kQueueFullPollInterval = 100us;

// Batches sent and not yet answered: the next one is built and sent while Redis works on the
// previous, and replies still settle in order.
constexpr std::size_t kMaxBatchesInFlight = 2;

// Failures that say nothing about the write itself: send it again once L2 is back.
bool is_retryable(const Error& e) {
  return e == errc::backend_unavailable || e == errc::timeout;
}

void complete(WriteOp& op, const Result<void>& outcome) {
  if (op.done) op.done->set(outcome);
}

}  // namespace

Writer::Writer(Backend& backend, const WriterOptions& options)
    : backend_(backend), options_(options), queue_(options.queue_max_ops) {
  thread_ = std::thread([this] { run(); });
}

Writer::~Writer() {
  stopping_.store(true, std::memory_order_release);
  queue_.wake_consumer();
  thread_.join();
}

Result<void> Writer::enqueue(const Context& ctx, WriteOp& op) {
  for (;;) {
    if (queue_.try_enqueue(op)) return {};
    const QueueFullPolicy policy =
        op.kind == WriteOp::Kind::barrier ? QueueFullPolicy::wait : options_.when_full;
    switch (policy) {
      case QueueFullPolicy::refuse:
        refused_.fetch_add(1, std::memory_order_relaxed);
        return fail(errc::overloaded, "write queue is full (", queue_.capacity(),
                    " writes; Options.writer.queue_max_ops) under QueueFullPolicy::refuse");
      case QueueFullPolicy::drop_oldest: {
        WriteOp oldest;
        if (queue_.try_dequeue(oldest)) {
          dropped_.fetch_add(1, std::memory_order_relaxed);
          complete(oldest, fail(errc::overloaded,
                                "write dropped from a full queue (QueueFullPolicy::drop_oldest)"));
        }
        break;
      }
      case QueueFullPolicy::wait:
        if (auto why = ctx.done())
          return fail(*why, "write queue stayed full (", queue_.capacity(),
                      " writes) until the context ended");
        std::this_thread::sleep_for(kQueueFullPollInterval);
        break;
    }
  }
}

std::shared_ptr<OneShot<Result<void>>> Writer::prepare(WriteOp& op) const {
  if (options_.mode == WriteMode::sync || op.kind == WriteOp::Kind::barrier)
    op.done = std::make_shared<OneShot<Result<void>>>();
  return op.done;
}

Result<void> Writer::await(const Context& ctx, const std::shared_ptr<OneShot<Result<void>>>& done,
                           const char* what) {
  if (!done) return {};
  Result<Result<void>> outcome = done->wait(ctx, what);
  if (!outcome) return std::unexpected(std::move(outcome.error()));
  return *outcome;
}

Result<void> Writer::flush(const Context& ctx) {
  WriteOp barrier;
  barrier.kind = WriteOp::Kind::barrier;
  auto done = prepare(barrier);
  if (auto queued = enqueue(ctx, barrier); !queued) return queued;
  return await(ctx, done, "flush");
}

WriterStats Writer::stats() const {
  WriterStats s;
  s.batches = batches_.load(std::memory_order_relaxed);
  s.sent = sent_.load(std::memory_order_relaxed);
  s.coalesced = coalesced_.load(std::memory_order_relaxed);
  s.failed = failed_.load(std::memory_order_relaxed);
  s.retried = retried_.load(std::memory_order_relaxed);
  s.refused = refused_.load(std::memory_order_relaxed);
  s.dropped = dropped_.load(std::memory_order_relaxed);
  s.queue_depth = queue_.size_approx();
  return s;
}

void Writer::run() {
  std::deque<InFlight> in_flight;
  std::vector<WriteOp> retry;  // in queue order; goes out before anything newer
  for (;;) {
    const std::uint32_t seen = queue_.enqueued_count();
    const bool stopping = stopping_.load(std::memory_order_acquire);
    // A retry waits until every batch sent before it has answered, so it stays in order.
    if (in_flight.size() == kMaxBatchesInFlight || (!retry.empty() && !in_flight.empty())) {
      settle_front(in_flight, retry);
      continue;
    }
    std::vector<WriteOp> batch = std::move(retry);
    retry.clear();
    WriteOp op;
    while (batch.size() < options_.batch_max_ops && queue_.try_dequeue(op))
      batch.push_back(std::move(op));
    if (batch.empty()) {
      if (!in_flight.empty()) {
        settle_front(in_flight, retry);
        continue;
      }
      if (stopping) return;
      queue_.wait_for_enqueue(seen);
      continue;
    }
    if (!backend_.is_available()) {
      retry = std::move(batch);
      if (!in_flight.empty()) continue;
      if (stopping) break;
      std::this_thread::sleep_for(kUnavailablePollInterval);
      continue;
    }
    in_flight.push_back(start(std::move(batch)));
  }
  fail_all(retry, errc::closed, "the cache closed while L2 was unavailable");
  WriteOp op;
  while (queue_.try_dequeue(op)) complete(op, fail(errc::closed, "the cache closed"));
}

Writer::InFlight Writer::start(std::vector<WriteOp> batch) {
  InFlight f;
  f.ops = std::move(batch);
  f.write_of_op.resize(f.ops.size());
  // Coalesce: per key only the last write goes out; the earlier ones share its outcome.
  std::unordered_map<std::string_view, std::size_t> write_of_key;
  std::vector<BackendWrite> writes;
  std::size_t ops = 0;
  for (std::size_t i = f.ops.size(); i-- > 0;) {
    const WriteOp& op = f.ops[i];
    if (op.kind == WriteOp::Kind::barrier) continue;
    ++ops;
    if (auto it = write_of_key.find(op.key); it != write_of_key.end()) {
      f.write_of_op[i] = it->second;
      continue;
    }
    f.write_of_op[i] = writes.size();
    write_of_key.emplace(op.key, writes.size());
    BackendWrite w;
    w.key = op.key;
    if (op.kind == WriteOp::Kind::erase) {
      w.kind = BackendWrite::Kind::erase;
    } else if (op.expires_at_ms == kNeverExpires) {
      w.value = op.value;
    } else {
      // PX from the L1 deadline at send time; an entry already expired must not live on in L2.
      const std::uint64_t now = coarse_now_ms();
      if (op.expires_at_ms <= now) {
        w.kind = BackendWrite::Kind::erase;
      } else {
        w.value = op.value;
        w.ttl = std::chrono::milliseconds(op.expires_at_ms - now);
      }
    }
    writes.push_back(std::move(w));
  }
  // A batch of barriers only still goes through the in-flight line, to complete in order.
  if (writes.empty()) return f;
  batches_.fetch_add(1, std::memory_order_relaxed);
  sent_.fetch_add(writes.size(), std::memory_order_relaxed);
  coalesced_.fetch_add(ops - writes.size(), std::memory_order_relaxed);
  f.replies = std::make_shared<OneShot<std::vector<Result<void>>>>();
  backend_.write(std::move(writes), [replies = f.replies](std::vector<Result<void>> results) {
    replies->set(std::move(results));
  });
  return f;
}

void Writer::settle_front(std::deque<InFlight>& in_flight, std::vector<WriteOp>& retry) {
  InFlight f = std::move(in_flight.front());
  in_flight.pop_front();
  std::vector<Result<void>> results;
  // The backend answers every batch (its command timeout bounds the wait).
  if (f.replies) results = *f.replies->wait(Context::background(), "write batch");
  for (std::size_t i = 0; i < f.ops.size(); ++i) {
    WriteOp& op = f.ops[i];
    if (op.kind == WriteOp::Kind::barrier) {
      // Everything before the barrier is settled unless something is being retried.
      if (retry.empty()) {
        complete(op, {});
      } else {
        retry.push_back(std::move(op));
      }
      continue;
    }
    const Result<void>& outcome = results[f.write_of_op[i]];
    if (!outcome && is_retryable(outcome.error())) {
      retried_.fetch_add(1, std::memory_order_relaxed);
      retry.push_back(std::move(op));
      continue;
    }
    if (!outcome) failed_.fetch_add(1, std::memory_order_relaxed);
    complete(op, outcome);
  }
}

void Writer::fail_all(std::vector<WriteOp>& ops, errc code, const char* why) {
  for (WriteOp& op : ops) complete(op, fail(code, why));
  ops.clear();
}

}  // namespace tiercache::engine
