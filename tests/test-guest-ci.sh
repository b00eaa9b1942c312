#!/usr/bin/env bash
# The CI-sized guest crash matrix: a real Linux guest (TCG) on virtio-blk
# over NBD from nbdkit --filter=wcache, a workload that reports durable
# records on the console, a power cut, a check on the host, on a raw disk,
# ext4, XFS and btrfs, and SQLite.  Each cell
# asserts its expected verdict, including cells that must detect loss.
# About 5 s per cycle; skips if QEMU or the guest packages are missing.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/functions.sh"

. "$top_srcdir/tests/guest-functions.sh"   # builds the guest once

# expected outcome | run options
cells=(
  "no_loss|--workload=fsync --fs=raw --qemu-cache=writeback --cut=records:20 --policy=lose --seed=1001"
  "no_loss|--workload=direct --fs=ext4 --qemu-cache=writeback --cut=flushes:40 --policy=torn --seed=1002"
  "no_loss|--workload=rename --fs=ext4 --qemu-cache=none --cut=random --policy=random --seed=1003"
  "no_loss|--workload=sync --fs=raw --qemu-cache=writeback --guest-switch=cache_type_wt --cut=records:20 --policy=lose --seed=1004"
  "no_loss|--workload=fsync --fs=ext4 --qemu-cache=writethrough --cut=writes:60 --policy=ordered --seed=1005"
  "LOSS_DETECTED|--workload=sync --fs=raw --qemu-cache=writeback --cut=records:20 --policy=lose --seed=1006"
  "LOSS_DETECTED|--workload=fsync --fs=raw --qemu-cache=writeback --guest-switch=write_cache_wt --cut=records:20 --policy=lose --seed=1007"
  "LOSS_DETECTED|--workload=fsync --fs=ext4 --qemu-cache=writeback --wcache-mode=unsafe --cut=records:20 --policy=lose --seed=1008"
  "no_loss|--workload=direct --fs=btrfs --qemu-cache=writeback --cut=flushes:40 --policy=torn --seed=1012"
  "no_loss|--workload=fsync --fs=xfs --qemu-cache=none --cut=writes:60 --policy=random --seed=1013"
  "no_loss|--workload=sqlite --sqlite=wal:full --fs=ext4 --qemu-cache=writeback --cut=records:20 --policy=lose --seed=1014"
)

for cell in "${cells[@]}"; do
  want=${cell%%|*}
  opts=${cell#*|}
  # shellcheck disable=SC2086
  out=$(TMPDIR=$tmpdir timeout 120 "$guest" run $opts 2>&1)
  rc=$?
  echo "$out" | sed 's/^/# /'
  res=$(grep '^RESULT ' <<<"$out")
  got=$(sed -n 's/.* outcome=\([^ ]*\) .*/\1/p' <<<"$res")
  fsck=$(sed -n 's/.* fsck=\([^ ]*\) .*/\1/p' <<<"$res")
  acked=$(sed -n 's/.* acked=\([0-9]*\) .*/\1/p' <<<"$res")
  if [ -n "$res" ] && [ "$got" = "$want" ] && [ "$rc" = 0 ] &&
     [ "${acked:-0}" -gt 0 ] && [ "$fsck" != errors ] && [ "$fsck" != unmountable ]; then
    ok "$want: $opts"
  else
    not_ok "$want (got ${got:-nothing}, rc=$rc, acked=${acked:-?}, fsck=${fsck:-?}): $opts"
  fi
done
done_testing
