#!/usr/bin/env bash
# S5 under load: 4 NBD connections write 4K blocks and flush continuously
# (a libnbd client, one thread per connection) while the cache mode is
# flipped writethrough <-> writeback over the control socket dozens of
# times.  Every switch succeeds, no request fails, every connection reads
# back exactly what it wrote (S1), and a final power-cut policy=lose with
# the oracle (S10) finds everything it calls durable on the media -- the
# switches to writethrough wrote the cache back atomically.
# S6 across a runtime switch: a client that connected while the disk was
# write-through (no FLUSH offered, wcache-advertise=auto) keeps write-through
# service after "mode writeback" -- its plain writes are on the plugin
# (--filter=log below wcache) before the reply -- while a client that
# connected in writeback gets cached writes.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/control-functions.sh"

requires_wcachectl
requires_nbdsh
requires_plugin memory
requires "$NBDKIT" --filter=log null --version

T=$tmpdir
export T
start_wcache load memory 16M wcache-oracle=true
CTL=$(ctl_of load)
export CTL

# The load: 4 connections, each on its own 4M region, random 4K writes with
# a flush after every 4, for RUNTIME seconds once all are connected.  Ready
# file: all connected.  Result file (written last): counts and read-back.
RUNTIME=8
"$PY" - "$(uri_of load)" "$T/load.ready" "$T/load.res" $RUNTIME <<'PYEOF' &
import os, random, sys, threading, time
import nbd
uri, ready, res, runtime = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
B, REGION, N = 4096, 4 << 20, 4
handles = []
for i in range(N):
    h = nbd.NBD()
    h.connect_uri(uri)
    handles.append(h)
stats = [dict(writes=0, flushes=0, errors=0, badread=0, canflush=0) for i in range(N)]
start = threading.Event()
def work(i):
    h, st = handles[i], stats[i]
    st["canflush"] = int(h.can_flush())
    rng = random.Random(i)
    model = {}
    base = i * REGION
    start.wait()
    end = time.monotonic() + runtime
    while time.monotonic() < end:
        for k in range(4):
            blk = rng.randrange(REGION // B)
            data = rng.randbytes(B)
            try:
                h.pwrite(data, base + blk * B)
                model[blk] = data
                st["writes"] += 1
            except nbd.Error as e:
                st["errors"] += 1
        try:
            h.flush()
            st["flushes"] += 1
        except nbd.Error as e:
            st["errors"] += 1
    # S1: everything this connection wrote reads back.
    for blk, data in model.items():
        if h.pread(B, base + blk * B) != data:
            st["badread"] += 1
threads = [threading.Thread(target=work, args=(i,)) for i in range(N)]
for t in threads:
    t.start()
open(ready, "w").write("ready\n")
start.set()
for t in threads:
    t.join()
tot = {k: sum(s[k] for s in stats) for k in stats[0]}
open(res + ".tmp", "w").write(" ".join("%s=%d" % kv for kv in tot.items()) + "\n")
os.rename(res + ".tmp", res)
PYEOF
loader=$!
poll_until 30 test -e "$T/load.ready" || bail "the load client did not connect"

# Flip the mode until the load ends (bounded: 120 s into the test).
flips=0 flip_fail=0
while [ ! -e "$T/load.res" ] && ((SECONDS < 120)); do
  for m in writethrough writeback; do
    r=$(ctl load mode $m)
    if [[ $r == "ok mode=$m "* ]]; then flips=$((flips + 1))
    else flip_fail=$((flip_fail + 1)); echo "# mode $m: $r"; fi
  done
done
wait $loader
res=$(cat "$T/load.res" 2>/dev/null)
echo "# load: $res; $flips mode switches, $flip_fail failed"
writes=-1 flushes=-1 errors=-1 badread=-1 canflush=-1
[[ $res =~ ^writes=[0-9]+\ flushes=[0-9]+\ errors=[0-9]+\ badread=[0-9]+\ canflush=[0-9]+$ ]] &&
  eval "$res"
check "S5 under load: every mode switch replied ok ($flips ok, $flip_fail failed)" \
  test "$flip_fail" = 0
check "S5 under load: dozens of switches happened during the load ($flips)" \
  test "$flips" -ge 24
check "the 4 connections were offered FLUSH (connected in writeback)" test "$canflush" = 4
check "the load ran: writes and flushes on 4 connections ($writes writes, $flushes flushes)" \
  test "$writes" -gt 400 -a "$flushes" -gt 100
check "no write or flush failed during the switches" test "$errors" = 0
check "S1: every connection read back exactly what it wrote" test "$badread" = 0
check "the mode ends writeback" test "$(ctl load --get mode status)" = writeback

# Some dirty data for the cut to lose, then the cut.
check "8 more plain writes (dirty)" \
  test "$(nbd_ops "$(uri_of load)" w:0:4096:1 w:8192:4096:2 w:4194304:4096:3 \
          w:8388608:4096:4 w:12582912:4096:5 w:16384:4096:6 w:20480:4096:7 \
          w:24576:4096:8)" = "ok ok ok ok ok ok ok ok"
cut=$(ctl load power-cut policy=lose)
echo "# $cut"
check "power-cut policy=lose: ok, the dirty blocks lost, no media error" \
  eval '[[ $cut == "ok power=off policy=lose "* ]] && [ "$(kv "$cut" lost)" -ge 8 ] &&
        [ "$(kv "$cut" errors)" = 0 ]'
check "S10: the oracle verified the cut after the load" \
  grep -q 'wcache: oracle: [0-9]* blocks verified' "$T/load.err"
check "S10: the oracle found nothing durable missing (no oracle error)" \
  eval '! grep "oracle:" "$T/load.err" | grep -qv "blocks verified"'
check "no nbdkit error was logged during the load" \
  eval '! grep -q "^nbdkit: .*error:" "$T/load.err"'
stop_nbdkit load

# ---- S6 across a runtime switch ------------------------------------------------------
LOG=$T/s6.log
export LOG
start_wcache s6 --filter=log memory 1M logfile="$LOG"
CTL=$(ctl_of s6)
r=$(nbd_ops "$(uri_of s6)" \
  ctl:mode,writethrough conn:wt canflush \
  ctl:mode,writeback conn:wb canflush \
  conn:wt w:0:4096:0x11 snap:s6-wt.log \
  conn:wb w:65536:4096:0x22 snap:s6-wb.log get:dirty_blocks \
  ctl:mode,writethrough ctl:mode,writeback \
  conn:wt w:131072:4096:0x33 snap:s6-wt2.log get:dirty_blocks \
  conn:wt rb:0:4096:0x11 conn:wb rb:65536:4096:0x22)
echo "# $r"
read -r -a res <<< "$r"
check "S6: a client connected in writethrough was not offered FLUSH" \
  test "${res[*]:0:3}" = "ok ok 0"
check "S6: a client connected after 'mode writeback' was offered FLUSH" \
  test "${res[*]:3:3}" = "ok ok 1"
check "S6: the three plain writes were acknowledged" \
  test "${res[7]} ${res[10]} ${res[16]}" = "ok ok ok"
check "S6: after 'mode writeback', the writethrough client's plain write was on the plugin before its reply" \
  plugin_has "$T/s6-wt.log" "Write|Zero" 0 4096 durable
check "S6: the writeback client's plain write was cached (not on the plugin); dirty_blocks=1" \
  eval '! plugin_touched "$T/s6-wb.log" "Write|Zero|Trim" 65536 4096 && [ "${res[12]}" = 1 ]'
check "S6: after another writethrough -> writeback round the old client is still served write-through" \
  eval 'plugin_has "$T/s6-wt2.log" "Write|Zero" 131072 4096 durable && [ "${res[18]}" = 0 ]'
check "S1: both clients read back their writes" test "${res[*]:19:4}" = "ok ok ok ok"

done_testing
