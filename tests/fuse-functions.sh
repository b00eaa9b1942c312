# Shared by the FUSE frontend tests (tests/test-fuse-*.sh), on top of
# tests/functions.sh:
#
#   . "$top_srcdir/tests/functions.sh"
#   . "$top_srcdir/tests/fuse-functions.sh"
#   requires_fuse
#   make_image img 64M                          # $tmpdir/img, zeros
#   start_fuse d "$tmpdir/img" --control="$(fctl_of d)"
#   dd if=... of="$(mnt_of d)/disk" conv=notrunc,fsync
#   echo cut > "$(mnt_of d)/power"
#   stat_of d dirty_blocks                      # from MOUNTPOINT/status
#   host_flags_of d                             # O_DIRECT|O_DSYNC bits of
#                                               # the image's descriptor
#
# Every wcache-fuse started here is unmounted and stopped at exit, by its
# pid file.

: "${WCACHE_FUSE:=$top_builddir/fuse/wcache-fuse}"
: "${FUSERMOUNT3:=fusermount3}"

requires_fuse ()
{
  requires_built fuse
  [ -x "$WCACHE_FUSE" ] ||
    bail "no wcache-fuse at $WCACHE_FUSE (not built?)"
  [ -c /dev/fuse ] || skip_all "requires /dev/fuse"
  requires_cmd "$FUSERMOUNT3"
  # A mount that works at all (containers may forbid it).
  local m="$tmpdir/.probe.mnt" img="$tmpdir/.probe.img"
  mkdir -p "$m" && truncate -s 1M "$img" || bail "cannot create $m"
  if ! "$WCACHE_FUSE" -P "$tmpdir/.probe.pid" "$m" "$img" \
       2>"$tmpdir/.probe.err"; then
    skip_all "cannot mount FUSE here: $(head -n1 "$tmpdir/.probe.err")"
  fi
  _fuse_wait_pid "$tmpdir/.probe.pid" || bail "probe mount wrote no pid file"
  _fuse_stop "$m" "$tmpdir/.probe.pid"
  rm -rf "$m" "$img"
}

# make_image NAME SIZE: a sparse image of zeros at $tmpdir/NAME.
make_image ()
{
  rm -f "$tmpdir/$1"
  truncate -s "$2" "$tmpdir/$1"
}

mnt_of () { echo "$tmpdir/$1.mnt"; }
fctl_of () { echo "$tmpdir/$1.fctl"; }
fpid_of () { cat "$tmpdir/$1.fpid" 2>/dev/null; }

# pid_alive PID: the process exists and is not a zombie (a daemon is
# reparented to PID 1, which may reap it late).
pid_alive ()
{
  local stat
  [ -n "$1" ] || return 1
  { read -r stat < "/proc/$1/stat"; } 2>/dev/null || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

_fuse_wait_pid ()
{
  local i
  for i in $(seq 1 200); do
    [ -s "$1" ] && return 0
    sleep 0.05
  done
  return 1
}

# _fuse_stop MOUNTPOINT PIDFILE: unmount, then wait (bounded) for the
# daemon to exit; SIGKILL and a lazy unmount if it does not.
_fuse_stop ()
{
  local m=$1 pid i
  pid=$(cat "$2" 2>/dev/null) || pid=
  _fuse_mounted "$m" && "$FUSERMOUNT3" -u "$m" 2>/dev/null
  for i in $(seq 1 200); do
    pid_alive "$pid" || break
    sleep 0.05
  done
  pid_alive "$pid" && kill -9 "$pid" 2>/dev/null
  # A mount whose daemon died cannot be stat'ed (ENOTCONN): detach lazily.
  _fuse_mounted "$m" && "$FUSERMOUNT3" -uz "$m" 2>/dev/null
  rm -f "$2"
  return 0
}

# _fuse_mounted DIR: DIR is a mount point in /proc/mounts (mountpoint(1)
# cannot stat a FUSE mount whose daemon died).
_fuse_mounted ()
{
  local dir
  dir=$(realpath -m "$1")
  awk -v d="$dir" '$2 == d { found = 1 } END { exit !found }' /proc/mounts
}

# start_fuse NAME TARGET [OPTIONS...]: mounts wcache-fuse on $(mnt_of NAME)
# (daemonized, stderr in $tmpdir/NAME.ferr) and returns once its pid file
# says it serves.  It is unmounted and stopped at exit.
start_fuse ()
{
  local name=$1 target=$2
  shift 2
  local m pidfile="$tmpdir/$name.fpid"

  m=$(mnt_of "$name")
  mkdir -p "$m"
  rm -f "$pidfile"
  "$WCACHE_FUSE" -P "$pidfile" "$@" "$m" "$target" \
    2>"$tmpdir/$name.ferr" || {
      cat "$tmpdir/$name.ferr" >&2
      bail "wcache-fuse $name did not start"
    }
  _fuse_wait_pid "$pidfile" || bail "wcache-fuse $name wrote no pid file"
  cleanup_fn "stop_fuse $name"
}

stop_fuse ()
{
  _fuse_stop "$(mnt_of "$1")" "$tmpdir/$1.fpid"
}

# stat_of NAME KEY: a value from MOUNTPOINT/status.
stat_of ()
{
  sed -n "s/^$2=//p" "$(mnt_of "$1")/status"
}

# host_flags_of NAME: the O_DIRECT and O_DSYNC bits of the image's
# descriptor as the kernel reports them (/proc/PID/fdinfo), printed as
# "buffered", "O_DSYNC", "O_DIRECT" or "O_DIRECT|O_DSYNC".
host_flags_of ()
{
  local fd flags
  fd=$(stat_of "$1" host_fd)
  flags=$(sed -n 's/^flags:[[:space:]]*//p' "/proc/$(fpid_of "$1")/fdinfo/$fd")
  [ -n "$flags" ] || return 1
  flags=$((8#$flags))
  local direct=$((flags & 8#40000)) dsync=$((flags & 8#10000))
  if ((direct && dsync)); then echo "O_DIRECT|O_DSYNC"
  elif ((direct)); then echo O_DIRECT
  elif ((dsync)); then echo O_DSYNC
  else echo buffered
  fi
}

# fuse_unmount_leftovers: lazily detaches every FUSE mount still under
# $tmpdir (for mounts not made by start_fuse, or whose daemon a test
# killed).  Register it with cleanup_fn.
fuse_unmount_leftovers ()
{
  local line f
  local -a mounts
  # Read the whole table first: it shrinks as we unmount.
  mapfile -t mounts < /proc/mounts
  for line in "${mounts[@]}"; do
    read -r -a f <<< "$line"
    [[ ${f[1]} == "$tmpdir"/* && ${f[2]} == fuse* ]] &&
      "$FUSERMOUNT3" -uz "${f[1]}"
  done
  return 0
}

# fuse_watchdog SECONDS: a hang is a failure, not a stuck test.  After
# SECONDS every wcache-fuse started here is killed (SIGKILL, by its pid
# file), and from then on every second any new one, so that requests stuck
# in them fail with ENOTCONN and the rest of the run fails fast.
# fuse_watchdog_quiet says whether it never fired (check it last).  The
# watchdog is stopped by pid at exit.
fuse_watchdog ()
{
  (
    trap 'kill $s 2>/dev/null; exit 0' TERM
    sleep "$1" & s=$!
    wait $s
    : > "$tmpdir/watchdog.fired"
    echo "# watchdog: still running after $1 s: killing the wcache-fuse daemons"
    while :; do
      for f in "$tmpdir"/*.fpid; do
        [ -s "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
      done
      sleep 1 & s=$!
      wait $s
    done
  ) &
  _fuse_wd_pid=$!
  cleanup_fn "kill $_fuse_wd_pid 2>/dev/null; wait $_fuse_wd_pid 2>/dev/null"
}

fuse_watchdog_quiet () { test ! -e "$tmpdir/watchdog.fired"; }
