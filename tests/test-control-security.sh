#!/usr/bin/env bash
# The control socket's access rules (wcache(7), THE CONTROL PLANE: the
# socket is created 0600 and a peer of another uid is refused): the socket
# is mode 0600; even when the filesystem lets another user connect (the
# socket chmod'ed 0666), the server refuses a peer of another uid
# (SO_PEERCRED) with "error: permission denied ..." and runs none of its
# requests; the socket is removed when nbdkit exits (SIGTERM or a cut with
# wcache-cut-action=exit); a path that is already taken (a regular file),
# empty or too long makes nbdkit fail to start with a message naming
# wcache-control, and a file that is not ours is never removed.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/control-functions.sh"

requires_wcachectl
requires_nbdsh
requires_plugin memory

T=$tmpdir
# Another user must be able to reach the socket's directory.
chmod 0711 "$T"
mkdir -m 0755 "$T/pub"
CTL=$T/pub/ctl.sock

start_nbdkit s --filter="$WCACHE_FILTER" memory 1M wcache-control="$CTL"
"$WCACHECTL" -s "$CTL" --wait=10 status >/dev/null || bail "no control socket"

check "the control socket is a socket of mode 0600 owned by the server's user" \
  test "$(stat -c '%F %a %u' "$CTL")" = "socket 600 $(id -u)"
check "the server's own user is served" \
  test "$("$WCACHECTL" -s "$CTL" mode)" = 'ok mode=writeback wce=1 cache_type="write back"'

# as_nobody CMD...: runs CMD as uid/gid 65534 with no groups.
as_nobody ()
{
  if command -v setpriv >/dev/null 2>&1; then
    setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
  else
    runuser -u nobody -- "$@"
  fi
}

# The other user's client: connects, sends two requests, prints what it
# gets back (or the connect error) and whether the server closed.
cat > "$T/pub/other.py" <<'PYEOF'
import os, socket, sys
print("uid=%d" % os.getuid())
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("connect: %s" % os.strerror(e.errno))
    sys.exit(0)
try:
    s.sendall(b"mode writethrough\npower-cut policy=lose\n")
except OSError as e:
    pass
got = b""
try:
    while True:
        b = s.recv(4096)
        if not b:
            got += b"<EOF>"
            break
        got += b
except OSError as e:
    got += ("<%s>" % os.strerror(e.errno)).encode()
sys.stdout.write(got.decode("ascii", "replace"))
PYEOF
chmod 0644 "$T/pub/other.py"

if [ "$(id -u)" != 0 ]; then
  for d in "another uid cannot connect through the 0600 socket" \
           "a peer of another uid is refused by SO_PEERCRED" \
           "the refused peer changed nothing"; do
    ok "$d # SKIP not root: cannot switch to another uid"
  done
else
  out=$(as_nobody "$PY" "$T/pub/other.py" "$CTL")
  check "uid 65534 cannot even connect to the 0600 socket (connect: Permission denied)" \
    eval '[[ $out == "uid=65534"$'"'\n'"'"connect: Permission denied" ]]'
  [[ $out == uid=65534* ]] || echo "# $out"

  chmod 0666 "$CTL"
  out=$(as_nobody "$PY" "$T/pub/other.py" "$CTL")
  echo "# as uid 65534 on a 0666 socket: ${out//$'\n'/ | }"
  check "a peer of another uid (65534) is answered 'error: permission denied...' and disconnected" \
    eval '[[ $out == "uid=65534"$'"'\n'"'"error: permission denied"*$'"'\n'"'"<"* ]]'
  check "the refused peer got exactly one line: none of its requests ran" \
    test "$(grep -c '^ok\|^error' <<< "$out")" = 1
  st=$("$WCACHECTL" -s "$CTL" status)
  check "the refused peer changed nothing: mode=writeback, power=on, cuts=0" \
    test "$(kv "$st" mode) $(kv "$st" power) $(kv "$st" cuts)" = "writeback on 0"
  chmod 0600 "$CTL"
fi

# ---- the socket goes away with nbdkit --------------------------------------------
# An idle control client and one cut off mid-line must not hold up the exit.
"$PY" - "$CTL" "$T/idle.state" <<'PYEOF' &
import socket, sys
a = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
a.connect(sys.argv[1])
b = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
b.connect(sys.argv[1])
b.sendall(b"mode writeth")
open(sys.argv[2], "w").write("connected\n")
a.settimeout(30)
try:
    r = a.recv(100)
    open(sys.argv[2], "a").write("EOF\n" if r == b"" else "data\n")
except OSError as e:
    open(sys.argv[2], "a").write("error %s\n" % e)
PYEOF
idle=$!
poll_until 10 grep -qs connected "$T/idle.state" || bail "idle client did not connect"
kill "$(pid_of s)"
check "nbdkit exits on SIGTERM with an idle and a half-sent control client connected" \
  wait_exit s
wait $idle
check "the idle control client saw the server close its connection (EOF)" \
  grep -qx EOF "$T/idle.state"
stop_nbdkit s
check "the control socket is removed when nbdkit exits" test ! -e "$CTL"

CTL2=$T/exit.ctl
start_nbdkit x --filter="$WCACHE_FILTER" memory 1M wcache-control="$CTL2" \
  wcache-cut-action=exit
"$WCACHECTL" -s "$CTL2" --wait=10 status >/dev/null || bail "no control socket"
r=$("$WCACHECTL" -s "$CTL2" power-cut)
check "wcache-cut-action=exit: power-cut replies ok power=off" \
  eval '[[ $r == "ok power=off "* ]]'
check "wcache-cut-action=exit: nbdkit exits by itself after the cut" wait_exit x
check "wcache-cut-action=exit: the control socket is removed" test ! -e "$CTL2"

# ---- paths that cannot be used ------------------------------------------------------
# fails_to_start NAME PATH: nbdkit with wcache-control=PATH exits non-zero
# (it is stopped by pid if it started after all); its stderr in NAME.err.
fails_to_start ()
{
  local name=$1 path=$2 rc
  rm -f "$T/$name.pid"
  "$NBDKIT" -U "$T/$name.sock" -P "$T/$name.pid" \
    --filter="$WCACHE_FILTER" memory 1M wcache-control="$path" \
    2>"$T/$name.err"
  rc=$?
  if [ $rc = 0 ]; then
    poll_until 10 test -s "$T/$name.pid"
    stop_nbdkit "$name"
    return 1
  fi
  sed 's/^/# /' "$T/$name.err"
}

echo "not a socket" > "$T/stale.ctl"
check "wcache-control=PATH where a regular file is: nbdkit fails to start" \
  fails_to_start stale "$T/stale.ctl"
check "... with a message naming wcache-control and the path" \
  grep -q "wcache-control: $T/stale.ctl: " "$T/stale.err"
check "... and the regular file is left alone" \
  test "$(cat "$T/stale.ctl")" = "not a socket"

long=$T/$(head -c 120 /dev/zero | tr '\0' l).ctl
check "wcache-control=PATH longer than a UNIX socket path: nbdkit fails to start" \
  fails_to_start long "$long"
check "... with a message naming wcache-control and 'path too long'" \
  grep -q "wcache-control: .*path too long" "$T/long.err"

check "wcache-control= (empty): nbdkit fails to start" fails_to_start empty ""
check "... with the message 'wcache-control: the socket path is empty'" \
  grep -q "wcache-control: the socket path is empty" "$T/empty.err"

check "wcache-control=PATH in a missing directory: nbdkit fails to start" \
  fails_to_start nodir "$T/no/such/dir/ctl"
check "... with a message naming wcache-control" \
  grep -q "wcache-control: $T/no/such/dir/ctl: No such file or directory" "$T/nodir.err"

done_testing
