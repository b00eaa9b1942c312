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

# cycle OPTIONS...: one run; its output in $out (also shown), its status
# in $rc.
cycle ()
{
  out=$(TMPDIR=$tmpdir timeout 120 "$guest" run "$@" 2>&1)
  rc=$?
  echo "$out" | sed 's/^/# /'
}

# 1. wcache unsafe + fsync on ext4, told (wrongly) that it is safe: the
#    harness must report the loss and fail the run.
cycle --workload=fsync --fs=ext4 \
        --wcache-mode=unsafe --cut=records:15 --policy=lose --seed=4242 --expect=safe
check "unsafe+fsync: verdict is loss detected" [ "$(field outcome)" = LOSS_DETECTED ]
check "unsafe+fsync: acknowledged records were counted lost" [ "$(field lost)" -gt 0 ]
check "unsafe+fsync: the run fails when safety was expected (rc=$rc)" [ "$rc" = 1 ]
check "unsafe+fsync: the verdict line says so" grep -q '^verdict: LOSS DETECTED; correct=NO' <<<"$out"
check "unsafe+fsync: prints the seed and a reproducer" \
  grep -q '^reproduce: tools/wcache-guest run .*--seed=4242' <<<"$out"

# 2. raw disk, sync only, lose cut: every acknowledged record is lost.
cycle --workload=sync --fs=raw \
        --cut=records:15 --policy=lose --seed=4343
check "raw sync-only + lose: verdict is loss detected" [ "$(field outcome)" = LOSS_DETECTED ]
lost=$(field lost) acked=$(field acked)
check "raw sync-only + lose: every acknowledged record is lost ($lost of $acked)" \
  test "${lost:-0}" -gt 0 -a "$lost" = "$acked"
check "raw sync-only + lose: expected loss, so the run succeeds (rc=$rc)" [ "$rc" = 0 ]

# 3. the control of the control: the same raw sync-only workload with
#    `keep` (a clean power loss) loses nothing.
cycle --workload=sync --fs=raw \
        --cut=records:15 --policy=keep --seed=4444
check "raw sync-only + keep: no loss" [ "$(field outcome)" = no_loss ]
check "raw sync-only + keep: run succeeds (rc=$rc)" [ "$rc" = 0 ]

# 4. SQLite's safest setting on a disk that drops flushes (wcache unsafe),
#    told it is safe: the host's SQLite check must find the lost rows.
cycle --workload=sqlite --sqlite=wal:full \
        --fs=ext4 --wcache-mode=unsafe --cut=records:15 --policy=lose --seed=4545 --expect=safe
check "sqlite wal:full on unsafe: verdict is loss detected" [ "$(field outcome)" = LOSS_DETECTED ]
check "sqlite wal:full on unsafe: rows counted lost ($(field lost))" [ "$(field lost)" -gt 0 ]
check "sqlite wal:full on unsafe: the run fails when safety was expected (rc=$rc)" [ "$rc" = 1 ]

# 5. The EIO window: the disk fails and the guest runs on for 1 s.  The
#    fsync workload sees the error and announces nothing more; the sync
#    workload uses sync(2), which cannot report it: records announced
#    after the disk failed are lost, an error-handling finding (exit 3),
#    with the guest kernel's messages.
cycle --workload=fsync --fs=ext4 \
        --cut=records:15 --policy=lose --eio-window=1000 --seed=4646
check "eio window, fsync: no loss, no finding (rc=$rc)" \
  eval '[ "$rc" = 0 ] && [ "$(field outcome)" = no_loss ] && [ "$(field finding)" = no ]'
check "eio window, fsync: nothing lost that was announced after the disk failed" [ "$(field late_lost)" = 0 ]
cycle --workload=sync --fs=ext4 \
        --cut=records:15 --policy=lose --eio-window=1000 --seed=4747
check "eio window, sync(2): records announced after the disk failed were lost ($(field late_lost))" \
  [ "$(field late_lost)" -gt 0 ]
check "eio window, sync(2): reported as an error-handling finding, exit 3 (rc=$rc)" \
  eval '[ "$rc" = 3 ] && [ "$(field finding)" = yes ] && grep -q "^error handling: FINDING" <<<"$out"'
check "eio window, sync(2): the power-loss verdict stays correct" [ "$(field correct)" = yes ]
check "eio window, sync(2): the guest kernel's I/O errors are shown" \
  grep -q "^  console: .*I/O error" <<<"$out"

# 6. What run refuses before it boots anything (exit 2, saying why).
refused ()
{
  local want=$1
  shift
  out=$("$guest" "$@" 2>&1)
  rc=$?
  [ "$rc" = 2 ] && grep -q -- "$want" <<<"$out"
}
check "--workload=sqlite on a raw disk is refused" \
  refused "needs a filesystem" run --workload=sqlite --fs=raw
check "--sqlite=bogus is refused, naming the choices" \
  refused "JOURNAL:SYNC" run --workload=sqlite --fs=ext4 --sqlite=wal:bogus
check "--git-fsync=bogus is refused" refused "bad --git-fsync" run --workload=git --fs=ext4 --git-fsync=bogus
check "--fs=zfs is refused, naming the filesystems" refused "raw, ext4, xfs or btrfs" run --fs=zfs
check "--eio-window is an option of run only" refused "an option of run" explore --eio-window=100
check "--eio-window=0 is refused" refused "bad --eio-window" run --eio-window=0
done_testing
