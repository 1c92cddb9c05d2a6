#include "adapters/memcached/memcached_lane.hpp"

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "adapters/memcached/return_code.hpp"

namespace tiercache::memcached {
namespace {

// libmemcached's last error message without the "(0x...) " of its memcached_st in front.
std::string last_error_of(const memcached_st* m) {
  std::string_view text = memcached_last_error_message(m);
  if (text.starts_with("(0x")) {
    const std::size_t close = text.find(") ");
    if (close != std::string_view::npos) text.remove_prefix(close + 2);
  }
  return std::string(text);
}

// Candidate probe keys tried per lane until each server has one: with ketama's 160 points per
// server a handful suffice; the bound keeps start() finite for any ring.
constexpr int kMaxProbeKeyCandidates = 1 << 16;
// libmemcached gives up on a server after this many failures unless ejection is on (it is not):
// high, so that only this lane's backoff decides.
constexpr std::uint64_t kServerFailureLimit = 1'000'000;

Result<void> set_behavior(memcached_st* m, memcached_behavior_t flag, std::uint64_t value,
                          const char* name) {
  const memcached_return_t rc = memcached_behavior_set(m, flag, value);
  if (rc != MEMCACHED_SUCCESS)
    return fail(errc::backend_error, "libmemcached refused ", name, " = ", value, ": ",
                memcached_strerror(m, rc));
  return {};
}

}  // namespace

Result<std::unique_ptr<MemcachedLane>> MemcachedLane::start(const Config& config,
                                                            std::string name) {
  std::unique_ptr<memcached_st, MemcFree> m(memcached_create(nullptr));
  if (!m) return fail(errc::backend_error, name, ": memcached_create failed (out of memory)");
  for (const ServerAddress& s : config.servers) {
    const memcached_return_t rc = s.unix_socket
                                      ? memcached_server_add_unix_socket(m.get(), s.host.c_str())
                                      : memcached_server_add(m.get(), s.host.c_str(), s.port);
    if (rc != MEMCACHED_SUCCESS)
      return fail(errc::invalid_argument, "MemcachedOptions.servers: libmemcached refused ",
                  s.name(), ": ", memcached_strerror(m.get(), rc));
  }
  const auto us = [](std::chrono::milliseconds t) {
    return static_cast<std::uint64_t>(std::chrono::microseconds(t).count());
  };
  const auto ms = [](std::chrono::milliseconds t) { return static_cast<std::uint64_t>(t.count()); };
  const struct {
    memcached_behavior_t flag;
    std::uint64_t value;
    const char* name;
  } behaviors[] = {
      {MEMCACHED_BEHAVIOR_TCP_NODELAY, 1, "TCP_NODELAY"},
      {MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, ms(config.connect_timeout), "CONNECT_TIMEOUT"},
      {MEMCACHED_BEHAVIOR_POLL_TIMEOUT, ms(config.command_timeout), "POLL_TIMEOUT"},
      {MEMCACHED_BEHAVIOR_SND_TIMEOUT, us(config.command_timeout), "SND_TIMEOUT"},
      {MEMCACHED_BEHAVIOR_RCV_TIMEOUT, us(config.command_timeout), "RCV_TIMEOUT"},
      {MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, 0, "RETRY_TIMEOUT"},
      {MEMCACHED_BEHAVIOR_DEAD_TIMEOUT, 0, "DEAD_TIMEOUT"},
      {MEMCACHED_BEHAVIOR_SERVER_FAILURE_LIMIT, kServerFailureLimit, "SERVER_FAILURE_LIMIT"},
      {MEMCACHED_BEHAVIOR_AUTO_EJECT_HOSTS, 0, "AUTO_EJECT_HOSTS"},
      {MEMCACHED_BEHAVIOR_REMOVE_FAILED_SERVERS, 0, "REMOVE_FAILED_SERVERS"},
      // Last: it builds the ring over the servers added above. libmemcached's default ketama
      // hash, so that other libmemcached users of the pool agree on where each key lives.
      {MEMCACHED_BEHAVIOR_DISTRIBUTION, MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA, "DISTRIBUTION"},
  };
  for (const auto& b : behaviors)
    if (auto bad = set_behavior(m.get(), b.flag, b.value, b.name); !bad)
      return std::unexpected(std::move(bad.error()));
  return std::unique_ptr<MemcachedLane>(new MemcachedLane(config, std::move(name), std::move(m)));
}

MemcachedLane::MemcachedLane(const Config& config, std::string name,
                             std::unique_ptr<memcached_st, MemcFree> m)
    : name_(std::move(name)),
      backoff_min_(config.backoff_min),
      backoff_max_(config.backoff_max),
      memc_(std::move(m)) {
  servers_.resize(config.servers.size());
  std::size_t missing = servers_.size();
  for (std::size_t i = 0; i < servers_.size(); ++i) servers_[i].name = config.servers[i].name();
  for (int n = 0; n < kMaxProbeKeyCandidates && missing > 0; ++n) {
    std::string key = "tiercache:probe:" + std::to_string(n);
    Server& s = servers_[server_of(key)];
    if (!s.probe_key.empty()) continue;
    s.probe_key = std::move(key);
    --missing;
  }
  thread_ = std::thread([this] { run(); });
}

MemcachedLane::~MemcachedLane() {
  jobs_.stop();
  thread_.join();
  const Error closed = fail(errc::closed, name_, ": the backend was destroyed first").error();
  for (Job& job : jobs_.drain()) job.abandon(closed);
}

void MemcachedLane::post(Job job) {
  if (!jobs_.push(job))
    job.abandon(fail(errc::closed, name_, ": the backend is being destroyed").error());
}

bool MemcachedLane::accepts() const noexcept {
  return open_servers_.load(std::memory_order_relaxed) == 0;
}

MemcachedLane::Health MemcachedLane::health_any_thread() const {
  Health h;
  h.reconnects = reconnects_.load(std::memory_order_relaxed);
  std::lock_guard lock(health_mu_);
  h.last_error = last_error_;
  return h;
}

std::uint32_t MemcachedLane::server_of(std::string_view key) const {
  return memcached_generate_hash(memc_.get(), key.data(), key.size());
}

std::optional<Error> MemcachedLane::refusal(std::uint32_t server) const {
  const Server& s = servers_[server];
  if (!s.open) return std::nullopt;
  std::lock_guard lock(health_mu_);
  return fail(errc::backend_unavailable, name_, " ", s.name,
              ": server unavailable, backing off; last failure: ", last_error_)
      .error();
}

Error MemcachedLane::failed(std::uint32_t server, memcached_return_t rc, std::string_view op) {
  Server& s = servers_[server];
  std::string detail =
      name_ + " " + s.name + ": " + std::string(op) + ": " + last_error_of(memc_.get());
  if (is_connection_failure(rc)) {
    // The fence (top comment): nothing more goes out on a connection in an unknown state.
    memcached_quit(memc_.get());
    open(s, detail);
  }
  return Error{make_error_code(errc_of(rc)), std::move(detail)};
}

void MemcachedLane::open(Server& server, const std::string& why) {
  note_error(why);
  if (server.open) return;
  server.open = true;
  server.backoff = backoff_min_;
  server.probe_at = Clock::now() + server.backoff;
  open_servers_.fetch_add(1, std::memory_order_relaxed);
}

void MemcachedLane::note_error(std::string text) {
  std::lock_guard lock(health_mu_);
  last_error_ = std::move(text);
}

std::optional<MemcachedLane::Clock::time_point> MemcachedLane::next_probe_at() const {
  std::optional<Clock::time_point> next;
  for (const Server& s : servers_)
    if (s.open && (!next || s.probe_at < *next)) next = s.probe_at;
  return next;
}

void MemcachedLane::probe_due() {
  const auto now = Clock::now();
  for (std::uint32_t i = 0; i < servers_.size(); ++i) {
    Server& s = servers_[i];
    if (!s.open || now < s.probe_at) continue;
    if (s.probe_key.empty()) {
      // No key of the candidates hashes here (not seen with ketama): try it with real work.
      s.open = false;
      open_servers_.fetch_sub(1, std::memory_order_relaxed);
      continue;
    }
    // So that libmemcached connects now, whatever it noted about the server.
    memcached_instance_next_retry(memcached_server_instance_by_position(memc_.get(), i), 0);
    memcached_return_t rc = MEMCACHED_SUCCESS;
    std::size_t value_bytes = 0;
    std::uint32_t flags = 0;
    char* value = memcached_get(memc_.get(), s.probe_key.data(), s.probe_key.size(), &value_bytes,
                                &flags, &rc);
    std::free(value);
    if (rc == MEMCACHED_SUCCESS || rc == MEMCACHED_NOTFOUND) {
      s.open = false;
      open_servers_.fetch_sub(1, std::memory_order_relaxed);
      reconnects_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    note_error(name_ + " " + s.name + ": probe: " + last_error_of(memc_.get()));
    memcached_quit(memc_.get());
    s.backoff = std::min(s.backoff * 2, backoff_max_);
    s.probe_at = Clock::now() + s.backoff;
  }
}

void MemcachedLane::run() {
  for (;;) {
    // A job, or the next probe's time, whichever comes first.
    std::optional<Job> job = jobs_.pop(next_probe_at().value_or(Clock::time_point::max()));
    if (!job && jobs_.is_stopped()) return;  // the destructor abandons what is left
    // Before the job: a server that answers again takes it.
    probe_due();
    if (job) job->run(*this);
  }
}

}  // namespace tiercache::memcached
