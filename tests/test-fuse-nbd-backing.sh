#!/usr/bin/env bash
# wcache-fuse over an NBD backing (fuse/nbd.c, fuse/remote.c): the disk is
# nbdkit's wcache filter over the file plugin (with --filter=log below it),
# mounted with --control-of its control socket.  wcache-fuse is pure glue:
#   - a plain write to MOUNTPOINT/disk reaches the filter as a write and is
#     dirty there, not on the image (S3, before side), and a separate NBD
#     connection reads it at once; a write made by another connection reads
#     back through a fresh open of MOUNTPOINT/disk: no cache of its own;
#   - fsync reaches the filter as exactly one flush: nothing dirty is left
#     and the image has the data (S3, after side);
#   - an O_DSYNC write reaches the filter as a FUA write, and the plugin
#     gets it with fua=1 (S2 end to end);
#   - the control files forward to the filter: status says what the socket
#     says, mode and cache_type read and switch the filter's mode, a bad
#     value or a bad cut argument is refused with EINVAL (checked before it
#     is sent) and changes nothing; "cut" to power cuts the
#     filter's power (S8: the dirty data is lost from the image, reads and
#     writes of the disk fail with EIO), "on" restores it; a file opened
#     before the cut still fails (fs.c), and a fresh open of the disk then
#     reads exactly the media;
#   - without --control-of the mount holds only "disk".

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh" ||
  { echo "Bail out! cannot read tests/functions.sh"; exit 1; }
. "$top_srcdir/tests/control-functions.sh" || bail "cannot read tests/control-functions.sh"
. "$top_srcdir/tests/fuse-functions.sh" || bail "cannot read tests/fuse-functions.sh"

requires_wcachectl
requires_plugin file
requires "$NBDKIT" --filter=log null --version
requires_fuse
requires_built fuse-nbd

T=$tmpdir
[ -d "$T" ] || bail "no temporary directory"
export T
SIZE=$((16 << 20))
# The image is 0xee everywhere, so neither zeros nor a lost write can pass
# for data.
head -c $SIZE /dev/zero | tr '\0' '\356' > "$T/img"
cp "$T/img" "$T/base"
for r in rec1 rec2 rec3; do head -c 65536 /dev/urandom > "$T/$r"; done
head -c 4096 /dev/urandom > "$T/rec4"
OFF1=$((1 << 20)) OFF2=$((2 << 20)) OFF3=$((3 << 20)) OFF4=$((5 << 20))

log=$T/plugin.log
start_wcache s --filter=log file "$T/img" logfile="$log"
start_fuse f "$(uri_of s)" --control-of="$(ctl_of s)"
start_fuse g "$(uri_of s)"
M=$(mnt_of f)
# fd 7: MOUNTPOINT/disk opened across the cut; closed before the unmounts.
cleanup_fn 'exec 7>&-'

# io OP ARGS...: one system call sequence on MOUNTPOINT/disk (a fresh
# open each time), printing "ok" or the errno's name.
#   write FILE OFF [dsync]   pwrite FILE's bytes at OFF (O_DSYNC if asked)
#   fsync                    open for writing and fsync
#   read OFF LEN OUT         pread LEN bytes at OFF into the file OUT
cat > "$T/io.py" <<'PYEOF'
import errno, os, sys
disk, op, a = sys.argv[1], sys.argv[2], sys.argv[3:]
try:
    if op == "write":
        flags = os.O_WRONLY | (os.O_DSYNC if a[2:] == ["dsync"] else 0)
        data = open(a[0], "rb").read()
        fd = os.open(disk, flags)
        if os.pwrite(fd, data, int(a[1])) != len(data):
            sys.exit("short write")
    elif op == "fsync":
        fd = os.open(disk, os.O_WRONLY)
        os.fsync(fd)
    elif op == "read":
        fd = os.open(disk, os.O_RDONLY)
        b = os.pread(fd, int(a[1]), int(a[0]))
        open(a[2], "wb").write(b)
    os.close(fd)
    print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
PYEOF
io () { "$PY" "$T/io.py" "$M/disk" "$@"; }
# ctl_write FILE VALUE: one write(2) of VALUE to a control file; "ok" or
# the errno's name.
ctl_write ()
{
  "$PY" -c '
import errno, os, sys
try:
    fd = os.open(sys.argv[1], os.O_WRONLY)
    os.write(fd, sys.argv[2].encode())
    os.close(fd)
    print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))' "$M/$1" "$2"
}

# st KEY: a value from the filter's own status (its control socket).
st () { ctl s --get "$1" status; }
# same_bytes A B OFF LEN (functions.sh); img_has FILE OFF: the image holds
# FILE's bytes at OFF.
img_has () { cmp -s -n "$(stat -c %s "$1")" "$1" - < <(tail -c +$(($2 + 1)) "$T/img"); }
img_old () { same_bytes "$T/img" "$T/base" "$1" "$2"; }
# read_back OFF FILE: a fresh open of MOUNTPOINT/disk reads FILE at OFF.
read_back ()
{
  [ "$(io read "$1" "$(stat -c %s "$2")" "$T/rb")" = ok ] && cmp -s "$T/rb" "$2"
}
# A separate NBD client: nbdsh, else qemu-io/qemu-img, else the checks
# that need one are skipped.
if nbdsh -c pass >/dev/null 2>&1; then
  nbd_client=nbdsh
elif command -v qemu-io >/dev/null && command -v qemu-img >/dev/null; then
  nbd_client=qemu
else
  nbd_client=
fi
# nbd_read OFF LEN OUT: read through a new NBD connection to the server.
nbd_read ()
{
  case $nbd_client in
    nbdsh) nbdsh -u "$(uri_of s)" -c "open('$3', 'wb').write(h.pread($2, $1))" ;;
    qemu) qemu-img convert -f raw -O raw "$(uri_of s)" "$T/whole" &&
            tail -c +$(($1 + 1)) "$T/whole" | head -c "$2" > "$3" ;;
    *) return 1 ;;
  esac
}
# nbd_write FILE OFF: write FILE through a new NBD connection.
nbd_write ()
{
  case $nbd_client in
    nbdsh) nbdsh -u "$(uri_of s)" -c "h.pwrite(open('$1', 'rb').read(), $2)" ;;
    qemu) qemu-io -f raw -c "write -q -s $1 $2 $(stat -c %s "$1")" "$(uri_of s)" ;;
    *) return 1 ;;
  esac
}
# check_nbd DESC COMMAND...: check, or a skip without an NBD client.
check_nbd ()
{
  if [ -n "$nbd_client" ]; then
    check "$@"
  else
    ok "$1 # SKIP requires nbdsh (python3-libnbd) or qemu-io and qemu-img"
  fi
}

# ---- The mount ----------------------------------------------------------
check "with --control-of the mount holds disk and the control files" \
  test "$(ls "$M" | tr '\n' ' ')" = "cache_type disk mode power status "
check "without --control-of the mount holds only disk" \
  test "$(ls "$(mnt_of g)" | tr '\n' ' ')" = "disk "
check "without --control-of there is no status file" \
  eval '! test -e "$(mnt_of g)/status"'
check "MOUNTPOINT/disk has the server's size" \
  test "$(stat -c %s "$M/disk")" = $SIZE

# status: the socket's reply, one key=value per line, unquoted.
"$PY" - "$(ctl s status)" > "$T/status.want" <<'PYEOF'
import re, sys
for m in re.finditer(r' ([A-Za-z0-9_-]+)=("((?:[^"\\]|\\.)*)"|[^ ]+)', sys.argv[1]):
    v = re.sub(r'\\(.)', r'\1', m.group(3)) if m.group(3) is not None else m.group(2)
    print("%s=%s" % (m.group(1), v))
PYEOF
# (Through cat: its size is 0, as in /proc, and cmp trusts sizes.)
cat "$M/status" > "$T/status.got"
check "MOUNTPOINT/status is the filter's status, key for key" \
  cmp -s "$T/status.got" "$T/status.want"
check "MOUNTPOINT/status shows the filter's counters (flushes, dirty_blocks, power)" \
  eval 'grep -q "^flushes=" "$M/status" && grep -q "^dirty_blocks=0$" "$M/status" &&
        grep -q "^power=on$" "$M/status"'

# ---- Plain writes, reads, fsync ----------------------------------------
w0=$(st writes) b0=$(st bytes_written) fl0=$(st flushes)
check "a plain 64K write to MOUNTPOINT/disk" test "$(io write "$T/rec1" $OFF1)" = ok
check "it reached the filter as one write of 65536 bytes" \
  test "$(st writes)/$(st bytes_written)" = "$((w0 + 1))/$((b0 + 65536))"
check "it is dirty in the filter's cache (dirty_blocks=16, dirty_bytes=65536)" \
  test "$(st dirty_blocks)/$(st dirty_bytes)" = 16/65536
check "S3: before fsync the write is not on the image" img_old $OFF1 65536
check_nbd "a separate NBD connection reads the write at once (nothing held in wcache-fuse)" \
  eval 'nbd_read $OFF1 65536 "$T/nbd1" && cmp -s "$T/nbd1" "$T/rec1"'
check "fsync on MOUNTPOINT/disk" test "$(io fsync)" = ok
check "S3: the fsync reached the filter as exactly one flush" \
  test "$(st flushes)" = $((fl0 + 1))
check "S3: after fsync nothing is dirty" test "$(st dirty_blocks)" = 0
check "S3: after fsync the write is on the image" img_has "$T/rec1" $OFF1

check_nbd "a write by another NBD connection reads back through a fresh open of the disk" \
  eval 'nbd_write "$T/rec2" $OFF2 && read_back $OFF2 "$T/rec2"'

# ---- O_DSYNC: FUA -------------------------------------------------------
fua0=$(st fua_writes) w0=$(st writes)
check "an O_DSYNC 4K write to MOUNTPOINT/disk" \
  test "$(io write "$T/rec4" $OFF3 dsync)" = ok
check "S2: it reached the filter as one FUA write" \
  test "$(st fua_writes)/$(st writes)" = "$((fua0 + 1))/$((w0 + 1))"
check "S2: the plugin got it with fua=1 (log filter below wcache)" \
  plugin_has "$log" Write $OFF3 4096 fua
check "S2: the O_DSYNC write is on the image" img_has "$T/rec4" $OFF3

# ---- Mode ---------------------------------------------------------------
check "MOUNTPOINT/mode is the filter's mode (writeback)" \
  test "$(cat "$M/mode")" = "$(ctl s --get mode mode)" -a "$(cat "$M/mode")" = writeback
check "MOUNTPOINT/cache_type reads 'write back'" test "$(cat "$M/cache_type")" = "write back"
check "echo writethrough > MOUNTPOINT/mode" eval 'echo writethrough > "$M/mode"'
check "S5: the filter's mode is writethrough" test "$(ctl s --get mode mode)" = writethrough
check "MOUNTPOINT/cache_type reads 'write through'" \
  test "$(cat "$M/cache_type")" = "write through"
ctl s mode writeback >/dev/null || bail "mode writeback over the socket failed"
check "a switch over the socket shows in MOUNTPOINT/mode at once" \
  test "$(cat "$M/mode")" = writeback
check "echo 'write through' > MOUNTPOINT/cache_type switches the filter" \
  eval 'echo "write through" > "$M/cache_type" && test "$(ctl s --get mode mode)" = writethrough'
check "echo 'write back' > MOUNTPOINT/cache_type switches it back" \
  eval 'echo "write back" > "$M/cache_type" && test "$(ctl s --get mode mode)" = writeback'
check "a bad mode is refused with EINVAL" test "$(ctl_write mode fast)" = EINVAL
check "a bad mode changes nothing" test "$(ctl s --get mode mode)" = writeback
# Remote error replies carry no errno: a request wrong in itself is caught
# here, by the protocol's own parser, before it is sent.
cuts0=$(st cuts)
check "'cut policy=x' to power is refused with EINVAL, not EIO" \
  test "$(ctl_write power 'cut policy=x')" = EINVAL
check "'cut seed=abc' and 'cut now' are refused with EINVAL" \
  test "$(ctl_write power 'cut seed=abc') $(ctl_write power 'cut now')" = "EINVAL EINVAL"
check "a bad cache_type is refused with EINVAL" \
  test "$(ctl_write cache_type 'write-back')" = EINVAL
check "the refused requests changed nothing (power on, no cut, writeback)" \
  test "$(st power) $(st cuts) $(st mode)" = "on $cuts0 writeback"

# ---- Power --------------------------------------------------------------
check "a plain 64K write before the cut" test "$(io write "$T/rec3" $OFF4)" = ok
check "it is dirty in the filter" test "$(st dirty_blocks)" = 16
exec 7<>"$M/disk" || bail "cannot open $M/disk"
check "echo cut > MOUNTPOINT/power" eval 'echo cut > "$M/power"'
check "S8: the filter's power is off" test "$(st power)" = off
check "MOUNTPOINT/power reads off" test "$(cat "$M/power")" = off
check "S8 lose: the filter lost the 16 dirty blocks" \
  test "$(st last_cut_dirty)/$(st last_cut_lost)" = 16/16
check "S8: the unflushed write is not on the image" img_old $OFF4 65536
check "S8: a read of MOUNTPOINT/disk fails with EIO while the power is off" \
  test "$(io read $OFF1 4096 "$T/rb")" = EIO
check "S8: a write to MOUNTPOINT/disk fails with EIO while the power is off" \
  test "$(io write "$T/rec4" 0)" = EIO
check "echo on > MOUNTPOINT/power" eval 'echo on > "$M/power"'
check "the filter's power is on" test "$(st power)" = on
check "MOUNTPOINT/power reads on" test "$(cat "$M/power")" = on
check_nbd "S8: after power-on a new NBD connection reads the media (the lost write is gone)" \
  eval 'nbd_read $OFF4 65536 "$T/nbd4" && cmp -s "$T/nbd4" <(head -c 65536 "$T/base")'
# fs.c: a file opened before a cut fails for ever; reopen after power-on.
# (8M was never read, so the read reaches wcache-fuse.)
check "a file of MOUNTPOINT/disk opened before the cut still fails with EIO after power-on" \
  test "$("$PY" -c '
import errno, os
try:
    os.pread(7, 4096, 8 << 20)
    print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))')" = EIO
exec 7>&-
check "S8: after power-on a fresh open of MOUNTPOINT/disk reads the flushed write" \
  read_back $OFF1 "$T/rec1"
check "S8: after power-on a fresh open of MOUNTPOINT/disk reads the media where the write was lost" \
  eval 'head -c 65536 "$T/base" > "$T/old64k" && read_back $OFF4 "$T/old64k"'

done_testing
