#!/usr/bin/env bash
# S1 across the page cache: a buffered reader of MOUNTPOINT/disk reads
# what an O_DIRECT writer wrote.  Older kernels (Debian 12's 6.1) keep the
# pages a FUSE direct write replaced, so wcache-fuse drops the page cache
# of disk itself after each direct write, before the write returns.
# Newer kernels drop the written range themselves, so on them the reader
# alone cannot tell; the proof that wcache-fuse dropped it is in the page
# cache (fincore): after a 4K direct write, no page of the 1M disk is
# cached any more, where the kernel alone drops only the written one.
# Also: a cut fired by a trigger inside a direct write or an fsync drops
# the page cache before that request returns (they hold no pages, so they
# can wait), and direct writes racing buffered readers do not deadlock.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/fuse-functions.sh"

requires_fuse
requires_cmd fincore
PY=/usr/bin/python3
[ -x "$PY" ] || skip_all "requires /usr/bin/python3"

T=$tmpdir
SIZE=$((1 << 20))
PAGES=$((SIZE / 4096))
head -c $SIZE /dev/zero | tr '\0' '\356' > "$T/base"
fuse_watchdog 120

# io dwrite DISK OFF CHAR: one 4K O_DIRECT write of CHAR at OFF; io fsync
# DISK: an fsync; both print "ok" or the errno's name.  io read DISK OFF:
# a buffered read of 4 bytes at OFF, printed in hex.
cat > "$T/io.py" <<'PYEOF'
import errno, mmap, os, sys
op, disk = sys.argv[1], sys.argv[2]
try:
    if op == "dwrite":
        fd = os.open(disk, os.O_WRONLY | os.O_DIRECT)
        buf = mmap.mmap(-1, 4096)
        buf[:] = sys.argv[4].encode() * 4096
        os.pwritev(fd, [buf], int(sys.argv[3]))
    elif op == "fsync":
        fd = os.open(disk, os.O_WRONLY)
        os.fsync(fd)
    elif op == "read":                 # buffered: 4 bytes at OFF, in hex
        fd = os.open(disk, os.O_RDONLY)
        print(os.pread(fd, 4, int(sys.argv[3])).hex())
        os.close(fd)
        sys.exit(0)
    os.close(fd)
    print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
PYEOF
io () { "$PY" "$T/io.py" "$@"; }
# cached DISK: pages of DISK in the page cache.
cached () { fincore --noheadings --output PAGES "$1" | tr -d ' '; }
# fill DISK: every page of DISK read into the page cache.
fill () { cat "$1" > /dev/null && [ "$(cached "$1")" = $PAGES ]; }

cp "$T/base" "$T/a.img"
start_fuse a "$T/a.img"
D=$(mnt_of a)/disk

check "a buffered read fills the page cache ($PAGES pages)" fill "$D"
check "an O_DIRECT 4K write at 512K" test "$(io dwrite "$D" $((512 << 10)) C)" = ok
got=$(cached "$D")
check "the direct write dropped the page cache of disk before it returned (cached: $got pages)" \
  test "$got" = 0
check "S1: a buffered read returns the direct write" \
  test "$(io read "$D" $((512 << 10)))" = 43434343
check "S1: ... and the rest of the disk is unchanged" \
  test "$(io read "$D" 0)" = eeeeeeee

# A reader holding its file open across the write, with the pages cached.
fill "$D" || bail "cannot fill the page cache"
exec 8<"$D" || bail "cannot open $D"
cleanup_fn 'exec 8<&-'
check "an O_DIRECT write while a buffered reader holds the disk open" \
  test "$(io dwrite "$D" 8192 D)" = ok
check "S1: the open reader reads the direct write" \
  test "$("$PY" -c 'import os; print(os.pread(8, 4, 8192).decode())')" = DDDD
exec 8<&-

# Direct writes racing buffered readers: the invalidation waits for pages
# the readers hold, which other FUSE threads serve.
"$PY" - "$D" > "$T/readers.out" 2>&1 <<'PYEOF' &
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
end = time.time() + 3
while time.time() < end:
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.pread(fd, 1 << 20, 0)
print("reader done")
PYEOF
reader=$!
cleanup_fn "kill $reader 2>/dev/null"
"$PY" - "$D" > "$T/writer.out" 2>&1 <<'PYEOF'
import mmap, os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)
n = 0
end = time.time() + 3
while time.time() < end:
    buf[:] = bytes([n & 0xff]) * 4096
    os.pwritev(fd, [buf], (n % 256) * 4096)
    n += 1
print("writer done", n)
PYEOF
wait $reader
check "direct writes racing buffered readers finish (no deadlock)" \
  eval 'grep -q "writer done" "$T/writer.out" && grep -q "reader done" "$T/readers.out"'

# A cut fired inside a direct write, then inside an fsync: the pages are
# gone when the request returns.
echo on > "$(mnt_of a)/power"
fill "$D" || bail "cannot fill the page cache"
echo 'cut after=writes:1' > "$(mnt_of a)/power" || bail "arming failed"
check "a direct write that fires a cut returns" \
  test "$(io dwrite "$D" 0 E)" = ok
check "S8: the cut happened" test "$(cat "$(mnt_of a)/power")" = off
got=$(cached "$D")
check "S8: the page cache was dropped before that write returned (cached: $got pages)" \
  test "$got" = 0
echo on > "$(mnt_of a)/power"
fill "$D" || bail "cannot fill the page cache"
echo 'cut after=flushes:1' > "$(mnt_of a)/power" || bail "arming failed"
check "an fsync that fires a cut returns" test "$(io fsync "$D")" = ok
check "S8: the cut happened" test "$(cat "$(mnt_of a)/power")" = off
got=$(cached "$D")
check "S8: the page cache was dropped before that fsync returned (cached: $got pages)" \
  test "$got" = 0
check "no watchdog fired" fuse_watchdog_quiet

done_testing
