#!/usr/bin/env bash
# wcache-crash --check=records: the guest harness's self-identifying
# records (tools/guest/lib.sh: record N is 64 lines "WCREC seed=S rec=N
# ..." at 1 MiB + N * 4 KiB of the raw disk), with a MARK "record N" put
# in the log the moment record N is durable.  Every record whose MARK
# precedes the crash point must read back exactly.  Written with a flush
# before each MARK (fsync), no state loses a record (S3); marked durable
# without a flush (a raw disk's sync), states lose them, reported as the
# harness does (missing, torn, stale).

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/crash-functions.sh"
requires_crash

T=$tmpdir
for wl in fsync sync; do
  log_through_wcache "$wl" 4M "
seed = 4242
def record(n):
    line = b'WCREC seed=%010u rec=%08u ' % (seed, n) + b'.' * 28 + b'\n'
    return line * 64
for n in range(1, 13):
    h.pwrite(record(n), 1048576 + n * 4096)
    if '$wl' == 'fsync':
        h.flush()
    ctl('mark record %d' % n)
"
done

crash explore "$T/fsync.log" --base "$T/fsync.base" --check records --keep-going > "$T/fsync.out" 2>&1
rc=$?
check "S3 fsync: every marked record reads back in every state (exit 0)" test $rc = 0
check "fsync: crash points after each MARK were explored" \
  grep -q '^explored: 2[0-9] states: 2[0-9] consistent, 0 inconsistent' "$T/fsync.out"

crash explore "$T/sync.log" --base "$T/sync.base" --check records --keep-going > "$T/sync.out" 2>&1
rc=$?
check "sync without flush: marked records lost (exit 1)" test $rc = 1
check "sync: the first record missing right after its MARK (e0.p2.knone)" \
  grep -q '^INCONSISTENT e0\.p2\.knone: records: record 1 missing; 1 of 1 records marked durable lost' "$T/sync.out"

crash explore "$T/sync.log" --base "$T/sync.base" --check records --keep-going \
  --torn 512 --to-mark 'record 1' > "$T/torn.out" 2>&1
check "sync, 512-byte units: a record half written is reported torn" \
  grep -q 'records: record 1 torn' "$T/torn.out"
check "--to-mark: only crash points up to just after the MARK" \
  grep -q '^states: 2 enumerated' <(crash info --to-mark 'record 1' "$T/sync.log")

crash explore "$T/fsync.log" --base "$T/fsync.base" --check records --records-seed 7 > "$T/seed.out" 2>&1
rc=$?
check "the wrong --records-seed: another run's records are stale" \
  eval 'test $rc = 1 && grep -q "record 1 stale" "$T/seed.out"'
crash explore "$T/fsync.log" --base "$T/fsync.base" --check records --records-offset 2M > "$T/off.out" 2>&1
rc=$?
check "the wrong --records-offset: refused before exploring" \
  eval 'test $rc = 2 && grep -q "no copy of record 1" "$T/off.out"'

# Records and a command together: both must pass, the command gets the
# marks before the crash point in a file.
cat > "$T/marks-check" <<'EOS'
#!/bin/sh
n=$(wc -l < "$WCACHE_CRASH_MARKS")
tail -n 1 "$WCACHE_CRASH_MARKS" >> "$SEEN"
[ "$n" -le 12 ]
EOS
chmod +x "$T/marks-check"
SEEN=$T/marks.seen crash explore "$T/fsync.log" --base "$T/fsync.base" \
  --check records --check "$T/marks-check" --keep-going > "$T/both.out" 2>&1
rc=$?
check "records and a command: exit 0" test $rc = 0
check "the command sees the MARKs in order: the last is the crash point's" \
  grep -qx 'record 12' "$T/marks.seen"

# A log without "record N" marks: nothing to check, seed given or not.
log_through_wcache nomarks 4M "
h.pwrite(b'x' * 4096, 1048576 + 4096)
h.flush()
ctl('mark not a record')
"
for seed in "" "--records-seed 4242"; do
  # shellcheck disable=SC2086
  crash explore "$T/nomarks.log" --base "$T/nomarks.base" --check records $seed > "$T/nomarks.out" 2>&1
  rc=$?
  check "no record marks${seed:+ ($seed)}: refused, nothing to check (exit 2)" \
    eval 'test $rc = 2 && grep -q "has no MARK \"record N\": nothing to check" "$T/nomarks.out"'
done

done_testing
