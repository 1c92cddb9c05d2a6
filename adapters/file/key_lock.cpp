#include "adapters/file/key_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>
#include <cstring>

#include "adapters/file/key_file.hpp"

namespace tiercache::file {

Result<KeyLock> KeyLock::acquire(const std::string& locks_dir, std::size_t index, int* err) {
  const std::string path = locks_dir + "/" + byte_hex(index);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.is_open()) {
    *err = errno;
    return fail(errc::backend_error, "file store: open lock ", path, ": ", std::strerror(*err));
  }
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    *err = errno;
    return fail(errc::backend_error, "file store: lock ", path, ": ", std::strerror(*err));
  }
  return KeyLock(std::move(fd));
}

}  // namespace tiercache::file
