#!/bin/bash
# wcache FUSE benchmark: one image file, on one filesystem, reached three
# ways in one run, with the same jobs:
#
#   plain file    the image itself, no FUSE
#   nbdfuse       nbdfuse MNT/image --unix SOCK, over `nbdkit file IMAGE`
#                 (multi-conn: nbdfuse opens 4 connections)
#   wcache-fuse   wcache-fuse --mode=writeback MNT IMAGE, MNT/disk
#
#   bash bench/bench-fuse.sh      (or: WCACHE_FUSE=... bash bench/bench-fuse.sh)
#
# Jobs, for each contender in turn:
#   dd        dd if=/dev/zero bs=1M count=1024 conv=fsync,notrunc     MB/s
#   rw        fio randwrite bs=4k ioengine=psync, no fsync           IOPS
#   rw-fsync  the same with --fsync=32                               IOPS
#   read      fio read bs=1M ioengine=psync, the first 1 GiB          MB/s
# fio jobs run BENCH_SECONDS each (the read stops earlier at 1 GiB).
# Before every job the target is settled: fsync'd (`sync TARGET`: the plain
# file's dirty pages, nbdkit's flush, wcache-fuse's write-back), then, as
# root, `sync` and `echo 3 > /proc/sys/vm/drop_caches`, so no job starts
# with the previous one's dirty data or reads from a warm page cache.  MB
# are 10^6 bytes, as dd counts them.
#
# Environment:
#   BENCH_SECONDS     seconds per fio job (default 10)
#   BENCH_IMAGE_MB    image size in MiB, at least 1024 (default 2048)
#   WCACHE_FUSE       the program (default $top_builddir/fuse/wcache-fuse,
#                     top_builddir defaulting to the parent of this script's
#                     directory)
#   NBDKIT, NBDFUSE, FIO, FUSERMOUNT   the other programs
#   TMPDIR            where the image lives (default /tmp)
#
# The figures are informational: each target line says PASS or MISS, and
# the script exits 0 either way; it exits 1 only if a contender could not
# run, and 0 with a SKIP line if fio, nbdfuse, nbdkit or /dev/fuse is
# missing.

# `make bench` runs scripts with /bin/sh: re-exec under bash.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"

set -u
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
: "${top_builddir:=$here/..}"
: "${WCACHE_FUSE:=$top_builddir/fuse/wcache-fuse}"
: "${NBDKIT:=nbdkit}"
: "${NBDFUSE:=nbdfuse}"
: "${FIO:=fio}"
: "${FUSERMOUNT:=fusermount3}"
: "${BENCH_SECONDS:=10}"
: "${BENCH_IMAGE_MB:=2048}"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

# Targets: wcache-fuse against the others.
T_FSYNC=1.0         # rw-fsync >= 1.0x nbdfuse
T_NOFSYNC=2.0       # rw "well above" nbdfuse: >= 2x
T_DD=0.7            # dd conv=fsync >= 0.7x plain file

die ()
{
  echo "bench-fuse: FAILED: $*" >&2
  exit 1
}

skip ()
{
  echo "bench-fuse: SKIP: $*"
  exit 0
}

case $BENCH_SECONDS in
  ''|*[!0-9]*|0) die "BENCH_SECONDS must be a positive number of seconds" ;;
esac
case $BENCH_IMAGE_MB in
  ''|*[!0-9]*) die "BENCH_IMAGE_MB must be a number of MiB, at least 1024" ;;
esac
[ "$BENCH_IMAGE_MB" -ge 1024 ] ||
  die "BENCH_IMAGE_MB=$BENCH_IMAGE_MB: at least 1024 (dd writes 1 GiB)"

command -v "$FIO" >/dev/null 2>&1 || skip "fio is not installed"
command -v "$NBDFUSE" >/dev/null 2>&1 || skip "nbdfuse is not installed (libnbd-bin)"
command -v "$NBDKIT" >/dev/null 2>&1 || skip "nbdkit is not installed"
command -v "$FUSERMOUNT" >/dev/null 2>&1 || skip "fusermount3 is not installed (fuse3)"
[ -c /dev/fuse ] || skip "/dev/fuse is missing (no FUSE here)"
[ -x "$WCACHE_FUSE" ] ||
  die "no wcache-fuse at $WCACHE_FUSE (build it: make fuse/wcache-fuse)"

tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/wcache-bench-fuse.XXXXXX") ||
  die "cannot create a temporary directory"
image=$tmpdir/image

# ---- Servers and mounts: each one started is stopped, by pid ------------

# mounts[i] is a mount point served by the process mount_pids[i].
mounts=()
mount_pids=()
nbdkit_pid=

wait_gone ()   # PID SECONDS: 0 once PID has exited
{
  local pid=$1 n=$(($2 * 10))
  while [ $n -gt 0 ]; do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
    n=$((n - 1))
  done
  return 1
}

stop_pid ()   # PID NAME
{
  local pid=$1
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  wait_gone "$pid" 10 && return 0
  echo "bench-fuse: $2 pid $pid ignored SIGTERM for 10 s, killing it" >&2
  kill -9 "$pid" 2>/dev/null
  wait_gone "$pid" 5
}

# The documented way out of a FUSE mount is fusermount3 -u; the process
# then exits by itself.  If it does not, it is killed by its pid.
stop_mount ()   # MOUNTPOINT PID
{
  local mnt=$1 pid=$2
  if mountpoint -q "$mnt" && ! "$FUSERMOUNT" -u "$mnt" 2>/dev/null; then
    sleep 1
    "$FUSERMOUNT" -u "$mnt" 2>/dev/null ||
      echo "bench-fuse: $mnt: cannot unmount, stopping pid $pid" >&2
  fi
  if [ -n "$pid" ] && ! wait_gone "$pid" 10; then
    stop_pid "$pid" "FUSE server for $mnt"
  fi
  if mountpoint -q "$mnt"; then
    "$FUSERMOUNT" -u -z "$mnt" 2>/dev/null
  fi
}

stop_all ()
{
  local i
  for i in "${!mounts[@]}"; do
    stop_mount "${mounts[$i]}" "${mount_pids[$i]}"
  done
  mounts=()
  mount_pids=()
  stop_pid "$nbdkit_pid" nbdkit
  nbdkit_pid=
}

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup ()
{
  local m busy=
  stop_all
  # Never rm -rf into a file system that is still mounted.
  for m in "$tmpdir"/*.mnt; do
    [ -d "$m" ] && mountpoint -q "$m" && busy=$m
  done
  if [ -n "$busy" ]; then
    echo "bench-fuse: $busy is still mounted: leaving $tmpdir" >&2
  else
    rm -rf "$tmpdir"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_file ()   # FILE SECONDS: 0 once FILE is non-empty
{
  local n=$(($2 * 20))
  while [ $n -gt 0 ]; do
    [ -s "$1" ] && return 0
    sleep 0.05
    n=$((n - 1))
  done
  return 1
}

# start KEY: starts contender KEY and sets target, or returns 1 with why.
start ()
{
  local mnt=$tmpdir/$1.mnt pid
  why=
  case $1 in
    plain)
      target=$image
      ;;
    nbdfuse)
      "$NBDKIT" -U "$tmpdir/nbd.sock" -P "$tmpdir/nbdkit.pid" \
        file "$image" 2>"$tmpdir/nbdkit.err" || {
        why="nbdkit did not start: $(tr '\n' ' ' <"$tmpdir/nbdkit.err")"
        return 1
      }
      wait_file "$tmpdir/nbdkit.pid" 10 || {
        why="nbdkit wrote no pid file"
        return 1
      }
      nbdkit_pid=$(cat "$tmpdir/nbdkit.pid")
      mkdir "$mnt"
      # nbdfuse stays in the foreground; -P says when it serves.
      "$NBDFUSE" -P "$tmpdir/nbdfuse.pid" "$mnt/image" \
        --unix "$tmpdir/nbd.sock" 2>"$tmpdir/nbdfuse.err" &
      pid=$!
      mounts+=("$mnt")
      mount_pids+=("$pid")
      wait_file "$tmpdir/nbdfuse.pid" 10 || {
        why="nbdfuse did not get ready: $(tr '\n' ' ' <"$tmpdir/nbdfuse.err")"
        return 1
      }
      target=$mnt/image
      ;;
    wcache)
      mkdir "$mnt"
      # It forks into the background once mounted; -P gives the daemon.
      "$WCACHE_FUSE" -P "$tmpdir/wcache-fuse.pid" --mode=writeback \
        "$mnt" "$image" 2>"$tmpdir/wcache-fuse.err" || {
        why="wcache-fuse did not start: $(tr '\n' ' ' <"$tmpdir/wcache-fuse.err")"
        return 1
      }
      mounts+=("$mnt")
      mount_pids+=("")
      wait_file "$tmpdir/wcache-fuse.pid" 10 || {
        why="wcache-fuse wrote no pid file"
        return 1
      }
      mount_pids[${#mount_pids[@]}-1]=$(cat "$tmpdir/wcache-fuse.pid")
      target=$mnt/disk
      ;;
  esac
  [ -f "$target" ] || {
    why="$target does not exist"
    return 1
  }
}

# ---- Jobs ---------------------------------------------------------------

dropped=no
if [ "$(id -u)" -eq 0 ] && [ -w /proc/sys/vm/drop_caches ]; then
  dropped=yes
fi

settle ()   # TARGET
{
  sync "$1" 2>/dev/null
  if [ $dropped = yes ]; then
    sync
    echo 3 >/proc/sys/vm/drop_caches
  fi
}

# Each job prints one number, or fails with a message on stderr.
# shellcheck disable=SC2317  # called as "job_$j"
job_dd ()   # TARGET
{
  local err=$tmpdir/dd.err
  dd if=/dev/zero of="$1" bs=1M count=1024 conv=fsync,notrunc 2>"$err" || {
    tail -2 "$err" >&2
    return 1
  }
  # "1073741824 bytes (1.1 GB, 1.0 GiB) copied, 2.5 s, 430 MB/s"
  "$PY" -c '
import re, sys
m = re.search(r"^(\d+) bytes .* copied, ([0-9.e+-]+) s", open(sys.argv[1]).read(), re.M)
if not m or int(m.group(1)) != 1 << 30:
    sys.exit("dd: unexpected output")
print("%.0f" % (int(m.group(1)) / float(m.group(2)) / 1e6))
' "$err"
}

# shellcheck disable=SC2317  # called by the job_* functions
fio_run ()   # TARGET NAME KIND [FIO ARGS...]: KIND iops or mbs
{
  local t=$1 name=$2 kind=$3 json=$tmpdir/fio.json
  shift 3
  "$FIO" --name="$name" --filename="$t" --ioengine=psync --iodepth=1 \
    --numjobs=1 --allow_file_create=0 --fallocate=none --invalidate=1 \
    "$@" --output-format=json --output="$json" >"$tmpdir/fio.out" 2>&1 || {
    tail -3 "$tmpdir/fio.out" >&2
    return 1
  }
  "$PY" -c '
import json, sys
s = open(sys.argv[1]).read()
job = json.loads(s[s.index("{"):])["jobs"][0]
if job["error"]:
    sys.exit("fio job error %d" % job["error"])
io = job["write"] if job["write"]["total_ios"] else job["read"]
if io["total_ios"] == 0:
    sys.exit("fio: no I/O completed")
print("%.0f" % (io["iops"] if sys.argv[2] == "iops" else io["bw_bytes"] / 1e6))
' "$json" "$kind"
}

# shellcheck disable=SC2317  # called as "job_$j"
job_rw ()
{
  fio_run "$1" randwrite iops --rw=randwrite --bs=4k --norandommap \
    --size="${BENCH_IMAGE_MB}M" --runtime="$BENCH_SECONDS" --time_based
}

# shellcheck disable=SC2317  # called as "job_$j"
job_rw_fsync ()
{
  fio_run "$1" randwrite-fsync32 iops --rw=randwrite --bs=4k --norandommap \
    --fsync=32 --size="${BENCH_IMAGE_MB}M" --runtime="$BENCH_SECONDS" \
    --time_based
}

# shellcheck disable=SC2317  # called as "job_$j"
job_read ()
{
  fio_run "$1" seqread mbs --rw=read --bs=1M --size=1024M \
    --runtime="$BENCH_SECONDS"
}

contenders=(plain nbdfuse wcache)
declare -A clabel=(
  [plain]="plain file"
  [nbdfuse]="nbdfuse"
  [wcache]="wcache-fuse"
)
jobs=(dd rw rw_fsync read)
declare -A jlabel=(
  [dd]="dd 1M conv=fsync (MB/s)"
  [rw]="fio randwrite 4k psync (IOPS)"
  [rw_fsync]="fio randwrite 4k fsync=32 (IOPS)"
  [read]="seq read 1M (MB/s)"
)

declare -A result
failed=()

# ---- Run ----------------------------------------------------------------

fstype=$(df --output=fstype "$tmpdir" 2>/dev/null | tail -1)
echo "wcache FUSE bench: one image, three ways; fio jobs ${BENCH_SECONDS}s each"
echo "machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1))," \
     "$(uname -sr), $("$FIO" --version), $("$NBDKIT" --version | head -1)," \
     "$("$NBDFUSE" --version 2>/dev/null | head -1)"
echo "image: $image, ${BENCH_IMAGE_MB} MiB on $fstype, written in full first" \
     "(no contender pays for block allocation)"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) at the start (other work on the machine" \
     "skews the figures)"
if [ $dropped = yes ]; then
  echo "caches: each job starts after fsync of the target, sync and drop_caches"
else
  echo "caches: NOT dropped between jobs (not root): reads may come from the" \
       "page cache"
fi

dd if=/dev/zero of="$image" bs=1M count="$BENCH_IMAGE_MB" conv=fsync \
  status=none || die "cannot write $image"

for c in "${contenders[@]}"; do
  if ! start "$c"; then
    failed+=("${clabel[$c]}: $why")
    stop_all
    continue
  fi
  echo "running: ${clabel[$c]} ($target)"
  for j in "${jobs[@]}"; do
    settle "$target"
    if v=$("job_$j" "$target" 2>"$tmpdir/job.err") && [[ $v =~ ^[0-9]+$ ]]; then
      result[$c.$j]=$v
    else
      failed+=("${clabel[$c]}, ${jlabel[$j]}: $(tr '\n' ' ' <"$tmpdir/job.err")")
    fi
  done
  stop_all
done
echo

ratio ()   # A B: A / B as "1.23x", or "-"
{
  if [ -n "${1:-}" ] && [ -n "${2:-}" ] && [ "$2" -gt 0 ]; then
    "$PY" -c 'import sys; print("%.2fx" % (float(sys.argv[1]) / float(sys.argv[2])))' "$1" "$2"
  else
    echo "-"
  fi
}

printf '  %-34s %11s %11s %11s %11s %11s\n' "job" "plain file" "nbdfuse" \
  "wcache-fuse" "wc/nbdfuse" "wc/plain"
for j in "${jobs[@]}"; do
  p=${result[plain.$j]:-} n=${result[nbdfuse.$j]:-} w=${result[wcache.$j]:-}
  printf '  %-34s %11s %11s %11s %11s %11s\n' "${jlabel[$j]}" "${p:--}" \
    "${n:--}" "${w:--}" "$(ratio "$w" "$n")" "$(ratio "$w" "$p")"
done
echo

verdict ()   # RATIO TARGET
{
  case $1 in
    -) echo "n/a" ;;
    *) "$PY" -c 'import sys; r = float(sys.argv[1].rstrip("x"))
print("%s (%s)" % ("PASS" if r >= float(sys.argv[2]) else "MISS", sys.argv[1]))' \
         "$1" "$2" ;;
  esac
}
echo "target: randwrite fsync=32 >= ${T_FSYNC}x nbdfuse:" \
     "$(verdict "$(ratio "${result[wcache.rw_fsync]:-}" "${result[nbdfuse.rw_fsync]:-}")" $T_FSYNC)"
echo "target: randwrite no fsync well above nbdfuse (>= ${T_NOFSYNC}x):" \
     "$(verdict "$(ratio "${result[wcache.rw]:-}" "${result[nbdfuse.rw]:-}")" $T_NOFSYNC)"
echo "target: dd conv=fsync >= ${T_DD}x plain file:" \
     "$(verdict "$(ratio "${result[wcache.dd]:-}" "${result[plain.dd]:-}")" $T_DD)"
echo "(informational: a MISS does not fail the build; load at the end:" \
     "$(cut -d' ' -f1-3 /proc/loadavg))"

if [ ${#failed[@]} -gt 0 ]; then
  echo >&2
  echo "bench-fuse: FAILED runs:" >&2
  for f in "${failed[@]}"; do echo "  $f" >&2; done
  exit 1
fi
exit 0
