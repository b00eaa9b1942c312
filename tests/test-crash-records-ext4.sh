#!/usr/bin/env bash
# wcache-crash --check=records:ext4: the guest harness's records in a file
# of an ext4 filesystem (record N at N * 4 KiB of /records), read through
# a mount of a copy of each state, after the kernel has replayed the
# journal.  The file's blocks are placed by mkfs; the client writes each
# record to the disk block debugfs says holds it (no filesystem code in
# the client, so the test does not depend on how ext4 orders its writes),
# then a MARK "record N".  With a flush before each MARK no state loses a
# record; without one, the states that drop a record's write read the
# block's old content (another run's record: "stale").  The guest harness
# (test-guest-explore.sh) runs the same checker on a real ext4 client.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/crash-functions.sh"
requires_crash
requires_plugin file
requires_cmd mkfs.ext4 debugfs e2fsck
[ "$(id -u)" = 0 ] || skip_all "needs root (loop mounts of each state)"
[ -w /dev/loop-control ] || skip_all "no /dev/loop-control"

T=$tmpdir
# /records: 16 blocks holding another run's records (seed 1), so that a
# lost write reads as old data, not as a hole.
mkdir -p "$T/src"
python3 - "$T/src/records" <<'PY' || bail "cannot write the records file"
import sys
with open(sys.argv[1], "wb") as f:
    for n in range(16):
        line = b'WCREC seed=%010u rec=%08u ' % (1, n) + b'.' * 28 + b'\n'
        f.write(line * 64)
PY
mkfs.ext4 -q -F -b 4096 -d "$T/src" "$T/fs.img" 16M || bail "mkfs.ext4 failed"
blocks=$(for n in $(seq 1 12); do debugfs -R "bmap /records $n" "$T/fs.img" 2>/dev/null; done | tr '\n' ' ')
[ "$(wc -w <<<"$blocks")" = 12 ] || bail "debugfs bmap gave: $blocks"

for wl in fsync sync; do
  log_through_wcache "$wl" 16M "
seed = 4242
blocks = [int(b) for b in '$blocks'.split()]
def record(n):
    line = b'WCREC seed=%010u rec=%08u ' % (seed, n) + b'.' * 28 + b'\n'
    return line * 64
for n in range(1, 13):
    h.pwrite(record(n), blocks[n - 1] * 4096)
    if '$wl' == 'fsync':
        h.flush()
    ctl('mark record %d' % n)
" "$T/fs.img"
done

crash explore "$T/fsync.log" --base "$T/fsync.base" --check records:ext4 \
  --keep-going > "$T/fsync.out" 2>&1
rc=$?
check "fsync: every marked record reads back in every state (exit 0)" test $rc = 0
check "fsync: states were explored, all consistent" \
  grep -q '^explored: [1-9][0-9]* states: [1-9][0-9]* consistent, 0 inconsistent' "$T/fsync.out"
check "the seed was found in the log (no --records-seed)" \
  eval '! grep -q "no line of record" "$T/fsync.out"'

crash explore "$T/sync.log" --base "$T/sync.base" --check records:ext4 \
  --keep-going > "$T/sync.out" 2>&1
rc=$?
check "sync without flush: marked records lost (exit 1)" test $rc = 1
check "sync: record 1 reads as the old run's data right after its MARK" \
  grep -q '^INCONSISTENT e0\.p2\.knone: records:ext4: record 1 stale; 1 of 1 records marked durable lost' "$T/sync.out"

# With fsck:ext4 in the same worker directory: both mount their own copy.
crash explore "$T/fsync.log" --base "$T/fsync.base" --check fsck:ext4 \
  --check records:ext4 --records-seed 4242 -j 2 > "$T/both.out" 2>&1
rc=$?
check "fsck:ext4 and records:ext4 together, 2 workers: exit 0" test $rc = 0

crash explore "$T/fsync.log" --base "$T/fsync.base" --check records:ext4 \
  --records-file /nothere --to-mark 'record 1' > "$T/nofile.out" 2>&1
rc=$?
check "--records-file naming no file: the marked record is lost (exit 1)" \
  eval 'test $rc = 1 && grep -q "record 1 missing; 1 of 1 records marked durable lost (no such file)" "$T/nofile.out"'

crash explore "$T/fsync.log" --base "$T/fsync.base" --check records:ext4 \
  --records-seed 7 --to-mark 'record 1' > "$T/seed.out" 2>&1
rc=$?
check "the wrong --records-seed: the records are another run's" \
  eval 'test $rc = 1 && grep -q "record 1 stale" "$T/seed.out"'

crash explore "$T/fsync.log" --base "$T/fsync.base" --check records:zfs > "$T/bad.out" 2>&1
rc=$?
check "records:zfs is refused as a usage error, naming the filesystems" \
  eval 'test $rc = 2 && grep -q "records:zfs: records on a raw disk.*records:btrfs" "$T/bad.out"'

# The same ext4 states read as xfs: every mount is refused, which is
# inconsistent, not a checker error (records:xfs mounts with -t xfs).
if grep -qw xfs /proc/filesystems; then
  crash explore "$T/fsync.log" --base "$T/fsync.base" --check records:xfs \
    > "$T/xfs.out" 2>&1
  rc=$?
  check "records:xfs on an ext4 image: inconsistent (exit 1), the mount refused" \
    eval 'test $rc = 1 && grep -q "records:xfs: mount" "$T/xfs.out"'
else
  skip "records:xfs on an ext4 image" "the kernel has no xfs"
fi

# The image copies and mounts are gone afterwards.
check "no mount left behind" eval '! grep -q "$T" /proc/mounts'
done_testing
