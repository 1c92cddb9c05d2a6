#include "adapters/file/key_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "adapters/file/key_file.hpp"

namespace tiercache::file {
namespace {

// Sleeps between tries while another holder has the lock: the first short, since a live holder
// lets go within microseconds; doubling to the longest, which bounds how late a freed lock is
// seen.
constexpr std::chrono::milliseconds kFirstRetryPause{1};
constexpr std::chrono::milliseconds kMaxRetryPause{4};

}  // namespace

Result<KeyLock> KeyLock::acquire(const std::string& locks_dir, std::size_t index,
                                 std::chrono::milliseconds wait, int* err) {
  const std::string path = locks_dir + "/" + byte_hex(index);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.is_open()) {
    *err = errno;
    return fail(errc::backend_error, "file store: open lock ", path, ": ", std::strerror(*err));
  }
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + wait;
  std::chrono::milliseconds pause = kFirstRetryPause;
  for (;;) {
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) return KeyLock(std::move(fd));
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) {
      *err = errno;
      return fail(errc::backend_error, "file store: lock ", path, ": ", std::strerror(*err));
    }
    const Clock::time_point now = Clock::now();
    if (now >= deadline) {
      *err = EWOULDBLOCK;
      return fail(errc::timeout, "file store: lock ", path, " still held elsewhere after ",
                  wait.count(), " ms (a process stopped or stuck holding it?)");
    }
    std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline - now));
    pause = std::min(pause * 2, kMaxRetryPause);
  }
}

}  // namespace tiercache::file
