# Shared by the wcache-crash tests (after tests/functions.sh).
#
#   requires_crash                     skips without wcache-crash or nbdsh
#   log_through_wcache NAME SIZE PY [IMAGE]
#                                      runs the nbdsh script PY (h is the
#                                      handle, T the test directory, ctl()
#                                      sends a control command) against
#                                      nbdkit memory SIZE (or file, on a
#                                      copy of IMAGE) + wcache with its
#                                      write log on: $T/NAME.log, and the
#                                      base (zeros, or IMAGE) $T/NAME.base
#   crash ARGS...                      runs wcache-crash

CRASH=${WCACHE_CRASH:-$top_builddir/tools/wcache-crash}

requires_crash ()
{
  requires_built crash
  [ -x "$CRASH" ] || skip_all "wcache-crash not built"
  requires_nbdsh
  requires_plugin memory
}

crash () { "$CRASH" "$@"; }

log_through_wcache ()
{
  local name=$1 size=$2 script=$3 image=${4:-}
  local -a plugin=(memory "$size")
  if [ -n "$image" ]; then
    cp "$image" "$tmpdir/$name.base" && cp "$image" "$tmpdir/$name.img" ||
      bail "cannot copy $image"
    plugin=(file "$tmpdir/$name.img")
  else
    truncate -s "$size" "$tmpdir/$name.base"
  fi
  start_nbdkit "$name" --filter="$WCACHE_FILTER" "${plugin[@]}" \
    wcache-log="$tmpdir/$name.log" wcache-control="$tmpdir/$name.ctl"
  T=$tmpdir CTL=$tmpdir/$name.ctl nbdsh -u "$(uri_of "$name")" -c '
import os, socket
T = os.environ["T"]
def ctl(line):
    s = socket.socket(socket.AF_UNIX)
    s.connect(os.environ["CTL"])
    s.sendall((line + "\n").encode())
    reply = s.makefile().readline()
    s.close()
    assert reply.startswith("ok"), reply
' -c "$script" || bail "the client of $name failed"
  stop_nbdkit "$name"
  [ -s "$tmpdir/$name.log" ] || bail "no log $name"
}
