#!/usr/bin/env bash
# wcache-guest explore: one real guest run (Linux under TCG on virtio-blk
# over NBD from nbdkit + wcache) with the write log on, a MARK "record N"
# put into the log the moment the console says record N is durable, then
# every crash state of the log checked by wcache-crash (records; on ext4,
# XFS and btrfs also the kernel's journal or log replay and the read-only
# checker).  Correct setups give no
# inconsistent state over everything explored; the negative controls (raw
# writes made "durable" by sync alone, a guest told the cache is write
# through, wcache unsafe) give inconsistent states with rebuild commands
# that rebuild them.  One explore row per filesystem, as in CI.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/functions.sh"

requires_built crash
. "$top_srcdir/tests/guest-functions.sh"   # builds the guest once
crash=$top_builddir/tools/wcache-crash
[ -w /dev/loop-control ] || skip_all "no /dev/loop-control (the ext4 states are mounted)"

field () { sed -n "s/^RESULT .* $1=\\([^ ]*\\).*/\\1/p" <<<"$out"; }

# explore NAME OPTIONS...: runs it, the output in $out, the status in $rc.
explore ()
{
  local name=$1
  shift
  out=$(TMPDIR=$tmpdir WCACHE_GUEST_TIMEOUT=90 timeout 300 "$guest" explore "$@" 2>&1)
  rc=$?
  echo "$out" | grep -vE '^  epoch ' | sed "s/^/# $name: /"
}

# ---- correct setups: every state consistent.
for fs in raw ext4 xfs btrfs; do
  explore "fsync $fs" --workload=fsync --fs=$fs --seed=$((2100 + ${#fs}))
  check "fsync on $fs: every record marked in the log" [ "$(field acked)" = 20 ]
  check "fsync on $fs: states explored, none inconsistent (rc=$rc)" \
    eval '[ "$rc" = 0 ] && [ "$(field states)" -gt 20 ] && [ "$(field inconsistent)" = 0 ]'
  check "fsync on $fs: verdict no loss, correct" grep -q '^verdict: no loss; correct=yes' <<<"$out"
done
check "btrfs states went through fsck and the records in the file" \
  grep -q '^  checks: fsck:btrfs records:btrfs$' <<<"$out"

# ---- negative controls: inconsistent states, found and rebuildable.
explore "raw sync" --workload=sync --fs=raw --seed=2201 --keep-going
check "raw sync: loss detected, as expected (rc=$rc)" \
  eval '[ "$rc" = 0 ] && [ "$(field outcome)" = LOSS_DETECTED ] && [ "$(field expect)" = loss ]'
check "raw sync (--keep-going): most states lose a record" \
  eval '[ "$(field inconsistent)" -gt 10 ] && [ "$(field consistent)" -lt "$(field states)" ]'
bad=$(grep -m1 '^  INCONSISTENT .*record [0-9]* missing' <<<"$out")
state=$(sed -n 's/^  INCONSISTENT \([^:]*\):.*/\1/p' <<<"$bad")
rec=$(sed -n 's/.*records: record \([0-9]*\) missing.*/\1/p' <<<"$bad")
rebuild=$(grep -m1 -A1 -F "INCONSISTENT $state:" <<<"$out" | sed -n 's/^    rebuild: //p')
check "raw sync: each inconsistent state comes with its rebuild command" [ -n "$rebuild" ]
if [ -n "$rebuild" ] && [ -n "$rec" ]; then
  (cd "$tmpdir" && eval "${rebuild/#wcache-crash/\"$crash\"}") >/dev/null 2>&1
  check "the rebuilt state $state has record $rec missing (zeros at its block)" \
    cmp -s -i $(((256 + rec) * 4096)):0 -n 4096 "$tmpdir/$state.img" /dev/zero
else
  not_ok "no inconsistent state with a missing record to rebuild"
fi

explore "no flush" --workload=fsync --fs=raw --guest-switch=write_cache_wt --seed=2202
check "guest told the cache is write through (no flushes): loss detected (rc=$rc)" \
  eval '[ "$rc" = 0 ] && [ "$(field outcome)" = LOSS_DETECTED ]'

explore "unsafe" --workload=fsync --fs=ext4 --wcache-mode=unsafe --seed=2203 --expect=safe
check "wcache unsafe on ext4, wrongly expected safe: loss detected, the run fails (rc=$rc)" \
  eval '[ "$rc" = 1 ] && [ "$(field outcome)" = LOSS_DETECTED ] && grep -q "^verdict: LOSS DETECTED; correct=NO" <<<"$out"'

# ---- your own workload and check script, explored.
ex=$top_srcdir/tools/guest/examples
explore "applog" --script="$ex/applog.sh" --check-script="$ex/applog-check.sh" \
  --fs=ext4 --records=5 --seed=2204
check "applog + its check script on ext4: no state loses a record (rc=$rc)" \
  eval '[ "$rc" = 0 ] && [ "$(field states)" -gt 5 ] && [ "$(field inconsistent)" = 0 ]'
explore "applog unsafe" --script="$ex/applog.sh" --check-script="$ex/applog-check.sh" \
  --fs=ext4 --records=5 --wcache-mode=unsafe --seed=2205
check "applog under wcache unsafe: the check script finds the loss (rc=$rc)" \
  eval '[ "$rc" = 0 ] && [ "$(field outcome)" = LOSS_DETECTED ] && grep -q "record [0-9]* missing" <<<"$out"'

# ---- what explore refuses.
echo 'wg_fail "at once"' > "$tmpdir/fail.sh"
"$guest" explore --script="$tmpdir/fail.sh" --seed=2206 >"$tmpdir/err" 2>&1
rc=$?
check "a guest that acknowledges no record: nothing to explore (exit 2)" \
  eval '[ $rc = 2 ] && grep -q "acknowledged no record" "$tmpdir/err" && grep -q "WG error at once" "$tmpdir/err"'
"$guest" explore --cut=records:5 >"$tmpdir/err" 2>&1
rc=$?
check "explore refuses --cut (exit 2)" eval '[ $rc = 2 ] && grep -q "explore cuts everywhere" "$tmpdir/err"'
"$guest" explore --workload=rename >"$tmpdir/err" 2>&1
rc=$?
check "explore refuses the rename workload (exit 2)" eval '[ $rc = 2 ] && grep -q "cannot be explored" "$tmpdir/err"'
"$guest" run --jobs=2 >"$tmpdir/err" 2>&1
rc=$?
check "run refuses explore's --jobs (exit 2)" eval '[ $rc = 2 ] && grep -q "an option of explore" "$tmpdir/err"'
check "no mount left behind" eval '! grep -q "$tmpdir" /proc/mounts'
done_testing
