#!/usr/bin/env bash
# The bench's PNGs, drawn with gnuplot from the data files tiercache_bench and replay wrote:
#   l1_read_threads.png        L1 read-only throughput vs threads, tiercache and the peers
#   l1_hit_latency_cdf.png     CDF of an L1 hit's latency, tiercache and the peers
#   l2_hit_get_latency_cdf.png CDF of a get served from Redis, tiercache and plain hiredis
#   replay_miss_ratio.png      miss ratio vs cache size per trace, tiercache and the references
# Usage: bench/plots.sh DATA_DIR OUT_DIR (bench/run.sh calls it). Fails if a data file is missing.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: bench/plots.sh DATA_DIR OUT_DIR" >&2
  exit 2
fi
data=$1
out=$2
if ! command -v gnuplot >/dev/null; then
  echo "plots.sh: gnuplot not found; scripts/deps.sh bench installs gnuplot-nox" >&2
  exit 1
fi
for f in l1_read_threads.dat replay.dat \
  l1_hit_latency_{tiercache,libcds_raw,tbb_concurrent_hash_map,mutex_lru}.cdf \
  l2_hit_get_latency_{tiercache,hiredis_sync_per_call}.cdf; do
  if [ ! -s "$data/$f" ]; then
    echo "plots.sh: $data/$f is missing or empty" >&2
    exit 1
  fi
done

cores=$(nproc)
# Traces in replay.dat, in block order; the grid has up to 4 plots a row.
traces=$(sed -n 's/^# trace //p' "$data/replay.dat" | tr '\n' ' ')
trace_count=$(wc -w <<<"$traces")
columns=$((trace_count < 4 ? trace_count : 4))
rows=$(((trace_count + columns - 1) / columns))

# Margins of the replay grid, as fractions of the canvas: the bottom strip holds the one legend.
grid_height=$((rows * 280 + 90))
legend_strip=$(awk -v h="$grid_height" 'BEGIN { printf "%.3f", 60 / h }')
title_strip=$(awk -v h="$grid_height" 'BEGIN { printf "%.3f", 1 - 60 / h }')

# From a file, not stdin: gnuplot then stops at the first error with a non-zero status.
mkdir -p "$out"
script=$data/plots.gp
cat >"$script" <<GP
set terminal pngcairo size 900,600 font "sans,11" noenhanced
set grid
set key top left
data = "$data"
peers = "tiercache libcds_raw tbb_concurrent_hash_map mutex_lru"

set output "$out/l1_read_threads.png"
set title "L1 read-only throughput vs threads (Zipf 0.99, 100 B values, $cores cores)"
set xlabel "threads"
set ylabel "Mops/s"
set xtics (1, 2, 4)
set logscale x 2
set xrange [0.8:5]
set yrange [0:*]
plot for [i=2:5] data."/l1_read_threads.dat" using 1:i with linespoints lw 2 pt 7 \
  title word(peers, i - 1)
unset logscale x
unset xrange
unset yrange
set xtics auto

# A latency CDF, left, and its tail, right: the share of calls slower than x, log-log.
set terminal pngcairo size 1300,550 font "sans,10" noenhanced
set format x "%.0f"
set logscale x 10

set output "$out/l1_hit_latency_cdf.png"
set multiplot layout 1,2 title "L1 hit latency (one get in 64 timed, 2 threads, Zipf 0.99, 100 B values)"
set title "CDF"
set xlabel "latency, ns"
set ylabel "fraction of gets"
set yrange [0:1]
set key bottom right
plot for [t in peers] data."/l1_hit_latency_".t.".cdf" using 1:2 with lines lw 2 title t
set title "tail: share of gets slower than x"
set ylabel "1 - CDF"
set logscale y 10
set format y "%g"
set yrange [*:1]
set key top right
plot for [t in peers] data."/l1_hit_latency_".t.".cdf" using 1:(1 - \$2) with lines lw 2 title t
unset multiplot
unset logscale y
set yrange [*:*]

l2peers = "tiercache hiredis_sync_per_call"
set output "$out/l2_hit_get_latency_cdf.png"
set multiplot layout 1,2 title "Get served from Redis (fresh L1, one local redis-server, 100 B values, 1 thread)"
set title "CDF"
set xlabel "latency, µs"
set ylabel "fraction of gets"
set yrange [0:1]
set key bottom right
plot for [t in l2peers] data."/l2_hit_get_latency_".t.".cdf" using 1:2 with lines lw 2 title t
set title "tail: share of gets slower than x"
set ylabel "1 - CDF"
set logscale y 10
set yrange [*:1]
set key top right
plot for [t in l2peers] data."/l2_hit_get_latency_".t.".cdf" using 1:(1 - \$2) with lines lw 2 \
  title t
unset multiplot
unset logscale
set yrange [*:*]
set format x "%g"

set terminal pngcairo size $((columns * 360)),$grid_height font "sans,9" noenhanced
set output "$out/replay_miss_ratio.png"
set multiplot title "Miss ratio vs cache size (% of the trace's unique keys); tiercache thick"
traces = "$traces"
columns = $columns
rows = $rows
bottom = $legend_strip
top = $title_strip
# Columns 3-7 of replay.dat, drawn first; tiercache (column 2) last, on top. Belady, the bound
# no online policy reaches, is dashed.
policies = "LRU S3FIFO WTinyLFU ARC Belady"
colors = "#d62728 #2ca02c #1f77b4 #ff7f0e #7f7f7f"
set xlabel ""
set ylabel ""
set logscale x
set xtics ("1" 0.01, "5" 0.05, "10" 0.1, "20" 0.2)
set xrange [0.008:0.25]
unset key
set size 1.0 / columns, (top - bottom) / rows
do for [i=1:words(traces)] {
  set origin ((i - 1) % columns) * 1.0 / columns, top - ((i - 1) / columns + 1) * (top - bottom) / rows
  set title word(traces, i)
  plot for [c=3:7] data."/replay.dat" index (i - 1) using 1:c with linespoints lw 1.5 pt 7 \
         ps 0.6 lc rgb word(colors, c - 2) dt 1 + (c == 7) title word(policies, c - 2), \
       data."/replay.dat" index (i - 1) using 1:2 with linespoints lw 3 pt 7 ps 0.8 lc "black" \
         title "tiercache"
}
# The one legend, in the strip below the grid: an empty plot whose key is all it shows.
set origin 0, 0
set size 1, bottom
unset title
unset border
unset tics
unset grid
unset logscale x
set xrange [0:1]
set yrange [0:1]
set key center center horizontal maxrows 1 font "sans,10"
plot for [c=3:7] NaN with linespoints lw 1.5 pt 7 ps 0.6 lc rgb word(colors, c - 2) \
       dt 1 + (c == 7) title word(policies, c - 2), \
     NaN with linespoints lw 3 pt 7 ps 0.8 lc "black" title "tiercache"
unset multiplot
GP
gnuplot "$script"
echo "plots: $(cd "$out" && ls -- *.png | tr '\n' ' ')in $out"
