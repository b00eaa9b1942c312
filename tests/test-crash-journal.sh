#!/usr/bin/env bash
# wcache-crash on a journal commit (wcache(7) S3): a client writes journal
# blocks J1..J4 then a commit block C through nbdkit + wcache with the
# write log on.  With a flush between the Js and C (S3), no crash state
# has C without every J; without it, the explorer finds such a state
# (every subset is explored, so always) and names it, and the state
# rebuilt from its ID is byte for byte the image the checker saw.  The
# state counts are the model's: 2^n for an epoch of n independent writes,
# one deduped where the commit's epoch begins with the journal's image.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/crash-functions.sh"
requires_crash

T=$tmpdir
# The checker: C (block 0) present means J1..J4 (blocks 1..4) present.
# It also notes each state's ID and image hash, to compare with
# materialize.
cat > "$T/journal-check" <<'EOS'
#!/bin/sh
blk () { dd if="$WCACHE_CRASH_IMAGE" bs=4096 skip=$1 count=1 2>/dev/null | head -c 2; }
echo "$WCACHE_CRASH_STATE $(sha256sum < "$WCACHE_CRASH_IMAGE" | cut -d' ' -f1)" >> "$SEEN"
[ "$(blk 0)" = "C." ] || exit 0
for i in 1 2 3 4; do
  [ "$(blk $i)" = "J$i" ] || { echo "commit without J$i"; exit 1; }
done
exit 0
EOS
chmod +x "$T/journal-check"

for mode in flush noflush; do
  log_through_wcache "$mode" 1M "
for i in range(1, 5):
    h.pwrite((b'J%d' % i) * 2048, 4096 * i)
if '$mode' == 'flush':
    h.flush()
h.pwrite(b'C.' * 2048, 0)
"
done

# The counts.
crash info "$T/noflush.log" > "$T/noflush.info"
check "no flush: one epoch of 5 candidate writes: 2^5 states" \
  grep -qx 'states: 32 enumerated, 0 deduped, 32 unique' "$T/noflush.info"
crash info "$T/flush.log" > "$T/flush.info"
check "flush: 2^4 states, then 2 (C or not), the first the same image as all of the Js: deduped" \
  grep -qx 'states: 18 enumerated, 1 deduped, 17 unique' "$T/flush.info"
check "flush: epoch 1 lists its deduped state" \
  grep -q '^epoch 1: .* 2 states, 1 deduped$' "$T/flush.info"
crash info --exhaustive 3 --samples 7 "$T/noflush.log" > "$T/k3.info"
check "beyond --exhaustive 3: 6 prefixes, 4 all-but-one, 7 samples (some samples are dupes)" \
  grep -q '^states: 17 enumerated, ' "$T/k3.info"

# S3: with the flush, every state is consistent.
SEEN=$T/flush.seen crash explore "$T/flush.log" --base "$T/flush.base" \
  --check "$T/journal-check" --keep-going > "$T/flush.out" 2>&1
rc=$?
check "S3 flush between journal and commit: exit 0" test $rc = 0
check "S3 flush: 17 states explored, 0 inconsistent" \
  grep -qx 'explored: 17 states: 17 consistent, 0 inconsistent, 0 checker errors' "$T/flush.out"

# Without it: found, every time.
export SEEN=$T/noflush.seen
crash explore "$T/noflush.log" --base "$T/noflush.base" \
  --check "$T/journal-check" --keep-going > "$T/noflush.out" 2>&1
rc=$?
check "no flush: exit 1" test $rc = 1
check "no flush: the states with C and not every J are inconsistent (15 of 32)" \
  grep -qx 'explored: 32 states: 17 consistent, 15 inconsistent, 0 checker errors' "$T/noflush.out"
# Piece 4 is C; e.g. C alone.
check "no flush: C kept alone (e0.p5.k4) is named, with its rebuild command" \
  grep -q '^INCONSISTENT e0.p5.k4: .*commit without J1' "$T/noflush.out"
check "no flush: every finding comes with a rebuild command" \
  test "$(grep -c '^INCONSISTENT' "$T/noflush.out")" = "$(grep -c '^  rebuild: wcache-crash materialize' "$T/noflush.out")"

# Stopping at the first inconsistent state without --keep-going.
crash explore "$T/noflush.log" --base "$T/noflush.base" \
  --check "$T/journal-check" > "$T/first.out" 2>&1
rc=$?
check "without --keep-going: exit 1 after the first inconsistent state" \
  eval 'test $rc = 1 && grep -q "^stopped at the first" "$T/first.out" && test "$(grep -c ^INCONSISTENT "$T/first.out")" = 1'

# materialize rebuilds what the checker saw, for every state.
bad=0 n=0
while read -r id sum; do
  n=$((n + 1))
  crash materialize "$T/noflush.log" --base "$T/noflush.base" --state "$id" \
    -o "$T/state.img" || bad=$((bad + 1))
  [ "$(sha256sum < "$T/state.img" | cut -d' ' -f1)" = "$sum" ] || bad=$((bad + 1))
done < <(sort -u "$T/noflush.seen")
check "materialize: each of the $n states is byte for byte the image the checker saw ($bad wrong)" \
  test $bad = 0 -a $n = 32

# Workers: the same verdicts with -j 2.
crash explore "$T/noflush.log" --base "$T/noflush.base" \
  --check "$T/journal-check" --keep-going -j 2 --list > "$T/j2.out" 2>&1
crash explore "$T/noflush.log" --base "$T/noflush.base" \
  --check "$T/journal-check" --keep-going -j 1 --list > "$T/j1.out" 2>&1
check "-j 2 gives the states and verdicts of -j 1" \
  cmp -s <(grep '^state ' "$T/j1.out") <(grep '^state ' "$T/j2.out")

# Ctrl-C: the state being checked finishes, the summary so far is
# printed, exit 130 (nothing inconsistent found yet).
printf '#!/bin/sh\necho x >> "$SEEN"\nsleep 0.2\n' > "$T/slow-check"
chmod +x "$T/slow-check"
: > "$T/slow.seen"
SEEN=$T/slow.seen "$CRASH" explore "$T/flush.log" --base "$T/flush.base" \
  --check "$T/slow-check" --keep-going > "$T/int.out" 2>&1 &
pid=$!
for _ in $(seq 1 100); do [ "$(wc -l < "$T/slow.seen")" -ge 2 ] && break; sleep 0.05; done
kill -INT $pid
wait $pid
rc=$?
check "Ctrl-C: exit 130 with the summary so far" \
  eval 'test $rc = 130 && grep -q "^INTERRUPTED: the summary so far" "$T/int.out" && grep -q "^explored: [1-9] states: [1-9] consistent" "$T/int.out"'

done_testing
