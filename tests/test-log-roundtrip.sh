#!/usr/bin/env bash
# The write log, round trip through nbdkit: a client sends random writes
# (aligned and not), write-zeroes, trims, FUA writes and flushes through
# nbdkit + wcache with wcache-log on.  Replaying the whole log onto a copy
# of the base image gives exactly the file plugin's image after the last
# flush, and replaying it up to each FLUSH entry gives exactly what the
# client had acknowledged before that flush.  Log sectors of 512 and 4096.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"

requires_nbdsh
requires_plugin file
WLOG=$top_builddir/tests/wlog-tool
[ -x "$WLOG" ] || bail "no $WLOG (not built?)"

export T=$tmpdir
SIZE=$((4 << 20))
head -c $SIZE /dev/urandom > "$T/base"

for ss in 512 4096; do
  cp "$T/base" "$T/img-$ss"
  start_nbdkit "rt$ss" --filter="$WCACHE_FILTER" file "$T/img-$ss" \
    wcache-log="$T/log-$ss" wcache-log-sector-size=$ss wcache-size=256K
  SS=$ss nbdsh -u "$(uri_of "rt$ss")" -c '
import os, random
T, ss = os.environ["T"], os.environ["SS"]
rng = random.Random(int(ss))
size = h.get_size()
model = bytearray(open(T + "/base", "rb").read())
flushes = 0
for i in range(400):
    n = rng.choice([1, 100, 511, 512, 4096, 5000, 65536])
    off = rng.randrange(0, size - n)
    if rng.random() < 0.5:
        off -= off % 512            # some aligned, some not
    op = rng.random()
    if op < 0.1:
        h.zero(n, off)
        model[off:off + n] = bytes(n)
    elif op < 0.2:
        h.trim(n, off)              # wcache reads trimmed ranges as zeros
        model[off:off + n] = bytes(n)
    elif op < 0.3:
        h.flush()
        flushes += 1
        open("%s/model-%s-%d" % (T, ss, flushes), "wb").write(model)
    else:
        data = bytes([rng.randrange(256)]) * n
        h.pwrite(data, off, nbd.CMD_FLAG_FUA if rng.random() < 0.2 else 0)
        model[off:off + n] = data
h.flush()
flushes += 1
open("%s/model-%s-%d" % (T, ss, flushes), "wb").write(model)
open("%s/flushes-%s" % (T, ss), "w").write("%d\n" % flushes)
'
  stop_nbdkit "rt$ss"

  check "$ss: the log reads back (every entry checked)" \
    eval '"$WLOG" dump "$T/log-$ss" > /dev/null'
  "$WLOG" dump "$T/log-$ss" > "$T/dump-$ss"
  cp "$T/base" "$T/replay-$ss"
  "$WLOG" replay "$T/log-$ss" "$T/replay-$ss"
  check "$ss: the whole log replayed onto the base is the plugin's image" \
    cmp -s "$T/replay-$ss" "$T/img-$ss"
  n=$(cat "$T/flushes-$ss")
  check "$ss: one FLUSH entry per flush the client sent ($n)" \
    test "$(grep -c ' FLUSH ' "$T/dump-$ss")" -eq "$n"
  check "$ss: FUA entries for the client's FUA writes" \
    grep -q ' FUA ' "$T/dump-$ss"
  bad=0
  k=0
  while read -r idx flags _; do
    [ "$flags" = FLUSH ] || continue
    k=$((k + 1))
    cp "$T/base" "$T/prefix"
    "$WLOG" replay "$T/log-$ss" "$T/prefix" --to $((idx + 1))
    cmp -s "$T/prefix" "$T/model-$ss-$k" || bad=$((bad + 1))
  done < "$T/dump-$ss"
  check "$ss: the log up to each of the $k FLUSH entries is exactly what was acknowledged before that flush ($bad wrong)" \
    test $bad -eq 0
done

done_testing
