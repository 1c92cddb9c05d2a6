#!/usr/bin/env bash
# Installs the Debian 12 packages tiercache builds, tests and benchmarks with, if any is missing.
# Idempotent: with everything present it runs no apt-get at all. Needs root (or sudo) only then.
set -euo pipefail

packages=(
  g++ make pkg-config zstd python3
  libcds-dev libxxhash-dev
  catch2 libbenchmark-dev libtbb-dev
  libhiredis-dev redis-server redis-tools libconcurrentqueue-dev
  libmemcached-dev memcached
  libcpp-httplib-dev prometheus libsqlite3-dev
  nlohmann-json3-dev libmsgpack-cxx-dev libprotobuf-dev protobuf-compiler
  clang-19 libclang-rt-19-dev
  gnuplot-nox valgrind
)

# `deps.sh bench`: also what only the benchmarks need (Caffeine, the peer, on the JDK).
for group in "$@"; do
  case "$group" in
    bench) packages+=(default-jdk-headless libcaffeine-java) ;;
    *) echo "deps.sh: unknown group '$group' (known: bench)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps.sh: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
