#!/usr/bin/env bash
# S3 in the write log, with two connections racing: one keeps 16 writes in
# flight, the other sends flushes one after another.  Each write is one
# block of its own, so its entry is found by sector.  For every write W
# and flush F, as the client saw them: if W completed before F was sent,
# W's entry is before F's FLUSH entry; if W was sent after F completed, it
# is after.  That is the order a client can see; where exactly a write
# acknowledged while the flush ran goes (after it: the flush's entry marks
# where it arrived) is checked by the engine's unit test
# /log/order/S3/flush-where-it-arrived, which can stop a flush midway.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"

requires_nbdsh
requires_plugin memory
PY=/usr/bin/python3
requires "$PY" -c 'import nbd'
WLOG=$top_builddir/tests/wlog-tool
[ -x "$WLOG" ] || bail "no $WLOG (not built?)"

T=$tmpdir
start_nbdkit race --filter="$WCACHE_FILTER" memory 64M \
  wcache-log="$T/log" wcache-size=1M

"$PY" - "$(uri_of race)" "$T/events" <<'EOF'
import nbd, sys
uri, out = sys.argv[1], sys.argv[2]
a, b = nbd.NBD(), nbd.NBD()
a.connect_uri(uri)
b.connect_uri(uri)
clock = 0
events = []                         # (clock, what, id)
def ev(what, i):
    global clock
    clock += 1
    events.append((clock, what, i))
N, DEPTH, EVERY = 2000, 16, 20
inflight = {}                       # cookie -> write id
nxt, flushes, fcookie = 0, 0, None
bufs = [nbd.Buffer.from_bytearray(bytearray([i % 251 + 1]) * 4096) for i in range(N)]
while nxt < N or inflight or fcookie is not None:
    while nxt < N and len(inflight) < DEPTH:
        c = a.aio_pwrite(bufs[nxt], nxt * 4096)
        ev("sendW", nxt)
        inflight[c] = nxt
        nxt += 1
    if fcookie is None and nxt < N and nxt >= (flushes + 1) * EVERY:
        fcookie = b.aio_flush()
        ev("sendF", flushes)
    for h in (a, b):
        h.poll(0)
    for c in list(inflight):
        if a.aio_command_completed(c):
            ev("doneW", inflight.pop(c))
    if fcookie is not None and b.aio_command_completed(fcookie):
        ev("doneF", flushes)
        flushes += 1
        fcookie = None
    if inflight or fcookie is not None:
        a.poll(1) if inflight else b.poll(1)
with open(out, "w") as f:
    for e in events:
        f.write("%d %s %d\n" % e)
EOF
[ -s "$T/events" ] || bail "the client did not run"
stop_nbdkit race

"$WLOG" dump "$T/log" > "$T/dump"
check "the log reads back" test -s "$T/dump"
"$PY" - "$T/events" "$T/dump" > "$T/verdict" <<'EOF'
import sys
events = [l.split() for l in open(sys.argv[1])]
send_w, done_w, send_f, done_f = {}, {}, {}, {}
for clk, what, i in events:
    {"sendW": send_w, "doneW": done_w, "sendF": send_f, "doneF": done_f}[what][int(i)] = int(clk)
wpos, fpos = {}, []
for line in open(sys.argv[2]):
    idx, flags, sector = line.split()[:3]
    if flags == "FLUSH":
        fpos.append(int(idx))
    elif flags == "NONE":
        wpos[int(sector) // 8] = int(idx)
bad, before, after = 0, 0, 0
for k, fp in enumerate(fpos[:len(send_f)]):
    for w in wpos:
        if done_w[w] < send_f[k]:
            before += 1
            if wpos[w] > fp:
                bad += 1
        elif send_w[w] > done_f[k]:
            after += 1
            if wpos[w] < fp:
                bad += 1
print(len(wpos), len(send_f), len(fpos), before, after, bad)
EOF
read -r nw nf nfe before after bad < "$T/verdict"
check "every write is in the log ($nw of 2000)" test "$nw" -eq 2000
check "one FLUSH entry per flush ($nfe of $nf)" test "$nfe" -eq "$nf"
check "flushes raced writes ($nf flushes)" test "$nf" -ge 5
check "S3: no write on the wrong side of a FLUSH entry ($before pairs before, $after after, $bad wrong)" \
  test "$bad" -eq 0

done_testing
