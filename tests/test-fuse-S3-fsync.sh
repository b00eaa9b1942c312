#!/usr/bin/env bash
# The durability boundary of wcache-fuse with a local image, read in the
# image file itself (the media), never through MOUNTPOINT/disk:
#   S3  a write(2) without fsync is not in the image; after fsync or
#       fdatasync (through any file handle) every earlier write is;
#   S8  a `lose` cut drops what was not fsync'd, the image keeps what was;
#       I/O fails with EIO while the power is off; after power-on the disk
#       reads exactly the image, the page cache included (no reader sees
#       data the cut took away); a handle opened before the cut stays dead
#       (EIO) after power-on, a fresh open works; policy=keep writes back;
#       a cut's seed is reported in status;
#   S2  O_DSYNC and O_SYNC writes are in the image when write(2) returns
#       (fua_writes counts them), and an O_DIRECT|O_DSYNC write (FUA alone,
#       no flush) leaves the other dirty data volatile;
#   S1  O_DIRECT reads and writes, mixed with buffered ones, read back the
#       newest data;
#   S4  in writethrough mode a plain write is in the image at once;
#   unsafe mode: fsync succeeds but makes nothing durable (negative
#       control), and a lose cut loses it.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/fuse-functions.sh"

requires_fuse
requires_cmd dd cmp
# Debian's python (the one first on PATH may be a different build).
PY=/usr/bin/python3
[ -x "$PY" ] || skip_all "requires /usr/bin/python3"

T=$tmpdir
BS=4096
SIZE=$((1 << 20))

# The image starts as 0xee everywhere, so neither zeros nor a lost write
# can pass for the data.
head -c $SIZE /dev/zero | tr '\0' '\356' > "$T/base"

# rand NAME LEN: LEN random bytes in $T/NAME.
rand () { head -c "$2" /dev/urandom > "$T/$1"; }

# put FILE SRC OFF [DD-FLAGS...]: SRC written at byte OFF of FILE by one
# dd (one write(2) per 64K), without truncating it.
put ()
{
  local file=$1 src=$2 off=$3
  shift 3
  dd if="$src" of="$file" bs=64K oflag=seek_bytes seek="$off" \
     conv=notrunc status=none "$@"
}

# put_blocks FILE SRC BLOCK [DD-FLAGS...]: SRC written at a 4K block, in
# 4K writes (O_DIRECT needs whole, aligned blocks).
put_blocks ()
{
  local file=$1 src=$2 blk=$3
  shift 3
  dd if="$src" of="$file" bs=$BS seek="$blk" conv=notrunc status=none "$@"
}

# same FILE EXPECTED: exact bytes, with a hint on failure.
same ()
{
  cmp "$1" "$2" >"$T/cmp.out" 2>&1 && return 0
  echo "# $(head -n1 "$T/cmp.out")"
  return 1
}

# is_stat NAME KEY VALUE: MOUNTPOINT/status has KEY=VALUE.
is_stat ()
{
  local v
  v=$(stat_of "$1" "$2")
  [ "$v" = "$3" ] && return 0
  echo "# status $2=$v, expected $3"
  return 1
}

# errno_of OP PATH OFF LEN [SRC]: one request in a fresh process on a
# fresh descriptor; prints "ok" or the errno's name.  OP: read, dread
# (O_DIRECT), write (LEN bytes of SRC), fsync.
cat > "$T/io.py" <<'PYEOF'
import errno, mmap, os, sys
op, path, off, length = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
try:
    if op == "read":
        fd = os.open(path, os.O_RDONLY)
        os.pread(fd, length, off)
    elif op == "dread":
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
        buf = mmap.mmap(-1, length)
        os.preadv(fd, [buf], off)
    elif op == "write":
        fd = os.open(path, os.O_WRONLY)
        os.pwrite(fd, open(sys.argv[5], "rb").read(length), off)
    elif op == "fsync":
        fd = os.open(path, os.O_RDWR)
        os.fsync(fd)
    print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
PYEOF
errno_of () { "$PY" "$T/io.py" "$@"; }

# fails_eio DESC OP ARGS...: the request fails with EIO.
fails_eio ()
{
  local got
  got=$(errno_of "$@")
  [ "$got" = EIO ] && return 0
  echo "# $1 $2 at $3: $got, expected EIO"
  return 1
}

# mount_copy NAME [OPTIONS...]: a copy of base as $T/NAME.img, mounted.
mount_copy ()
{
  local name=$1
  shift
  cp "$T/base" "$T/$name.img"
  start_fuse "$name" "$T/$name.img" "$@"
}

# ---- S3: fsync is the boundary ----------------------------------------------
mount_copy a
D=$(mnt_of a)/disk
IMG=$T/a.img
rand rec1 65536         # 64K at 128K: 16 whole blocks
rand rec2 1000          # 1000 B at 300000: inside one block
rand rec3 8192          # at 512K
rand rec4 4096          # at 640K
cp "$T/base" "$T/exp1"; put "$T/exp1" "$T/rec1" 131072
cp "$T/exp1" "$T/exp2"; put "$T/exp2" "$T/rec2" 300000
cp "$T/exp2" "$T/exp3"; put "$T/exp3" "$T/rec3" 524288
cp "$T/exp3" "$T/exp4"; put "$T/exp4" "$T/rec4" 655360

put "$D" "$T/rec1" 131072 || bail "dd to $D failed"
check "S1: a write without fsync reads back through the disk" \
  same_bytes "$D" "$T/exp1" 131072 65536
check "S3: a write without fsync is not in the image" \
  same "$IMG" "$T/base"
check "S3: it is held dirty (16 blocks)" is_stat a dirty_blocks 16

put "$D" "$T/rec2" 300000 conv=notrunc,fsync || bail "dd conv=fsync failed"
check "S3: after dd conv=fsync the image has that write and the earlier unsynced one, byte for byte" \
  same "$IMG" "$T/exp2"
check "S3: nothing is dirty after the fsync" is_stat a dirty_blocks 0

"$PY" -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
os.pwrite(fd, open(sys.argv[2], "rb").read(), 524288)
' "$D" "$T/rec3" || bail "python write failed"
check "S3: a write(2) from another process, not synced, is not in the image" \
  same "$IMG" "$T/exp2"
check "S3: fsync through a fresh handle that wrote nothing succeeds" \
  test "$(errno_of fsync "$D" 0 0)" = ok
check "S3: ... and makes the other process's write durable" \
  same "$IMG" "$T/exp3"

"$PY" -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
os.pwrite(fd, open(sys.argv[2], "rb").read(), 655360)
os.fdatasync(fd)
' "$D" "$T/rec4" || bail "python write + fdatasync failed"
check "S3: fdatasync makes the write durable" same "$IMG" "$T/exp4"

# ---- S8: a lose cut ---------------------------------------------------------
rand rec5 16384         # at 704K, never synced
put "$D" "$T/rec5" 720896 || bail "dd to $D failed"
cp "$T/exp4" "$T/exp5"; put "$T/exp5" "$T/rec5" 720896
check "S1: the unsynced write reads back before the cut" \
  same_bytes "$D" "$T/exp5" 720896 16384
echo cut > "$(mnt_of a)/power" || bail "echo cut failed"
check "S8: power reads off after the cut" \
  test "$(cat "$(mnt_of a)/power")" = off
check "S8: the lose cut left the image with exactly the fsync'd writes" \
  same "$IMG" "$T/exp4"
check "S8: status reports the lose cut and its 4 lost blocks" \
  eval 'is_stat a last_cut_policy lose && is_stat a last_cut_lost 4'
check "S8: while off, a read fails with EIO" fails_eio read "$D" 917504 4096
check "S8: while off, an O_DIRECT read fails with EIO" \
  fails_eio dread "$D" 0 4096
check "S8: while off, a write fails with EIO" \
  fails_eio write "$D" 917504 4096 "$T/rec4"
check "S8: while off, dd to the disk fails" \
  eval '! put "$D" "$T/rec4" 917504 2>/dev/null'
check "S8: while off, fsync fails with EIO" fails_eio fsync "$D" 0 0
check "S8: the failed requests did not touch the image" same "$IMG" "$T/exp4"
echo on > "$(mnt_of a)/power" || bail "echo on failed"
check "S8: power reads on after power-on" \
  test "$(cat "$(mnt_of a)/power")" = on
check "S8: after power-on the disk reads exactly the image" same "$D" "$IMG"
check "S8: ... which is the fsync'd state" same "$IMG" "$T/exp4"

# ---- S8: a handle opened before the cut stays dead --------------------------
cat > "$T/stale.py" <<'PYEOF'
import errno, os, sys
disk, power = sys.argv[1], sys.argv[2]
def tell(what, f):
    try:
        f()
        print(what, "ok")
    except OSError as e:
        print(what, errno.errorcode.get(e.errno, str(e.errno)))
def ctl(text):
    with open(power, "w") as f:
        f.write(text)
old = os.open(disk, os.O_RDWR)
ctl("cut\n")
ctl("on\n")
tell("old-read", lambda: os.pread(old, 4096, 851968))
tell("old-write", lambda: os.pwrite(old, b"\x55" * 4096, 851968))
tell("old-fsync", lambda: os.fsync(old))
new = os.open(disk, os.O_RDWR)
tell("new-read", lambda: os.pread(new, 4096, 851968))
print("new-bytes", os.pread(new, 4096, 851968) == b"\xee" * 4096)
PYEOF
got=$("$PY" "$T/stale.py" "$D" "$(mnt_of a)/power" | tr '\n' ' ')
want="old-read EIO old-write EIO old-fsync EIO new-read ok new-bytes True "
check "S8: a handle opened before the cut fails with EIO after power-on; a fresh open reads" \
  test "$got" = "$want"
[ "$got" = "$want" ] || echo "# got: $got"
check "S8: the stale handle's write reached neither the disk nor the image" \
  eval 'same "$IMG" "$T/exp4" && same "$D" "$T/exp4"'

# ---- S2: O_DSYNC, O_SYNC, FUA -----------------------------------------------
mount_copy f
D=$(mnt_of f)/disk
IMG=$T/f.img
rand e 4096; rand fua 8192; rand g 8192; rand h 8192; rand i 4096
cp "$T/base" "$T/fexp1"; put "$T/fexp1" "$T/fua" $((20 * BS))
cp "$T/fexp1" "$T/fexp2"; put "$T/fexp2" "$T/g" $((30 * BS))
cp "$T/fexp2" "$T/fexp3"; put "$T/fexp3" "$T/h" $((40 * BS))
cp "$T/fexp3" "$T/fexp4"; put "$T/fexp4" "$T/e" $((10 * BS))

put_blocks "$D" "$T/e" 10 || bail "dd to $D failed"
put_blocks "$D" "$T/fua" 20 oflag=direct,dsync || bail "dd oflag=direct,dsync failed"
check "S2: an O_DIRECT|O_DSYNC write is in the image when it returns, no fsync" \
  same_bytes "$IMG" "$T/fexp1" $((20 * BS)) 8192
check "S2: ... as 2 FUA writes and no flush" \
  eval 'is_stat f fua_writes 2 && is_stat f flushes 0'
check "S2: FUA made only itself durable: the other dirty write is not in the image" \
  same "$IMG" "$T/fexp1"
echo cut > "$(mnt_of f)/power" && echo on > "$(mnt_of f)/power" ||
  bail "cut/on failed"
check "S2+S8: the lose cut kept the FUA write and lost the plain one" \
  eval 'same "$IMG" "$T/fexp1" && same "$D" "$T/fexp1"'

fua0=$(stat_of f fua_writes)
put_blocks "$D" "$T/g" 30 oflag=dsync || bail "dd oflag=dsync failed"
check "S2: an O_DSYNC write is in the image when it returns, no fsync" \
  same "$IMG" "$T/fexp2"
check "S2: ... counted as 2 more fua_writes" is_stat f fua_writes $((fua0 + 2))
put_blocks "$D" "$T/h" 40 oflag=sync || bail "dd oflag=sync failed"
check "S2: an O_SYNC write is in the image when it returns, no fsync" \
  same "$IMG" "$T/fexp3"
check "S2: ... counted as 2 more fua_writes" is_stat f fua_writes $((fua0 + 4))
"$PY" -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_DSYNC)
os.pwrite(fd, open(sys.argv[2], "rb").read(), 10 * 4096)
' "$D" "$T/e" || bail "python O_DSYNC write failed"
check "S2: a python O_DSYNC pwrite is in the image when it returns" \
  same "$IMG" "$T/fexp4"
put_blocks "$D" "$T/i" 50 || bail "dd to $D failed"
echo cut > "$(mnt_of f)/power" && echo on > "$(mnt_of f)/power" ||
  bail "cut/on failed"
check "S2+S8: after a lose cut the image holds every O_SYNC/O_DSYNC write and nothing else" \
  eval 'same "$IMG" "$T/fexp4" && same "$D" "$T/fexp4"'

# ---- S1: O_DIRECT -----------------------------------------------------------
mount_copy o
D=$(mnt_of o)/disk
IMG=$T/o.img
rand da 8192; rand db 8192; rand dc 4096
put_blocks "$D" "$T/da" 5 oflag=direct || bail "dd oflag=direct failed"
check "S1: an O_DIRECT write reads back with O_DIRECT" \
  eval 'dd if="$D" bs=$BS skip=5 count=2 iflag=direct status=none | cmp -s - "$T/da"'
check "S1: ... and with a buffered read" \
  eval 'dd if="$D" bs=$BS skip=5 count=2 status=none | cmp -s - "$T/da"'
check "S3: an O_DIRECT write (no page cache, but the disk's cache) is not in the image" \
  same "$IMG" "$T/base"
put_blocks "$D" "$T/db" 5 || bail "dd to $D failed"
check "S1: a buffered write over it reads back with O_DIRECT" \
  eval 'dd if="$D" bs=$BS skip=5 count=2 iflag=direct status=none | cmp -s - "$T/db"'
put_blocks "$D" "$T/dc" 6 oflag=direct || bail "dd oflag=direct failed"
check "S1: an O_DIRECT write over cached pages reads back buffered" \
  eval 'dd if="$D" bs=$BS skip=6 count=1 status=none | cmp -s - "$T/dc"'
cp "$T/base" "$T/oexp"; put "$T/oexp" "$T/db" $((5 * BS)); put "$T/oexp" "$T/dc" $((6 * BS))
check "S3: still nothing in the image before fsync" same "$IMG" "$T/base"
check "S3: fsync of an O_DIRECT handle succeeds" \
  eval 'dd if=/dev/null of="$D" oflag=direct conv=notrunc,fsync status=none'
check "S3: ... and makes the O_DIRECT and buffered writes durable" \
  same "$IMG" "$T/oexp"
check "S1: the whole disk reads the image with O_DIRECT" \
  eval 'dd if="$D" bs=64K iflag=direct status=none | cmp -s - "$IMG"'

# ---- S8: the page cache after a cut -----------------------------------------
mount_copy p
D=$(mnt_of p)/disk
IMG=$T/p.img
rand pc 8192
put_blocks "$D" "$T/pc" 8 || bail "dd to $D failed"
check "S1: the unsynced write reads back (now in the kernel's page cache)" \
  eval 'dd if="$D" bs=$BS skip=8 count=2 status=none | cmp -s - "$T/pc"'
echo cut > "$(mnt_of p)/power" && echo on > "$(mnt_of p)/power" ||
  bail "cut/on failed"
check "S8: after cut and power-on a buffered read shows the image's old bytes, not the lost data" \
  eval 'dd if="$D" bs=$BS skip=8 count=2 status=none | cmp -s - <(head -c 8192 "$T/base")'
check "S8: the whole disk reads exactly the image" same "$D" "$IMG"
check "S8: the image is untouched" same "$IMG" "$T/base"

# The same while the power is still off: once the write of "cut" to power
# has returned, no read may return the data the cut took away, even one
# the page cache could serve.  Up to 1000 rounds, because a late
# invalidation is a race; it stops at the first stale read.
cat > "$T/offread.py" <<'PYEOF'
import os, sys
disk, power, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
def ctl(text):
    with open(power, "w") as f:
        f.write(text)
stale = n = 0
while n < rounds and not stale:
    n += 1
    data = os.urandom(4096)
    fd = os.open(disk, os.O_RDWR)
    os.pwrite(fd, data, 12 * 4096)
    assert os.pread(fd, 4096, 12 * 4096) == data
    os.close(fd)
    ctl("cut\n")
    fd = os.open(disk, os.O_RDONLY)
    try:
        if os.pread(fd, 4096, 12 * 4096) == data:
            stale += 1
    except OSError:
        pass
    os.close(fd)
    ctl("on\n")
print("stale reads: %d in %d rounds" % (stale, n))
PYEOF
out=$("$PY" "$T/offread.py" "$D" "$(mnt_of p)/power" 1000)
check "S8: while off, no read returns data the cut took away (1000 rounds${out:+; $out})" \
  test "$out" = "stale reads: 0 in 1000 rounds"
check "S8: ... and the image never got any of it" same "$IMG" "$T/base"

# ---- S8: policy=keep, and the seed ------------------------------------------
mount_copy k
D=$(mnt_of k)/disk
IMG=$T/k.img
rand kk 12288
cp "$T/base" "$T/kexp"; put "$T/kexp" "$T/kk" $((16 * BS))
put_blocks "$D" "$T/kk" 16 || bail "dd to $D failed"
check "S3: not in the image before the cut" same "$IMG" "$T/base"
echo "cut policy=keep seed=12345" > "$(mnt_of k)/power" || bail "keep cut failed"
check "S8: a keep cut wrote every dirty block back" same "$IMG" "$T/kexp"
check "S8: status reports policy=keep, seed 12345, 3 kept, 0 lost" \
  eval 'is_stat k last_cut_policy keep && is_stat k last_cut_seed 12345 &&
        is_stat k last_cut_kept 3 && is_stat k last_cut_lost 0'
echo on > "$(mnt_of k)/power" || bail "echo on failed"
check "S8: after power-on the disk reads the image" same "$D" "$IMG"
echo "cut seed=777" > "$(mnt_of k)/power" && echo on > "$(mnt_of k)/power" ||
  bail "cut/on failed"
check "S8: a cut with only a seed is a lose cut and reports that seed" \
  eval 'is_stat k last_cut_policy lose && is_stat k last_cut_seed 777'

# ---- S4: writethrough -------------------------------------------------------
mount_copy w
D=$(mnt_of w)/disk
IMG=$T/w.img
echo writethrough > "$(mnt_of w)/mode" || bail "echo writethrough failed"
check "S4: mode reads writethrough" test "$(cat "$(mnt_of w)/mode")" = writethrough
rand ww 20000
cp "$T/base" "$T/wexp"; put "$T/wexp" "$T/ww" 77777
put "$D" "$T/ww" 77777 || bail "dd to $D failed"
check "S4: in writethrough a plain write is in the image without fsync" \
  same "$IMG" "$T/wexp"
check "S4: nothing is dirty" is_stat w dirty_blocks 0
echo cut > "$(mnt_of w)/power" && echo on > "$(mnt_of w)/power" ||
  bail "cut/on failed"
check "S4+S8: a lose cut in writethrough loses nothing" \
  eval 'same "$IMG" "$T/wexp" && same "$D" "$T/wexp"'

# ---- unsafe: the negative control -------------------------------------------
mount_copy u
D=$(mnt_of u)/disk
IMG=$T/u.img
echo unsafe > "$(mnt_of u)/mode" || bail "echo unsafe failed"
rand uu 8192
put_blocks "$D" "$T/uu" 3 || bail "dd to $D failed"
check "unsafe: fsync succeeds (dd conv=fsync)" \
  eval 'dd if=/dev/null of="$D" conv=notrunc,fsync status=none'
check "unsafe: fsync succeeds (python os.fsync)" \
  test "$(errno_of fsync "$D" 0 0)" = ok
check "unsafe: ... but the write is not in the image" same "$IMG" "$T/base"
check "unsafe: ... and still dirty" is_stat u dirty_blocks 2
echo cut > "$(mnt_of u)/power" && echo on > "$(mnt_of u)/power" ||
  bail "cut/on failed"
check "unsafe: a lose cut loses the fsync'd write" \
  eval 'same "$IMG" "$T/base" && same "$D" "$T/base"'

done_testing
