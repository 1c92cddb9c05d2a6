// adapters/file/key_lock.hpp — the exclusive lock a write to a key holds across processes while
// it checks what the key holds and renames its file in, so that a fill never replaces a set
// another process just made, and an eviction never removes a file newer than the one it chose.
//
// An flock(2) on one of kLockCount files under locks/, opened for each hold: flock belongs to an
// open file description, so two holders in one process exclude each other as two processes do.
// Closing the descriptor releases it, also when a process dies holding it; a process that is
// stopped or stuck holding it keeps it, so every wait for it is bounded (acquire's `wait`).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "adapters/file/unique_fd.hpp"
#include "tiercache/error.hpp"

namespace tiercache::file {

class KeyLock {
 public:
  // Holds lock number `index` (< kLockCount) under `locks_dir`, trying again with short sleeps
  // while another holder has it, for at most `wait` (0: one try). Never throws. Fails with
  // errc::timeout once `wait` passed with the lock still taken, and with backend_error (errno
  // kept in *err) when the lock file cannot be opened or locked.
  static Result<KeyLock> acquire(const std::string& locks_dir, std::size_t index,
                                 std::chrono::milliseconds wait, int* err);

 private:
  explicit KeyLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace tiercache::file
