#!/usr/bin/env bash
# make test-install: make install into a temp DESTDIR, then tests/install/consumer.cpp built
# against the installed files alone, four ways, each run and its output checked:
#   pkg-config --static, linked -static (so the static line must be complete)
#   CMake, tiercache::tiercache (libtiercache.a)
#   pkg-config --libs, against libtiercache.so, run with LD_LIBRARY_PATH
#   CMake with TIERCACHE_SHARED=ON, likewise
# and tests/install/adapters.cpp, which uses the Memcached backend and the /metrics endpoint,
# linked as docs/install.md says: libtiercache.a (-Wl,-Bstatic) with pkg-config and with CMake.
# Then make uninstall, which must leave the temp tree empty. Exits non-zero at the first fault.
# Run from the repository's root by the Makefile (MAKE, LDLIBS).
set -euo pipefail

: "${MAKE:=make}" "${LDLIBS:?LDLIBS is not set (make test-install sets it)}"
# The default PREFIX, staged under DESTDIR: what a user's plain `make install` would lay out.
prefix=/usr/local
expected="greeting = hello from an installed tiercache"
expected_adapters="adapters: a memcached backend, /metrics served"

tmp=$(mktemp -d /tmp/tiercache-install-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/stage work=$tmp/work
mkdir -p "$stage" "$work"
root=$stage$prefix

fail() {
  echo "test-install: FAILED: $*" >&2
  exit 1
}
step() { echo "test-install: $*"; }
# dynamic_needs BINARY: its DT_NEEDED libraries, one per line (none for a static binary).
dynamic_needs() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'; }
# needs BINARY PATTERN: whether one of its DT_NEEDED libraries matches the grep -x PATTERN. (The
# list is read whole first: grep -q ending a pipe early would fail it under pipefail.)
needs() {
  local list
  list=$(dynamic_needs "$1")
  grep -qx -- "$2" <<<"$list"
}
# check_run NAME BINARY [ENV...]: runs it and compares what it prints with $expected (with
# $expected_adapters for an adapters binary).
check_run() {
  local name=$1 binary=$2 out want=$expected
  shift 2
  [[ "$binary" != */adapters* ]] || want=$expected_adapters
  out=$(env "$@" "$binary") || fail "$name: $binary exited $?"
  [ "$out" = "$want" ] || fail "$name printed '$out', not '$want'"
  step "$name: ran, printed '$out'"
}

step "make install DESTDIR=$stage"
$MAKE --no-print-directory install DESTDIR="$stage" PREFIX="$prefix"

# Every public header, in its tree; both libraries; the soname chain; pc and CMake files.
diff <(cd include && find tiercache -type f -name '*.hpp' | sort) \
  <(cd "$root/include" && find tiercache -type f | sort) ||
  fail "the installed headers differ from include/tiercache (above)"
for f in lib/libtiercache.a lib/libtiercache.so lib/pkgconfig/tiercache.pc \
  lib/cmake/tiercache/tiercacheConfig.cmake lib/cmake/tiercache/tiercacheConfigVersion.cmake; do
  [ -e "$root/$f" ] || fail "$f was not installed"
done
soname=$(readelf -d "$root/lib/libtiercache.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]$/\1/p')
[[ "$soname" == libtiercache.so.[0-9]* ]] || fail "libtiercache.so has soname '$soname'"
if [ ! -L "$root/lib/$soname" ] || [ ! -f "$root/lib/$soname" ]; then
  fail "lib/$soname is no symlink to the library"
fi
# The manifest names exactly what is in the tree: uninstall removes no more and no less.
manifest=$root/share/tiercache/install_manifest.txt
diff <(sed -n 's/^f //p' "$manifest" | sort) \
  <(cd "$stage" && find . \( -type f -o -type l \) | sed 's/^\.//' | sort) ||
  fail "the manifest and the installed files differ (above)"
step "installed: $(grep -c '^f ' "$manifest") files, soname $soname"

# pkg-config reads the staged tree; --define-prefix takes its prefix from where the .pc lies.
export PKG_CONFIG_PATH=$root/lib/pkgconfig
# pkgconf ends its answer with a space; the checks compare exact strings.
pc() { pkg-config --define-prefix "$@" tiercache | sed "s/ *$//"; }
cflags=$(pc --cflags) static_libs=$(pc --static --libs) shared_libs=$(pc --libs)
[ "$cflags" = "-I$root/include" ] || fail "pkg-config --cflags tiercache: '$cflags'"
[ "$static_libs" = "-L$root/lib -ltiercache $LDLIBS" ] ||
  fail "pkg-config --static --libs tiercache: '$static_libs', not '-L$root/lib -ltiercache $LDLIBS'"
[ "$shared_libs" = "-L$root/lib -ltiercache" ] || fail "pkg-config --libs tiercache: '$shared_libs'"
step "pkg-config --static --libs tiercache: $static_libs"

# shellcheck disable=SC2086  # the flags are words
g++ -std=c++23 -static tests/install/consumer.cpp $cflags -o "$work/pc_static" $static_libs \
  2>"$work/pc_static.log" || {
  cat "$work/pc_static.log" >&2
  fail "the -static pkg-config consumer did not build"
}
[ -z "$(dynamic_needs "$work/pc_static")" ] || fail "pc_static is not a static binary"
check_run "pkg-config, -static" "$work/pc_static"

# shellcheck disable=SC2086
g++ -std=c++23 tests/install/consumer.cpp $cflags -o "$work/pc_shared" $shared_libs ||
  fail "the shared pkg-config consumer did not build"
needs "$work/pc_shared" "$soname" || fail "pc_shared does not need $soname"
loaded=$(LD_LIBRARY_PATH=$root/lib ldd "$work/pc_shared")
grep -qF "$soname => $root/lib/$soname" <<<"$loaded" ||
  fail "pc_shared does not load $root/lib/$soname"
check_run "pkg-config, libtiercache.so" "$work/pc_shared" LD_LIBRARY_PATH="$root/lib"

# libtiercache.a in a dynamic program, with the adapters' shared libraries (docs/install.md).
# shellcheck disable=SC2086,SC2046
g++ -std=c++23 tests/install/adapters.cpp $cflags -o "$work/adapters_pc" -Wl,-Bstatic $static_libs \
  -Wl,-Bdynamic $(pkg-config --libs libmemcached cpp-httplib) ||
  fail "the pkg-config adapters consumer did not build"
needs "$work/adapters_pc" 'libtiercache.*' && fail "adapters_pc needs libtiercache.so"
check_run "pkg-config, libtiercache.a + adapters" "$work/adapters_pc"

# cmake_consumer NAME [CMAKE ARGS...]: configures and builds tests/install against the tree.
cmake_consumer() {
  local name=$1 dir=$work/$1
  shift
  if ! cmake -S tests/install -B "$dir" -DCMAKE_PREFIX_PATH="$root" -DCMAKE_BUILD_TYPE=Release \
    "$@" >"$dir.log" 2>&1 || ! cmake --build "$dir" >>"$dir.log" 2>&1; then
    cat "$dir.log" >&2
    fail "the CMake consumer ($name) did not build"
  fi
  grep -qx "tiercache_DIR:PATH=$root/lib/cmake/tiercache" "$dir/CMakeCache.txt" ||
    fail "CMake ($name) found another tiercache: $(grep tiercache_DIR "$dir/CMakeCache.txt")"
}
cmake_consumer cmake_static
needs "$work/cmake_static/consumer" 'libtiercache.*' &&
  fail "the CMake consumer needs libtiercache.so; tiercache::tiercache should be libtiercache.a"
check_run "CMake, libtiercache.a" "$work/cmake_static/consumer"
needs "$work/cmake_static/adapters" 'libtiercache.*' &&
  fail "the CMake adapters consumer needs libtiercache.so"
check_run "CMake, libtiercache.a + adapters" "$work/cmake_static/adapters"

cmake_consumer cmake_shared -DTIERCACHE_SHARED=ON
needs "$work/cmake_shared/consumer" "$soname" ||
  fail "the TIERCACHE_SHARED CMake consumer does not need $soname"
check_run "CMake, libtiercache.so" "$work/cmake_shared/consumer" LD_LIBRARY_PATH="$root/lib"

step "make uninstall DESTDIR=$stage"
$MAKE --no-print-directory uninstall DESTDIR="$stage" PREFIX="$prefix"
left=$(cd "$stage" && find . -mindepth 1)
[ -z "$left" ] || fail "make uninstall left: $left"
step "ok: installed, 6 consumers built and run, uninstalled to an empty tree"
