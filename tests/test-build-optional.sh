#!/usr/bin/env bash
# configure's optional parts: with only glib's and nbdkit's pkg-config
# files visible, the filter and wcachectl build alone, the summary says
# what was left out, and a part asked for by name (--enable-fuse) whose
# libraries are missing is an error, not a silent omission; without
# libnbd, wcache-fuse builds for local images and refuses NBD URIs.
#
# Builds a copy of the source tree (an in-tree build's source directory
# cannot take a second, VPATH configure).

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/functions.sh"

requires_cmd pkg-config make tar

# A pkg-config directory with glib-2.0 and nbdkit and what they need.
pc=$tmpdir/pc
mkdir -p "$pc"
add_pc ()
{
  local m=$1 dep
  [ -e "$pc/$m.pc" ] && return 0
  ln -s "$(pkg-config --variable=pcfiledir "$m")/$m.pc" "$pc/$m.pc" || return 1
  for dep in $(pkg-config --print-requires --print-requires-private "$m" |
               awk '{ print $1 }'); do
    add_pc "$dep" || return 1
  done
}
for m in glib-2.0 nbdkit; do
  pkg-config --exists "$m" || skip_all "requires the pkg-config module $m"
  add_pc "$m" || bail "cannot link $m.pc into $pc"
done
for m in fuse3 gio-2.0 libnbd libxxhash json-glib-1.0; do
  [ ! -e "$pc/$m.pc" ] || skip_all "$m.pc is needed by glib or nbdkit here"
done

src=$tmpdir/src
mkdir -p "$src"
tar -C "$top_srcdir" --exclude=./.git --exclude=./tests/guest-cache \
    -cf - . | tar -C "$src" -xf - || bail "cannot copy the source tree"
chmod -R u+w "$src"     # make distcheck's source tree is read-only
if [ -f "$src/Makefile" ]; then
  make -s -C "$src" distclean >/dev/null 2>&1 ||
    bail "make distclean failed in the copy"
fi
[ -x "$src/configure" ] || skip_all "no configure script (run autoreconf -fi)"

# conf DIR ARGS...: configure in $tmpdir/DIR with the small pkg-config
# directory (or $conf_pc); output in $tmpdir/DIR.out.
conf ()
{
  local d=$tmpdir/$1
  shift
  mkdir -p "$d"
  (cd "$d" && PKG_CONFIG_LIBDIR=${conf_pc:-$pc} PKG_CONFIG_PATH= \
     "$src/configure" --enable-werror "$@") > "$d.out" 2>&1
}

summary () { sed -n "s/^ *$2: *//p" "$tmpdir/$1.out" | head -n1; }

# ---- the parts switched off by name: the filter builds alone.
check "configure --disable-fuse --without-libnbd --disable-crash succeeds" \
  conf off --disable-fuse --without-libnbd --disable-crash
check "the summary says wcache-fuse is not built" \
  test "$(summary off wcache-fuse)" = no
check "the summary says wcache-crash is not built" \
  test "$(summary off wcache-crash)" = no
check "the filter and wcachectl build with glib and nbdkit alone" \
  eval 'make -C "$tmpdir/off" -j2 > "$tmpdir/off.make" 2>&1' 
check "no wcache-fuse or wcache-crash was built" \
  test ! -e "$tmpdir/off/fuse/wcache-fuse" -a ! -e "$tmpdir/off/tools/wcache-crash"
so=$tmpdir/off/plugin/.libs/nbdkit-wcache-filter.so
if [ "$NBDKIT" != no ] && "$NBDKIT" memory --version >/dev/null 2>&1; then
  check "nbdkit loads the filter built alone" \
    eval '"$NBDKIT" --filter="$so" memory 1M --version | grep -q "^wcache "'
else
  skip "nbdkit loads the filter built alone" "no nbdkit memory plugin"
fi
check "wcachectl built alone runs" \
  eval '"$tmpdir/off/server/wcachectl" --help > /dev/null' 

# ---- no switches: what is missing is left out, and said.
check "configure with no switches succeeds without fuse3, libnbd, libxxhash" \
  conf auto
check "... and its summary leaves wcache-fuse out" \
  test "$(summary auto wcache-fuse)" = no
check "... and wcache-crash" \
  test "$(summary auto wcache-crash)" = no

# ---- asked for by name, missing: an error that names the part.
if conf want --enable-fuse; then
  not_ok "configure --enable-fuse without fuse3 fails"
else
  check "configure --enable-fuse without fuse3 fails, naming wcache-fuse" \
    grep -q "wcache-fuse was asked for" "$tmpdir/want.out"
fi

# ---- fuse3 and gio without libnbd: wcache-fuse for local images only.
pc_fuse=$tmpdir/pc-fuse
cp -a "$pc" "$pc_fuse"
if pkg-config --exists fuse3 gio-2.0 && (pc=$pc_fuse; add_pc fuse3 && add_pc gio-2.0) &&
   [ ! -e "$pc_fuse/libnbd.pc" ]; then
  check "configure with fuse3 and gio but no libnbd succeeds" \
    eval 'conf_pc=$pc_fuse conf local --disable-crash'
  check "... and its summary says wcache-fuse takes local images only" \
    eval 'summary local wcache-fuse | grep -q "local images only"'
  check "wcache-fuse builds without libnbd" \
    eval 'make -C "$tmpdir/local" -j2 > "$tmpdir/local.make" 2>&1'
  fuse=$tmpdir/local/fuse/wcache-fuse
  check "its --help says NBD disks are not available" \
    eval '"$fuse" --help | grep -q "built without libnbd"'
  mkdir -p "$tmpdir/mnt"
  check "an NBD URI is refused, naming libnbd, before anything is mounted" \
    eval '! "$fuse" "$tmpdir/mnt" "nbd+unix:///?socket=$tmpdir/none.sock" \
            2> "$tmpdir/local.err" && grep -q "built without libnbd" "$tmpdir/local.err"'
else
  skip "wcache-fuse without libnbd" "no fuse3 or gio-2.0 pkg-config module here"
fi

done_testing
