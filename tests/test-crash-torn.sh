#!/usr/bin/env bash
# wcache-crash --torn UNIT (wcache(7) S8 torn, S10): candidate writes are
# cut at every multiple of UNIT on the disk, and any subset of the pieces
# survives, but a unit is never split: every UNIT-aligned block of every
# state holds its old content or the write's, whole.  A 10 KiB write at
# 2 KiB with 4 KiB units is 3 pieces: 2^3 states, all different.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/crash-functions.sh"
requires_crash

T=$tmpdir
# Each 512-byte sector of the write holds its own byte, so a unit split
# at any sector would show.
log_through_wcache t 1M "
data = b''.join(bytes([1 + i]) * 512 for i in range(20))
h.pwrite(data, 2048)
"
cat > "$T/check.py" <<'EOS'
import hashlib, os, sys
img = open(os.environ["WCACHE_CRASH_IMAGE"], "rb").read()
unit = int(sys.argv[1])
new = bytearray(len(img))
new[2048:2048 + 10240] = b"".join(bytes([1 + i]) * 512 for i in range(20))
for u in range(0, 16384, unit):
    got = img[u:u + unit]
    old = bytes(unit)
    # Bytes the write does not cover stay zero in both versions.
    want = bytes(new[u:u + unit])
    if got != old and got != want:
        print("unit at %d split" % u)
        sys.exit(1)
with open(os.environ["SEEN"], "a") as f:
    f.write(hashlib.sha256(img).hexdigest() + "\n")
EOS

crash info --torn 4096 "$T/t.log" > "$T/info"
check "one write of 10 KiB at 2 KiB, 4 KiB units: 3 pieces, 2^3 states" \
  grep -q '^epoch 0: .* 1 candidates, 3 pieces, .* 8 states, 0 deduped$' "$T/info"
SEEN=$T/seen4k crash explore "$T/t.log" --base "$T/t.base" --torn 4096 \
  --check "/usr/bin/python3 $T/check.py 4096" --keep-going > "$T/out" 2>&1
rc=$?
check "4096: no state splits a 4 KiB unit (exit 0, 8 consistent)" \
  eval 'test $rc = 0 && grep -qx "explored: 8 states: 8 consistent, 0 inconsistent, 0 checker errors" "$T/out"'
check "4096: the 8 states are 8 different images" \
  test "$(sort -u "$T/seen4k" | wc -l)" = 8
check "4096: IDs carry the unit" grep -q 'e0\.p1\.u4096\.k' <(crash explore "$T/t.log" --base "$T/t.base" --torn 4096 --check true --list)

# The checker itself sees a split unit: 8 KiB units over 4 KiB pieces
# would be split.
SEEN=$T/seen-mis crash explore "$T/t.log" --base "$T/t.base" --torn 4096 \
  --check "/usr/bin/python3 $T/check.py 8192" --keep-going > "$T/out8" 2>&1
check "negative control: judged by 8 KiB units, 4 KiB pieces split some" \
  test $? = 1

# 512-byte units: 20 pieces, beyond --exhaustive: prefixes, all-but-one
# and samples, none splitting a sector.
SEEN=$T/seen512 crash explore "$T/t.log" --base "$T/t.base" --torn 512 \
  --samples 10 --check "/usr/bin/python3 $T/check.py 512" --keep-going > "$T/out512" 2>&1
rc=$?
check "512: 21 prefixes, 19 all-but-one, 10 samples, none splits a sector" \
  eval 'test $rc = 0 && grep -q "^states: 50 enumerated" "$T/out512"'

# Without --torn the write is whole: 2 states.
crash info "$T/t.log" > "$T/info-whole"
check "without --torn: the write is one piece, 2 states" \
  grep -q '^states: 2 enumerated, 0 deduped, 2 unique' "$T/info-whole"

done_testing
