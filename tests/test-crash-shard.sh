#!/usr/bin/env bash
# wcache-crash --shard I/N splits one exploration deterministically:
# shards 1/3, 2/3 and 3/3 explore disjoint sets of states whose union is
# exactly the unsharded run's, and `merge` of their JSON results gives the
# unsharded totals; a missing or repeated shard, or a shard of another
# exploration, does not merge.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/crash-functions.sh"
requires_crash

T=$tmpdir
# Several epochs, marks and overlapping writes: states of every kind.
log_through_wcache s 1M "
import random
rng = random.Random(7)
for i in range(40):
    n = rng.choice([512, 4096, 8192])
    off = rng.randrange(0, 256 * 1024 - n) // 512 * 512
    if i % 9 == 8:
        h.flush()
    elif i % 7 == 6:
        ctl('mark step %d' % i)
    else:
        h.pwrite(bytes([rng.randrange(256)]) * n, off,
                 nbd.CMD_FLAG_FUA if i % 11 == 10 else 0)
"
# The checker: inconsistent for about half of the images (by their
# hash), so that the findings too must merge.
cat > "$T/check" <<'EOS'
#!/bin/sh
case $(sha256sum < "$WCACHE_CRASH_IMAGE") in
  [02468ace]*) exit 0 ;;
  *) echo "odd image"; exit 1 ;;
esac
EOS
chmod +x "$T/check"
opts=(--base "$T/s.base" --check "$T/check" --keep-going --exhaustive 3 --samples 4 --json --list)

crash explore "$T/s.log" "${opts[@]}" > "$T/all.json"
for i in 1 2 3; do
  crash explore "$T/s.log" "${opts[@]}" --shard $i/3 > "$T/s$i.json"
done
ids () { /usr/bin/python3 -c '
import json, sys
for f in sys.argv[1:]:
    for s in json.load(open(f))["list"]:
        print(s["id"], s["verdict"])' "$@"; }
ids "$T/all.json" | sort > "$T/all.ids"
for i in 1 2 3; do ids "$T/s$i.json" | sort > "$T/s$i.ids"; done
n=$(wc -l < "$T/all.ids")
check "the unsharded run explores every unique state ($n)" \
  test "$n" -gt 50 -a "$n" = "$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["unique"])' "$T/all.json")"
check "every shard explores some" \
  test -s "$T/s1.ids" -a -s "$T/s2.ids" -a -s "$T/s3.ids"
check "the shards are disjoint" \
  test -z "$(cat "$T/s1.ids" "$T/s2.ids" "$T/s3.ids" | cut -d' ' -f1 | sort | uniq -d)"
check "their union is exactly the unsharded set, with the same verdicts" \
  cmp -s "$T/all.ids" <(sort "$T/s1.ids" "$T/s2.ids" "$T/s3.ids")

crash merge --json "$T/s3.json" "$T/s1.json" "$T/s2.json" > "$T/merged.json"
rc=$?
totals () { /usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["states"], r["deduped"], r["unique"], r["explored"], r["consistent"],
      r["inconsistent"], r["errors"], sorted(f["id"] for f in r["findings"]),
      [(e["explored"], e["inconsistent"]) for e in r["epochs"]])' "$1"; }
check "merge: exit status 1 (the checker finds inconsistent states)" test $rc = 1
check "merge: the unsharded totals, per epoch, and findings" \
  test "$(totals "$T/all.json")" = "$(totals "$T/merged.json")"
crash merge "$T/s1.json" "$T/s2.json" "$T/s3.json" > "$T/merged.txt"
check "merge: a text summary too" grep -q '^merged: 3 shards' "$T/merged.txt"

crash merge "$T/s1.json" "$T/s3.json" > /dev/null 2> "$T/err"
rc=$?
check "merge: a missing shard is an error" \
  eval '[ $rc = 2 ] && grep -q "shard 2/3 missing" "$T/err"'
crash merge "$T/s1.json" "$T/s1.json" "$T/s3.json" > /dev/null 2> "$T/err"
rc=$?
check "merge: a shard given twice is an error" \
  eval '[ $rc = 2 ] && grep -q "given twice" "$T/err"'
crash explore "$T/s.log" "${opts[@]}" --seed 5 --shard 2/3 > "$T/other.json"
crash merge "$T/s1.json" "$T/other.json" "$T/s3.json" > /dev/null 2> "$T/err"
rc=$?
check "merge: a shard of another exploration (another seed) is an error" \
  eval '[ $rc = 2 ] && grep -q "from another exploration" "$T/err"'

done_testing
