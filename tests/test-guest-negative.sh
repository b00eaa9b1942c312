#!/usr/bin/env bash
# Negative control: the guest harness must be able to fail.  With
# configurations that really lose acknowledged data (wcache in unsafe mode
# under an fsync workload; a raw-disk workload that only calls sync, then
# a `lose` cut), the verdict must be "loss detected" with the lost records
# counted, and the harness's own exit status must say the run matched its
# expectation only when told to expect the loss.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/functions.sh"

. "$top_srcdir/tests/guest-functions.sh"   # builds the guest once

field () { sed -n "s/^RESULT .* $1=\\([^ ]*\\).*/\\1/p" <<<"$out"; }

# 1. wcache unsafe + fsync on ext4, told (wrongly) that it is safe: the
#    harness must report the loss and fail the run.
out=$(TMPDIR=$tmpdir timeout 120 "$guest" run --workload=fsync --fs=ext4 \
        --wcache-mode=unsafe --cut=records:15 --policy=lose --seed=4242 --expect=safe 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
check "unsafe+fsync: verdict is loss detected" [ "$(field outcome)" = LOSS_DETECTED ]
check "unsafe+fsync: acknowledged records were counted lost" [ "$(field lost)" -gt 0 ]
check "unsafe+fsync: the run fails when safety was expected (rc=$rc)" [ "$rc" = 1 ]
check "unsafe+fsync: the verdict line says so" grep -q '^verdict: LOSS DETECTED; correct=NO' <<<"$out"
check "unsafe+fsync: prints the seed and a reproducer" \
  grep -q '^reproduce: tools/wcache-guest run .*--seed=4242' <<<"$out"

# 2. raw disk, sync only, lose cut: every acknowledged record is lost.
out=$(TMPDIR=$tmpdir timeout 120 "$guest" run --workload=sync --fs=raw \
        --cut=records:15 --policy=lose --seed=4343 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
check "raw sync-only + lose: verdict is loss detected" [ "$(field outcome)" = LOSS_DETECTED ]
lost=$(field lost) acked=$(field acked)
check "raw sync-only + lose: every acknowledged record is lost ($lost of $acked)" \
  test "${lost:-0}" -gt 0 -a "$lost" = "$acked"
check "raw sync-only + lose: expected loss, so the run succeeds (rc=$rc)" [ "$rc" = 0 ]

# 3. the control of the control: the same raw sync-only workload with
#    `keep` (a clean power loss) loses nothing.
out=$(TMPDIR=$tmpdir timeout 120 "$guest" run --workload=sync --fs=raw \
        --cut=records:15 --policy=keep --seed=4444 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
check "raw sync-only + keep: no loss" [ "$(field outcome)" = no_loss ]
check "raw sync-only + keep: run succeeds (rc=$rc)" [ "$rc" = 0 ]
done_testing
