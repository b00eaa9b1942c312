#!/usr/bin/env bash
# wcachectl, the control protocol's client, against a fake server: the
# request line it sends, what it prints and its exit status for ok (0),
# error (1) and everything else (2: usage, no server, a server that closes,
# hangs, or sends a truncated, malformed or over-long reply), --get, --json
# (read back with Python's json), --wait for a server that binds late, and
# requests refused before connecting (control characters, over 4096 bytes).
#
# The fake server (Python, below) answers canned replies per request line,
# logs each request line and each connection, and signals readiness through
# a FIFO, so no test waits by sleeping.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"

: "${WCACHECTL:=$top_builddir/server/wcachectl}"
PY=/usr/bin/python3
requires "$PY" -c 'import json, socket'
[ -x "$WCACHECTL" ] || bail "no wcachectl at $WCACHECTL (not built?)"
unset WCACHE_CONTROL

T=$tmpdir

# ---- The fake server ----------------------------------------------------
# fake.py SOCKET LOG READY DELAY: after DELAY seconds, (re)binds SOCKET and
# writes its pid to READY ("-": none); then serves one connection at a time,
# appending "connect" and then each request line to LOG before answering.
cat > "$T/fake.py" <<'EOF'
import os, socket, sys, time

path, log, ready, delay = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])

STATUS = (b'ok power=on mode=writeback wce=1 cache_type="write back"'
          b' dirty_blocks=0 seed=18446744073709551615 small=7 zero=0'
          b' p=0.5 padded=007 over=9007199254740992 top=9007199254740991'
          b' neg=-1 empty="" msg="a \\"b\\" \\\\ c" tricky=x:1,y\n')
# A reply is a list of actions: bytes to send, 'pause' (50 ms, so that
# the client reads the pieces apart), 'close' (the connection), or nothing
# at all (never reply).  Other requests get "ok bytes=LENGTH".
REPLIES = {
    b'status': [STATUS],
    b'mode': [b'ok mode=writeback wce=1 cache_type="write back"\n'],
    b'mode bogus': [b"error: mode: unknown mode 'bogus'\n"],
    b'power-cut policy=random seed=7': [b'ok power=off policy=random seed=7\n'],
    b'x-bare-ok': [b'ok\n'],
    b'x-error-ctl': [b'error: bad\x01thing\ttab "q" \\ caf\xc3\xa9 \xff\n'],
    b'x-close': ['close'],
    b'x-hang': [],
    b'x-no-newline': [b'ok a=1', 'close'],
    b'x-fit': [b'ok v=' + b'x' * (65536 - 6) + b'\n'],      # 64 KiB in all
    b'x-over': [b'ok v=' + b'x' * (65536 - 5) + b'\n'],     # one byte more
    b'x-huge': [b'ok v=' + b'x' * (1 << 20) + b'\n'],
    b'x-malformed': [b'okx\n'],
    b'x-bad-quote': [b'ok a="x\n'],
    b'x-nul': [b'ok a=1\x00 b=2\n'],
    b'x-crlf': [b'ok a=1\r\n'],
    b'x-two-lines': [b'ok first=1\nok second=2\n'],
    b'x-split': [b'ok sp', 'pause', b'lit=1', 'pause', b' more=2\n'],
}

time.sleep(delay)
try:
    os.unlink(path)
except FileNotFoundError:
    pass
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(8)
if ready != '-':
    with open(ready, 'w') as f:
        f.write('%d\n' % os.getpid())

def record(line):
    with open(log, 'ab') as f:
        f.write(line + b'\n')

# A server full of control clients answers "error: busy: ..." and runs
# nothing: x-busy-twice is busy for its first two connections.
busy = {b'x-busy-twice': 2, b'x-busy-always': 1 << 30}

def serve(conn):
    with conn.makefile('rb') as f:
        for raw in f:
            line = raw[:-1] if raw.endswith(b'\n') else raw
            record(line)
            if busy.get(line, 0) > 0:
                busy[line] -= 1
                conn.sendall(b'error: busy: too many control clients\n')
                return
            for action in REPLIES.get(line, [b'ok bytes=%d\n' % len(line)]):
                if action == 'close':
                    return
                elif action == 'pause':
                    time.sleep(0.05)
                else:
                    conn.sendall(action)

while True:
    conn, _ = srv.accept()
    record(b'connect')
    try:
        serve(conn)
    except OSError:
        pass
    conn.close()
EOF

# start_fake NAME DELAY: starts the fake server on $T/NAME.sock in the
# background; it is stopped at exit.  With DELAY "ready", returns once it
# listens; otherwise it binds after DELAY seconds and this returns at once.
start_fake ()
{
  local name=$1 delay=$2 pid
  if [ "$delay" = ready ]; then
    mkfifo "$T/$name.ready"
    exec 3<>"$T/$name.ready"    # read-write: opening does not block
    "$PY" "$T/fake.py" "$T/$name.sock" "$T/$name.log" "$T/$name.ready" 0 &
    pid=$!
    cleanup_fn "kill $pid"
    read -r -t 20 -u 3 _ || bail "fake server $name did not start"
    exec 3<&-
  else
    "$PY" "$T/fake.py" "$T/$name.sock" "$T/$name.log" - "$delay" &
    cleanup_fn "kill $!"
  fi
}

# run ARGS...: runs wcachectl; sets rc, and $T/out and $T/err.
run ()
{
  "$WCACHECTL" "$@" > "$T/out" 2> "$T/err"
  rc=$?
}

# outcome DESC RC ERR_REGEX: the last run exited with RC and its stderr
# matches ERR_REGEX (extended; "" means stderr must be empty).
outcome ()
{
  local desc=$1 want=$2 re=$3 err_ok
  if [ -z "$re" ]; then
    [ ! -s "$T/err" ] && err_ok=1 || err_ok=0
  else
    grep -Eq -- "$re" "$T/err" && err_ok=1 || err_ok=0
  fi
  if [ "$rc" -eq "$want" ] && [ $err_ok = 1 ]; then
    ok "$desc"
  else
    not_ok "$desc"
    echo "# exit $rc (wanted $want); stderr: $(head -c 300 "$T/err")"
  fi
}

out_is () { [ "$(cat "$T/out")" = "$1" ]; }
last_request () { tail -n 1 "$T/main.log"; }
connections () { cat "$T/main.log" 2>/dev/null | grep -c '^connect$'; }

start_fake main ready
S=$T/main.sock

# ---- Help, version, usage errors (exit 2) ---------------------------------
run --help
outcome "--help exits 0" 0 ""
check "--help prints the usage on stdout" grep -q '^Usage: wcachectl ' "$T/out"
run -V
outcome "-V exits 0" 0 ""
check "-V prints the version" grep -Eq '^wcachectl [0-9]+\.[0-9]+' "$T/out"
if [ -w /dev/full ]; then
  "$WCACHECTL" --help > /dev/full 2> "$T/err"
  rc=$?
  outcome "a failed write to stdout is an error" 2 '^wcachectl: stdout: '
fi

n=$(connections)
run
outcome "usage: no arguments" 2 '^wcachectl: no socket'
run status
outcome "usage: no socket and no WCACHE_CONTROL" 2 '^wcachectl: no socket'
run -s "$S"
outcome "usage: no command" 2 '^wcachectl: no command'
run -s "$S" --frob status
outcome "usage: unknown long option" 2 "^wcachectl: .*'--frob'"
run -x -s "$S" status
outcome "usage: unknown short option" 2 "^wcachectl: unknown option '-x'"
run -s
outcome "usage: -s without an argument" 2 "^wcachectl: option '-s' needs"
run status -s
outcome "usage: options after the command are command words" 2 \
  '^wcachectl: no socket'
run -s "$S" --timeout
outcome "usage: --timeout without an argument" 2 \
  "^wcachectl: option '--timeout' needs"
run -s "$S" --json --get mode status
outcome "usage: --json with --get" 2 '^wcachectl: --json and --get'
run -s "$S" --wait=soon status
outcome "usage: --wait=soon" 2 "^wcachectl: --wait: 'soon' is not"
run -s "$S" --timeout=-1 status
outcome "usage: --timeout=-1" 2 '^wcachectl: --timeout: '
run -s "$S" --timeout=1e9 status
outcome "usage: --timeout out of range" 2 'out of range'
run -s "$S" mark ""
outcome "usage: an empty command word" 2 'is empty'
run -s "$S" mark "$(printf 'a\nstatus')"
outcome "usage: a newline in a command word" 2 'control character 0x0a'
run -s "$S" mark "$(printf 'a\rb')"
outcome "usage: a CR in a command word" 2 'control character 0x0d'
check "usage errors never connect" [ "$(connections)" -eq "$n" ]
check "usage errors print usage hints on stderr" grep -q -- '--help' "$T/err"

# ---- ok (exit 0) and error (exit 1) replies -------------------------------
run -s "$S" status
outcome "ok: exit 0, nothing on stderr" 0 ""
check "ok: the request line is the command" [ "$(last_request)" = status ]
# The exact status line, from the server's own table:
"$PY" - "$T/fake.py" > "$T/want" <<'EOF'
import sys
src = open(sys.argv[1]).read()
start = src.index('STATUS = '); end = src.index('REPLIES = ')
ns = {}
exec(src[start:end], ns)
sys.stdout.buffer.write(ns['STATUS'])
EOF
check "ok: stdout is exactly the reply line" cmp -s "$T/out" "$T/want"

run -s "$S" power-cut policy=random seed=7
outcome "ok: power-cut with arguments exits 0" 0 ""
check "ok: words joined by single spaces" \
  [ "$(last_request)" = "power-cut policy=random seed=7" ]
check "ok: power-cut reply printed" \
  out_is "ok power=off policy=random seed=7"

run -s "$S" mark "before fsync"
check "a word with a space is sent as it is" \
  [ "$(last_request)" = "mark before fsync" ]
run -s "$S" x-bare-ok
outcome "ok: a reply without pairs exits 0" 0 ""
check "ok: 'ok' printed" out_is ok
run -s "$S" x-split
outcome "ok: a reply arriving in pieces is reassembled" 0 ""
check "ok: the pieced reply printed whole" out_is "ok split=1 more=2"
run -s "$S" x-two-lines
check "ok: only the first line of the reply is printed" out_is "ok first=1"

WCACHE_CONTROL=$S run mode
outcome "WCACHE_CONTROL is the default socket" 0 ""
check "WCACHE_CONTROL: the reply printed" \
  out_is 'ok mode=writeback wce=1 cache_type="write back"'
WCACHE_CONTROL=/nonexistent/socket run -s "$S" mode
outcome "-s overrides WCACHE_CONTROL" 0 ""

run -s "$S" mode bogus
outcome "error: exit 1, nothing on stderr" 1 ""
check "error: the raw error line on stdout" \
  out_is "error: mode: unknown mode 'bogus'"
check "error: the request line" [ "$(last_request)" = "mode bogus" ]

# ---- --get ----------------------------------------------------------------
run -s "$S" --get seed status
outcome "--get seed: exit 0" 0 ""
check "--get seed: only the value" out_is 18446744073709551615
run -s "$S" -q cache_type status
check "-q cache_type: the value unquoted" out_is "write back"
run -s "$S" -q msg status
check "-q msg: escapes undone" out_is 'a "b" \ c'
run -s "$S" --get=empty status
outcome "--get of an empty value: exit 0" 0 ""
check "--get of an empty value: an empty line" \
  [ "$(od -An -c "$T/out" | tr -d ' ')" = '\n' ]
run -s "$S" --get absent status
outcome "--get of an absent key: exit 1 with a message" 1 "no key 'absent'"
check "--get of an absent key: nothing on stdout" [ ! -s "$T/out" ]
run -s "$S" --get mode mode bogus
outcome "--get on an error reply: exit 1, the message on stderr" 1 \
  "^wcachectl: error: mode: unknown mode 'bogus'"
check "--get on an error reply: nothing on stdout" [ ! -s "$T/out" ]

# ---- --json ---------------------------------------------------------------
# json_is FILE PYTHON-LITERAL: FILE holds one JSON object equal to the
# literal, with the same key order and the same types (True is not 1).
json_is ()
{
  "$PY" - "$1" "$2" <<'EOF'
import ast, json, sys
text = open(sys.argv[1], encoding='utf-8').read()
got = json.loads(text)
want = ast.literal_eval(sys.argv[2])
typed = lambda d: [(k, type(v).__name__, v) for k, v in d.items()]
if text.count('\n') != 1 or not text.endswith('\n') or typed(got) != typed(want):
    print('# got  %r' % (typed(got),))
    print('# want %r' % (typed(want),))
    sys.exit(1)
EOF
}

run -s "$S" --json status
outcome "--json ok: exit 0" 0 ""
check "--json ok: typed object (integers up to 2^53-1 as numbers)" json_is "$T/out" \
  "{'ok': True, 'power': 'on', 'mode': 'writeback', 'wce': 1,
    'cache_type': 'write back', 'dirty_blocks': 0,
    'seed': '18446744073709551615', 'small': 7, 'zero': 0, 'p': '0.5',
    'padded': '007', 'over': '9007199254740992', 'top': 9007199254740991,
    'neg': '-1', 'empty': '', 'msg': 'a \"b\" \\\\ c', 'tricky': 'x:1,y'}"
run -s "$S" --json x-bare-ok
check "--json: bare ok" json_is "$T/out" "{'ok': True}"
run -s "$S" --json mode bogus
outcome "--json error: exit 1" 1 ""
check "--json error: {ok: false, error: MESSAGE}" json_is "$T/out" \
  "{'ok': False, 'error': \"mode: unknown mode 'bogus'\"}"
run -s "$S" --json x-error-ctl
outcome "--json error with control characters: exit 1" 1 ""
check "--json error with control characters and bad UTF-8: valid JSON" \
  json_is "$T/out" \
  "{'ok': False, 'error': 'bad\\x01thing\\ttab \"q\" \\\\ caf\\u00e9 \\ufffd'}"
check "--json escapes control characters" grep -q 'bad\\u0001thing\\ttab' "$T/out"

# ---- Over-long requests are refused before connecting (exit 2) -----------
n=$(connections)
x4091=$(printf 'x%.0s' $(seq 1 4091))
run -s "$S" mark "$x4091"           # "mark " + 4091 = 4096 bytes
outcome "a 4096-byte request is sent" 0 ""
check "a 4096-byte request arrives whole" out_is "ok bytes=4096"
run -s "$S" mark "${x4091}y"
outcome "a 4097-byte request: exit 2" 2 'request too long: 4097 bytes'
check "a 4097-byte request never connects" [ "$(connections)" -eq $((n + 1)) ]

# ---- Broken servers (exit 2) ---------------------------------------------
run -s "$S" x-close
outcome "server closes without a reply" 2 'closed the connection without a reply'
check "server closes without a reply: nothing on stdout" [ ! -s "$T/out" ]
run -s "$S" x-no-newline
outcome "reply without a newline" 2 'reply truncated'
run -s "$S" x-fit
outcome "a 64 KiB reply line is read" 0 ""
check "a 64 KiB reply line is printed whole" \
  [ "$(wc -c < "$T/out")" -eq 65536 ]
run -s "$S" x-over
outcome "a reply over 64 KiB" 2 'reply longer than 65536 bytes'
run -s "$S" x-huge
outcome "a 1 MiB reply" 2 'reply longer than 65536 bytes'
check "a refused reply prints nothing on stdout" [ ! -s "$T/out" ]
run -s "$S" x-malformed
outcome "malformed reply 'okx'" 2 'malformed reply: "okx"'
run -s "$S" x-bad-quote
outcome "malformed reply: unterminated quote" 2 'malformed reply'
run -s "$S" x-nul
outcome "malformed reply: a NUL byte" 2 'malformed reply: a NUL byte'
run -s "$S" x-crlf
outcome "malformed reply: CRLF" 2 'malformed reply'
run -s "$S" --timeout=0.3 x-hang
outcome "no reply within --timeout" 2 'no reply after 0.3 s'
n=$(connections)
run -s "$S" x-busy-twice
outcome "a busy server (too many control clients): tried again, then ok" 0 ""
check "... three connections, the last one answered" \
  eval '[ "$(connections)" -eq $((n + 3)) ] && out_is "ok bytes=12"'
run -s "$S" --timeout=0.3 x-busy-always
outcome "a server busy beyond --timeout" 2 'server busy \(too many control clients\) after 0.3 s'
run -s "$S" --json x-malformed
check "--json prints nothing for a malformed reply" [ ! -s "$T/out" ]
run -s "$S" --timeout=0 status
outcome "--timeout=0 waits for the reply without a bound" 0 ""

# A server that listens but never accepts: the first client's connection
# waits in its queue (listen(0) holds one), later ones find the queue full.
mkfifo "$T/deaf.ready"
exec 3<>"$T/deaf.ready"
"$PY" -c '
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(0)
open(sys.argv[2], "w").write("%d\n" % os.getpid())
time.sleep(3600)' "$T/deaf.sock" "$T/deaf.ready" &
cleanup_fn "kill $!"
read -r -t 20 -u 3 _ || bail "the deaf server did not start"
exec 3<&-
run -s "$T/deaf.sock" --timeout=0.3 status
outcome "a server that never accepts: no reply within --timeout" 2 \
  'no reply after 0.3 s'
run -s "$T/deaf.sock" --timeout=0.3 status
outcome "a full listen queue: --timeout bounds connect too" 2 \
  'server busy|no reply after'

# The server survived every client above.
run -s "$S" mode
outcome "the fake server still answers" 0 ""

# ---- No server, --wait (exit 2, or 0 once the server binds) -------------
run -s "$T/none.sock" status
outcome "no server: exit 2 naming the socket" 2 \
  "^wcachectl: $T/none.sock: connect: No such file or directory"
run -s "$T/none.sock" --wait=0.2 status
outcome "--wait=0.2, no server" 2 "^wcachectl: $T/none.sock: no server after 0.2 s"
run -s "$T/not-a-socket/x.sock" status
outcome "a socket path through a non-directory fails" 2 'connect: '

# A socket file nobody listens on (a server that died).
"$PY" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
  "$T/stale.sock"
run -s "$T/stale.sock" status
outcome "stale socket: exit 2, connection refused" 2 'Connection refused'
run -s "$T/stale.sock" --wait=0.2 status
outcome "--wait=0.2 on a stale socket" 2 'no server after 0.2 s'

long=$T/$(printf 'd%.0s' $(seq 1 120))
run -s "$long" status
outcome "a socket path longer than sun_path" 2 'socket path too long'

# late NAME: wcachectl --wait starts while NAME's socket is absent (or
# stale); the fake server is started after it and binds after 0.3 s.
late ()
{
  local name=$1 wpid
  "$WCACHECTL" -s "$T/$name.sock" --wait status > "$T/out" 2> "$T/err" &
  wpid=$!
  start_fake "$name" 0.3
  wait "$wpid"
  rc=$?
}
late late
outcome "--wait: a server binding late is reached" 0 ""
check "--wait: its reply printed" cmp -s "$T/out" "$T/want"
late stale
outcome "--wait: a stale socket replaced by a server is reached" 0 ""

done_testing
