#!/usr/bin/env bash
# The figures `make bench` prints: L1 and L2 (Redis) figures against the peers, then the trace
# replay; then bench/results/summary.json (one object per figure, the shape issue 4 fixes) and
# the PNG plots (bench/plots.sh).
# Usage: bench/run.sh BUILD_DIR. Runs from the repo root, where replay finds ../shared/traces.
# BENCH_SMOKE=1 (make bench-smoke): small data sets, BENCH_SECONDS=0.2, two small traces, and
# everything written under BUILD_DIR/bench-smoke/ instead, so bench/results/ keeps the real
# figures; it checks that the bench runs and the summary is whole, never the speed.
# BENCH_ONLY=GROUP (bench/bench_main.cpp: l1, typed, memcached, cluster, metrics) runs that group alone:
# no replay and no plots, and its summary goes to BUILD_DIR/bench-only/ (with BENCH_SMOKE too),
# so a partial run never replaces bench/results/; only the figures it recorded are checked.
# Fails if a program fails or the summary lacks a figure; a missed target is printed, not a
# failure.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: bench/run.sh BUILD_DIR" >&2
  exit 2
fi
build_dir=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."

traces_dir=../shared/traces
if [ "${BENCH_SMOKE:-0}" = 1 ]; then
  export BENCH_SMOKE=1 BENCH_SECONDS=0.2
  results_dir=$build_dir/bench-smoke
  data_dir=$results_dir/data
  # The two smallest traces: a few thousand requests each.
  replay_args=("$traces_dir" lirs_cs lirs_gli)
else
  results_dir=bench/results
  data_dir=$build_dir/bench-data
  replay_args=("$traces_dir")
fi
only=${BENCH_ONLY:-}
if [ -n "$only" ]; then
  results_dir=$build_dir/bench-only
  data_dir=$results_dir/data
fi
# A failed run leaves no summary or plot behind to be mistaken for its result.
rm -rf "$data_dir"
rm -f "$results_dir"/summary.json "$results_dir"/*.png
mkdir -p "$data_dir" "$results_dir"
# Where the programs append their figures (bench/figures_file.hpp) and write plot data.
export BENCH_FIGURES=$data_dir/figures.jsonl BENCH_DATA_DIR=$data_dir
# The Caffeine peer: Debian's jar and the class make compiled (bench/peers/caffeine_peer.hpp).
export CAFFEINE_CLASSPATH=/usr/share/java/caffeine.jar:$build_dir/caffeine

"$build_dir/tiercache_bench"
[ -n "$only" ] || "$build_dir/replay" "${replay_args[@]}"

# The summary: the machine, then every recorded figure in order. Fails if a figure the tools
# read is missing (of a partial run: if there is none), appears twice, or has no value.
python3 - "$BENCH_FIGURES" "$results_dir/summary.json" "$only" <<'PY'
import json, os, sys

figures_path, summary_path, only = sys.argv[1], sys.argv[2], sys.argv[3]
required = [
    "l1_read_ro", "l1_read_rw90", "l1_read_cache_resident", "l1_hit_p99_ns", "hot_key_read",
    "l2_async_set", "burst_1mib_drain_mbps", "l2_hit_get_us", "coalesced_loads", "replay_le_lru",
    "replay_gap_to_best", "invalidation_lag_p50_us", "invalidation_lag_p99_us",
    "invalidations_per_write", "tracking_cost_rw90",
    "bytes_per_entry", "l1_get_into_ro", "l1_get_into_cache_resident", "l1_rw25_cache_resident",
    "get_many_100_us", "origin_loads_per_s_refresh", "memcached_async_set",
    "memcached_l2_hit_get_us", "typed_hit_ns", "metrics_cost_ro", "metrics_cost_set",
    "cluster_async_set", "cluster_l2_hit_get_us", "cluster_get_many_100_us",
    "cluster_failover_recovery_ms",
]
model = "unknown"
with open("/proc/cpuinfo") as cpuinfo:
    for line in cpuinfo:
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
figures = []
with open(figures_path) as lines:
    for number, line in enumerate(lines, 1):
        try:
            figures.append(json.loads(line))
        except json.JSONDecodeError as e:
            sys.exit(f"summary: {figures_path}:{number}: {e}")
names = [f["name"] for f in figures]
if only:
    problems = [] if names else [f"BENCH_ONLY={only} recorded no figure"]
else:
    problems = [f"missing figure {n}" for n in required if n not in names]
problems += [f"figure {n} recorded {names.count(n)} times" for n in set(names) if names.count(n) > 1]
problems += [f"figure {f['name']} has no value" for f in figures if f["value"] is None]
if problems:
    sys.exit("summary: " + "; ".join(problems))
summary = {"machine": f"{model}, {os.cpu_count()} cores", "figures": figures}
with open(summary_path + ".tmp", "w") as out:
    json.dump(summary, out, indent=2, ensure_ascii=False)
    out.write("\n")
os.replace(summary_path + ".tmp", summary_path)
targeted = [f for f in figures if f["met"] is not None]
unmet = [f["name"] for f in targeted if not f["met"]]
print(f"summary: {summary_path}: {len(figures)} figures, {len(targeted)} with a target, "
      f"{len(targeted) - len(unmet)} met" + (f"; not met: {', '.join(unmet)}" if unmet else ""))
PY

[ -n "$only" ] || bench/plots.sh "$data_dir" "$results_dir"
