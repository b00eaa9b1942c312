# Shared by the shell tests: TAP output, skips, cleanup, nbdkit by pid.
#
#   . "$top_srcdir/tests/functions.sh"
#   requires_nbdsh
#   start_nbdkit disk --filter="$WCACHE_FILTER" memory 1M   # $tmpdir/disk.sock
#   check "S3: flushed data reaches the plugin" grep -q ... file
#   done_testing
#
# Every server started here is stopped at exit, by its pid file.  KEEP=1
# keeps the test's directory (its logs and images) for a look afterwards.

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
  [ -n "${KEEP:-}" ] && echo "kept $tmpdir" >&2 || rm -rf "$tmpdir"
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

# skip "description" "reason": one test skipped (TAP # SKIP).
skip ()
{
  _tap_n=$((_tap_n + 1))
  echo "ok $_tap_n - $1 # SKIP $2"
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
# module (a pyenv build, say), so always run Debian's.
nbdsh ()
{
  PATH=/usr/bin:$PATH command nbdsh "$@"
}

requires_nbdsh ()
{
  nbdsh -c 'pass' >/dev/null 2>&1 ||
    skip_all "requires nbdsh with the python3 nbd module (python3-libnbd)"
}

_requires_nbdkit ()
{
  [ "$NBDKIT" != no ] || skip_all "requires nbdkit (configure found none)"
}

# requires_built PART: skips unless configure built PART ("fuse",
# "fuse-nbd", "crash"; make check says which in WCACHE_BUILT).  Run by
# hand, with WCACHE_BUILT unset, everything counts as built.
# is_built PART: whether configure built PART (see requires_built), for a
# test that covers it in some checks only.
is_built ()
{
  case " ${WCACHE_BUILT-$1} " in
    *" $1 "*) return 0 ;;
  esac
  return 1
}

requires_built ()
{
  is_built "$1" && return 0
  case $1 in
    fuse) skip_all "wcache-fuse is not built (configure found no fuse3 or gio-2.0, or --disable-fuse)" ;;
    fuse-nbd) skip_all "wcache-fuse is built without NBD disks (configure found no libnbd, or --without-libnbd)" ;;
    crash) skip_all "wcache-crash is not built (configure found no libxxhash or json-glib, or --disable-crash)" ;;
    *) bail "requires_built: unknown part $1" ;;
  esac
}

requires_plugin ()
{
  _requires_nbdkit
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

  _requires_nbdkit

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

# True while the server's process exists.  A zombie has exited: the
# daemonised nbdkit is reparented to PID 1, which may reap it late (about
# 2 s here), and kill -0 succeeds on a zombie.
nbdkit_running ()
{
  local pid stat
  pid=$(pid_of "$1") || return 1
  [ -n "$pid" ] || return 1
  read -r stat < "/proc/$pid/stat" 2>/dev/null || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
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

# ---- Reading the log filter below wcache.  nbdkit's log filter records
# what reached the plugin:
#   connection=1 Write id=7 offset=0x1000 count=0x1000 fua=1 ...
#   connection=1 ...Write id=7 return=0
# Zero adds trim= and fast= fields; Flush has no range.  wcache reaches the
# plugin through its own shared context, which the log shows as a connection
# of its own: ranges are matched whatever the connection.

# _log_parse LOG KINDS: for every request of KINDS (a regex such as
# 'Write|Zero') in LOG sets _req_start, _req_end (byte range), _req_fua and
# _req_done (line of its successful return, -1 if none); _flush_last is the
# line where the last successful Flush began (-1 if none).
_log_parse ()
{
  local log=$1 kinds=$2 n line
  local re=" ($kinds) id=([0-9]+) offset=0x([0-9a-f]+) count=0x([0-9a-f]+) (trim=[01] )?fua=([01]) "
  local -a lines=()
  local -A returned=()

  _req_start=() _req_end=() _req_fua=() _req_done=() _flush_last=-1
  mapfile -t lines < "$log"
  for ((n = 0; n < ${#lines[@]}; n++)); do
    if [[ ${lines[n]} =~ \.\.\.[A-Za-z]+\ id=([0-9]+)\ return=0 ]]; then
      returned[${BASH_REMATCH[1]}]=$n
    fi
  done
  for ((n = 0; n < ${#lines[@]}; n++)); do
    line=${lines[n]}
    if [[ $line =~ \ Flush\ id=([0-9]+)\ \.\.\.$ ]]; then
      [ -n "${returned[${BASH_REMATCH[1]}]-}" ] && _flush_last=$n
    elif [[ $line =~ $re ]]; then
      _req_start+=($((16#${BASH_REMATCH[3]})))
      _req_end+=($((16#${BASH_REMATCH[3]} + 16#${BASH_REMATCH[4]})))
      _req_fua+=("${BASH_REMATCH[6]}")
      _req_done+=("${returned[${BASH_REMATCH[2]}]--1}")
    fi
  done
}

# plugin_has LOG KINDS OFF LEN HOW: true if requests of KINDS that returned
# successfully cover every byte of [OFF, OFF+LEN).  HOW: "any"; "fua" (only
# requests with fua=1 count); "durable" (fua=1, or a successful Flush began
# after the request returned).
plugin_has ()
{
  local pos=$3 end=$(($3 + $4)) how=$5 i moved=1

  _log_parse "$1" "$2"
  while ((pos < end && moved)); do
    moved=0
    for i in "${!_req_start[@]}"; do
      ((_req_done[i] >= 0)) || continue
      case $how in
        any) ;;
        fua) [ "${_req_fua[i]}" = 1 ] || continue ;;
        durable) [ "${_req_fua[i]}" = 1 ] || ((_req_done[i] < _flush_last)) ||
                   continue ;;
        *) bail "plugin_has: bad HOW $how" ;;
      esac
      if ((_req_start[i] <= pos && pos < _req_end[i])); then
        pos=${_req_end[i]}
        moved=1
      fi
    done
  done
  ((pos >= end))
}

# plugin_touched LOG KINDS OFF LEN: true if any request of KINDS, finished
# or not, overlaps [OFF, OFF+LEN).
plugin_touched ()
{
  local off=$3 end=$(($3 + $4)) i

  _log_parse "$1" "$2"
  for i in "${!_req_start[@]}"; do
    ((_req_start[i] < end && off < _req_end[i])) && return 0
  done
  return 1
}

# log_since LOG N: the log without its first N lines.
log_since () { tail -n "+$(($2 + 1))" "$1"; }

# same_bytes A B OFF LEN: files A and B hold the same LEN bytes at OFF.
same_bytes () { cmp -s -i "$3:$3" -n "$4" "$1" "$2"; }
