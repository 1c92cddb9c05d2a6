#include "engine/l2/writer.hpp"

#include <algorithm>
#include <chrono>

#include "engine/base/wait_within.hpp"
#include "engine/l1/coarse_clock.hpp"

namespace tiercache::engine {
namespace {

using namespace std::chrono_literals;

// How often the writer looks again while L2 is unavailable; the backend reconnects on its own
// schedule, this only bounds how late the writer notices.
constexpr auto kUnavailablePollInterval = 2ms;

// How often a flush that may give up (flush(ctx, give_up)) looks at the backend again while
// it waits: this bounds how late it notices that L2 went down.
constexpr auto kGiveUpPollInterval = 2ms;

// Batches sent and not yet answered: the next one is built and sent while L2 works on the
// previous, and they still settle in order.
constexpr std::size_t kMaxBatchesInFlight = 2;
// A write whose connection was lost under it this often in a row (no answer between) is sent
// alone from then on, so that a write the server answers by closing the connection (one over its
// client-query-buffer-limit, say) does not take every write batched with it down too.
constexpr std::uint8_t kLostBeforeAlone = 2;
// ... and this often in a row, is given up: backend_error. An innocent write meets a lost
// connection this often in a row only when the connection is lost all the time. Only losses
// count: a timeout (a server paused or stalled, by CLIENT PAUSE WRITE or a failover: every write
// times out, again and again) is no evidence against the write, and a refusal for now
// (overloaded: Redis loading, busy, read-only) is an answer, which also ends a run of losses.
// Such a write waits in the bounded queue for as long as it takes. (The price: a write that can
// never cross in command_timeout, behind a proxy slower than it allows, is sent again for ever;
// operations.md says to size command_timeout for the largest command.)
constexpr std::uint8_t kMaxLost = 10;

// How long the writer waits before sending again after a batch that landed nothing while the
// backend still said it takes writes (writes refused for now; or a backend that answers a
// failure at once): doubling per such batch up to the most, so a refusal that lasts costs a write
// a second, not a busy loop; reset by a batch that lands anything. A batch lost with its
// connection is not paced: the backend takes no writes then, and the writer waits for it anyway.
constexpr auto kRefusedPauseMin = 10ms;
constexpr auto kRefusedPauseMax = 1000ms;

// Failures after which a write is sent again: in doubt (not sent, or its answer lost), or
// refused for now and not applied (overloaded, backend.hpp).
bool is_sent_again(const Error& e) {
  return e == errc::backend_unavailable || e == errc::timeout || e == errc::overloaded;
}

bool by_seq(const WriteOp& a, const WriteOp& b) {
  return a.seq < b.seq;
}

}  // namespace

Writer::Writer(Backend& backend, const WriterOptions& options, Settled settled,
               Latencies* latencies, const std::atomic<std::uint32_t>* epoch)
    : backend_(backend),
      options_(options),
      settled_(std::move(settled)),
      queue_(options.queue_max_ops, options.queue_max_bytes),
      latencies_(latencies),
      epoch_(epoch) {
  thread_ = std::thread([this] { run(); });
}

Writer::~Writer() {
  stopping_.store(true, std::memory_order_release);
  queue_.doorbell()->ring();
  thread_.join();
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
  return flush(ctx, GiveUpWhen());
}

Result<void> Writer::flush(const Context& ctx, const GiveUpWhen& give_up) {
  // Without give_up, one wait for all of ctx; with it, slices of ctx with a look in between.
  const auto slice = [&] {
    return give_up ? ctx.with_deadline(Context::clock::now() + kGiveUpPollInterval) : ctx;
  };
  const auto gave_up = [&]() -> const char* { return give_up ? give_up() : nullptr; };
  WriteOp barrier;
  barrier.kind = WriteOp::Kind::barrier;
  auto done = prepare(barrier);
  while (!queue_.try_enqueue(barrier)) {
    if (const char* why = gave_up()) return fail(errc::backend_unavailable, "flush: ", why);
    if (auto room = queue_.wait_for_room(slice(), 0, "flush"); !room && ctx.done())
      return ended_while(ctx, "flush", "while the write queue stayed full");
  }
  for (;;) {
    // Settled first: a barrier that completed is answered whatever L2 does since.
    if (!done->is_set()) {
      if (const char* why = gave_up()) return fail(errc::backend_unavailable, "flush: ", why);
    }
    Result<Result<void>> outcome = done->wait(slice(), "flush");
    if (outcome) return *outcome;
    if (ctx.done()) return ended_while(ctx, "flush", "while waiting");
  }
}

std::size_t Writer::barriers_waiting() const {
  std::lock_guard lock(staging_mu_);
  return barriers_.size();
}

bool Writer::drop_oldest(std::size_t bytes) {
  // Settled under staging_mu_: until it is, a barrier after it must not complete (W2), and
  // complete_barriers() looks for unsettled ops under the same lock.
  std::lock_guard lock(staging_mu_);
  drain_locked();
  // A write that was sent and came back in doubt may be in L2 already: dropping it could not
  // promise "taken back". Only writes never sent may go, and only if their going can make
  // room: else each round would lose another caller's write and refuse this one anyway.
  auto victim_at = staging_.end();  // the oldest never sent
  std::size_t droppable_ops = 0;
  std::size_t droppable_bytes = 0;
  for (auto it = staging_.begin(); it != staging_.end(); ++it) {
    if (it->attempts != 0) continue;
    if (droppable_ops++ == 0) victim_at = it;
    droppable_bytes += it->bytes();
  }
  const std::size_t kept_ops =
      queue_.reserved_ops() - std::min(droppable_ops, queue_.reserved_ops());
  const std::size_t kept_bytes =
      queue_.reserved_bytes() - std::min(droppable_bytes, queue_.reserved_bytes());
  if (droppable_ops == 0 || kept_ops + 1 > queue_.max_ops() ||
      kept_bytes + bytes > queue_.max_bytes())
    return false;
  WriteOp victim = std::move(*victim_at);
  staging_.erase(victim_at);
  dropped_.fetch_add(1, std::memory_order_relaxed);
  Finished dropped{
      &victim,
      fail(errc::overloaded, "write dropped from a full queue (QueueFullPolicy::drop_oldest)"),
      false};
  finish(std::span(&dropped, 1));
  return true;
}

WriterStats Writer::stats() const {
  WriterStats s;
  s.batches = batches_.load(std::memory_order_relaxed);
  s.sent = sent_.load(std::memory_order_relaxed);
  s.coalesced = coalesced_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < failed_.size(); ++i)
    s.failed.by_code[i] = failed_[i].load(std::memory_order_relaxed);
  s.retried = retried_.load(std::memory_order_relaxed);
  s.refused = refused_.load(std::memory_order_relaxed);
  s.dropped = dropped_.load(std::memory_order_relaxed);
  s.queue_depth = queue_.reserved_ops();
  s.queue_bytes = queue_.reserved_bytes();
  return s;
}

void Writer::drain_locked() {
  WriteOp op;
  while (queue_.try_dequeue(op)) {
    op.ordinal = next_ordinal_++;
    if (op.kind == WriteOp::Kind::barrier) {
      // A barrier holds room only while it is in the queue: a flush whose caller gave up must
      // not keep a slot for as long as L2 is away.
      queue_.release(op.bytes());
      barriers_.push_back(std::move(op));
    } else {
      staging_.push_back(std::move(op));
    }
  }
}

void Writer::run() {
  Doorbell& doorbell = *queue_.doorbell();
  for (;;) {
    // Read before looking for work: a ring after this wakes the sleep below at once.
    const std::uint64_t seen = doorbell.rings();
    const bool stopping = stopping_.load(std::memory_order_acquire);
    {
      std::lock_guard lock(staging_mu_);
      drain_locked();
    }
    const auto now = std::chrono::steady_clock::now();
    while (!in_flight_.empty() &&
           (in_flight_.front().replies->is_set() || now >= in_flight_.front().deadline))
      settle_front();
    // Not when stopping: what is staged gets its one attempt before it is answered closed.
    const bool refusing = !stopping && now < refused_until_;
    const bool sent = in_flight_.size() < kMaxBatchesInFlight &&
                      (in_flight_.empty() || !in_flight_.back().alone) && !refusing &&
                      backend_.accepts_writes() && send_next();
    complete_barriers();
    if (sent) continue;
    if (!in_flight_.empty()) {
      // Woken by an answer (the batch's callback rings), an enqueue, or the batch's deadline.
      doorbell.wait_until(seen, in_flight_.front().deadline);
      continue;
    }
    bool idle;
    {
      std::lock_guard lock(staging_mu_);
      idle = staging_.empty() && barriers_.empty();
    }
    if (idle) {
      if (stopping) return;
      doorbell.wait_until(seen, Doorbell::Clock::time_point::max());
      continue;
    }
    // Writes are waiting and L2 is unavailable, or refuses them for now.
    if (stopping) {
      close_all();
      return;
    }
    doorbell.wait_until(seen, refusing ? refused_until_ : now + kUnavailablePollInterval);
  }
}

bool Writer::send_next() {
  Batch b;
  {
    std::lock_guard lock(staging_mu_);
    auto in_flight = [&](const WriteOp& op) {
      for (const Batch& f : in_flight_)
        if (f.carries(op)) return true;
      return false;
    };
    std::size_t bytes = 0;
    std::vector<bool> taken(staging_.size(), false);
    std::size_t i = 0;
    for (; i < staging_.size() && b.ops.size() < options_.batch_max_ops; ++i) {
      const WriteOp& op = staging_[i];
      // W1: a key in flight waits, and so do its later writes, which come after it here.
      if (in_flight(op)) continue;
      // One write larger than the bound still goes, alone. One that keeps coming back in doubt
      // goes alone on the connection: no other batch in flight beside it, for either's sake.
      const bool alone = op.lost >= kLostBeforeAlone;
      if (alone && (!b.ops.empty() || !in_flight_.empty())) break;
      if (!b.ops.empty() && bytes + op.bytes() > options_.batch_max_bytes) break;
      bytes += op.bytes();
      taken[i] = true;
      b.alone = alone;
      b.ops.push_back(std::move(staging_[i]));
      if (alone) break;
    }
    if (b.ops.empty()) return false;
    // Keep the rest in order; a key this batch took all of before `i` has nothing left behind.
    std::size_t kept = 0;
    for (std::size_t j = 0; j < staging_.size(); ++j) {
      if (taken[j]) continue;
      // Not onto itself: a moved-onto-itself string may come out empty.
      if (kept != j) staging_[kept] = std::move(staging_[j]);
      ++kept;
    }
    staging_.resize(kept);
  }
  // What each op goes out as: a replacing fill as a set while nothing could have gone unheard
  // since it began (WriteOp::replaces), the epoch read once for the batch.
  const std::uint32_t epoch = epoch_ != nullptr ? epoch_->load(std::memory_order_acquire) : 0;
  std::vector<WriteOp::Kind> kind_of(b.ops.size());
  for (std::size_t i = 0; i < b.ops.size(); ++i) {
    const WriteOp& op = b.ops[i];
    const bool replaces =
        op.replaces && op.attempts == 0 && epoch_ != nullptr && epoch == op.replace_epoch;
    kind_of[i] = replaces ? WriteOp::Kind::set : op.kind;
  }
  // Coalesce: per key only the newest write goes out; the others share its outcome. Sorted by
  // hash, then by position, which per key is seq order (staging keeps it): the last op of a
  // key's run is its newest. Equal hashes of different keys are told apart by the key.
  std::vector<std::pair<std::uint64_t, std::uint32_t>> by_hash;
  by_hash.reserve(b.ops.size());
  for (std::uint32_t i = 0; i < b.ops.size(); ++i) by_hash.emplace_back(b.ops[i].hash, i);
  std::sort(by_hash.begin(), by_hash.end());
  b.write_of_op.assign(b.ops.size(), SIZE_MAX);
  std::vector<std::uint32_t> op_of_write;
  // Per write: a fill that goes out for older writes of its key too. Its SET NX would leave
  // what a coalesced purge or set was to replace, so it goes out as that set would.
  std::vector<bool> fill_replaces;
  for (std::size_t run = 0; run < by_hash.size();) {
    std::size_t end = run;
    while (end < by_hash.size() && by_hash[end].first == by_hash[run].first) ++end;
    for (std::size_t i = run; i < end; ++i) {
      const std::uint32_t op = by_hash[i].second;
      if (b.write_of_op[op] != SIZE_MAX) continue;  // grouped with an earlier op of its key
      std::uint32_t newest = op;
      bool older_write = false;
      for (std::size_t j = i; j < end; ++j) {
        const std::uint32_t other = by_hash[j].second;
        if (b.ops[other].key() != b.ops[op].key()) continue;
        b.write_of_op[other] = op_of_write.size();
        if (newest != other && kind_of[newest] != WriteOp::Kind::fill) older_write = true;
        newest = other;
      }
      b.keys.emplace_back(b.ops[newest].hash, newest);
      op_of_write.push_back(newest);
      fill_replaces.push_back(older_write && kind_of[newest] == WriteOp::Kind::fill);
    }
    run = end;
  }
  std::vector<BackendWrite> writes(op_of_write.size());
  // PX from the L1 expiry at send time, so L2 never outlives L1's deadline.
  const std::uint64_t now = coarse_now_ms();
  for (std::size_t w = 0; w < writes.size(); ++w) {
    const WriteOp& op = b.ops[op_of_write[w]];
    const WriteOp::Kind kind = fill_replaces[w] ? WriteOp::Kind::set : kind_of[op_of_write[w]];
    BackendWrite& out = writes[w];
    out.key = op.key();
    out.absent = op.absent;
    out.kind = kind == WriteOp::Kind::fill ? BackendWrite::Kind::fill : BackendWrite::Kind::set;
    if (kind == WriteOp::Kind::purge) {
      out.kind = BackendWrite::Kind::purge;
    } else if (op.expires_at_ms == kNeverExpires) {
      out.value = op.value();
    } else if (op.expires_at_ms <= now) {
      // Already expired in L1: it must not live on in L2. A fill's key is not ours to remove:
      // it goes with the shortest life instead.
      if (kind == WriteOp::Kind::set) {
        out.kind = BackendWrite::Kind::purge;
      } else {
        out.value = op.value();
        out.ttl = std::chrono::milliseconds(1);
      }
    } else {
      out.value = op.value();  // a view: b.ops outlives the write() call
      out.ttl = std::chrono::milliseconds(op.expires_at_ms - now);
    }
  }
  batches_.fetch_add(1, std::memory_order_relaxed);
  sent_.fetch_add(writes.size(), std::memory_order_relaxed);
  coalesced_.fetch_add(b.ops.size() - writes.size(), std::memory_order_relaxed);
  b.replies = std::make_shared<OneShot<std::vector<Result<void>>>>();
  b.deadline = std::chrono::steady_clock::now() + options_.batch_timeout;
  if (latencies_ != nullptr) {
    b.sent_ns = now_ns();
    latencies_->record(Timed::write_batch_size, writes.size());
  }
  const std::size_t write_count = writes.size();
  // Owns what it touches: the answer may come after the writer is gone (a batch past its
  // batch_timeout is settled without it).
  auto answer = [replies = b.replies, write_count,
                 doorbell = queue_.doorbell()](std::vector<Result<void>> results) {
    // A backend that answers with the wrong count breaks its contract; a short answer leaves
    // the missing writes in doubt rather than reading past it.
    results.resize(write_count,
                   fail(errc::backend_unavailable, "the backend did not answer this write"));
    replies->set(std::move(results));
    doorbell->ring();
  };
  backend_.write(writes, std::move(answer));
  in_flight_.push_back(std::move(b));
  return true;
}

void Writer::settle_front() {
  Batch b = std::move(in_flight_.front());
  in_flight_.pop_front();
  // Answered, or past its deadline: this wait does not block.
  const Context until = Context::background().with_deadline(b.deadline);
  Result<std::vector<Result<void>>> answer = b.replies->wait(until, "write batch");
  // Unanswered batches too: the slowest are the ones past batch_timeout.
  if (latencies_ != nullptr) latencies_->record(Timed::write_batch, now_ns() - b.sent_ns);
  const bool stopping = stopping_.load(std::memory_order_acquire);
  const Result<void> unanswered =
      fail(errc::timeout, "L2 did not answer a write batch within batch_timeout (",
           options_.batch_timeout.count(), "ms)");
  std::vector<Finished> finished;
  finished.reserve(b.ops.size());
  std::vector<WriteOp> again;
  bool landed = false;
  for (std::size_t i = 0; i < b.ops.size(); ++i) {
    WriteOp& op = b.ops[i];
    const Result<void>& outcome = answer ? (*answer)[b.write_of_op[i]] : unanswered;
    landed = landed || outcome.has_value();
    if (!outcome && outcome.error() == errc::backend_unavailable) {
      if (op.lost < UINT8_MAX) ++op.lost;
    } else if (!outcome && outcome.error() == errc::overloaded) {
      op.lost = 0;  // answered: the connection held
    }
    if (outcome) {
      finished.push_back({&op, outcome, true});
    } else if (!is_sent_again(outcome.error())) {
      failed_[ErrorCounts::slot(outcome.error().code)].fetch_add(1, std::memory_order_relaxed);
      finished.push_back({&op, outcome, false});
    } else if (stopping) {
      finished.push_back({&op,
                          fail(errc::closed, "the cache closed before L2 took this write (",
                               outcome.error().detail, ")"),
                          false});
    } else if (op.lost >= kMaxLost) {
      failed_[static_cast<std::size_t>(errc::backend_error)].fetch_add(1,
                                                                       std::memory_order_relaxed);
      finished.push_back({&op,
                          fail(errc::backend_error, "L2 lost the connection under this write ",
                               static_cast<int>(kMaxLost),
                               " times in a row (last: ", outcome.error().detail, "); given up"),
                          false});
    } else {
      if (op.attempts < UINT8_MAX) ++op.attempts;
      retried_.fetch_add(1, std::memory_order_relaxed);
      again.push_back(std::move(op));
    }
  }
  if (landed) {
    refused_pause_ = std::chrono::milliseconds(0);
    refused_until_ = {};
  } else if (!again.empty() && backend_.accepts_writes()) {
    refused_pause_ = std::clamp(refused_pause_ * 2, std::chrono::milliseconds(kRefusedPauseMin),
                                std::chrono::milliseconds(kRefusedPauseMax));
    refused_until_ = std::chrono::steady_clock::now() + refused_pause_;
  }
  finish(finished);
  if (again.empty()) return;
  std::lock_guard lock(staging_mu_);
  for (WriteOp& op : again) staging_.push_back(std::move(op));
  // W1: a write in doubt goes back in front of the later writes to its key.
  std::stable_sort(staging_.begin(), staging_.end(), by_seq);
}

bool Writer::Batch::carries(const WriteOp& op) const {
  auto it = std::lower_bound(keys.begin(), keys.end(),
                             std::pair<std::uint64_t, std::uint32_t>(op.hash, 0));
  for (; it != keys.end() && it->first == op.hash; ++it)
    if (ops[it->second].key() == op.key()) return true;
  return false;
}

void Writer::complete_barriers() {
  std::vector<WriteOp> done;
  {
    std::lock_guard lock(staging_mu_);
    if (barriers_.empty()) return;
    std::uint64_t oldest = UINT64_MAX;
    for (const WriteOp& op : staging_) oldest = std::min(oldest, op.ordinal);
    for (const Batch& b : in_flight_)
      for (const WriteOp& op : b.ops) oldest = std::min(oldest, op.ordinal);
    // W2: every op taken before the barrier has a smaller ordinal; none of them is left.
    while (!barriers_.empty() && barriers_.front().ordinal < oldest) {
      done.push_back(std::move(barriers_.front()));
      barriers_.pop_front();
    }
    // A barrier nobody waits for any more (its flush's ctx ended) is only memory.
    std::erase_if(barriers_, [](const WriteOp& b) { return b.done.use_count() == 1; });
  }
  for (WriteOp& barrier : done) barrier.done->set({});
}

void Writer::finish(std::span<Finished> finished) {
  if (finished.empty()) return;
  std::vector<SettledWrite> settled;
  settled.reserve(finished.size());
  for (const Finished& f : finished) settled.push_back({f.op, f.applied});
  settled_(settled);
  for (Finished& f : finished) {
    // Room first: a caller that hears of its write sees the queue without it.
    queue_.release(f.op->bytes());
    if (f.op->done) f.op->done->set(f.outcome);
  }
}

void Writer::close_all() {
  std::deque<WriteOp> staged;
  std::deque<WriteOp> barriers;
  {
    std::lock_guard lock(staging_mu_);
    drain_locked();
    staged.swap(staging_);
    barriers.swap(barriers_);
  }
  const Result<void> closed = fail(errc::closed, "the cache closed while L2 was unavailable");
  std::vector<Finished> finished;
  for (WriteOp& op : staged) finished.push_back({&op, closed, false});
  finish(finished);
  for (WriteOp& barrier : barriers)
    barrier.done->set(fail(errc::closed, "the cache closed while L2 was unavailable"));
}

}  // namespace tiercache::engine
