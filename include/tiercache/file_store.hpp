// tiercache/file_store.hpp — an L2 on a local directory: one file per key, shared safely by the
// processes of one host.
//
//   auto store = tiercache::make_file_store({.directory = "/var/cache/myapp"});
//   if (!store) return report(store.error());  // "FileStoreOptions.directory: ..."
//   auto cache = tiercache::Cache::open({.backend = *store});
//
// Values survive a restart of the program (and, with fsync, a power loss). A write is atomic: a
// reader, in this process or another, sees the old value or the new one, never a mix. Nothing
// tells one process about another's writes (ChangesHeard::none): L1's TTL bounds how long a
// process may serve a value another one replaced. docs/backends.md says what it cannot do.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "tiercache/backend.hpp"
#include "tiercache/error.hpp"

namespace tiercache {

struct FileStoreOptions {
  // Where the store lives. Created if missing (each missing level with mode 0700; files are
  // 0600): the store is for the processes of one user. Several processes may open one directory
  // at once. Required.
  std::string directory;
  // Bytes the store may hold on disk (file sizes: header + key + value each). A write that would
  // pass it first removes the oldest-written files until the store is at 90 % of it. Each process
  // counts its own writes and rescans the directory when its count crosses the bound, so with
  // several writers the bound holds only roughly between rescans. At least max_value_bytes; a
  // write whose record alone is larger is refused as a value over max_value_bytes is.
  std::size_t max_bytes = std::size_t{1} << 30;
  // Longest value accepted: a longer set is refused (backend_error, and the key's older value is
  // removed so that no reader is served it instead); a file claiming more is unreadable. At most
  // 1 GiB.
  std::size_t max_value_bytes = std::size_t{1} << 20;
  // true: a write is acknowledged only once it is durable (the file fsynced, renamed over the
  // old one, the directory fsynced), so it survives a power loss; costs two fsyncs per write.
  // false: it survives a crash of the program, not of the machine.
  bool fsync = true;
  // Longest a write (set, fill, purge) waits for its key's lock while another writer holds it;
  // then it fails with timeout, in doubt, and the cache's writer sends it again. A live holder
  // keeps the lock for a rename or one record's read, which only a stalled disk or an overloaded
  // machine makes last seconds; a process stopped or stuck holding it keeps it until it dies.
  // Each waiting write in a batch waits on its own, on the store's one write thread, so each
  // delays the writes behind it by up to this. 0: one try. At most 30 s (half of
  // writer.batch_timeout's default).
  std::chrono::milliseconds lock_wait{5000};
};

// Checks `options` (invalid_argument naming the field), creates the directory if missing and
// proves it writable (backend_error naming the directory and the OS's reason otherwise), removes
// temporary files a crashed writer left behind, counts the stored bytes and starts the store's
// two I/O threads (one for reads, one for writes, so a read never waits behind an fsync).
// Plug it in with Options.backend = *make_file_store(...).
[[nodiscard]] Result<std::shared_ptr<Backend>> make_file_store(const FileStoreOptions& options);

}  // namespace tiercache
