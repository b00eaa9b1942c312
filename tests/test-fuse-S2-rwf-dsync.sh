#!/usr/bin/env bash
# S2 per write: pwritev2 with RWF_DSYNC or RWF_SYNC on a file opened
# without O_DSYNC (as QEMU writes FUA on a host file) is durable when it
# returns, on a --direct-io mount, through an O_DIRECT open, and through
# the page cache.  The kernel sends those flags with each FUSE write, not
# at open.  Checked in the image after a `lose` cut, beside a plain
# pwritev2 from the same descriptor, which the cut drops (both sides of
# the boundary); fua_writes counts the FUA writes.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/fuse-functions.sh"

requires_fuse
PY=/usr/bin/python3
[ -x "$PY" ] || skip_all "requires /usr/bin/python3"
"$PY" -c 'import os; os.RWF_DSYNC; os.RWF_SYNC; os.pwritev' 2>/dev/null ||
  skip_all "requires os.pwritev and os.RWF_DSYNC in /usr/bin/python3"

T=$tmpdir
BS=4096
SIZE=$((1 << 20))
head -c $SIZE /dev/zero | tr '\0' '\356' > "$T/base"

# pwritev2 DISK OPEN SRC BLOCK FLAG: one pwritev2 of SRC (4K) at BLOCK
# through a descriptor opened with OPEN (plain or direct: never O_DSYNC),
# with FLAG (none, dsync or sync).  Prints "ok" or the errno's name.
cat > "$T/pw.py" <<'PYEOF'
import errno, mmap, os, sys
disk, how, src, block, flag = sys.argv[1:6]
flags = {"none": 0, "dsync": os.RWF_DSYNC, "sync": os.RWF_SYNC}[flag]
oflags = os.O_WRONLY | (os.O_DIRECT if how == "direct" else 0)
data = open(src, "rb").read()
buf = mmap.mmap(-1, len(data))         # page-aligned, for O_DIRECT
buf[:] = data
try:
    fd = os.open(disk, oflags)
    if os.pwritev(fd, [buf], int(block) * 4096, flags) != len(data):
        sys.exit("short write")
    os.close(fd)
    print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
PYEOF

# in_image IMG SRC BLOCK: the image holds SRC at BLOCK; old_image: it
# holds the base there.
in_image () { cmp -s -i 0:$(($3 * BS)) -n $BS "$2" "$1"; }
old_image () { cmp -s -i $(($2 * BS)):$(($2 * BS)) -n $BS "$1" "$T/base"; }

n=0
# case NAME HOW FLAG [MOUNT-OPTIONS...]: a fresh mount; a plain pwritev2
# at block 2, then one with FLAG at block 5, from descriptors opened HOW;
# a lose cut; the image must hold the FLAG write and not the plain one.
run_case ()
{
  local name=$1 how=$2 flag=$3 d img fua0
  shift 3
  n=$((n + 1))
  d=c$n img=$T/c$n.img
  cp "$T/base" "$img"
  head -c $BS /dev/urandom > "$T/plain$n"
  head -c $BS /dev/urandom > "$T/fua$n"
  start_fuse $d "$img" "$@"
  fua0=$(stat_of $d fua_writes)
  check "$name: a plain pwritev2 succeeds" \
    test "$("$PY" "$T/pw.py" "$(mnt_of $d)/disk" "$how" "$T/plain$n" 2 none)" = ok
  check "$name: pwritev2 with RWF_${flag^^} succeeds" \
    test "$("$PY" "$T/pw.py" "$(mnt_of $d)/disk" "$how" "$T/fua$n" 5 "$flag")" = ok
  check "$name: the engine saw one FUA write" \
    test "$(stat_of $d fua_writes)" = $((fua0 + 1))
  check "S2 $name: the RWF_${flag^^} write is in the image when it returns" \
    in_image "$img" "$T/fua$n" 5
  echo cut > "$(mnt_of $d)/power" || bail "cut failed"
  check "S2 $name: after a lose cut the image holds the RWF_${flag^^} write" \
    in_image "$img" "$T/fua$n" 5
  check "S8 $name: ... and not the plain write" old_image "$img" 2
  stop_fuse $d
}

run_case "--direct-io" plain dsync --direct-io
run_case "--direct-io" plain sync --direct-io
run_case "O_DIRECT open" direct dsync
# Through the page cache Linux follows the write with an fsync, which
# writes back the plain write too; the FUA flag still reaches the engine.
n=$((n + 1))
cp "$T/base" "$T/c$n.img"
head -c $BS /dev/urandom > "$T/fua$n"
start_fuse c$n "$T/c$n.img"
fua0=$(stat_of c$n fua_writes)
check "page cache: pwritev2 with RWF_DSYNC succeeds" \
  test "$("$PY" "$T/pw.py" "$(mnt_of c$n)/disk" plain "$T/fua$n" 5 dsync)" = ok
check "page cache: the engine saw it as a FUA write" \
  test "$(stat_of c$n fua_writes)" = $((fua0 + 1))
echo cut > "$(mnt_of c$n)/power" || bail "cut failed"
check "S2 page cache: after a lose cut the image holds the RWF_DSYNC write" \
  in_image "$T/c$n.img" "$T/fua$n" 5

done_testing
