#!/bin/bash
# wcache benchmark: the same fio job against nbdkit's memory plugin alone,
# behind wcache (writeback, writethrough, writeback with the write log) and
# behind nbdkit's own cache filter, in one run.  Results are ratios to the
# bare plugin; the write log's also to writeback without it.  Then the cost
# of a flush with and without the log, beside one fdatasync of a file where
# the log lives.
#
#   make bench                    (or: WCACHE_FILTER=... bash bench/bench-fio.sh)
#
# Job: ioengine=nbd, rw=randwrite, bs=4k, iodepth=16, numjobs=1 (one NBD
# connection), time_based, size = the whole disk.
#
# A small VM's throughput drifts by 20% from one run to the next, so the
# contenders run in rounds, each round in a rotated order, and each ratio
# is the median over the rounds of the contender's IOPS divided by the bare
# plugin's IOPS in the same round.  The table also shows nbdkit's CPU time
# per write (user + system, median over the rounds): what the filter costs,
# less sensitive to the VM's drift than IOPS.
#
# Environment:
#   BENCH_RUNTIME   seconds per contender and round (default 10)
#   BENCH_ROUNDS    rounds (default 3)
#   BENCH_SIZE      disk size (default 1G; the memory plugin is sparse)
#   WCACHE_FILTER   the filter .so (default ../plugin/.libs/... from here)
#   NBDKIT, FIO     the programs (default nbdkit, fio)
#
# The figures are informational: the target line says PASS or MISS but the
# script exits 0 unless a server or fio failed.

# `make bench` runs this with /bin/sh: re-exec under bash.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"

set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${WCACHE_FILTER:=$here/../plugin/.libs/nbdkit-wcache-filter.so}"
: "${NBDKIT:=nbdkit}"
: "${FIO:=fio}"
: "${BENCH_RUNTIME:=10}"
: "${BENCH_ROUNDS:=3}"
: "${BENCH_SIZE:=1G}"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
TARGET=0.90

die ()
{
  echo "bench: FAILED: $*" >&2
  exit 1
}

case $BENCH_RUNTIME in
  ''|*[!0-9]*|0) die "BENCH_RUNTIME must be a positive number of seconds" ;;
esac
case $BENCH_ROUNDS in
  ''|*[!0-9]*|0) die "BENCH_ROUNDS must be a positive number" ;;
esac
[ -f "$WCACHE_FILTER" ] ||
  die "no filter at $WCACHE_FILTER (build it: make plugin/nbdkit-wcache-filter.la)"
command -v "$NBDKIT" >/dev/null 2>&1 || die "nbdkit is not installed"
command -v "$FIO" >/dev/null 2>&1 || die "fio is not installed"
"$FIO" --enghelp=nbd >/dev/null 2>&1 || die "$FIO has no nbd ioengine"

tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/wcache-bench.XXXXXX") ||
  die "cannot create a temporary directory"
current_pid=

stop_server ()
{
  local pid=$current_pid
  [ -n "$pid" ] || return 0
  current_pid=
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "bench: nbdkit pid $pid ignored SIGTERM for 10 s, killing it" >&2
  kill -9 "$pid" 2>/dev/null
}

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup ()
{
  stop_server
  rm -rf "$tmpdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Contenders: key, label and nbdkit arguments (after -U/-P).
keys=(a b c d e f)
declare -A label
label[a]="memory plugin alone"
label[b]="wcache writeback, 256M cache"
label[c]="wcache writethrough"
label[d]="nbdkit cache filter"
label[e]="wcache writeback, 2G cache"
label[f]="wcache writeback, 256M, write log"


args_of ()   # KEY: sets the array a
{
  local w=(--filter="$WCACHE_FILTER" memory "$BENCH_SIZE")
  case $1 in
    a) a=(memory "$BENCH_SIZE") ;;
    b) a=("${w[@]}" wcache-mode=writeback) ;;
    c) a=("${w[@]}" wcache-mode=writethrough) ;;
    d) a=(--filter=cache memory "$BENCH_SIZE") ;;
    e) a=("${w[@]}" wcache-mode=writeback wcache-size=2G) ;;
    # The log on a local file, removed after each run (it grows by 4.5K
    # per write).
    f) a=("${w[@]}" wcache-mode=writeback wcache-log="$tmpdir/wlog") ;;
  esac
}

failed=()
results=$tmpdir/results      # lines: KEY ROUND IOPS MIB/S CPU-US-PER-WRITE
CLK_TCK=$(getconf CLK_TCK)

# run_one KEY ROUND: appends a line to $results, or records a failure.
run_one ()
{
  local k=$1 round=$2
  local sock="$tmpdir/$k.$round.sock" pidfile="$tmpdir/$k.$round.pid"
  local err="$tmpdir/$k.$round.nbdkit.err" json="$tmpdir/$k.$round.fio.json"
  local out
  local -a a
  args_of "$k"

  # TMPDIR: where nbdkit's cache filter puts its (unlinked) cache file.
  TMPDIR=$tmpdir "$NBDKIT" -U "$sock" -P "$pidfile" "${a[@]}" 2>"$err" || {
    failed+=("($k) ${label[$k]}: nbdkit did not start: $(tr '\n' ' ' <"$err")")
    return
  }
  for _ in $(seq 1 100); do
    [ -s "$pidfile" ] && [ -S "$sock" ] && break
    sleep 0.05
  done
  [ -s "$pidfile" ] || {
    failed+=("($k) ${label[$k]}: nbdkit wrote no pid file: $(tr '\n' ' ' <"$err")")
    return
  }
  current_pid=$(cat "$pidfile")

  "$FIO" --name=randwrite --ioengine=nbd \
    --uri="nbd+unix:///?socket=$sock" \
    --rw=randwrite --bs=4k --iodepth=16 --numjobs=1 \
    --size="$BENCH_SIZE" --runtime="$BENCH_RUNTIME" --time_based \
    --output-format=json --output="$json" \
    >"$tmpdir/$k.$round.fio.out" 2>"$tmpdir/$k.$round.fio.err"
  local rc=$?
  # nbdkit's CPU time (user + system clock ticks), a steadier figure than
  # IOPS on a busy VM.
  local ticks
  ticks=$(awk '{ print $14 + $15 }' "/proc/$current_pid/stat" 2>/dev/null)

  if ! kill -0 "$current_pid" 2>/dev/null; then
    current_pid=
    failed+=("($k) ${label[$k]}: nbdkit died during the run (fio rc=$rc): $(tail -5 "$err" | tr '\n' ' ')")
    return
  fi
  stop_server
  rm -f "$tmpdir/wlog"

  # fio's nbd engine may print a line before the JSON; start at the first {.
  out=$("$PY" -c '
import json, sys
s = open(sys.argv[1]).read()
j = json.loads(s[s.index("{"):])
job = j["jobs"][0]
if job["error"]:
    sys.exit("fio job error %d" % job["error"])
w = job["write"]
if w["total_ios"] == 0:
    sys.exit("no writes completed")
print("%.0f %.1f %.2f" % (w["iops"], w["bw_bytes"] / 1048576,
                         float(sys.argv[2]) / float(sys.argv[3]) * 1e6
                         / w["total_ios"]))
' "$json" "${ticks:-0}" "$CLK_TCK" 2>&1)
  if [ $rc -ne 0 ] || ! [[ $out =~ ^[0-9]+\ [0-9.]+\ [0-9.]+$ ]]; then
    failed+=("($k) ${label[$k]}: fio rc=$rc: $out $(tail -3 "$tmpdir/$k.$round.fio.err" | tr '\n' ' ')")
    return
  fi
  echo "$k $round $out" >>"$results"
}

echo "wcache bench: fio randwrite bs=4k iodepth=16, 1 job, 1 connection," \
     "${BENCH_RUNTIME}s per contender, $BENCH_ROUNDS rounds"
echo "machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1))," \
     "$(uname -sr), $("$NBDKIT" --version | head -1), $("$FIO" --version)"
echo "disk: nbdkit memory $BENCH_SIZE (sparse, RAM); wcache default block 4K"
echo

: >"$results"
for round in $(seq 1 "$BENCH_ROUNDS"); do
  # Rotate the order so no contender always runs first or last.
  n=${#keys[@]}
  for j in $(seq 0 $((n - 1))); do
    k=${keys[$(((j + round - 1) % n))]}
    run_one "$k" "$round"
  done
done

labels=$(for k in "${keys[@]}"; do echo "$k ${label[$k]}"; done)
"$PY" - "$results" "$TARGET" "$labels" <<'PYEOF'
import statistics, sys

results, target, labels = sys.argv[1], float(sys.argv[2]), sys.argv[3]
keys, label = [], {}
for line in labels.splitlines():
    k, l = line.split(" ", 1)
    keys.append(k)
    label[k] = l
runs = {}                       # (key, round) -> (iops, mib/s, cpu us/write)
for line in open(results):
    k, r, iops, mibs, cpu = line.split()
    runs[(k, int(r))] = (float(iops), float(mibs), float(cpu))
rounds = sorted({r for _, r in runs})

def ratios(k):
    return [runs[(k, r)][0] / runs[("a", r)][0] for r in rounds
            if (k, r) in runs and ("a", r) in runs and runs[("a", r)][0] > 0]

print("  %-34s %9s %8s %9s %8s  %s" % ("contender", "IOPS", "MiB/s",
                                        "CPU/write", "vs bare", "per round"))
for k in keys:
    mine = [runs[(k, r)] for r in rounds if (k, r) in runs]
    name = "(%s) %s" % (k, label[k])
    if not mine:
        print("  %-34s %9s %8s %9s %8s" % (name, "FAILED", "-", "-", "-"))
        continue
    rs = ratios(k)
    print("  %-34s %9.0f %8.1f %7.2fus %8s  %s" % (
        name, statistics.median(x[0] for x in mine),
        statistics.median(x[1] for x in mine),
        statistics.median(x[2] for x in mine),
        "%.2fx" % statistics.median(rs) if rs else "-",
        " ".join("%.2f" % x for x in rs)))
print()
print("CPU/write: nbdkit's user + system time over its whole run, per write.")

def verdict(k):
    rs = ratios(k)
    if not rs:
        return "n/a"
    m = statistics.median(rs)
    return "%s (%.2fx)" % ("PASS" if m >= target else "MISS", m)

print("target: writeback >= %.2fx of bare plugin: %s [2G cache, never full: %s]"
      % (target, verdict("b"), verdict("e")))
lr = [runs[("f", r)][0] / runs[("b", r)][0] for r in rounds
      if ("f", r) in runs and ("b", r) in runs and runs[("b", r)][0] > 0]
if lr:
    m = statistics.median(lr)
    print("target: writeback with the write log >= 0.70x of writeback without"
          " it (same rounds): %s (%.2fx; per round %s)"
          % ("PASS" if m >= 0.70 else "MISS", m,
             " ".join("%.2f" % x for x in lr)))
print("(informational: a MISS does not fail the build)")
PYEOF

# ---- The cost of a flush with the log ----------------------------------
# One writer, a flush after every write (fio fsync=1, iodepth 1): the mean
# flush latency without and with the log, and one fdatasync of a file
# where the log lives, after appending what the log appends per flush (a
# 4K write's entry and the FLUSH entry, 5K) and rewriting its superblock.
flush_lat ()   # KEY: prints the mean flush latency in us, or nothing
{
  local k=$1 sock="$tmpdir/flush-$1.sock" pidfile="$tmpdir/flush-$1.pid"
  local -a a
  args_of "$k"
  "$NBDKIT" -U "$sock" -P "$pidfile" "${a[@]}" 2>/dev/null || return
  for _ in $(seq 1 100); do
    [ -s "$pidfile" ] && [ -S "$sock" ] && break
    sleep 0.05
  done
  current_pid=$(cat "$pidfile")
  "$FIO" --name=flush --ioengine=nbd --uri="nbd+unix:///?socket=$sock"     --rw=randwrite --bs=4k --iodepth=1 --fsync=1 --size="$BENCH_SIZE"     --runtime=$(( (BENCH_RUNTIME + 1) / 2 )) --time_based     --output-format=json --output="$tmpdir/flush-$k.json" >/dev/null 2>&1
  stop_server
  rm -f "$tmpdir/wlog"
  "$PY" -c '
import json, sys
s = open(sys.argv[1]).read()
j = json.loads(s[s.index("{"):])["jobs"][0]
print("%.1f" % (j["sync"]["lat_ns"]["mean"] / 1000))
' "$tmpdir/flush-$k.json" 2>/dev/null
}
lat_b=$(flush_lat b)
lat_f=$(flush_lat f)
sync_us=$("$PY" -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
n, t = 200, 0.0
os.pwrite(fd, b"x" * 512, 0)
for i in range(n):
    os.pwrite(fd, b"x" * 5120, 512 + i * 5120)
    os.pwrite(fd, b"x" * 512, 0)
    t0 = time.perf_counter()
    os.fdatasync(fd)
    t += time.perf_counter() - t0
os.close(fd)
os.unlink(sys.argv[1])
print("%.1f" % (t / n * 1e6))
' "$tmpdir/sync-probe")
echo
if [ -n "$lat_b" ] && [ -n "$lat_f" ]; then
  echo "flush latency (fio fsync=1, iodepth 1): ${lat_b}us without the log,"        "${lat_f}us with it; one fdatasync where the log lives: ${sync_us}us"
  "$PY" -c '
import sys
b, f, s = map(float, sys.argv[1:4])
print("target: a flush costs at most one log fdatasync more (1.5x allowed for noise): %s (+%.1fus, fdatasync %.1fus)"
      % ("PASS" if f - b <= s * 1.5 else "MISS", f - b, s))
' "$lat_b" "$lat_f" "$sync_us"
else
  failed+=("flush latency: fio with fsync=1 failed")
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo >&2
  echo "bench: FAILED runs:" >&2
  for f in "${failed[@]}"; do echo "  $f" >&2; done
  exit 1
fi
exit 0
