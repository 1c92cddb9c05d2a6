// bench/l2_other_load.hpp — OtherLoad: how much CPU processes other than the bench and its
// redis-server used while an L2 figure ran. The L2 figures share the cores between the caller,
// tiercache's writer and I/O threads and redis-server, so anything else running skews them; a
// figure prints this beside itself as the L1 figures print cpu_share.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace tiercache::bench {

class OtherLoad {
 public:
  // Starts counting; `server` is the redis-server's pid, whose time is not "other".
  explicit OtherLoad(pid_t server);
  // Cores' worth of CPU time others used since construction (0.5: half a core on average).
  // The bench's own children (redis-benchmark) count as the bench once reaped.
  double cores_used() const;

 private:
  struct Ticks {
    std::uint64_t machine_busy = 0;  // every CPU, /proc/stat: user, nice, system
    std::uint64_t ours = 0;          // this process and its reaped children, plus the server
    std::uint64_t wall_ns = 0;       // steady clock
  };
  Ticks now() const;

  pid_t server_;
  Ticks start_;
};

// load.cores_used(); above a tenth of a core, also says on stderr that `figure` is skewed.
double other_load_of(const char* figure, const OtherLoad& load);

}  // namespace tiercache::bench
