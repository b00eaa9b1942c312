#!/usr/bin/env bash
# wcache-fuse over an NBD backing across power cuts (fuse/nbd.c): the
# filter fails connections that were open across a cut for ever, so
# wcache-fuse reconnects, once per generation, deciding at each open of
# MOUNTPOINT/disk:
#   - an idle mount across a cut and a power-on: the next open works at
#     once (its first request does not fail), and a file opened before the
#     cut still fails with EIO (S8, as with a local image);
#   - files opened while the power is off work once it is on, however
#     many opens and failed requests came in between;
#   - concurrent opens after a cut reconnect once (one new set of
#     connections), and every one of them works;
#   - a wedged server (SIGSTOP) cannot hang an open (--nbd-timeout), nor
#     the start of wcache-fuse;
#   - relative paths: the URI's socket= and --control-of, given relative
#     to the directory wcache-fuse was started in, still work in the
#     daemon (which runs in "/"): control files and reconnects.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh" ||
  { echo "Bail out! cannot read tests/functions.sh"; exit 1; }
. "$top_srcdir/tests/control-functions.sh" || bail "cannot read tests/control-functions.sh"
. "$top_srcdir/tests/fuse-functions.sh" || bail "cannot read tests/fuse-functions.sh"

requires_wcachectl
requires_plugin memory
requires_fuse
requires_built fuse-nbd

T=$tmpdir
fuse_watchdog 240

# io DISK OP [ARGS]: one system call sequence on DISK in a fresh process,
# printing "ok" or the errno's name.
#   read OFF             open, pread 512 bytes at OFF
#   write OFF CHAR       open, pwrite 512 bytes of CHAR at OFF
#   open                 open and close, nothing else
cat > "$T/io.py" <<'PYEOF'
import errno, os, sys
disk, op, a = sys.argv[1], sys.argv[2], sys.argv[3:]
try:
    fd = os.open(disk, os.O_RDWR)
    if op == "read":
        os.pread(fd, 512, int(a[0]))
    elif op == "write":
        os.pwrite(fd, a[1].encode() * 512, int(a[0]))
    os.close(fd)
    print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
PYEOF
io () { "$PY" "$T/io.py" "$@"; }

# A file held open by this shell: hold FD DISK opens it, fd_read FD OFF
# reads 512 bytes at OFF through it ("ok" or the errno's name).
fd_read ()
{
  "$PY" -c '
import errno, os, sys
try:
    os.pread(int(sys.argv[1]), 512, int(sys.argv[2]))
    print("ok")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))' "$1" "$2"
}
# connections NAME: connections the server has accepted so far.
connections () { grep -c "accepted connection" "$tmpdir/$1.err"; }

start_wcache s memory 16M
start_fuse f "$(uri_of s)" --control-of="$(ctl_of s)"
D=$(mnt_of f)/disk

# ---- An idle mount across a cut and a power-on ---------------------------
check "a write and a read before the cut" \
  test "$(io "$D" write 0 a) $(io "$D" read 0)" = "ok ok"
exec 7<>"$D" || bail "cannot open $D"
cleanup_fn 'exec 7>&-'
ctl s power-cut >/dev/null || bail "power-cut failed"
ctl s power-on >/dev/null || bail "power-on failed"
check "S8: after a cut and a power-on with no I/O, the next open reads at once" \
  test "$(io "$D" read 4096)" = ok
check "... and writes" test "$(io "$D" write 4096 b)" = ok
check "S8: a file opened before the cut still fails with EIO" \
  test "$(fd_read 7 8192)" = EIO
exec 7>&-

# ---- Opens and failures while the power is off ---------------------------
ctl s power-cut >/dev/null || bail "power-cut failed"
exec 7<>"$D" || bail "cannot open $D while the power is off"
check "S8: while the power is off, a file opened after the cut reads EIO" \
  test "$(fd_read 7 0)" = EIO
check "... a fresh open's read too (and again)" \
  test "$(io "$D" read 0) $(io "$D" read 512)" = "EIO EIO"
exec 8<>"$D" || bail "cannot open $D while the power is off"
cleanup_fn 'exec 7>&- 8>&-'
ctl s power-on >/dev/null || bail "power-on failed"
check "S8: after power-on, the first file opened while the power was off reads" \
  test "$(fd_read 7 0)" = ok
check "... and so does the last one" test "$(fd_read 8 0)" = ok
check "... and a fresh open" test "$(io "$D" read 0)" = ok
exec 7>&- 8>&-

# ---- Concurrent opens after a cut -----------------------------------------
ctl s power-cut >/dev/null || bail "power-cut failed"
ctl s power-on >/dev/null || bail "power-on failed"
c0=$(connections s)
pids=()
for i in $(seq 1 8); do
  io "$D" read $((i * 4096)) > "$T/par.$i" &
  pids+=($!)
done
wait "${pids[@]}"
check "8 concurrent opens after a cut all read" \
  test "$(cat "$T"/par.* | sort -u)" = ok
got=$(( $(connections s) - c0 ))
check "they reconnected once: one new set of 4 connections (got $got)" \
  test "$got" = 4

# ---- A wedged server ------------------------------------------------------
stop_fuse f
start_fuse w "$(uri_of s)" --nbd-timeout=2
W=$(mnt_of w)/disk
exec 7<>"$W" || bail "cannot open $W"
ctl s power-cut >/dev/null || bail "power-cut failed"
check "a read through a file open across the cut fails" test "$(fd_read 7 0)" = EIO
exec 7>&-
ctl s power-on >/dev/null || bail "power-on failed"
kill -STOP "$(pid_of s)" || bail "cannot stop nbdkit"
cleanup_fn "kill -CONT $(pid_of s) 2>/dev/null"
start=$(date +%s)
# (SIGKILL: a process waiting in a FUSE open ignores other signals.)
got=$(timeout -s KILL 30 "$PY" -c '
import os, sys
os.close(os.open(sys.argv[1], os.O_RDWR))
print("ok")' "$W")
took=$(( $(date +%s) - start ))
check "an open while the server is wedged returns (in ${took} s, --nbd-timeout=2)" \
  eval 'test "$got" = ok && test $took -le 10'
mkdir -p "$T/wedged.mnt"
start=$(date +%s)
timeout -s KILL 30 "$WCACHE_FUSE" --nbd-timeout=1 -P "$T/wedged.pid" \
  "$T/wedged.mnt" "$(uri_of s)" 2>"$T/wedged.err"
rc=$?
took=$(( $(date +%s) - start ))
cleanup_fn "_fuse_stop '$T/wedged.mnt' '$T/wedged.pid'"
check "wcache-fuse against a wedged server exits 1 (in ${took} s), saying why" \
  eval 'test $rc = 1 && test $took -le 10 && grep -q "no handshake within 1 s" "$T/wedged.err"'
kill -CONT "$(pid_of s)" || bail "cannot continue nbdkit"
check "once the server answers again, a fresh open reads" \
  test "$(io "$W" read 0)" = ok
stop_fuse w

# ---- Relative paths ------------------------------------------------------
mkdir -p "$T/rel/mnt"
ln -s "$(sock_of s)" "$T/rel/s.sock"
ln -s "$(ctl_of s)" "$T/rel/s.ctl"
cleanup_fn "_fuse_stop '$T/rel/mnt' '$T/rel/rel.pid'"
(cd "$T/rel" &&
 "$WCACHE_FUSE" -P rel.pid --control-of=s.ctl mnt 'nbd+unix:///?socket=s.sock' \
   2>"$T/rel.err") || bail "wcache-fuse with relative paths did not start: $(cat "$T/rel.err")"
_fuse_wait_pid "$T/rel/rel.pid" || bail "relative: no pid file"
R=$T/rel/mnt
check "relative --control-of: the daemon (in /) reads the control files" \
  test "$(cat "$R/power" 2>&1)" = on
check "relative --control-of: and writes them (echo cut > power)" \
  eval 'echo cut > "$R/power" && test "$(ctl s --get power status)" = off'
ctl s power-cut >/dev/null   # (if the cut above did not happen)
ctl s power-on >/dev/null || bail "power-on failed"
check "relative socket=: the reconnect after the cut works (a fresh open reads)" \
  test "$(io "$R/disk" read 0)" = ok
check "no watchdog fired" fuse_watchdog_quiet

done_testing
