#!/usr/bin/env bash
# wcache-cut-action=hang: after a cut the disk answers nothing, as a dead
# disk does, until power-on; then every request that waited fails with EIO.
# A harness uses it to stop its client (a QEMU guest) at the instant of the
# cut, before the client can see an error and act on it.  nbdkit still
# shuts down promptly with requests waiting.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/control-functions.sh"

requires_nbdsh
requires_wcachectl
requires_plugin memory

export T=$tmpdir CTL

# client NAME: writes 2 blocks, then the 3rd (which fires
# wcache-cut-after-writes=3 and is acknowledged, S9), then sends a write,
# a read and a flush without waiting; once the control socket says the
# power is off, looks for 1 s whether any of the three was answered;
# powers on; waits for the three replies and records each result in
# NAME.res.
client ()
{
  CTL=$(ctl_of "$1") NAME=$1 nbdsh -u "$(uri_of "$1")" -c '
import errno, os, subprocess, time
T, name, ctl = os.environ["T"], os.environ["NAME"], os.environ["CTL"]
wc = os.environ["WCACHECTL"]
res = open(T + "/" + name + ".res", "w")
def say(s):
    res.write(s + "\n"); res.flush()
def power():
    return subprocess.run([wc, "-s", ctl, "--get", "power", "status"],
                          capture_output=True, text=True).stdout.strip()
blk = b"\x5a" * 4096
h.pwrite(blk, 0)
h.pwrite(blk, 4096)
h.pwrite(blk, 8192)
say("triggering-write ok")
cmds = {"write": h.aio_pwrite(blk, 12288), "read": h.aio_pread(nbd.Buffer(4096), 0),
        "flush": h.aio_flush()}
deadline = time.monotonic() + 10
while power() != "off" and time.monotonic() < deadline:
    h.poll(0)
say("power " + power())
end = time.monotonic() + 1
while time.monotonic() < end:
    h.poll(100)
done = {}
def check(k, c):
    if k in done:
        return
    try:
        if h.aio_command_completed(c):
            done[k] = "ok"
    except nbd.Error as e:
        done[k] = errno.errorcode.get(e.errnum, str(e.errnum))
for k, c in cmds.items():
    check(k, c)
    say("%s answered-while-off %s" % (k, "yes" if k in done else "no"))
subprocess.run([wc, "-s", ctl, "power-on"], check=True, capture_output=True)
deadline = time.monotonic() + 10
while h.aio_in_flight() > 0 and time.monotonic() < deadline:
    h.poll(100)
for k, c in cmds.items():
    check(k, c)
    say("%s %s" % (k, done.get(k, "pending")))
' || bail "client of $1 failed"
}

# ---- hang: nothing answered while off; EIO for each at power-on.
start_wcache hang memory 1M wcache-cut-after-writes=3 wcache-cut-action=hang
client hang
check "hang: the triggering write itself was acknowledged" \
  grep -qx "triggering-write ok" "$T/hang.res"
check "hang: the power went off" grep -qx "power off" "$T/hang.res"
for op in write read flush; do
  check "hang: the $op sent after the cut got no reply while the power was off" \
    grep -qx "$op answered-while-off no" "$T/hang.res"
  check "hang: the $op that waited failed with EIO at power-on" \
    grep -qx "$op EIO" "$T/hang.res"
done
check "hang: nbdkit is still running" nbdkit_running hang
stop_nbdkit hang

# ---- eio (the default), the same client: the replies come at once.
start_wcache eio memory 1M wcache-cut-after-writes=3
client eio
check "eio: the write sent after the cut was answered while the power was off" \
  grep -qx "write answered-while-off yes" "$T/eio.res"
check "eio: with EIO" grep -qx "write EIO" "$T/eio.res"
stop_nbdkit eio

# ---- hang: nbdkit stops promptly with a request waiting (and the client
# gone), without power-on.
start_wcache stop memory 1M wcache-cut-after-writes=1 wcache-cut-action=hang
nbdsh -u "$(uri_of stop)" -c '
h.pwrite(b"\1" * 512, 0)
c = h.aio_pwrite(b"\2" * 512, 512)
h.poll(0)
' || bail "client of stop failed"
check "hang: the cut fired" test "$(ctl stop --get power status)" = off
pid=$(pid_of stop)
kill "$pid"
check "hang: nbdkit exits on SIGTERM within 10 s with a request waiting" wait_exit stop

check "hang: wcache-cut-action=bogus is refused, naming the choices" \
  eval '! "$NBDKIT" -U "$T/x.sock" --filter="$WCACHE_FILTER" memory 1M wcache-cut-action=bogus 2>"$T/bogus.err" && grep -q "not eio, exit or hang" "$T/bogus.err"'

done_testing
