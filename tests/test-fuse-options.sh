#!/usr/bin/env bash
# The command line of wcache-fuse (fuse/main.c): --help documents every
# option of the table and fusermount3; --version; every bad value, missing
# or bad operand and wrong combination fails before mounting, with a
# non-zero exit and a message naming the option or operand; every
# documented value of --mode, --block-size and --cache-size is accepted and
# in force; -P/--pidfile holds the daemon's pid and is removed at unmount;
# -r/--readonly refuses writes (EROFS) and nothing reaches the disk or the
# image; an unmount discards dirty data (the image is unchanged) unless
# --flush-on-unmount, which writes it back; the --control socket is 0600;
# relative -P, --control, MOUNTPOINT and IMAGE work although the daemon
# runs in "/"; -s and -o max_threads=1 are refused (a cut would hang); a
# MOUNTPOINT that is not a directory is refused; a failure after binding
# --control removes the socket.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/fuse-functions.sh"

requires_fuse
: "${WCACHECTL:=$top_builddir/server/wcachectl}"
[ -x "$WCACHECTL" ] || skip_all "requires wcachectl at $WCACHECTL"
PY=/usr/bin/python3
[ -x "$PY" ] || skip_all "requires /usr/bin/python3"

T=$tmpdir
head -c $((1 << 20)) /dev/zero | tr '\0' '\356' > "$T/base"

# is_stat NAME KEY VALUE: MOUNTPOINT/status has KEY=VALUE.
is_stat ()
{
  local v
  v=$(stat_of "$1" "$2")
  [ "$v" = "$3" ] && return 0
  echo "# status $2=$v, expected $3"
  return 1
}

# unmount_wait MOUNTPOINT PID: fusermount3 -u, then wait (bounded, 10 s)
# for the daemon to exit; leaves its pid file alone.
unmount_wait ()
{
  local i
  "$FUSERMOUNT3" -u "$1" || return 1
  for i in $(seq 1 200); do
    pid_alive "$2" 2>/dev/null || return 0
    sleep 0.05
  done
  echo "# the daemon $2 did not exit after the unmount"
  return 1
}

# ---- --help and --version ------------------------------------------------------
out=$("$WCACHE_FUSE" --help 2>&1)
rc=$?
check "--help exits 0" test $rc = 0
# Every long option of the table in main.c, and the fixed list besides.
mapfile -t table < <(sed -n 's/^  OPT ("\(--[a-z-]*\).*/\1/p' \
                       "$top_srcdir/fuse/main.c" | sort -u)
[ ${#table[@]} -ge 9 ] || bail "could not read the option table of main.c"
missing=
for opt in "${table[@]}" --mode= --cache-size= --block-size= --control= \
           --control-of= --flush-on-unmount --pidfile= -P --readonly -r \
           --help --version; do
  grep -qe "$opt" <<<"$out" || missing+=" $opt"
done
check "--help mentions every wcache option (${#table[@]} in main.c's table)${missing:+; missing:$missing}" \
  test -z "$missing"
check "--help says how to unmount (fusermount3 -u)" \
  grep -q 'fusermount3 -u' <<<"$out"
check "-h is --help" test "$("$WCACHE_FUSE" -h 2>&1)" = "$out"

version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$top_builddir/config.h")
out=$("$WCACHE_FUSE" --version 2>&1)
rc=$?
check "--version exits 0 and prints 'wcache-fuse ${version:-?}'" \
  eval 'test $rc = 0 && test -n "$version" &&
        test "$(head -n1 <<<"$out")" = "wcache-fuse $version"'
check "-V is --version" test "$("$WCACHE_FUSE" -V 2>&1)" = "$out"

# ---- Bad command lines -----------------------------------------------------------
mkdir -p "$T/bad.mnt"
cp "$T/base" "$T/bad.img"
cleanup_fn "_fuse_stop '$T/bad.mnt' '$T/bad.pid'"
# fails_naming WORD ARGS...: wcache-fuse ARGS exits non-zero, says WORD on
# stderr, and neither mounts nor writes a pid file nor touches the image.
fails_naming ()
{
  local word=$1 rc
  shift
  rm -f "$T/bad.pid"
  "$WCACHE_FUSE" -P "$T/bad.pid" "$@" >"$T/bad.out" 2>"$T/bad.err"
  rc=$?
  if [ $rc = 0 ]; then
    echo "# exit 0 for: $*"
    _fuse_stop "$T/bad.mnt" "$T/bad.pid"
    return 1
  fi
  if ! grep -qF -e "$word" "$T/bad.err"; then
    echo "# no '$word' in: $(grep -v '^ ' "$T/bad.err" | tail -n1)"
    return 1
  fi
  if mountpoint -q "$T/bad.mnt" || [ -e "$T/bad.pid" ]; then
    echo "# mounted or wrote a pid file anyway"
    return 1
  fi
  cmp -s "$T/bad.img" "$T/base"
}
B=$T/bad.mnt
check "--mode=bogus fails, naming --mode" \
  fails_naming --mode=bogus --mode=bogus "$B" "$T/bad.img"
check "--mode= (empty) fails, naming --mode" \
  fails_naming --mode= --mode= "$B" "$T/bad.img"
check "--block-size=3000 (not a power of two) fails, naming --block-size" \
  fails_naming --block-size=3000 --block-size=3000 "$B" "$T/bad.img"
check "--block-size=256 (below 512) fails, naming --block-size" \
  fails_naming --block-size=256 --block-size=256 "$B" "$T/bad.img"
check "--block-size=128K (above 64K) fails, naming --block-size" \
  fails_naming --block-size=128K --block-size=128K "$B" "$T/bad.img"
check "--cache-size=1 fails, naming --cache-size" \
  fails_naming --cache-size=1 --cache-size=1 "$B" "$T/bad.img"
check "--cache-size=lots fails, naming --cache-size" \
  fails_naming --cache-size=lots --cache-size=lots "$B" "$T/bad.img"
check "--block-size=1M fails, saying it is larger than 64K" \
  fails_naming "--block-size=1M is larger than 64K" --block-size=1M "$B" \
    "$T/bad.img"
check "--cache-size=0x1000 (hex) fails, as for the filter's keys" \
  fails_naming --cache-size=0x1000 --cache-size=0x1000 "$B" "$T/bad.img"
check "--log-sector-size without --log fails, naming --log" \
  fails_naming "needs --log" --log-sector-size=512 "$B" "$T/bad.img"
check "--log-sector-size=8K fails (larger than the block size)" \
  fails_naming --log-sector-size=8K --log="$T/x.log" --log-sector-size=8K \
    "$B" "$T/bad.img"
echo "not a log" > "$T/text"
check "--log on a file that is not a log fails, naming it" \
  fails_naming "$T/text: exists and is not a write log" --log="$T/text" \
    "$B" "$T/bad.img"
check "... and leaves that file alone" test "$(cat "$T/text")" = "not a log"
check "a missing IMAGE fails, naming IMAGE" fails_naming IMAGE "$B"
check "a third operand fails, naming the operands" \
  fails_naming IMAGE "$B" "$T/bad.img" "$T/base"
check "a nonexistent IMAGE fails, naming it" \
  fails_naming "$T/nonexistent.img" "$B" "$T/nonexistent.img"
check "a directory as IMAGE fails, naming it" \
  fails_naming "$T/bad.mnt" "$B" "$T/bad.mnt"
check "--control-of with a local image fails, naming --control-of" \
  fails_naming --control-of "--control-of=$T/bad.ctl" "$B" "$T/bad.img"
check "--nbd-timeout with a local image fails, naming --nbd-timeout" \
  fails_naming --nbd-timeout --nbd-timeout=5 "$B" "$T/bad.img"
if is_built fuse-nbd; then
  check "--control with an NBD URI fails, naming --control" \
    fails_naming --control "--control=$T/bad.ctl" "$B" \
      "nbd+unix:///?socket=$T/nonexistent.sock"
  check "... and creates no socket" test ! -e "$T/bad.ctl"
  check "--mode with an NBD URI fails, naming --mode" \
    fails_naming --mode --mode=writeback "$B" \
      "nbd+unix:///?socket=$T/nonexistent.sock"
  for v in 0 3601 -1 5s ''; do
    check "--nbd-timeout='$v' fails, naming --nbd-timeout" \
      fails_naming --nbd-timeout "--nbd-timeout=$v" "$B" \
        "nbd+unix:///?socket=$T/nonexistent.sock"
  done
else
  check "an NBD URI fails, naming libnbd (built without it)" \
    fails_naming "built without libnbd" "$B" \
      "nbd+unix:///?socket=$T/nonexistent.sock"
fi
# The mount's root is a directory; Linux would mount it on a file too.
: > "$T/file.mnt"
cleanup_fn "_fuse_stop '$T/file.mnt' '$T/bad.pid'"
check "a regular file as MOUNTPOINT fails, saying it is not a directory" \
  fails_naming "not a directory" "$T/file.mnt" "$T/bad.img"
check "... and nothing is mounted on it" \
  eval '! _fuse_mounted "$T/file.mnt" && test -f "$T/file.mnt"'
# A failure after --control was bound removes the socket.
check "--control=SOCKET with a bad FUSE option fails, naming the option" \
  fails_naming bogusopt "--control=$T/bogus.ctl" -o bogusopt "$B" "$T/bad.img"
check "... and removes the socket it had bound" test ! -e "$T/bogus.ctl"
check "--control=SOCKET with a bad MOUNTPOINT fails" \
  fails_naming "not a directory" "--control=$T/bogus.ctl" "$T/file.mnt" "$T/bad.img"
check "... and leaves no socket" test ! -e "$T/bogus.ctl"
# One thread cannot serve a cut: it waits for the kernel to drop pages,
# which may need another request served (a dirty shared mapping).
check "-s fails, naming -s" fails_naming "-s" -s "$B" "$T/bad.img"
check "-o max_threads=1 fails, naming max_threads" \
  fails_naming max_threads -o max_threads=1 "$B" "$T/bad.img"

# ---- Every documented value is in force ------------------------------------------
for m in writeback writethrough none directsync unsafe; do
  cp "$T/base" "$T/m-$m.img"
  start_fuse "m-$m" "$T/m-$m.img" --mode=$m
  check "--mode=$m: the disk starts in $m" \
    test "$(cat "$(mnt_of "m-$m")/mode")" = $m
  stop_fuse "m-$m"
done
cp "$T/base" "$T/sizes.img"
start_fuse bs512 "$T/sizes.img" --block-size=512 --cache-size=1M
check "--block-size=512 --cache-size=1M: status says block_size=512 cache_bytes=1048576" \
  eval 'is_stat bs512 block_size 512 && is_stat bs512 cache_bytes 1048576'
stop_fuse bs512
start_fuse bs64k "$T/sizes.img" --block-size=64K --cache-size=64K
check "--block-size=64K --cache-size=64K: block_size=65536 cache_bytes=65536" \
  eval 'is_stat bs64k block_size 65536 && is_stat bs64k cache_bytes 65536'
stop_fuse bs64k
# --log (relative, made absolute before the daemon goes to /): every
# write and flush, and the log replays onto the base to the image.
cp "$T/base" "$T/logged.img"
cd "$T" || bail "cd $T"
start_fuse logged "$T/logged.img" --log logged.log
cd - > /dev/null || bail "cd back"
dd if=/dev/urandom of="$(mnt_of logged)/disk" bs=4k count=3 seek=1 \
  conv=notrunc,fsync status=none
check "--log: status shows the log, its entries and bytes" \
  eval 'is_stat logged log "$T/logged.log" && [ "$(stat_of logged log_entries)" -ge 2 ]'
stop_fuse logged
if [ -x "$top_builddir/tests/wlog-tool" ]; then
  cp "$T/base" "$T/logged.replay"
  check "--log: the log replays onto the base to the image" \
    eval '"$top_builddir/tests/wlog-tool" replay "$T/logged.log" "$T/logged.replay" &&
          cmp -s "$T/logged.replay" "$T/logged.img"'
fi
start_fuse bsdef "$T/sizes.img"
check "defaults: writeback, block_size=4096, cache_bytes=256M" \
  eval 'is_stat bsdef mode writeback && is_stat bsdef block_size 4096 &&
        is_stat bsdef cache_bytes $((256 << 20))'
stop_fuse bsdef

# ---- -P: the daemon's pid, removed at unmount --------------------------------------
cp "$T/base" "$T/p.img"
start_fuse p "$T/p.img"
pid=$(fpid_of p)
check "-P: the pid file holds a pid ($pid) of a live wcache-fuse" \
  eval '[[ $pid =~ ^[0-9]+$ ]] && pid_alive "$pid" &&
        test "$(readlink -f "/proc/$pid/exe")" = "$(readlink -f "$WCACHE_FUSE")"'
check "-P: ... the daemon that serves the mount (it holds /dev/fuse)" \
  eval 'ls -l "/proc/$pid/fd" 2>/dev/null | grep -q " -> /dev/fuse$"'
check "-P: the daemon is not the shell's child (it daemonized)" \
  test "$(awk '{print $4}' "/proc/$pid/stat")" != $$
check "unmount: the daemon exits" unmount_wait "$(mnt_of p)" "$pid"
check "-P: the pid file is removed at unmount" test ! -e "$T/p.fpid"

# --pidfile= (the long form), by hand.
mkdir -p "$T/lp.mnt"
cleanup_fn "_fuse_stop '$T/lp.mnt' '$T/lp.pid'"
"$WCACHE_FUSE" --pidfile="$T/lp.pid" "$T/lp.mnt" "$T/p.img" 2>"$T/lp.err" ||
  bail "wcache-fuse --pidfile= did not start: $(cat "$T/lp.err")"
_fuse_wait_pid "$T/lp.pid" || bail "--pidfile= wrote no pid file"
pid=$(cat "$T/lp.pid")
check "--pidfile=: holds the daemon's pid" \
  eval 'pid_alive "$pid" && mountpoint -q "$T/lp.mnt"'
check "--pidfile=: removed at unmount" \
  eval 'unmount_wait "$T/lp.mnt" "$pid" && test ! -e "$T/lp.pid"'

# ---- -r / --readonly -------------------------------------------------------------
for ro in -r --readonly; do
  n=ro${ro//-/}
  cp "$T/base" "$T/$n.img"
  start_fuse "$n" "$T/$n.img" "$ro"
  D=$(mnt_of "$n")/disk
  got=$("$PY" -c '
import errno, os, sys
def tell(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
print(tell(lambda: os.open(sys.argv[1], os.O_WRONLY)),
      tell(lambda: os.open(sys.argv[1], os.O_RDWR)),
      tell(lambda: os.truncate(sys.argv[1], 0)))
' "$D")
  check "$ro: opening the disk for writing fails with EROFS (O_WRONLY, O_RDWR, truncate)" \
    test "$got" = "EROFS EROFS EROFS"
  [ "$got" = "EROFS EROFS EROFS" ] || echo "# got: $got"
  check "$ro: dd to the disk fails" \
    eval '! dd if=/dev/urandom of="$D" bs=4096 count=1 conv=notrunc,fsync status=none 2>/dev/null'
  check "$ro: the disk is shown 0444" test "$(stat -c %a "$D")" = 444
  check "$ro: reads work and return the image" cmp -s "$D" "$T/base"
  check "$ro: status counts no write and nothing dirty" \
    eval 'is_stat "$n" writes 0 && is_stat "$n" dirty_blocks 0 &&
          is_stat "$n" bytes_written 0'
  stop_fuse "$n"
  check "$ro: the image is unchanged" cmp -s "$T/$n.img" "$T/base"
done

# ---- Unmount: discard by default, write back with --flush-on-unmount -------------
head -c 12288 /dev/urandom > "$T/rec"
cp "$T/base" "$T/written"
dd if="$T/rec" of="$T/written" bs=4096 seek=7 conv=notrunc status=none
for how in default flush; do
  cp "$T/base" "$T/u-$how.img"
  if [ $how = flush ]; then
    start_fuse "u-$how" "$T/u-$how.img" --flush-on-unmount
  else
    start_fuse "u-$how" "$T/u-$how.img"
  fi
  dd if="$T/rec" of="$(mnt_of "u-$how")/disk" bs=4096 seek=7 conv=notrunc \
     status=none || bail "dd to the disk failed"
  check "unmount ($how): the write is dirty and not in the image before the unmount" \
    eval 'is_stat "u-$how" dirty_blocks 3 && cmp -s "$T/u-$how.img" "$T/base"'
  pid=$(fpid_of "u-$how")
  check "unmount ($how): fusermount3 -u, the daemon exits" \
    unmount_wait "$(mnt_of "u-$how")" "$pid"
done
check "unmount (default): the dirty data is discarded, the image is unchanged" \
  cmp -s "$T/u-default.img" "$T/base"
check "--flush-on-unmount: the dirty data is in the image, byte for byte" \
  cmp -s "$T/u-flush.img" "$T/written"

# In the foreground (-f) stderr stays open: the discard is reported.
mkdir -p "$T/fg.mnt"
cp "$T/base" "$T/fg.img"
cleanup_fn "_fuse_stop '$T/fg.mnt' '$T/fg.pid'"
"$WCACHE_FUSE" -f -P "$T/fg.pid" "$T/fg.mnt" "$T/fg.img" 2>"$T/fg.err" &
fg_job=$!
_fuse_wait_pid "$T/fg.pid" || bail "wcache-fuse -f wrote no pid file"
pid=$(cat "$T/fg.pid")
check "-f: the pid file holds the foreground process's pid" test "$pid" = "$fg_job"
dd if="$T/rec" of="$T/fg.mnt/disk" bs=4096 seek=7 conv=notrunc status=none ||
  bail "dd to the disk failed"
unmount_wait "$T/fg.mnt" "$pid" || bail "wcache-fuse -f did not exit"
wait "$fg_job"
check "unmount (-f): exits 0" test $? = 0
check "unmount (-f): the image is unchanged" cmp -s "$T/fg.img" "$T/base"
check "unmount (-f): says it discarded the 3 dirty blocks" \
  grep -q 'unmounted with 3 dirty blocks: discarded' "$T/fg.err"

# ---- --control: a 0600 socket ----------------------------------------------------
cp "$T/base" "$T/c.img"
start_fuse c "$T/c.img" --control="$(fctl_of c)"
"$WCACHECTL" -s "$(fctl_of c)" --wait=10 status >/dev/null ||
  bail "the control socket does not answer"
check "--control: a UNIX socket of mode 0600" \
  eval 'test -S "$(fctl_of c)" && test "$(stat -c %a "$(fctl_of c)")" = 600'
check "--control: it serves this disk (mode via the socket shows in the mount)" \
  eval '"$WCACHECTL" -s "$(fctl_of c)" mode writethrough >/dev/null &&
        test "$(cat "$(mnt_of c)/mode")" = writethrough'
stop_fuse c

# ---- Relative paths: the daemon runs in / ----------------------------------------
mkdir -p "$T/rel/mnt"
cp "$T/base" "$T/rel/img"
cleanup_fn "_fuse_stop '$T/rel/mnt' '$T/rel/rel.pid'"
(cd "$T/rel" &&
 "$WCACHE_FUSE" -P rel.pid --control=rel.ctl mnt img 2>"$T/rel.err") ||
  bail "wcache-fuse with relative paths did not start: $(cat "$T/rel.err")"
_fuse_wait_pid "$T/rel/rel.pid" || bail "relative -P: no pid file in $T/rel"
pid=$(cat "$T/rel/rel.pid")
check "relative: the daemon runs in /" \
  test "$(readlink "/proc/$pid/cwd")" = /
check "relative -P: the pid file is where it was asked for, with the daemon's pid" \
  pid_alive "$pid"
check "relative MOUNTPOINT: mounted on it" mountpoint -q "$T/rel/mnt"
check "relative --control: the socket answers, 0600" \
  eval '"$WCACHECTL" -s "$T/rel/rel.ctl" --wait=10 status >/dev/null &&
        test "$(stat -c %a "$T/rel/rel.ctl")" = 600'
check "relative IMAGE: a host-flag switch reopens it (mode directsync via the socket)" \
  eval '"$WCACHECTL" -s "$T/rel/rel.ctl" mode directsync >/dev/null &&
        grep -qx "host_flags=O_DIRECT|O_DSYNC" "$T/rel/mnt/status"'
"$WCACHECTL" -s "$T/rel/rel.ctl" mode writeback >/dev/null ||
  bail "mode writeback failed"
dd if="$T/rec" of="$T/rel/mnt/disk" bs=4096 seek=7 conv=notrunc,fsync \
   status=none || bail "dd to the relative mount failed"
check "relative IMAGE: an fsync'd write lands in it" cmp -s "$T/rel/img" "$T/written"
check "relative -P: the pid file is removed at unmount" \
  eval 'unmount_wait "$T/rel/mnt" "$pid" && test ! -e "$T/rel/rel.pid"'

# ---- The spaced form of valued options: --opt VALUE ---------------------------------
cp "$T/base" "$T/sp.img"
mkdir -p "$T/sp.mnt"
cleanup_fn "_fuse_stop '$T/sp.mnt' '$T/sp.pid'"
check "--mode VALUE --control SOCKET --pidfile FILE (spaced) start the disk" \
  "$WCACHE_FUSE" --mode writethrough --control "$T/sp.ctl" --pidfile "$T/sp.pid" \
  "$T/sp.mnt" "$T/sp.img"
_fuse_wait_pid "$T/sp.pid" || bail "spaced --pidfile: no pid file"
check "spaced --mode: the disk is in writethrough" \
  test "$(cat "$T/sp.mnt/mode")" = writethrough
check "spaced --control: the socket answers" \
  test "$("$WCACHECTL" -s "$T/sp.ctl" -q mode mode)" = writethrough
_fuse_stop "$T/sp.mnt" "$T/sp.pid"
check "a valued option without its value fails, naming it" \
  eval '! "$WCACHE_FUSE" "$T/sp.mnt" "$T/sp.img" --mode 2>"$T/sp.err" &&
        grep -q -- "--mode needs a value" "$T/sp.err"'

# ---- --direct-io: no page cache over the disk --------------------------------------
# A FUSE file served without the page cache cannot be mapped shared
# (ENODEV); with the page cache it can.  So a shared mmap tells the two
# apart from outside.
mmap_shared ()
{
  "$PY" -c '
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    mmap.mmap(fd, 4096, mmap.MAP_SHARED).close()
    print("mapped")
except OSError as e:
    print(os.strerror(e.errno))
' "$1"
}
cp "$T/base" "$T/dio.img"
start_fuse dio "$T/dio.img" --direct-io
start_fuse nodio "$T/dio.img" --readonly
check "--direct-io: a shared mmap of disk is refused (no page cache)" \
  test "$(mmap_shared "$(mnt_of dio)/disk")" = "No such device"
check "default: a shared mmap of disk works (page cache)" \
  eval 'test "$("$PY" -c "
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ).close()
print(\"mapped\")
" "$(mnt_of nodio)/disk")" = mapped'
dd if="$T/rec" of="$(mnt_of dio)/disk" bs=4096 seek=3 conv=notrunc,fsync \
   status=none
check "--direct-io: an fsync'd write lands in the image" \
  cmp -s -i 12288:0 -n 4096 "$T/dio.img" "$T/rec"

done_testing
