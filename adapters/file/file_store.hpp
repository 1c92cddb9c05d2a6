// adapters/file/file_store.hpp — the store's file operations, synchronous and single-threaded per
// side: read() on the read thread, everything else on the write thread (file_store_backend.hpp
// owns both). No method throws or aborts on what it finds on disk.
//
// How a write lands (key_file.hpp has the layout, record.hpp the bytes):
//   1. the record goes to a temporary file beside the key's file (fdatasync'ed with fsync on);
//   2. under the key's KeyLock: a fill reads the key's file and stops if it holds a live value of
//      the key; then rename() puts the temporary file in place, atomically;
//   3. with fsync on, the directory is fsync'ed before the batch is acknowledged.
// A reader opens the key's file without a lock: rename() swaps whole files, so it sees the old
// record or the new one. A crash before 3 leaves a temporary file (removed at a later open, once
// old enough) and the old record.
//
// F1  the key's file holds a whole record or is missing; never a mix of two writes.
// F2  a fill renames in only while holding the key's lock and having seen no live value of the
//     key: a set made meanwhile, by any process, is never replaced by it.
// F3  nothing is read or allocated past record_bytes_limit(max_value_bytes) because a file says
//     so: fstat bounds every read first.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "adapters/file/key_file.hpp"
#include "tiercache/backend.hpp"
#include "tiercache/file_store.hpp"

namespace tiercache::file {

// A file a read found expired: removed later by the write thread, if it is still that file.
struct ExpiredFile {
  KeyFile file;
  dev_t device = 0;
  ino_t inode = 0;
};

// What a read found; `expired` is set when the key's file has outlived its TTL.
struct ReadOutcome {
  Result<BackendValue> result;
  std::optional<ExpiredFile> expired;
};

class FileStore {
 public:
  // Creates the directory tree, proves it writable, removes stale temporary files and counts
  // the stored bytes. `options` were checked already (make_file_store).
  static Result<std::unique_ptr<FileStore>> open(const FileStoreOptions& options);

  // Read thread.
  ReadOutcome read(std::string_view key);

  // Write thread. Applies one write; a set/fill/purge's rename or unlink is made durable only by
  // sync_directories(), which the caller runs before it acknowledges the writes.
  Result<void> apply(const BackendWrite& write);
  // Write thread: fsyncs the data/ subdirectories apply() changed since the last call (with
  // fsync on; else a no-op).
  Result<void> sync_directories();
  // Write thread: removes the file a read found expired, unless it was replaced since.
  void remove_expired(const ExpiredFile& expired);
  // Write thread: writes and removes a small file; true (and usable again) if that worked.
  bool probe();

  // Any thread.
  bool is_usable() const noexcept { return usable_.load(std::memory_order_acquire); }
  std::string last_error() const;
  std::uint64_t unreadable_values() const noexcept {
    return unreadable_values_.load(std::memory_order_relaxed);
  }

 private:
  explicit FileStore(const FileStoreOptions& options);

  struct StoredFile;
  std::string data_dir(std::size_t fanout) const;
  std::string record_path(const KeyFile& f) const;
  Result<void> ensure_directories();
  // Recounts the records' bytes into stored_bytes_ (and lists the records if keep_files);
  // removes temporary files older than a live write can be.
  Result<std::vector<StoredFile>> scan(bool keep_files);
  // Makes room for a record of `incoming` bytes under max_bytes, evicting the oldest files.
  void make_room(std::uint64_t incoming);
  Result<void> write_temp(const KeyFile& f, std::string_view header, const BackendWrite& w,
                          std::string& temp_path);
  Result<void> purge(const KeyFile& f);
  // Whether the key's file holds a live (unexpired, readable) record of `key`.
  bool holds_live_value(const std::string& path, std::string_view key);
  // A failure of the OS call `what` on `path` with errno `err`: a backend_error; an error that
  // means the directory itself cannot be used marks the store unusable.
  std::unexpected<Error> io_failure(const char* what, const std::string& path, int err);
  // A write that waited FileStoreOptions.lock_wait for its key's lock: errc::timeout, noted as the
  // last error; the store stays usable (only that lock's keys are held up).
  std::unexpected<Error> lock_timeout(Error e);

  const FileStoreOptions options_;
  const std::string data_root_;
  const std::string locks_dir_;
  // Tells this instance's temporary files from another's in the same process.
  const std::uint64_t instance_id_;
  // Write thread only.
  std::uint64_t stored_bytes_ = 0;  // this process's view of the store's size
  std::uint64_t temp_counter_ = 0;  // makes each temporary file name of this process unique
  std::vector<bool> dirty_dirs_;    // data/ subdirectories to fsync

  // Set by the write thread, read by any (is_available): acquire/release so last_error_ is
  // written before a reader can see the store unusable.
  std::atomic<bool> usable_{true};
  mutable std::mutex last_error_mu_;
  std::string last_error_;
  // A statistic only: relaxed.
  std::atomic<std::uint64_t> unreadable_values_{0};
};

}  // namespace tiercache::file
