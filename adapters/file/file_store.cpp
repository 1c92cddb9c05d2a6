#include "adapters/file/file_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <random>

#include "adapters/file/key_lock.hpp"
#include "adapters/file/record.hpp"
#include "adapters/file/unique_fd.hpp"

namespace tiercache::file {
namespace {

// Directories the store creates: for the processes of one user (FileStoreOptions.directory).
constexpr mode_t kDirectoryMode = 0700;
constexpr mode_t kFileMode = 0600;
// A temporary file older than this is a crashed writer's: no live write takes this long.
constexpr std::chrono::seconds kStaleTempAge{60};
// Eviction stops once the store holds this share of max_bytes (per mille), so that it runs
// once per tenth of max_bytes written rather than at every write past the bound.
constexpr std::uint64_t kEvictToPerMille = 900;

std::uint64_t now_wall_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// Errors that say the directory itself cannot be used (rather than this one write): the store
// reports itself unavailable until a probe succeeds. ENOSPC and EDQUOT are not among them: a
// purge or a smaller value may still go, and an eviction may free room.
bool is_directory_failure(int err) {
  return err == EIO || err == EROFS || err == EACCES || err == EPERM || err == ENOTDIR ||
         err == ENOENT;
}

// mkdir -p, each level it creates with `mode`; 0 or the errno.
int make_directories(const std::string& path, mode_t mode) {
  for (std::size_t at = 1; at <= path.size(); ++at) {
    if (at != path.size() && path[at] != '/') continue;
    const std::string prefix = path.substr(0, at);
    if (::mkdir(prefix.c_str(), mode) != 0 && errno != EEXIST) return errno;
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return errno;
  return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

int fsync_path(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.is_open()) return errno;
  return ::fsync(fd.get()) == 0 ? 0 : errno;
}

// Writes every byte of `parts`; 0 or the errno.
int write_all(int fd, std::array<std::string_view, 3> parts) {
  std::array<iovec, 3> iov;
  for (std::size_t i = 0; i < parts.size(); ++i)
    iov[i] = {const_cast<char*>(parts[i].data()), parts[i].size()};
  iovec* next = iov.data();
  int left = static_cast<int>(iov.size());
  while (left > 0) {
    const ssize_t n = ::writev(fd, next, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    auto done = static_cast<std::size_t>(n);
    while (left > 0 && done >= next->iov_len) {
      done -= next->iov_len;
      ++next;
      --left;
    }
    if (left > 0) {
      next->iov_base = static_cast<char*>(next->iov_base) + done;
      next->iov_len -= done;
    }
  }
  return 0;
}

std::int64_t mtime_ns(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// A record file read whole, before its bytes are trusted.
struct LoadedFile {
  enum class Status : std::uint8_t { ok, missing, unreadable, failed };
  Status status = Status::missing;
  int err = 0;                          // failed
  RecordCheck check = RecordCheck::ok;  // unreadable
  std::string bytes;                    // ok: the whole file
  RecordHeader header;                  // ok
  dev_t device = 0;
  ino_t inode = 0;

  std::string_view key() const {
    return std::string_view(bytes).substr(kHeaderBytes, header.key_bytes);
  }
};

LoadedFile load_file(const std::string& path, std::size_t max_value_bytes) {
  LoadedFile f;
  // O_NONBLOCK: a FIFO someone put there would otherwise hold open() until a writer came,
  // wedging the store's one read thread (or its write thread, for a fill); on a regular file it
  // changes nothing.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd.is_open()) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) return f;
    // ELOOP: a symlink someone put there is not a record; ENXIO: nor is a socket.
    const bool not_a_record = err == ELOOP || err == ENXIO;
    f.status = not_a_record ? LoadedFile::Status::unreadable : LoadedFile::Status::failed;
    f.err = err;
    f.check = RecordCheck::foreign_magic;
    return f;
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) {
    f.status = LoadedFile::Status::failed;
    f.err = errno;
    return f;
  }
  f.device = st.st_dev;
  f.inode = st.st_ino;
  // A FIFO, socket or device is no record of this store, whatever its size says.
  if (!S_ISREG(st.st_mode)) {
    f.status = LoadedFile::Status::unreadable;
    f.check = RecordCheck::foreign_magic;
    return f;
  }
  // F3: the size is checked before a byte is read or allocated.
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size < kHeaderBytes || size > record_bytes_limit(max_value_bytes)) {
    f.status = LoadedFile::Status::unreadable;
    f.check = size < kHeaderBytes ? RecordCheck::too_short : RecordCheck::bad_lengths;
    return f;
  }
  f.bytes.resize(size);
  std::size_t got = 0;
  while (got < size) {
    const ssize_t n = ::pread(fd.get(), f.bytes.data() + got, size - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      f.status = LoadedFile::Status::failed;
      f.err = errno;
      return f;
    }
    if (n == 0) break;  // files are replaced whole, never shrunk: this one is broken
    got += static_cast<std::size_t>(n);
  }
  f.bytes.resize(got);
  const ParsedRecord parsed = parse_record(f.bytes, max_value_bytes);
  if (parsed.check != RecordCheck::ok) {
    f.status = LoadedFile::Status::unreadable;
    f.check = parsed.check;
    return f;
  }
  f.status = LoadedFile::Status::ok;
  f.header = parsed.header;
  return f;
}

bool is_expired(const RecordHeader& h, std::uint64_t now_ms) {
  return h.expires_at_ms != 0 && now_ms >= h.expires_at_ms;
}

std::unexpected<Error> not_found() {
  // A miss allocates no detail, as the cache's own misses do.
  return std::unexpected(Error{make_error_code(errc::not_found), {}});
}

}  // namespace

struct FileStore::StoredFile {
  std::int64_t mtime_ns = 0;
  std::uint64_t bytes = 0;
  dev_t device = 0;
  ino_t inode = 0;
  std::array<char, kNameDigits> name{};
};

FileStore::FileStore(const FileStoreOptions& options)
    : options_(options),
      data_root_(options.directory + "/data"),
      locks_dir_(options.directory + "/locks"),
      instance_id_((std::uint64_t{std::random_device{}()} << 32) | std::random_device{}()),
      dirty_dirs_(kFanout, false) {}

std::string FileStore::data_dir(std::size_t fanout) const {
  return data_root_ + "/" + byte_hex(fanout);
}

std::string FileStore::record_path(const KeyFile& f) const {
  return data_dir(f.fanout) + "/" + f.name;
}

std::string FileStore::last_error() const {
  std::lock_guard lock(last_error_mu_);
  return last_error_;
}

std::unexpected<Error> FileStore::io_failure(const char* what, const std::string& path, int err) {
  std::string text = std::string("file store: ") + what + " " + path + ": " + std::strerror(err);
  {
    std::lock_guard lock(last_error_mu_);
    last_error_ = text;
  }
  if (is_directory_failure(err)) usable_.store(false, std::memory_order_release);
  return std::unexpected(Error{make_error_code(errc::backend_error), std::move(text)});
}

std::unexpected<Error> FileStore::lock_timeout(Error e) {
  {
    std::lock_guard lock(last_error_mu_);
    last_error_ = e.detail;
  }
  return std::unexpected(std::move(e));
}

Result<void> FileStore::ensure_directories() {
  for (const std::string& dir : {options_.directory, data_root_, locks_dir_})
    if (const int err = make_directories(dir, kDirectoryMode); err != 0)
      return io_failure("create directory", dir, err);
  for (std::size_t i = 0; i < kFanout; ++i) {
    const std::string dir = data_dir(i);
    if (::mkdir(dir.c_str(), kDirectoryMode) != 0 && errno != EEXIST)
      return io_failure("create directory", dir, errno);
  }
  return {};
}

Result<std::unique_ptr<FileStore>> FileStore::open(const FileStoreOptions& options) {
  std::unique_ptr<FileStore> store(new FileStore(options));
  const std::string named = "FileStoreOptions.directory \"" + options.directory + "\": ";
  if (auto made = store->ensure_directories(); !made)
    return fail(errc::backend_error, named, made.error().detail);
  if (!store->probe())
    return fail(errc::backend_error, named, "not writable: ", store->last_error());
  if (options.fsync) {
    // The tree just made survives a power loss too, before any write is acknowledged into it.
    for (const std::string& dir : {options.directory, store->data_root_})
      if (const int err = fsync_path(dir); err != 0)
        return fail(errc::backend_error, named, "fsync ", dir, ": ", std::strerror(err));
  }
  Result<std::vector<StoredFile>> counted = store->scan(false);
  if (!counted) return fail(errc::backend_error, named, counted.error().detail);
  return store;
}

Result<std::vector<FileStore::StoredFile>> FileStore::scan(bool keep_files) {
  std::vector<StoredFile> files;
  std::uint64_t total = 0;
  const auto now = std::chrono::system_clock::now();
  const std::int64_t stale_before_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>((now - kStaleTempAge).time_since_epoch())
          .count();
  for (std::size_t i = 0; i < kFanout; ++i) {
    const std::string dir = data_dir(i);
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
      if (errno == ENOENT) continue;  // made again at the next write that needs it
      return io_failure("open directory", dir, errno);
    }
    while (const dirent* e = ::readdir(d)) {
      const std::string_view name = e->d_name;
      struct stat st;
      if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
        continue;
      if (is_temp_name(name)) {
        // A crashed writer's leftover; a live writer's is younger than kStaleTempAge.
        if (mtime_ns(st) < stale_before_ns) ::unlinkat(::dirfd(d), e->d_name, 0);
        continue;
      }
      if (!key_file_of_name(name)) continue;  // not ours: neither counted nor ever removed
      total += static_cast<std::uint64_t>(st.st_size);
      if (!keep_files) continue;
      StoredFile f;
      f.mtime_ns = mtime_ns(st);
      f.bytes = static_cast<std::uint64_t>(st.st_size);
      f.device = st.st_dev;
      f.inode = st.st_ino;
      std::copy(name.begin(), name.end(), f.name.begin());
      files.push_back(f);
    }
    ::closedir(d);
  }
  stored_bytes_ = total;
  return files;
}

void FileStore::make_room(std::uint64_t incoming) {
  if (stored_bytes_ + incoming <= options_.max_bytes) return;
  // Other processes write here too: count what is really there before removing anything.
  Result<std::vector<StoredFile>> files = scan(true);
  if (!files) return;  // the write that follows meets the same failure and reports it
  const std::uint64_t low = options_.max_bytes / 1000 * kEvictToPerMille;
  const std::uint64_t target = low > incoming ? low - incoming : 0;
  if (stored_bytes_ <= target) return;
  // Oldest written first: mtime is when the record was written (write_temp sets it precisely),
  // and reads do not change it.
  std::sort(files->begin(), files->end(),
            [](const StoredFile& a, const StoredFile& b) { return a.mtime_ns < b.mtime_ns; });
  for (const StoredFile& f : *files) {
    if (stored_bytes_ <= target) break;
    // Engaged: scan() lists record names only.
    const std::optional<KeyFile> kf =
        key_file_of_name(std::string_view(f.name.data(), f.name.size()));
    // One try: a file whose lock is taken is passed over (a held lock must not stall every
    // write that makes room), the next oldest goes instead.
    int err = 0;
    Result<KeyLock> lock =
        KeyLock::acquire(locks_dir_, kf->lock, std::chrono::milliseconds(0), &err);
    if (!lock) continue;
    // Under the key's lock, and only the very file scanned: a newer write of the key stays.
    const std::string path = record_path(*kf);
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0 || st.st_dev != f.device || st.st_ino != f.inode) continue;
    if (::unlink(path.c_str()) != 0) continue;
    stored_bytes_ -= std::min(stored_bytes_, f.bytes);
  }
}

ReadOutcome FileStore::read(std::string_view key) {
  const KeyFile kf = key_file(key);
  const std::string path = record_path(kf);
  LoadedFile f = load_file(path, options_.max_value_bytes);
  switch (f.status) {
    case LoadedFile::Status::missing:
      return {not_found(), std::nullopt};
    case LoadedFile::Status::failed:
      return {io_failure("read", path, f.err), std::nullopt};
    case LoadedFile::Status::unreadable:
      unreadable_values_.fetch_add(1, std::memory_order_relaxed);
      return {not_found(), std::nullopt};
    case LoadedFile::Status::ok:
      break;
  }
  // Another key whose name hashes alike: this key is not stored.
  if (f.key() != key) return {not_found(), std::nullopt};
  const std::uint64_t now = now_wall_ms();
  if (is_expired(f.header, now)) return {not_found(), ExpiredFile{kf, f.device, f.inode}};
  BackendValue v;
  v.absent = f.header.is_absent();
  v.ttl_left =
      f.header.expires_at_ms == 0
          ? TtlLeft::never_expires()
          : TtlLeft::expires_after(std::chrono::milliseconds(f.header.expires_at_ms - now));
  // The value is the file's tail: moved down in place, not copied into a new string.
  f.bytes.erase(0, kHeaderBytes + f.header.key_bytes);
  v.value = std::move(f.bytes);
  return {std::move(v), std::nullopt};
}

bool FileStore::holds_live_value(const std::string& path, std::string_view key) {
  const LoadedFile f = load_file(path, options_.max_value_bytes);
  return f.status == LoadedFile::Status::ok && f.key() == key &&
         !is_expired(f.header, now_wall_ms());
}

Result<void> FileStore::write_temp(const KeyFile& f, std::string_view header, const BackendWrite& w,
                                   std::string& temp_path) {
  // pid and instance: two stores in one process (or pid reuse after a crash) never share one.
  temp_path = record_path(f) + ".tmp." + std::to_string(::getpid()) + "." +
              std::to_string(instance_id_) + "." + std::to_string(temp_counter_++);
  UniqueFd fd(::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, kFileMode));
  if (!fd.is_open() && errno == ENOENT) {
    // Someone removed the tree under a running store: make it again, once.
    if (auto made = ensure_directories(); !made) return made;
    fd = UniqueFd(::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, kFileMode));
  }
  if (!fd.is_open()) return io_failure("create", temp_path, errno);
  const std::string_view value = w.absent ? std::string_view() : w.value;
  int err = write_all(fd.get(), {header, w.key, value});
  if (err == 0) {
    // Eviction goes oldest first by mtime; the kernel stamps it at its coarse tick, which would
    // tie many writes. Best effort: a failure only blurs that order.
    timespec times[2];
    times[0].tv_nsec = UTIME_OMIT;
    ::clock_gettime(CLOCK_REALTIME, &times[1]);
    ::futimens(fd.get(), times);
  }
  if (err == 0 && options_.fsync && ::fdatasync(fd.get()) != 0) err = errno;
  if (err != 0) {
    ::unlink(temp_path.c_str());
    return io_failure("write", temp_path, err);
  }
  return {};
}

Result<void> FileStore::apply(const BackendWrite& w) {
  if (w.key.empty() || w.key.size() > kMaxKeyBytes)
    return fail(errc::invalid_argument, "file store: key of ", w.key.size(), " bytes; 1 to ",
                kMaxKeyBytes, " are stored");
  const KeyFile kf = key_file(w.key);
  if (w.kind == BackendWrite::Kind::purge) return purge(kf);
  const std::string_view value = w.absent ? std::string_view() : w.value;
  if (value.size() > options_.max_value_bytes) {
    // As memcached does: the older value goes, so that no reader is served it instead.
    if (w.kind == BackendWrite::Kind::set)
      if (auto purged = purge(kf); !purged) return purged;
    return fail(errc::backend_error, "file store: value of ", value.size(),
                " bytes; FileStoreOptions.max_value_bytes is ", options_.max_value_bytes);
  }
  const std::uint64_t expires_at_ms =
      w.ttl.count() > 0 ? now_wall_ms() + static_cast<std::uint64_t>(w.ttl.count()) : 0;
  const std::string header = encode_header(w.key, value, w.absent, expires_at_ms);
  const std::uint64_t incoming = header.size() + w.key.size() + value.size();
  if (incoming > options_.max_bytes) {
    // Making room could not fit it: every other record would go, and the bound be passed still.
    if (w.kind == BackendWrite::Kind::set)
      if (auto purged = purge(kf); !purged) return purged;
    return fail(errc::backend_error, "file store: a record of ", incoming,
                " bytes (header, key and value); FileStoreOptions.max_bytes is ",
                options_.max_bytes);
  }
  make_room(incoming);
  std::string temp_path;
  if (auto written = write_temp(kf, header, w, temp_path); !written) return written;
  const std::string path = record_path(kf);
  int err = 0;
  Result<KeyLock> lock = KeyLock::acquire(locks_dir_, kf.lock, options_.lock_wait, &err);
  if (!lock) {
    ::unlink(temp_path.c_str());
    if (lock.error() == errc::timeout) return lock_timeout(std::move(lock.error()));
    return io_failure("lock for", path, err);
  }
  // F2: checked and renamed under the key's lock, which every process's writes take.
  if (w.kind == BackendWrite::Kind::fill && holds_live_value(path, w.key)) {
    ::unlink(temp_path.c_str());
    return {};
  }
  struct stat old;
  const std::uint64_t old_bytes =
      ::lstat(path.c_str(), &old) == 0 ? static_cast<std::uint64_t>(old.st_size) : 0;
  if (::rename(temp_path.c_str(), path.c_str()) != 0) {
    err = errno;
    ::unlink(temp_path.c_str());
    return io_failure("rename into", path, err);
  }
  stored_bytes_ = stored_bytes_ - std::min(stored_bytes_, old_bytes) + incoming;
  dirty_dirs_[kf.fanout] = true;
  return {};
}

Result<void> FileStore::purge(const KeyFile& kf) {
  const std::string path = record_path(kf);
  int err = 0;
  Result<KeyLock> lock = KeyLock::acquire(locks_dir_, kf.lock, options_.lock_wait, &err);
  if (!lock) {
    if (lock.error() == errc::timeout) return lock_timeout(std::move(lock.error()));
    return io_failure("lock for", path, err);
  }
  struct stat old;
  if (::lstat(path.c_str(), &old) != 0) {
    if (errno == ENOENT) return {};
    return io_failure("stat", path, errno);
  }
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return {};
    return io_failure("remove", path, errno);
  }
  stored_bytes_ -= std::min(stored_bytes_, static_cast<std::uint64_t>(old.st_size));
  dirty_dirs_[kf.fanout] = true;
  return {};
}

Result<void> FileStore::sync_directories() {
  Result<void> result;
  for (std::size_t i = 0; i < kFanout; ++i) {
    if (!dirty_dirs_[i]) continue;
    dirty_dirs_[i] = false;
    if (!options_.fsync || !result) continue;
    const std::string dir = data_dir(i);
    if (const int err = fsync_path(dir); err != 0) result = io_failure("fsync", dir, err);
  }
  return result;
}

void FileStore::remove_expired(const ExpiredFile& expired) {
  // One try, as eviction: each read of the key queues this again, and a held lock must not make
  // every one of them stall the writes.
  int err = 0;
  Result<KeyLock> lock =
      KeyLock::acquire(locks_dir_, expired.file.lock, std::chrono::milliseconds(0), &err);
  if (!lock) return;  // removed at a later read, or evicted
  const std::string path = record_path(expired.file);
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 || st.st_dev != expired.device || st.st_ino != expired.inode)
    return;
  if (::unlink(path.c_str()) == 0)
    stored_bytes_ -= std::min(stored_bytes_, static_cast<std::uint64_t>(st.st_size));
}

bool FileStore::probe() {
  if (!ensure_directories()) return false;
  // Named as a temporary file, so a crash between create and unlink leaves nothing for good.
  const std::string path = data_dir(0) + "/" + std::string(kNameDigits, '0') + ".tmp." +
                           std::to_string(::getpid()) + "." + std::to_string(instance_id_) +
                           ".probe";
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, kFileMode));
  if (!fd.is_open()) {
    io_failure("create", path, errno);
    return false;
  }
  int err = write_all(fd.get(), {"p", {}, {}});
  if (err == 0 && options_.fsync && ::fdatasync(fd.get()) != 0) err = errno;
  ::unlink(path.c_str());
  if (err != 0) {
    io_failure("write", path, err);
    return false;
  }
  usable_.store(true, std::memory_order_release);
  return true;
}

}  // namespace tiercache::file
