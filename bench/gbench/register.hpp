// bench/gbench/register.hpp — the benchmark families of tiercache_gbench (the grid is in
// bench/gbench/main.cpp's top comment) and the cleanup main runs after them.
#pragma once

namespace tiercache::gbench {

// The L1 grid; with `with_10m_keys` also the 10M-key data set (peak RSS ~3 GiB).
void register_l1_benchmarks(bool with_10m_keys);
// Frees the held L1 data set, key set and sequences.
void release_l1_fixtures();

// The L2 (Redis) grid. The redis-server is started by the first L2 benchmark that runs.
void register_l2_benchmarks();
// Closes the L2 caches, then kills the redis-server if one was started.
void release_l2_fixtures();

}  // namespace tiercache::gbench
