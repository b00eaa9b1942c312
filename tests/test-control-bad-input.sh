#!/usr/bin/env bash
# The control socket under hostile or broken clients (wcache(7), THE
# CONTROL PLANE: a request that is wrong in itself changes nothing and gets
# an error reply, the connection stays usable, and no input can crash the
# server or wedge the disk): a 4096-byte line is a request, a
# longer one is refused whole (a cut padded past the limit does not
# happen); binary garbage with NUL and 0xff bytes gets error replies; idle
# clients, clients that leave mid-line or half-close, and 200 clients at
# once (at most 64 served, the rest told so) leave the server serving both
# the control socket and NBD; pipelined requests get their replies in
# order.  Then the same under valgrind: no memory errors and no leak from
# wcache.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/control-functions.sh"

requires_wcachectl
requires_nbdsh
requires_plugin memory

T=$tmpdir
start_wcache b memory 1M
CTL=$(ctl_of b)
export CTL
mode_ok='ok mode=writeback wce=1 cache_type="write back"'

# xs N [CHAR]: N copies of CHAR (default x).
xs () { head -c "$1" /dev/zero | tr '\0' "${2:-x}"; }

# ---- line length ---------------------------------------------------------------
r=$( { xs 4096; printf '\nmode\n'; } | raw_ctl "$CTL")
check "a 4096-byte line is a request (an unknown command error, not 'too long'), then mode works" \
  test "$r" = "error: unknown command '$(xs 64)'; try 'help'
$mode_ok"
r=$( { printf 'mark '; xs 4091 y; printf '\n'; } | raw_ctl "$CTL")
check "a 4096-byte mark request is carried out whole" \
  test "$r" = "ok mark=$(xs 4091 y) power=on"
r=$( { xs 4097; printf '\nmode\n'; } | raw_ctl "$CTL")
check "a 4097-byte line: error: request longer than 4096 bytes; the next request on the connection works" \
  test "$r" = "error: request longer than 4096 bytes
$mode_ok"
r=$( { xs 1048576; printf '\nmode\n'; } | raw_ctl "$CTL")
check "a 1 MiB line: one 'too long' error, then the connection works" \
  test "$r" = "error: request longer than 4096 bytes
$mode_ok"
marks=$(ctl b --get marks status)
r=$( { printf 'power-cut policy=keep'; xs 5000 ' '; printf '\nmark '; xs 5000 z; printf '\nstatus\n'; } |
     raw_ctl "$CTL")
check "a power-cut and a mark padded past 4096 bytes are refused, not run" \
  eval '[[ $r == "error: request longer than 4096 bytes
error: request longer than 4096 bytes
ok power=on "* ]]'
check "... no cut happened and no mark was counted" \
  test "$(ctl b --get cuts status) $(ctl b --get marks status)" = "0 $marks"
r=$( { xs 4096; printf '\r\n'; } | raw_ctl "$CTL")
check "4096 bytes + CRLF: the CR counts toward the limit (too long)" \
  test "$r" = "error: request longer than 4096 bytes"

# ---- binary garbage --------------------------------------------------------------
"$PY" - "$T/garbage" <<'PYEOF'
import random, sys
rng = random.Random(1)
out = bytearray()
for i in range(50):
    n = rng.randrange(1, 300)
    line = bytes(b for b in rng.randbytes(n) if b != 10)
    # Every line holds a NUL or a 0xff or a control byte, somewhere.
    line = line[:5] + bytes([(0, 0xff, 1, 0x1b, 0x80)[i % 5]]) + line[5:]
    out += line + b"\n"
open(sys.argv[1], "wb").write(bytes(out) + b"mode\n")
PYEOF
raw_ctl "$CTL" < "$T/garbage" > "$T/garbage.out"
check "50 lines of binary garbage (NUL, 0xff, controls) get 50 error replies, then mode works" \
  eval '[ "$(grep -c "^error: " "$T/garbage.out")" = 50 ] &&
        [ "$(sed -n 51p "$T/garbage.out")" = "$mode_ok" ] &&
        [ "$(wc -l < "$T/garbage.out")" = 51 ]'
check "every reply to garbage is printable ASCII" \
  eval '! LC_ALL=C grep -q "[^ -~]" "$T/garbage.out"'
check "garbage changed nothing: power=on, mode=writeback, cuts=0" \
  test "$(ctl b --get power status) $(ctl b --get mode status) $(ctl b --get cuts status)" = \
       "on writeback 0"

# ---- idle clients, mid-line and half-close ------------------------------------------
"$PY" - "$CTL" > "$T/idle.out" <<'PYEOF'
import os, socket, subprocess, sys, time
path = sys.argv[1]
def sock():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s
def ctl(*args):
    p = subprocess.run([os.environ["WCACHECTL"], "-s", path, "--timeout=5"] +
                       list(args), capture_output=True, text=True)
    return p.returncode, p.stdout.strip()
idle = sock()
partial = sock()
partial.sendall(b"power-cut policy=ke")     # a cut, cut off mid-line
rc, out = ctl("status")
print("idle-status", "ok" if rc == 0 and out.startswith("ok power=on") else out)
partial.close()                             # leaves mid-line
rc, out = ctl("mode")
print("after-midline", "ok" if rc == 0 else out)
rc, out = ctl("--get", "cuts", "status")
print("midline-no-cut", "ok" if out == "0" else out)
# One byte at a time.
s = sock()
for b in b"mode\n":
    s.sendall(bytes([b]))
line = b""
while not line.endswith(b"\n"):
    line += s.recv(100)
print("bytewise", "ok" if line.startswith(b"ok mode=writeback") else line)
s.close()
# Half-close: the reply, then the server closes its side too.
s = sock()
s.settimeout(5)
s.sendall(b"status\n")
s.shutdown(socket.SHUT_WR)
got = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            print("halfclose", "ok" if got.startswith(b"ok power=on") and
                  got.count(b"\n") == 1 else got[:80])
            break
        got += b
except socket.timeout:
    print("halfclose", "reply" if got.startswith(b"ok ") else "noreply",
          "but-no-EOF-after-5s")
s.close()
rc, out = ctl("status")
print("idle-still-open", "ok" if rc == 0 else out)
idle.close()
PYEOF
res () { grep -q "^$1 ok\$" "$T/idle.out" || { echo "# $(grep "^$1 " "$T/idle.out")"; false; }; }
check "a client that sends nothing does not hold up another client's status" res idle-status
check "a client that disconnects mid-line: the next client works" res after-midline
check "a cut sent without its newline, then disconnected, does not happen" res midline-no-cut
check "a request sent one byte per write is assembled and answered" res bytewise
check "a client that half-closes after its request gets the reply and then EOF (within 5 s)" \
  res halfclose
check "with an idle client still connected, status works" res idle-still-open

# ---- 200 clients at once ----------------------------------------------------------
"$PY" - "$CTL" > "$T/many.out" <<'PYEOF'
import signal, socket, sys
path = sys.argv[1]
socks, cat = [], {"n_ok": 0, "n_too_many": 0, "n_dropped": 0, "n_other": 0}
signal.alarm(60)        # a guard: a blocking connect waits for the backlog
for i in range(200):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)     # blocking: waits while the backlog is full
        s.settimeout(10)
        socks.append(s)
    except OSError as e:
        cat["n_dropped"] += 1
for s in socks:
    try:
        s.sendall(b"status\n")
    except OSError:
        pass
for s in socks:
    line = b""
    try:
        while not line.endswith(b"\n"):
            b = s.recv(4096)
            if not b:
                break
            line += b
    except socket.timeout:
        cat["n_other"] += 1
        continue
    except OSError:
        pass
    if line.startswith(b"ok power=on"):
        cat["n_ok"] += 1
    elif line == b"error: busy: too many control clients\n":
        cat["n_too_many"] += 1
    elif line == b"":
        cat["n_dropped"] += 1
    else:
        cat["n_other"] += 1
        print("# unexpected:", line[:80])
print(" ".join("%s=%d" % kv for kv in cat.items()))
for s in socks:
    s.close()
PYEOF
many=$(tail -1 "$T/many.out")
grep '^#' "$T/many.out"
n_ok=-1 n_too_many=-1 n_dropped=-1 n_other=-1
[[ $many =~ ^n_ok=[0-9]+\ n_too_many=[0-9]+\ n_dropped=[0-9]+\ n_other=[0-9]+$ ]] &&
  eval "$many"
check "200 clients at once: each got a status, 'too many control clients' or was dropped, none hung or got anything else ($many)" \
  test "$n_other" = 0 -a $((n_ok + n_too_many + n_dropped)) = 200
check "200 clients at once: between 1 and 64 served at the same time ($n_ok)" \
  test "$n_ok" -ge 1 -a "$n_ok" -le 64
check "200 clients at once: the others were told 'too many control clients' ($n_too_many)" \
  test "$n_too_many" -ge 1
check "after they leave, a new client is served (polled, 10 s)" \
  poll_until 10 eval 'ctl b status >/dev/null 2>&1'
check "the disk still serves NBD: write, read back, flush" \
  test "$(nbd_ops "$(uri_of b)" w:4096:4096:0x3c rb:4096:4096:0x3c f)" = "ok ok ok"

# ---- pipelining ---------------------------------------------------------------------
in= want=
for i in $(seq 1 300); do
  case $((i % 3)) in
    0) in+="mark p$i"$'\n'; want+="ok mark=p$i power=on"$'\n' ;;
    1) in+="mode"$'\n'; want+="$mode_ok"$'\n' ;;
    2) in+="nope$i"$'\n'; want+="error: unknown command 'nope$i'; try 'help'"$'\n' ;;
  esac
done
r=$(printf %s "$in" | raw_ctl "$CTL")
check "300 requests pipelined in one write get 300 replies, in order" \
  test "$r" = "${want%$'\n'}"
check "nbdkit is still running" nbdkit_running b

# ---- the same under valgrind -----------------------------------------------------------
if ! command -v valgrind >/dev/null 2>&1; then
  ok "valgrind: no memory errors # SKIP valgrind is not installed"
  done_testing
fi
vsock=$T/vg.sock vpid=$T/vg.pid vctl=$T/vg.ctl
# Leaks are reported, not counted as errors: nbdkit has leaks of its own,
# and the log is filtered for wcache's below.
NBDKIT_VALGRIND=1 valgrind --leak-check=full --error-exitcode=99 \
  --errors-for-leak-kinds=none --keep-debuginfo=yes --num-callers=30 --log-file="$T/vg.log" \
  "$NBDKIT" -f -U "$vsock" -P "$vpid" \
  --filter="$WCACHE_FILTER" memory 1M wcache-control="$vctl" \
  wcache-oracle=true 2>"$T/vg.err" &
vg=$!
cleanup_fn "kill -9 $vg 2>/dev/null"
"$WCACHECTL" -s "$vctl" --wait=60 status >/dev/null ||
  bail "nbdkit under valgrind: no control socket after 60 s"
poll_until 30 test -S "$vsock" || bail "nbdkit under valgrind: no NBD socket"
VURI="nbd+unix:///?socket=$vsock"
vgctl () { "$WCACHECTL" -s "$vctl" --timeout=60 "$@"; }

{ xs 5000; printf '\n'; cat "$T/garbage"; printf '\n  \nhelp\nstatus\nmark a b\npower-cut p=2\npower-cut after=mark:\n'; } |
  raw_ctl "$vctl" > "$T/vg.raw"
check "valgrind: a bad-input session gets its 59 replies" \
  test "$(wc -l < "$T/vg.raw")" = 59
"$PY" - "$vctl" <<'PYEOF'
import signal, socket, sys
socks = []
signal.alarm(60)
for i in range(70):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])      # blocking: waits while the backlog is full
    socks.append(s)
socks[0].sendall(b"mode wr")          # left mid-line
for s in socks:
    s.close()
PYEOF
poll_until 30 eval 'vgctl status >/dev/null 2>&1'
vr=$(nbd_ops "$VURI" w:0:65536:0x11 f w:65536:8192:0x22 z:73728:4096 t:77824:4096)
r=$(
  vgctl mode writethrough; vgctl mode unsafe; vgctl mode writeback; vgctl flush
  vgctl power-cut after=writes:2 policy=keep seed=5
)
check "valgrind: I/O ($vr), then mode switches, flush, arming: all ok" \
  eval '[ "$vr" = "ok ok ok ok ok" ] && [ "$(grep -c "^ok" <<< "$r")" = 5 ]'
vr=$(CTL=$vctl nbd_ops "$VURI" w:0:4096:0x33 w:8192:4096:0x44 w:16384:4096:0x55 \
       ctl:power-on conn:new w:0:4096:0x66 ctl:power-cut,policy=torn,unit=512,seed=9 \
       ctl:power-on conn:new2 w:4096:4096:0x77 ctl:mark,m1 \
       ctl:power-cut,after=mark:m2,policy=random \
       ctl:mark,m2 ctl:power-on conn:new3 w:0:4096:0x88 \
       ctl:power-cut,after=ms:50,policy=ordered)
check "valgrind: I/O, switches, flush, triggered and immediate cuts of every kind ran ($vr)" \
  test "$vr" = "ok ok EIO$(printf ' ok%.0s' $(seq 14))"
check "valgrind: the 50 ms timer cut fires (polled, 30 s)" \
  poll_until 30 eval '[ "$(vgctl --get power status)" = off ]'
vgctl power-on >/dev/null
vgctl status >/dev/null
kill -TERM $vg
wait $vg
vrc=$?
check "valgrind: nbdkit exits 0 on SIGTERM (99 would be a valgrind error)" test $vrc = 0
check "valgrind: the control socket is gone after exit" test ! -e "$vctl"
check "valgrind: ERROR SUMMARY: 0 errors" grep -q "ERROR SUMMARY: 0 errors" "$T/vg.log"
"$PY" - "$T/vg.log" > "$T/vg.leaks" <<'PYEOF'
import re, sys
rec, recs = None, []
for line in open(sys.argv[1]):
    body = re.sub(r"^==\d+== ?", "", line.rstrip("\n"))
    if re.search(r"are definitely lost in loss record", body):
        rec = [body]
        recs.append(rec)
    elif rec is not None:
        if body.strip() == "":
            rec = None
        else:
            rec.append(body)
ours = re.compile(r"nbdkit-wcache-filter\.so|\b(wc_|wcache_)\w+ \(|"
                  r"\((engine|names|oracle|power|writeback|control|kv|"
                  r"protocol|filter)\.c:")
for r in recs:
    if any(ours.search(l) for l in r):
        print("\n".join(r))
print("# %d definitely-lost records in all" % len(recs))
PYEOF
grep '^#' "$T/vg.leaks"
check "valgrind: no definitely lost block allocated by wcache" \
  eval '! grep -qv "^#" "$T/vg.leaks"'
grep -v '^#' "$T/vg.leaks" | head -40 | sed 's/^/# /'

done_testing
