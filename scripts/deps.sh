#!/usr/bin/env bash
# Installs the Debian 12 packages of the groups named, if any is missing:
#   scripts/deps.sh GROUP...    e.g. scripts/deps.sh test; with no group, every group (make deps)
# Each make target names its own group (the Makefile's deps-GROUP targets), so `make` installs
# what the library needs and not clang or the JDK. Idempotent: with everything present it runs no
# apt-get at all. Needs root (or sudo) only then. Unknown group: exit 2 with the known ones.
set -euo pipefail

# A group lists packages and other groups. What each target compiles, links and starts, checked
# with dpkg -S against the headers and libraries its objects use (README: Dependencies).
declare -A group=(
  # The library (make, make install): libtiercache's sources include and link these; the
  # Memcached adapter and the /metrics endpoint are in it, so their headers are too.
  [lib]="g++ make pkg-config libcds-dev libxxhash-dev libhiredis-dev libmemcached-dev
         libcpp-httplib-dev"
  # The codec headers' libraries (JSON, MessagePack, protobuf) and protoc for the tests' message.
  [codecs]="nlohmann-json3-dev libmsgpack-cxx-dev libprotobuf-dev protobuf-compiler"
  # The catalog service (examples/catalog/): SQLite; the suite tests it, the demo runs it.
  [catalog]="lib codecs libsqlite3-dev"
  # The suite: Catch2, the servers it starts, promtool, and cmake for the install test.
  [test]="lib codecs catalog catch2 redis-server redis-tools memcached prometheus cmake"
  # libFuzzer: clang 19 is the first Debian clang that compiles libstdc++ 12's <expected>.
  [fuzz]="lib codecs clang-19 libclang-rt-19-dev"
  # The peers (tbb, Google Benchmark, Caffeine on the JDK), the servers and redis-benchmark,
  # callgrind (hit-cost), zstd (the traces), python3 (summary.json) and gnuplot (the plots).
  [bench]="lib codecs libbenchmark-dev libtbb-dev redis-server redis-tools memcached
           default-jdk-headless libcaffeine-java valgrind zstd python3 gnuplot-nox"
  # The demo: the catalog service, its own redis-server, gnuplot for its plots.
  [demo]="catalog redis-server gnuplot-nox"
  [format]="clang-format"
)
# Known groups, in the order the usage message lists them.
known=(lib codecs catalog test fuzz bench demo format)

# Appends a group's packages to `packages`, expanding the groups it names.
add_group() {
  local word
  for word in ${group[$1]}; do
    if [ -n "${group[$word]+set}" ]; then add_group "$word"; else packages+=("$word"); fi
  done
}

[ $# -gt 0 ] || set -- "${known[@]}"
packages=()
for name in "$@"; do
  if [ -z "${group[$name]+set}" ]; then
    echo "deps.sh: unknown group '$name' (known: ${known[*]})" >&2
    exit 2
  fi
  add_group "$name"
done

# Fills `missing` with the packages not installed. One dpkg-query for every package: a package
# dpkg never heard of prints nothing, so it is missing.
find_missing() {
  local name status p
  local -A installed=()
  while read -r name status; do
    [ "$status" = "ii" ] && installed[$name]=1
  done < <(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${packages[@]}" 2>/dev/null || true)
  missing=()
  for p in "${packages[@]}"; do
    [ -n "${installed[$p]+set}" ] || missing+=("$p")
  done
}
find_missing
[ ${#missing[@]} -eq 0 ] && exit 0

# make -j runs several groups at once, and apt-get fails at once on a lock another apt-get holds:
# one install at a time, each looking again once it has the lock (the one before may have
# installed what it lacked). DPkg::Lock::Timeout makes the install wait for dpkg's lock when
# something else holds it; `apt-get update` has no such wait, so an update run by something else
# at that moment still fails this one. The lock is per user.
# Made only if absent (noclobber opens with O_EXCL) and then opened for reading, all flock needs:
# a link another user left under that name in /tmp is neither followed to create a file nor to
# truncate one.
lock="${TMPDIR:-/tmp}/tiercache-deps-$(id -u).lock"
(set -C && umask 022 && : >"$lock") 2>/dev/null || true
exec 9<"$lock"
flock 9
find_missing
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

echo "deps.sh: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
$sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
