#!/usr/bin/env bash
# The CI-sized guest crash matrix (tools/wcache-guest matrix --ci --json):
# a real Linux guest (TCG) on virtio-blk over NBD from nbdkit
# --filter=wcache, a workload that reports durable records on the
# console, a power cut (or every crash state, explore), a check on the
# host; on a raw disk, ext4, XFS and btrfs, and SQLite.  Each cell's
# outcome is checked against this file's own table (not only against the
# harness's expectation), including the cells that must detect loss, and
# the matrix's JSON summary against the cells.  Skips if QEMU or the
# guest packages are missing.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/functions.sh"

requires_built crash    # the matrix's explore cells
. "$top_srcdir/tests/guest-functions.sh"   # builds the guest once

# seed -> the outcome the cell must give.
cat > "$tmpdir/want" <<'WANT'
1001 no_loss
1002 no_loss
1003 no_loss
1004 no_loss
1005 no_loss
1006 LOSS_DETECTED
1007 LOSS_DETECTED
1008 LOSS_DETECTED
1009 no_loss
1010 no_loss
1011 LOSS_DETECTED
1012 no_loss
1013 no_loss
1014 no_loss
WANT

TMPDIR=$tmpdir WCACHE_GUEST_TIMEOUT=90 timeout 900 "$guest" matrix --ci --json \
  > "$tmpdir/matrix.json" 2> "$tmpdir/matrix.err"
rc=$?
sed 's/^/# /' "$tmpdir/matrix.json" "$tmpdir/matrix.err"
check "matrix --ci --json exits 0 (rc=$rc)" [ "$rc" = 0 ]

# One TAP line per cell, then the summary checks (python3: the JSON).
/usr/bin/python3 - "$tmpdir/matrix.json" "$tmpdir/want" > "$tmpdir/tap" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
want = dict(l.split() for l in open(sys.argv[2]) if l.strip())
cells = [r for r in rows if "seed" in r or "error" in r]
sums = [r for r in rows if r.get("summary")]
total = [r for r in rows if r.get("total")]
for r in cells:
    if r.get("error"):
        print("not ok - cell could not run: %s" % r.get("cell"))
        continue
    w = want.get(r["seed"])
    good = (w is not None and r["outcome"] == w and r["correct"] == "yes"
            and int(r["acked"]) > 0 and r["fsck"] not in ("errors", "unmountable"))
    print("%s - %s: %s (%s)" % ("ok" if good else "not ok", w, r["reproduce"],
          "got %s, correct=%s, acked=%s, fsck=%s" % (r["outcome"], r["correct"], r["acked"], r["fsck"])))
print("%s - every cell of the table ran (%d of %d)" % (
    "ok" if sorted(r.get("seed", "") for r in cells) == sorted(want) else "not ok", len(cells), len(want)))
fs = sorted(set(r["fs"] for r in cells if "fs" in r))
print("%s - the cells cover raw, ext4, xfs and btrfs (%s)" % (
    "ok" if fs == ["btrfs", "ext4", "raw", "xfs"] else "not ok", " ".join(fs)))
n = sum(s["cells"] for s in sums)
print("%s - the per-filesystem summaries count every cell (%d)" % ("ok" if n == len(cells) else "not ok", n))
sq = [s for s in sums if s["app"] == "sqlite"]
print("%s - a SQLite summary row" % ("ok" if sq and sq[0]["cells"] >= 1 else "not ok"))
t = total[0] if total else {}
print("%s - the total: %d cells, 0 incorrect, 0 errors" % (
    "ok" if t.get("cells") == len(cells) and t.get("incorrect") == 0 and t.get("errors") == 0 else "not ok",
    t.get("cells", -1)))
PY
while IFS= read -r line; do
  case $line in
    "ok - "*) ok "${line#ok - }" ;;
    *) not_ok "${line#not ok - }" ;;
  esac
done < "$tmpdir/tap"
done_testing
