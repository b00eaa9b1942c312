#!/usr/bin/env bash
# S8/S9 with a real client: qemu-io over NBD (-t none: plain writes, no
# FUA; qemu-io's default writethrough would put FUA on every write) runs a
# command list while a cut armed over the control socket with
# "power-cut after=writes:5" fires in the middle of it:
#   write 0x11 @0, write -f 0x22 @64k (FUA), write 0x33 @128k, flush,
#   write 0x44 @192k, write 0x55 @256k (the 5th: acknowledged, then the
#   cut), write 0x66 @320k (fails with EIO).
# The file plugin's image is then read directly: what was written with FUA
# (S2) or before the flush (S3) survives; the rest follows the policy --
# lose: gone; keep: every acknowledged write survives, the failed one not.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/control-functions.sh"

: "${QEMU_IO:=qemu-io}"
requires_cmd "$QEMU_IO"
requires_wcachectl
requires_plugin file

T=$tmpdir
K=1024

# img_is NAME OFF LEN BYTE: NAME.img holds LEN bytes of BYTE at OFF.
img_is ()
{
  "$PY" -c '
import sys
f, off, n, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4], 0)
d = open(f, "rb").read()[off:off + n]
sys.exit(0 if d == bytes([b]) * n else 1)' "$T/$1.img" "$2" "$3" "$4"
}

# run NAME POLICY: serves a fresh 1M image of 0xee, arms the cut, runs the
# qemu-io command list; output in NAME.out, exit status in NAME.rc.
run ()
{
  local name=$1 policy=$2 r
  head -c $((1 << 20)) /dev/zero | tr '\0' '\356' > "$T/$name.img"
  start_wcache "$name" file "$T/$name.img"
  r=$(ctl "$name" power-cut after=writes:5 policy="$policy")
  check "$name: armed: $r" test "$r" = "ok armed=writes:5 policy=$policy"
  "$QEMU_IO" -f raw -t none \
    -c 'write -P 0x11 0 64k' \
    -c 'write -f -P 0x22 64k 64k' \
    -c 'write -P 0x33 128k 64k' \
    -c 'flush' \
    -c 'write -P 0x44 192k 64k' \
    -c 'write -P 0x55 256k 64k' \
    -c 'write -P 0x66 320k 64k' \
    "nbd+unix:///?socket=$(sock_of "$name")" > "$T/$name.out" 2>&1
  echo $? > "$T/$name.rc"
  sed 's/^/# qemu-io: /' "$T/$name.out"
  r=$(ctl "$name" status)
  check "$name: status: power=off, cuts=1, last_cut_policy=$policy, last_cut_dirty=32 (two 64K writes), fua_writes=1, flushes=1" \
    test "$(kv "$r" power) $(kv "$r" cuts) $(kv "$r" last_cut_policy) $(kv "$r" last_cut_dirty) $(kv "$r" fua_writes) $(kv "$r" flushes)" = \
         "off 1 $policy 32 1 1"
  stop_nbdkit "$name"
}

# wrote OUT OFFSET: qemu-io reported the 64k write at OFFSET done.
wrote () { grep -q "^wrote 65536/65536 bytes at offset $2\$" "$1"; }

for policy in lose keep; do
  run $policy $policy
  out=$T/$policy.out
  check "$policy: qemu-io acknowledged the first five writes (the 5th, 0x55 @256k, included)" \
    eval 'wrote "$out" 0 && wrote "$out" 65536 && wrote "$out" 131072 &&
          wrote "$out" 196608 && wrote "$out" 262144'
  check "$policy: the 6th write (0x66 @320k), after the cut, failed with EIO" \
    eval '! wrote "$out" 327680 && grep -q "write failed: Input/output error" "$out"'
  check "$policy: S3: the write before the flush (0x11 @0) survives" img_is $policy 0 $((64 * K)) 0x11
  check "$policy: S2: the FUA write (0x22 @64k) survives" img_is $policy $((64 * K)) $((64 * K)) 0x22
  check "$policy: S3: the plain write before the flush (0x33 @128k) survives" \
    img_is $policy $((128 * K)) $((64 * K)) 0x33
  if [ $policy = lose ]; then
    check "lose: the acknowledged unflushed write 0x44 @192k is gone" \
      img_is lose $((192 * K)) $((64 * K)) 0xee
    check "lose: the acknowledged unflushed write 0x55 @256k (the 5th) is gone" \
      img_is lose $((256 * K)) $((64 * K)) 0xee
  else
    check "keep: the acknowledged unflushed write 0x44 @192k survives" \
      img_is keep $((192 * K)) $((64 * K)) 0x44
    check "keep: the acknowledged unflushed write 0x55 @256k (the 5th) survives" \
      img_is keep $((256 * K)) $((64 * K)) 0x55
  fi
  check "$policy: the failed write 0x66 @320k is not in the image" \
    img_is $policy $((320 * K)) $((64 * K)) 0xee
  check "$policy: nothing past 384k changed" \
    img_is $policy $((384 * K)) $((640 * K)) 0xee
done

done_testing
