#!/usr/bin/env bash
# S3 over the file plugin, read in the image itself: an unflushed write is
# not in the image when nbdkit stops (by default exit loses the cache, like
# a power cut), a flushed one is, and with wcache-flush-on-exit=true an
# unflushed write is written back when nbdkit stops.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"

requires_nbdsh
requires_plugin file
[ -f "$WCACHE_FILTER" ] || bail "no filter at $WCACHE_FILTER (not built?)"

T=$tmpdir
# same_bytes A B OFF LEN: files A and B hold the same LEN bytes at OFF.
same_bytes () { cmp -s -i "$3:$3" -n "$4" "$1" "$2"; }

# The image starts as 0xee everywhere, so neither zeros nor a lost write
# can pass for the data.
head -c $((1 << 20)) /dev/zero | tr '\0' '\356' > "$T/base"
# A 64K record at 128K and a 1000 B one at 300000 (inside a block), of
# random bytes.
head -c 65536 /dev/urandom > "$T/rec1"
head -c 1000 /dev/urandom > "$T/rec2"
cp "$T/base" "$T/written"
dd if="$T/rec1" of="$T/written" bs=64K oflag=seek_bytes seek=131072 conv=notrunc status=none
dd if="$T/rec2" of="$T/written" bs=64K oflag=seek_bytes seek=300000 conv=notrunc status=none
export T

# run NAME FLUSH KEY=VALUE...: serves a copy of base as NAME.img, writes
# both records (then flushes if FLUSH is "flush"), reads them back through
# wcache into NAME.read, and stops nbdkit by pid.
run ()
{
  local name=$1 flush=$2
  shift 2
  cp "$T/base" "$T/$name.img"
  start_nbdkit "$name" --filter="$WCACHE_FILTER" file "$T/$name.img" "$@"
  FLUSH=$flush OUT=$T/$name.read nbdsh -u "$(uri_of "$name")" -c '
import os
T = os.environ["T"]
h.pwrite(open(T + "/rec1", "rb").read(), 131072)
h.pwrite(open(T + "/rec2", "rb").read(), 300000)
if os.environ["FLUSH"] == "flush":
    h.flush()
open(os.environ["OUT"], "wb").write(h.pread(1 << 20, 0))
' || bail "client of $name failed"
  stop_nbdkit "$name"
}

run noflush noflush
check "S1: the unflushed writes read back through wcache before the stop" \
  cmp -s "$T/noflush.read" "$T/written"
check "S3: without a flush, the image does not have the 64K write after nbdkit stops" \
  same_bytes "$T/noflush.img" "$T/base" 131072 65536
check "S3: without a flush, the image does not have the 1000 B write after nbdkit stops" \
  same_bytes "$T/noflush.img" "$T/base" 294912 8192
check "S3: without a flush, the image is untouched" \
  cmp -s "$T/noflush.img" "$T/base"

run flushed flush
check "S1: the flushed writes read back through wcache" \
  cmp -s "$T/flushed.read" "$T/written"
check "S3: after a flush, the image has the 64K write" \
  same_bytes "$T/flushed.img" "$T/written" 131072 65536
check "S3: after a flush, the image has the 1000 B write, its block's other bytes intact" \
  same_bytes "$T/flushed.img" "$T/written" 294912 8192
check "S3: after a flush, the image is exactly what was written" \
  cmp -s "$T/flushed.img" "$T/written"

run onexit noflush wcache-flush-on-exit=true
check "S1: with flush-on-exit, the writes read back through wcache" \
  cmp -s "$T/onexit.read" "$T/written"
check "wcache-flush-on-exit=true: the image has the unflushed writes after nbdkit stops" \
  cmp -s "$T/onexit.img" "$T/written"

run noexit noflush wcache-flush-on-exit=false
check "wcache-flush-on-exit=false: the image does not have the unflushed writes" \
  cmp -s "$T/noexit.img" "$T/base"

done_testing
