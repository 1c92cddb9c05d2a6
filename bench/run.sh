#!/usr/bin/env bash
# The figures `make bench` prints: L1 and L2 (Redis) figures against the peers, then the trace
# replay.
# Usage: bench/run.sh BUILD_DIR. Runs from the repo root, where replay finds ../shared/traces.
# Fails if either program fails; a missed target is printed, not a failure.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: bench/run.sh BUILD_DIR" >&2
  exit 2
fi
build_dir=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."

"$build_dir/tiercache_bench"
"$build_dir/replay"
