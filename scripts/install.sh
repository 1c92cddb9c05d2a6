#!/usr/bin/env bash
# make install / make uninstall: puts tiercache's headers, libraries, pkg-config file and CMake
# package under DESTDIR/PREFIX, and takes exactly those away again.
#   scripts/install.sh install      (the Makefile sets DESTDIR PREFIX LIBDIR INCLUDEDIR VERSION
#                                    SOVERSION LDLIBS STATIC_LIB SHARED_LIB)
#   scripts/install.sh uninstall    (DESTDIR PREFIX)
# install writes a manifest, PREFIX/share/tiercache/install_manifest.txt: one line per file or
# symlink it put ("f PATH") and per directory it had to create ("d PATH"), PATH without DESTDIR.
# uninstall removes those files, then those directories if they are empty, then the manifest;
# nothing else. An install over an earlier one removes the earlier one first, so a header a new
# release dropped does not stay behind. Run from the repository's root.
set -euo pipefail

die() {
  echo "install.sh: $*" >&2
  exit 1
}

: "${DESTDIR=}"
: "${PREFIX:?PREFIX is not set}"
case "$PREFIX" in /*) ;; *) die "PREFIX must be an absolute path, not '$PREFIX'" ;; esac
# Where the manifest lives; uninstall finds it from DESTDIR and PREFIX alone.
manifest_path="$PREFIX/share/tiercache/install_manifest.txt"

# Removes what the manifest at $DESTDIR$manifest_path lists; says how many files went.
uninstall() {
  local manifest="$DESTDIR$manifest_path" kind path files=0 dirs=()
  [ -f "$manifest" ] || die "no tiercache install under $DESTDIR$PREFIX (no $manifest)"
  local entries
  mapfile -t entries <"$manifest"
  for entry in "${entries[@]}"; do
    kind=${entry%% *} path=${entry#* }
    case "$kind" in
      f)
        if [ -e "$DESTDIR$path" ] || [ -L "$DESTDIR$path" ]; then
          rm -f -- "$DESTDIR$path"
          files=$((files + 1))
        else
          echo "install.sh: $DESTDIR$path was already gone" >&2
        fi
        ;;
      d) dirs+=("$path") ;;
      *) die "$manifest: a line that is neither 'f PATH' nor 'd PATH': $entry" ;;
    esac
  done
  # Deepest first: a directory was recorded after its parent.
  local i
  for ((i = ${#dirs[@]} - 1; i >= 0; i--)); do
    rmdir -- "$DESTDIR${dirs[i]}" 2>/dev/null ||
      echo "install.sh: kept $DESTDIR${dirs[i]}: not empty (files install did not put there)" >&2
  done
  echo "uninstalled tiercache: $files files from $DESTDIR$PREFIX"
}

# Refreshes the dynamic linker's cache after a real (not staged) install or uninstall, so
# libtiercache.so.SOVERSION is found under LIBDIR without LD_LIBRARY_PATH.
refresh_ldconfig() {
  if [ -z "$DESTDIR" ] && [ "$(id -u)" -eq 0 ] && command -v ldconfig >/dev/null; then
    ldconfig
  fi
}

if [ "${1-}" = uninstall ]; then
  uninstall
  refresh_ldconfig
  exit 0
fi
[ "${1-}" = install ] || die "usage: scripts/install.sh install|uninstall"

for var in LIBDIR INCLUDEDIR VERSION SOVERSION LDLIBS STATIC_LIB SHARED_LIB; do
  [ -n "${!var-}" ] || die "$var is not set (make install sets it)"
done
for var in LIBDIR INCLUDEDIR; do
  case "${!var}" in /*) ;; *) die "$var must be an absolute path, not '${!var}'" ;; esac
done
[ -f "$STATIC_LIB" ] || die "$STATIC_LIB is missing (make install builds it)"
[ -f "$SHARED_LIB" ] || die "$SHARED_LIB is missing (make install builds it)"

if [ -f "$DESTDIR$manifest_path" ]; then
  echo "install.sh: removing the earlier install first" >&2
  uninstall >/dev/null
fi

entries=()
# Creates $DESTDIR$1 and every missing parent, recording each directory it had to create.
make_dir() {
  local path="" part parts
  IFS=/ read -ra parts <<<"${1#/}"
  [ -z "$DESTDIR" ] || mkdir -p -- "$DESTDIR"
  for part in "${parts[@]}"; do
    path="$path/$part"
    if [ ! -d "$DESTDIR$path" ]; then
      mkdir -- "$DESTDIR$path"
      entries+=("d $path")
    fi
  done
}
# put MODE SOURCE PATH: copies SOURCE to $DESTDIR$PATH and records it.
put() {
  make_dir "$(dirname "$3")"
  install -m "$1" -- "$2" "$DESTDIR$3"
  entries+=("f $3")
}
# link TARGET PATH: a symlink at $DESTDIR$PATH to TARGET (relative), recorded.
link() {
  ln -sfn -- "$1" "$DESTDIR$2"
  entries+=("f $2")
}
# Escapes a value for the right-hand side of a sed s||| command.
sed_value() {
  printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'
}
# render TEMPLATE PATH: the template with every @NAME@ replaced, put at $DESTDIR$PATH.
render() {
  local out
  out=$(mktemp)
  sed -e "s|@VERSION@|$(sed_value "$VERSION")|g" \
    -e "s|@SOVERSION@|$(sed_value "$SOVERSION")|g" \
    -e "s|@PREFIX@|$(sed_value "$PREFIX")|g" \
    -e "s|@PC_LIBDIR@|$(sed_value "$pc_libdir")|g" \
    -e "s|@PC_INCLUDEDIR@|$(sed_value "$pc_includedir")|g" \
    -e "s|@LDLIBS@|$(sed_value "$LDLIBS")|g" \
    -e "s|@INCLUDEDIR_FROM_LIBDIR@|$(sed_value "$includedir_from_libdir")|g" \
    -e "s|@STATIC_DEP_NAMES@|$(sed_value "$static_dep_names")|g" \
    "$1" >"$out"
  put 644 "$out" "$2"
  rm -f -- "$out"
}

# tiercache.pc names its directories from ${prefix} where they lie under it, so that
# pkg-config --define-prefix finds a staged (DESTDIR) or moved tree.
pc_libdir=$LIBDIR pc_includedir=$INCLUDEDIR
case "$LIBDIR" in "$PREFIX"/*) pc_libdir="\${prefix}${LIBDIR#"$PREFIX"}" ;; esac
case "$INCLUDEDIR" in "$PREFIX"/*) pc_includedir="\${prefix}${INCLUDEDIR#"$PREFIX"}" ;; esac
# The CMake package finds the headers from its own place, so it works wherever the tree lies.
includedir_from_libdir=$(realpath -m --relative-to="$LIBDIR" "$INCLUDEDIR")
# The static link's libraries for CMake, from LDLIBS: -l:FILE and -lNAME name one each; -pthread
# is Threads::Threads there.
static_dep_names=""
for word in $LDLIBS; do
  case "$word" in
    -l:*) static_dep_names="$static_dep_names;${word#-l:}" ;;
    -l*) static_dep_names="$static_dep_names;${word#-l}" ;;
    -pthread) ;;
    *) die "LDLIBS: cannot say '$word' to CMake (only -l:FILE, -lNAME and -pthread)" ;;
  esac
done
static_dep_names=${static_dep_names#;}

mapfile -t headers < <(cd include && find tiercache -type f \( -name '*.hpp' -o -name '*.h' \) |
  sort)
[ ${#headers[@]} -gt 0 ] || die "no headers under include/tiercache (run from the repository root)"
for header in "${headers[@]}"; do
  put 644 "include/$header" "$INCLUDEDIR/$header"
done

shared_name=libtiercache.so.$VERSION soname=libtiercache.so.$SOVERSION
put 644 "$STATIC_LIB" "$LIBDIR/libtiercache.a"
put 755 "$SHARED_LIB" "$LIBDIR/$shared_name"
link "$shared_name" "$LIBDIR/$soname"
link "$soname" "$LIBDIR/libtiercache.so"
render packaging/tiercache.pc.in "$LIBDIR/pkgconfig/tiercache.pc"
render packaging/tiercacheConfig.cmake.in "$LIBDIR/cmake/tiercache/tiercacheConfig.cmake"
render packaging/tiercacheConfigVersion.cmake.in \
  "$LIBDIR/cmake/tiercache/tiercacheConfigVersion.cmake"

make_dir "$(dirname "$manifest_path")"
entries+=("f $manifest_path")
printf '%s\n' "${entries[@]}" >"$DESTDIR$manifest_path"
chmod 644 "$DESTDIR$manifest_path"
refresh_ldconfig
echo "installed tiercache $VERSION: ${#headers[@]} headers, libtiercache.a, $shared_name," \
  "tiercache.pc, the CMake package under $DESTDIR$PREFIX (manifest: $DESTDIR$manifest_path)"
