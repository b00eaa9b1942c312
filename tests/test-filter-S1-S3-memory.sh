#!/usr/bin/env bash
# S1 read-your-writes and S3 flush over the memory plugin.  Plain writes
# (aligned, inside one block, unaligned across a block boundary), zeroes and
# trims read back exactly at once, from this and another connection; the log
# filter below wcache shows none of them reached the plugin before the flush
# and all of them, then a plugin flush, after it.  Zero and trim read back
# as zeros before and after the flush.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"

requires_nbdsh
requires_plugin memory
requires "$NBDKIT" --filter=log null --version
[ -f "$WCACHE_FILTER" ] || bail "no filter at $WCACHE_FILTER (not built?)"

log=$tmpdir/plugin.log
start_nbdkit mem --filter="$WCACHE_FILTER" --filter=log memory 1M \
  logfile="$log"
URI=$(uri_of mem) T=$tmpdir LOG=$log
export URI T LOG

# Round 1: plain writes of random bytes.  The client keeps a model of the
# whole disk (the memory plugin starts as zeros), snapshots the plugin log right after the
# last write is acknowledged, then reads the whole disk from this connection
# and from a second one.
nbdsh -u "$URI" -c '
import os, shutil
T = os.environ["T"]
model = bytearray(1 << 20)
def write(buf, off):
    h.pwrite(buf, off)
    model[off:off + len(buf)] = buf
write(os.urandom(65536), 0)                   # 16 whole blocks
write(os.urandom(1000), 70000)                # inside block 17
write(os.urandom(3072), 81000)                # across the 80K boundary
shutil.copy(os.environ["LOG"], T + "/r1-before-flush.log")
open(T + "/r1-model", "wb").write(model)
open(T + "/r1-read", "wb").write(h.pread(1 << 20, 0))
h2 = nbd.NBD()
h2.connect_uri(os.environ["URI"])
open(T + "/r1-read2", "wb").write(h2.pread(1 << 20, 0))
h2.shutdown()
' || bail "round 1 client failed"

check "S1: a 64K aligned plain write reads back exactly" \
  same_bytes "$T/r1-read" "$T/r1-model" 0 65536
check "S1: a 1000 B write inside a 4K block reads back exactly, its block's other bytes intact" \
  same_bytes "$T/r1-read" "$T/r1-model" $((17 * 4096)) 4096
check "S1: an unaligned write across a block boundary reads back exactly" \
  same_bytes "$T/r1-read" "$T/r1-model" $((19 * 4096)) 8192
check "S1: the whole disk reads as written (nothing else changed)" \
  cmp -s "$T/r1-read" "$T/r1-model"
check "S1: another connection reads the same newest data" \
  cmp -s "$T/r1-read2" "$T/r1-model"
check "S3: before the flush no write, zero or trim reached the plugin" \
  eval '! plugin_touched "$T/r1-before-flush.log" "Write|Zero|Trim" 0 $((1 << 20))'

# The flush, from a new connection (all connections share one disk).
nbdsh -u "$URI" -c '
import os, shutil
h.flush()
shutil.copy(os.environ["LOG"], os.environ["T"] + "/r1-after-flush.log")
open(os.environ["T"] + "/r1-read3", "wb").write(h.pread(1 << 20, 0))
' || bail "round 1 flush failed"

check "S3: after the flush the 64K write is on the plugin, then a plugin flush" \
  plugin_has "$T/r1-after-flush.log" "Write|Zero" 0 65536 durable
check "S3: after the flush the 1000 B write is on the plugin, then a plugin flush" \
  plugin_has "$T/r1-after-flush.log" "Write|Zero" 70000 1000 durable
check "S3: after the flush the unaligned boundary-crossing write is on the plugin, then a plugin flush" \
  plugin_has "$T/r1-after-flush.log" "Write|Zero" 81000 3072 durable
check "S1: after the flush the disk still reads as written" \
  cmp -s "$T/r1-read3" "$T/r1-model"

# Round 2: zero and trim over flushed data, aligned and not.
mark=$(wc -l < "$log")
nbdsh -u "$URI" -c '
import os, shutil
T = os.environ["T"]
model = bytearray(open(T + "/r1-model", "rb").read())
def clear(fn, count, off):
    fn(count, off)
    model[off:off + count] = bytes(count)
clear(h.zero, 8192, 4096)                     # blocks 1-2
clear(h.zero, 100, 20000)                     # inside block 4
clear(h.trim, 8192, 32768)                    # blocks 8-9
clear(h.trim, 300, 50000)                     # inside block 12
clear(h.zero, 2000, 80000)                    # across the 80K boundary
shutil.copy(os.environ["LOG"], T + "/r2-before-flush.log")
open(T + "/r2-model", "wb").write(model)
open(T + "/r2-read", "wb").write(h.pread(1 << 20, 0))
h.flush()
shutil.copy(os.environ["LOG"], T + "/r2-after-flush.log")
open(T + "/r2-read2", "wb").write(h.pread(1 << 20, 0))
' || bail "round 2 client failed"
log_since "$T/r2-before-flush.log" "$mark" > "$T/r2-before.log"
log_since "$T/r2-after-flush.log" "$mark" > "$T/r2-after.log"

zeros=$T/zeros
head -c $((1 << 20)) /dev/zero > "$zeros"
check "S1: an aligned zero reads back as zeros" \
  same_bytes "$T/r2-read" "$zeros" 4096 8192
check "S1: a zero inside a block reads back as zeros, its neighbours intact" \
  eval 'same_bytes "$T/r2-read" "$zeros" 20000 100 &&
        same_bytes "$T/r2-read" "$T/r2-model" 16384 4096'
check "S1: an aligned trim reads back as zeros" \
  same_bytes "$T/r2-read" "$zeros" 32768 8192
check "S1: a trim inside a block reads back as zeros, its neighbours intact" \
  eval 'same_bytes "$T/r2-read" "$zeros" 50000 300 &&
        same_bytes "$T/r2-read" "$T/r2-model" 49152 4096'
check "S1: after zeroes and trims the whole disk reads as the model" \
  cmp -s "$T/r2-read" "$T/r2-model"
check "S3: before the flush no zero or trim reached the plugin" \
  eval '! plugin_touched "$T/r2-before.log" "Write|Zero|Trim" 0 $((1 << 20))'
for r in "4096 8192" "20000 100" "32768 8192" "50000 300" "80000 2000"; do
  # shellcheck disable=SC2086 # "OFFSET LENGTH"
  set -- $r
  check "S3: after the flush the zeroed/trimmed range $1+$2 is on the plugin, then a plugin flush" \
    plugin_has "$T/r2-after.log" "Write|Zero|Trim" "$1" "$2" durable
done
check "S1: after the flush zeroes and trims still read as zeros" \
  cmp -s "$T/r2-read2" "$T/r2-model"

done_testing
