// adapters/file/file_store_backend.hpp — the Backend on a FileStore: one thread for reads, one
// for writes, each fed by a JobQueue, so read() and write() return at once and a read never
// waits behind a write's fsync.
//
// Writes are applied in the order they were handed over, one batch at a time, and a batch is
// answered only after the directories it changed were fsynced (FileStoreOptions.fsync). A read
// that finds an expired file answers not_found and leaves the removal to the write thread, so
// reads never take a lock. While the directory is unusable (a write failed with EIO, EROFS,
// EACCES or the like) is_available() is false and the write thread probes it, backing off from
// kProbeBackoffMin to kProbeBackoffMax; reads go on being tried.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "adapters/file/file_store.hpp"
#include "adapters/job_queue.hpp"
#include "tiercache/backend.hpp"

namespace tiercache::file {

class FileStoreBackend final : public Backend {
 public:
  // Starts both threads; fails (backend_error) if the system has no thread to give.
  static Result<std::shared_ptr<FileStoreBackend>> start(std::unique_ptr<FileStore> store);
  // Finishes the batch each thread is on, answers every batch still queued with errc::closed,
  // and joins both threads.
  ~FileStoreBackend() override;

  void read(std::vector<std::string> keys, ReadDone done) override;
  void write(std::span<const BackendWrite> writes, WriteDone done) override;
  bool is_available() const noexcept override { return store_->is_usable(); }
  // A file that is there can often still be read while writes fail.
  bool accepts_reads() const noexcept override { return true; }
  BackendHealth health() const override;
  bool stores_absent() const noexcept override { return true; }
  // No process hears another's writes: L1's TTL bounds how stale a value may be served.
  ChangesHeard changes_heard() const noexcept override { return ChangesHeard::none; }

 private:
  // A write of a batch, copied: BackendWrite's views die when write() returns.
  struct OwnedWrite {
    BackendWrite::Kind kind = BackendWrite::Kind::set;
    std::string key;
    std::string value;
    std::chrono::milliseconds ttl{0};
    bool absent = false;
  };
  struct ReadJob {
    std::vector<std::string> keys;
    ReadDone done;
  };
  // A caller's batch (done set), or a removal a read asked for (expired set).
  struct WriteJob {
    std::vector<OwnedWrite> writes;
    WriteDone done;
    std::optional<ExpiredFile> expired;
  };

  explicit FileStoreBackend(std::unique_ptr<FileStore> store) : store_(std::move(store)) {}
  void run_reads();
  void run_writes();
  std::vector<Result<void>> apply(const std::vector<OwnedWrite>& writes);

  std::unique_ptr<FileStore> store_;
  adapters::JobQueue<ReadJob> reads_;
  adapters::JobQueue<WriteJob> writes_;
  std::thread read_thread_;
  std::thread write_thread_;
};

}  // namespace tiercache::file
