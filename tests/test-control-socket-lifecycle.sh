#!/usr/bin/env bash
# The control socket never blocks the next start: nbdkit failing after it
# was bound removes it, a relative wcache-control path works and is
# removed when nbdkit runs in the background (where its cwd is /), and a
# socket left by a killed server is taken over.  A live server's socket
# and files that are not sockets are never touched.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/control-functions.sh"

requires_wcachectl
requires_plugin memory

export T=$tmpdir

# ---- nbdkit fails after binding: its -U socket is taken ------------------
start_wcache a memory 1M
"$NBDKIT" -U "$(sock_of a)" --filter="$WCACHE_FILTER" memory 1M \
  wcache-control="$T/busy.ctl" > "$T/busy.out" 2>&1
rc=$?
check "a second nbdkit on a busy -U path fails (exit $rc)" test $rc -ne 0
check "... and leaves no control socket behind" test ! -e "$T/busy.ctl"

# ---- a relative path, nbdkit in the background ---------------------------
mkdir "$T/dir"
(cd "$T/dir" &&
   "$NBDKIT" -U "$T/rel.sock" -P "$T/rel.pid" --filter="$WCACHE_FILTER" \
     memory 1M wcache-control=rel.ctl 2> "$T/rel.err")
cleanup_fn "stop_nbdkit rel"
check "wcache-control=rel.ctl: the socket is in the directory nbdkit started in" \
  test -S "$T/dir/rel.ctl"
check "... and answers" \
  eval '"$WCACHECTL" -s "$T/dir/rel.ctl" --wait=10 status | grep -q "^ok "'
stop_nbdkit rel
check "... and is removed when nbdkit stops" test ! -e "$T/dir/rel.ctl"

# ---- a stale socket: the server was killed -------------------------------
start_wcache k memory 1M
kill -9 "$(pid_of k)"
wait_exit k
check "kill -9 leaves the control socket behind" test -S "$(ctl_of k)"
start_nbdkit k2 --filter="$WCACHE_FILTER" memory 1M \
  wcache-control="$(ctl_of k)"
check "the next server takes the stale socket over and answers" \
  eval '"$WCACHECTL" -s "$(ctl_of k)" --wait=10 status | grep -q "^ok power=on"'

# ---- a live server's socket ----------------------------------------------
"$NBDKIT" -U "$T/live.sock" --filter="$WCACHE_FILTER" memory 1M \
  wcache-control="$(ctl_of a)" > "$T/live.out" 2>&1
rc=$?
check "a second server on a live control socket fails (exit $rc)" test $rc -ne 0
check "... saying it is in use" grep -q "in use by a running server" "$T/live.out"
check "... and the first server still answers on it" \
  eval 'ctl a status | grep -q "^ok power=on"'

# ---- not a socket --------------------------------------------------------
echo "keep me" > "$T/file.ctl"
"$NBDKIT" -U "$T/file.sock" --filter="$WCACHE_FILTER" memory 1M \
  wcache-control="$T/file.ctl" > "$T/file.out" 2>&1
rc=$?
check "wcache-control on a regular file fails (exit $rc)" test $rc -ne 0
check "... saying it is not a socket" grep -q "exists and is not a socket" "$T/file.out"
check "... and leaves the file as it was" \
  test "$(cat "$T/file.ctl")" = "keep me"

done_testing
