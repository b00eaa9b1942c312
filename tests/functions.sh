# Shared by the shell tests: TAP output, skips, cleanup, nbdkit by pid.
#
#   . "$top_srcdir/tests/functions.sh"
#   requires_nbdsh
#   start_nbdkit disk --filter="$WCACHE_FILTER" memory 1M   # $tmpdir/disk.sock
#   check "S3: flushed data reaches the plugin" grep -q ... file
#   done_testing
#
# Every server started here is stopped at exit, by its pid file.

set -u

: "${NBDKIT:=nbdkit}"
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${WCACHE_FILTER:=$top_builddir/plugin/.libs/nbdkit-wcache-filter.so}"

tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/wcache-test.XXXXXX")
_cleanup_fns=()
_tap_n=0
_tap_failed=0

# Registers a command to run at exit (last registered runs first).
cleanup_fn ()
{
  _cleanup_fns+=("$*")
}

_run_cleanup ()
{
  local i
  for ((i = ${#_cleanup_fns[@]} - 1; i >= 0; i--)); do
    eval "${_cleanup_fns[i]}" || :
  done
  rm -rf "$tmpdir"
}
trap _run_cleanup EXIT
trap 'exit 1' INT TERM

# TAP.  With automake's TAP driver, a skip is "1..0 # SKIP reason" and
# exit 0; exit 77 would be an error.
skip_all ()
{
  echo "1..0 # SKIP $*"
  exit 0
}

ok ()
{
  _tap_n=$((_tap_n + 1))
  echo "ok $_tap_n - $*"
}

not_ok ()
{
  _tap_n=$((_tap_n + 1))
  _tap_failed=1
  echo "not ok $_tap_n - $*"
}

# check "description" COMMAND...: ok if the command succeeds.
check ()
{
  local desc=$1
  shift
  if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# Prints the plan last (TAP allows it) and exits with the result.
done_testing ()
{
  echo "1..$_tap_n"
  exit $_tap_failed
}

# Stops the test with a failure (for setup errors).
bail ()
{
  echo "Bail out! $*"
  exit 1
}

requires ()
{
  "$@" >/dev/null 2>&1 || skip_all "requires: $*"
}

requires_cmd ()
{
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || skip_all "requires the command $c"
  done
}

# nbdsh is a Python program; the python3 first on PATH may lack the nbd
# module (REFERENCE.md), so always run Debian's.
nbdsh ()
{
  PATH=/usr/bin:$PATH command nbdsh "$@"
}

requires_nbdsh ()
{
  nbdsh -c 'pass' >/dev/null 2>&1 ||
    skip_all "requires nbdsh with the python3 nbd module (python3-libnbd)"
}

requires_plugin ()
{
  "$NBDKIT" "$1" --version >/dev/null 2>&1 ||
    skip_all "requires the nbdkit $1 plugin"
}

# start_nbdkit NAME ARGS...: starts nbdkit in the background on
# $tmpdir/NAME.sock, logging to $tmpdir/NAME.err, and returns when its pid
# file says it is serving.  It is stopped at exit.
start_nbdkit ()
{
  local name=$1
  shift
  local sock="$tmpdir/$name.sock" pidfile="$tmpdir/$name.pid" i

  rm -f "$sock" "$pidfile"
  "$NBDKIT" -U "$sock" -P "$pidfile" --log=stderr -v "$@" \
    2>"$tmpdir/$name.err" || {
      cat "$tmpdir/$name.err" >&2
      bail "nbdkit $name did not start"
    }
  # nbdkit writes the pid file once it is listening.
  for i in $(seq 1 200); do
    [ -s "$pidfile" ] && [ -S "$sock" ] && break
    sleep 0.05
  done
  [ -s "$pidfile" ] || bail "nbdkit $name wrote no pid file"
  cleanup_fn "stop_nbdkit $name"
}

# Path of a server's socket, pid and an NBD URI for it.
sock_of () { echo "$tmpdir/$1.sock"; }
pid_of () { cat "$tmpdir/$1.pid" 2>/dev/null; }
uri_of () { echo "nbd+unix:///?socket=$tmpdir/$1.sock"; }

# True while the server's process exists.
nbdkit_running ()
{
  local pid
  pid=$(pid_of "$1") || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# wait_exit NAME: waits (bounded, 10 s) for the server to exit by itself.
wait_exit ()
{
  local i
  for i in $(seq 1 200); do
    nbdkit_running "$1" || return 0
    sleep 0.05
  done
  return 1
}

stop_nbdkit ()
{
  local pid
  pid=$(pid_of "$1") || return 0
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  wait_exit "$1" || kill -9 "$pid" 2>/dev/null
  rm -f "$tmpdir/$1.pid"
}
