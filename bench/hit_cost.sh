#!/bin/sh
# bench/hit_cost.sh BINARY [KEYS] — runs bench/hit_cost.cpp's ops under callgrind and prints the
# instructions each costs per operation (the measured loop only); each tiercache op also with
# the latency histograms off (Options.metrics.latencies = false).
set -eu
bin=$1
keys=${2:-100000}
rounds=3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for op in get get_string get_into get_into_ttl set_same_size \
  get_latencies_off get_string_latencies_off get_into_latencies_off get_into_ttl_latencies_off \
  set_same_size_latencies_off \
  raw_get raw_get_noalloc; do
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/$op" \
    "$bin" "$op" "$keys" "$rounds" >/dev/null 2>"$out/$op.log" || {
    cat "$out/$op.log" >&2
    exit 1
  }
  total=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$out/$op")
  awk -v op="$op" -v t="$total" -v n="$((keys * rounds))" \
    'BEGIN { printf "%-28s %8.1f instructions per op  (keys=%d)\n", op, t / n, n / 3 }'
done
