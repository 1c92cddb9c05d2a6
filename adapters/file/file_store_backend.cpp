#include "adapters/file/file_store_backend.hpp"

#include <algorithm>
#include <system_error>

#include "adapters/file/record.hpp"
#include "tiercache/file_store.hpp"

namespace tiercache::file {
namespace {

// First wait before probing an unusable directory again; doubles up to kProbeBackoffMax, as the
// Redis backend's reconnects do.
constexpr std::chrono::milliseconds kProbeBackoffMin{10};
constexpr std::chrono::milliseconds kProbeBackoffMax{1000};
// The largest store a FileStoreOptions may ask for values of; a record's length field is 32 bits.
constexpr std::size_t kMaxValueBytesLimit = std::size_t{1} << 30;
// The longest FileStoreOptions.lock_wait: a wait holds up every write behind it on the one
// write thread, and past writer.batch_timeout (60 s by default) the whole batch is counted in
// doubt and sent again. This bounds one wait only; several writes of a batch waiting on held
// locks add up.
constexpr std::chrono::milliseconds kMaxLockWait{30000};

std::unexpected<Error> closed() {
  return fail(errc::closed, "file store: closed before this was done");
}

}  // namespace

Result<std::shared_ptr<FileStoreBackend>> FileStoreBackend::start(
    std::unique_ptr<FileStore> store) {
  std::shared_ptr<FileStoreBackend> b(new FileStoreBackend(std::move(store)));
  try {
    b->read_thread_ = std::thread([self = b.get()] { self->run_reads(); });
    b->write_thread_ = std::thread([self = b.get()] { self->run_writes(); });
  } catch (const std::system_error& e) {
    // The destructor stops and joins whichever thread did start.
    return fail(errc::backend_error, "file store: cannot start its threads: ", e.what());
  }
  return b;
}

FileStoreBackend::~FileStoreBackend() {
  reads_.stop();
  writes_.stop();
  if (read_thread_.joinable()) read_thread_.join();
  if (write_thread_.joinable()) write_thread_.join();
}

BackendHealth FileStoreBackend::health() const {
  BackendHealth h;
  h.available = store_->is_usable();
  h.last_error = store_->last_error();
  h.unreadable_values = store_->unreadable_values();
  return h;
}

void FileStoreBackend::read(std::vector<std::string> keys, ReadDone done) {
  if (keys.empty()) return done({});
  ReadJob job{std::move(keys), std::move(done)};
  if (!reads_.push(job)) job.done(std::vector<Result<BackendValue>>(job.keys.size(), closed()));
}

void FileStoreBackend::write(std::span<const BackendWrite> writes, WriteDone done) {
  if (writes.empty()) return done({});
  WriteJob job;
  job.writes.reserve(writes.size());
  for (const BackendWrite& w : writes)
    job.writes.push_back({w.kind, std::string(w.key), std::string(w.value), w.ttl, w.absent});
  job.done = std::move(done);
  if (!writes_.push(job)) job.done(std::vector<Result<void>>(job.writes.size(), closed()));
}

void FileStoreBackend::run_reads() {
  while (std::optional<ReadJob> job =
             reads_.pop(adapters::JobQueue<ReadJob>::Clock::time_point::max())) {
    std::vector<Result<BackendValue>> results;
    results.reserve(job->keys.size());
    for (const std::string& key : job->keys) {
      ReadOutcome outcome = store_->read(key);
      if (outcome.expired) {
        WriteJob removal;
        removal.expired = std::move(outcome.expired);
        // Refused only while closing: the file is removed at a later read, or evicted.
        writes_.push(removal);
      }
      results.push_back(std::move(outcome.result));
    }
    job->done(std::move(results));
  }
  for (ReadJob& job : reads_.drain())
    job.done(std::vector<Result<BackendValue>>(job.keys.size(), closed()));
}

void FileStoreBackend::run_writes() {
  using Clock = adapters::JobQueue<WriteJob>::Clock;
  std::chrono::milliseconds backoff = kProbeBackoffMin;
  Clock::time_point next_probe = Clock::time_point::max();
  for (;;) {
    if (store_->is_usable()) {
      backoff = kProbeBackoffMin;
      next_probe = Clock::time_point::max();
    } else if (next_probe == Clock::time_point::max()) {
      next_probe = Clock::now() + backoff;
    }
    std::optional<WriteJob> job = writes_.pop(next_probe);
    if (!job) {
      if (writes_.is_stopped()) break;
      if (!store_->probe()) backoff = std::min(backoff * 2, kProbeBackoffMax);
      next_probe = Clock::now() + backoff;
      continue;
    }
    if (job->expired) {
      store_->remove_expired(*job->expired);
      continue;
    }
    job->done(apply(job->writes));
  }
  for (WriteJob& job : writes_.drain())
    if (job.done) job.done(std::vector<Result<void>>(job.writes.size(), closed()));
}

std::vector<Result<void>> FileStoreBackend::apply(const std::vector<OwnedWrite>& writes) {
  std::vector<Result<void>> results;
  results.reserve(writes.size());
  bool directory_failed = false;
  for (const OwnedWrite& w : writes) {
    if (directory_failed) {
      // Not tried: safe to send again once the directory is usable.
      results.push_back(fail(errc::backend_unavailable,
                             "file store: directory unusable: ", store_->last_error()));
      continue;
    }
    BackendWrite view;
    view.kind = w.kind;
    view.key = w.key;
    view.value = w.value;
    view.ttl = w.ttl;
    view.absent = w.absent;
    results.push_back(store_->apply(view));
    directory_failed = !results.back() && !store_->is_usable();
  }
  // A rename that may not be durable is not acknowledged as if it were.
  if (Result<void> synced = store_->sync_directories(); !synced)
    for (Result<void>& r : results)
      if (r) r = std::unexpected(synced.error());
  return results;
}

Result<std::shared_ptr<Backend>> make_file_store_backend(const FileStoreOptions& options) {
  if (options.directory.empty())
    return fail(errc::invalid_argument, "FileStoreOptions.directory is empty; name a directory");
  if (options.directory.find('\0') != std::string::npos)
    return fail(
        errc::invalid_argument,
        "FileStoreOptions.directory holds a NUL byte; a path cannot (it would be cut there)");
  if (options.max_value_bytes == 0 || options.max_value_bytes > kMaxValueBytesLimit)
    return fail(errc::invalid_argument, "FileStoreOptions.max_value_bytes is ",
                options.max_value_bytes, "; must be 1 to ", kMaxValueBytesLimit);
  if (options.max_bytes < options.max_value_bytes)
    return fail(errc::invalid_argument, "FileStoreOptions.max_bytes is ", options.max_bytes,
                "; must be at least max_value_bytes (", options.max_value_bytes, ")");
  if (options.lock_wait < std::chrono::milliseconds::zero() || options.lock_wait > kMaxLockWait)
    return fail(errc::invalid_argument, "FileStoreOptions.lock_wait is ", options.lock_wait.count(),
                " ms; must be 0 to ", kMaxLockWait.count(), " ms");
  Result<std::unique_ptr<FileStore>> store = FileStore::open(options);
  if (!store) return std::unexpected(std::move(store.error()));
  Result<std::shared_ptr<FileStoreBackend>> backend = FileStoreBackend::start(std::move(*store));
  if (!backend) return std::unexpected(std::move(backend.error()));
  return std::shared_ptr<Backend>(std::move(*backend));
}

}  // namespace tiercache::file

namespace tiercache {

Result<std::shared_ptr<Backend>> make_file_store(const FileStoreOptions& options) {
  return file::make_file_store_backend(options);
}

}  // namespace tiercache
