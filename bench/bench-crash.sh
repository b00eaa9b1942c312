#!/usr/bin/env bash
# wcache-crash speed (not a test: figures to read).
#
#   make bench-crash        or   WCACHE_FILTER=... WCACHE_CRASH=... bench/bench-crash.sh
#
# A 64 MiB raw disk gets the guest harness's records through nbdkit +
# wcache with the write log on: RECORDS records of 4 KiB, a FLUSH after
# every BATCH of them, then a MARK "record N" for each (a guest that
# syncs in batches), so each epoch has 2^BATCH states at its end and a
# crash point after each MARK: every state is consistent.  Then:
#   1. states/s with --check=records (no I/O in the checker), -j 1 and -j 2;
#   2. the per-state overhead beyond an external checker: --check=/bin/true
#      against the same number of bare posix_spawn + wait of /bin/true;
#   3. the plan alone (fingerprints and dedupe) on the same log.
set -euo pipefail

: "${NBDKIT:=nbdkit}"
here=$(cd "$(dirname "$0")/.." && pwd)
: "${WCACHE_FILTER:=$here/plugin/.libs/nbdkit-wcache-filter.so}"
: "${WCACHE_CRASH:=$here/tools/wcache-crash}"
RECORDS=${RECORDS:-2000}
BATCH=${BATCH:-5}
T=$(mktemp -d "${TMPDIR:-/tmp}/bench-crash.XXXXXX")
trap '[ -s "$T/pid" ] && kill "$(cat "$T/pid")" 2>/dev/null; rm -rf "$T"' EXIT

truncate -s 64M "$T/base"
"$NBDKIT" -U "$T/sock" -P "$T/pid" --filter="$WCACHE_FILTER" memory 64M \
  wcache-log="$T/log" wcache-control="$T/ctl"
for _ in $(seq 1 100); do [ -S "$T/sock" ] && [ -S "$T/ctl" ] && break; sleep 0.05; done
T=$T RECORDS=$RECORDS BATCH=$BATCH PATH=/usr/bin:$PATH nbdsh -u "nbd+unix:///?socket=$T/sock" -c '
import os, socket
T = os.environ["T"]
c = socket.socket(socket.AF_UNIX)
c.connect(T + "/ctl")
f = c.makefile("rw")
def ctl(line):
    f.write(line + "\n"); f.flush()
    assert f.readline().startswith("ok")
seed = 1234
for n in range(1, int(os.environ["RECORDS"]) + 1):
    line = b"WCREC seed=%010u rec=%08u " % (seed, n) + b"." * 28 + b"\n"
    h.pwrite(line * 64, 1048576 + n * 4096)
    b = int(os.environ["BATCH"])
    if n % b == 0:
        h.flush()
        for m in range(n - b + 1, n + 1):
            ctl("mark record %d" % m)
'
kill "$(cat "$T/pid")"
for _ in $(seq 1 100); do kill -0 "$(cat "$T/pid")" 2>/dev/null || break; sleep 0.05; done
rm -f "$T/pid"

echo "log: $RECORDS records on a 64 MiB disk, a FLUSH every $BATCH, then a MARK each"
"$WCACHE_CRASH" info "$T/log" | grep -E '^(entries|states|crash_points|epochs)'

rate () { sed -n 's/^time: \([0-9.]*\) s (plan \([0-9.]*\) s), \([0-9]*\) states\/s/\3 states\/s (explore \1 s, plan \2 s)/p'; }
for j in 1 2; do
  "$WCACHE_CRASH" explore "$T/log" --base "$T/base" --check records -j $j \
    --keep-going --no-progress > "$T/rec$j.out" || { cat "$T/rec$j.out"; exit 1; }
  echo "records, -j $j: $(rate < "$T/rec$j.out")"
done

# The per-state overhead beyond the checker's own run: a slice of the
# same states with /bin/true, against as many bare spawns of /bin/true,
# alternated three times (the best of each: spawn times on a shared
# machine wander).
slice=(--to-mark "record $((RECORDS / 8))" --keep-going --no-progress)
best_ours="" best_spawn=""
for _ in 1 2 3; do
  "$WCACHE_CRASH" explore "$T/log" --base "$T/base" --check /bin/true \
    "${slice[@]}" > "$T/true.out"
  n=$(sed -n 's/^explored: \([0-9]*\) states.*/\1/p' "$T/true.out")
  secs=$(sed -n 's/^time: \([0-9.]*\) s.*/\1/p' "$T/true.out")
  spawn=$(/usr/bin/python3 -c '
import os, sys, time
n = int(sys.argv[1])
t = time.monotonic()
for i in range(n):
    pid = os.posix_spawn("/bin/true", ["/bin/true"], os.environ)
    os.waitpid(pid, 0)
print(time.monotonic() - t)' "$n")
  best_ours=$(/usr/bin/python3 -c 'import sys; a = sys.argv[1:]; print(min(float(x) for x in a if x))' "$secs" $best_ours)
  best_spawn=$(/usr/bin/python3 -c 'import sys; a = sys.argv[1:]; print(min(float(x) for x in a if x))' "$spawn" $best_spawn)
done
/usr/bin/python3 -c '
import sys
n, secs, spawn = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print("/bin/true as checker: %d states, best of 3: %.3f ms/state; bare posix_spawn+wait of /bin/true: %.3f ms; overhead: %.3f ms/state"
      % (n, secs / n * 1e3, spawn / n * 1e3, (secs - spawn) / n * 1e3))' "$n" "$best_ours" "$best_spawn"
for j in 1 2; do
  "$WCACHE_CRASH" explore "$T/log" --base "$T/base" --check /bin/true -j $j \
    "${slice[@]}" > "$T/true$j.out"
  echo "/bin/true, -j $j: $(rate < "$T/true$j.out")"
done
