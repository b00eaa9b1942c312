#!/usr/bin/env bash
# S2 FUA: a write, zero or trim with FUA is on the plugin, with fua=1, when
# its reply arrives (the log filter below wcache is read right after each
# call returns, before any flush); a plain write is not.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"

requires_nbdsh
requires_plugin memory
requires "$NBDKIT" --filter=log null --version
[ -f "$WCACHE_FILTER" ] || bail "no filter at $WCACHE_FILTER (not built?)"

# The memory plugin supports FUA natively, so wcache must pass the flag down.
log=$tmpdir/plugin.log
start_nbdkit mem --filter="$WCACHE_FILTER" --filter=log memory 1M \
  logfile="$log"
URI=$(uri_of mem) T=$tmpdir LOG=$log
export URI T LOG

# Each request is followed by a snapshot of the plugin log, taken as soon as
# its reply is in: what is in a snapshot reached the plugin before the reply.
nbdsh -u "$URI" -c '
import os, shutil
T = os.environ["T"]
model = bytearray(1 << 20)
def snap(name):
    shutil.copy(os.environ["LOG"], T + "/" + name + ".log")
def write(buf, off, flags=0):
    h.pwrite(buf, off, flags)
    model[off:off + len(buf)] = buf
FUA = nbd.CMD_FLAG_FUA
write(os.urandom(65536), 0, FUA);                 snap("fua-aligned")
write(os.urandom(1000), 70000, FUA);              snap("fua-sub-block")
write(os.urandom(4096), 131072);                  snap("plain")
write(os.urandom(3000), 200000, FUA);             snap("fua-across")
write(os.urandom(16384), 262144)
h.zero(8192, 266240, FUA); model[266240:274432] = bytes(8192); snap("fua-zero")
write(os.urandom(8192), 327680)
h.trim(4096, 327680, FUA); model[327680:331776] = bytes(4096); snap("fua-trim")
open(T + "/model", "wb").write(model)
open(T + "/read", "wb").write(h.pread(1 << 20, 0))
h.flush();                                      snap("flushed")
' || bail "client failed"

check "S2: a 64K FUA write reached the plugin with fua=1 before the reply" \
  plugin_has "$T/fua-aligned.log" Write 0 65536 fua
check "S2: a 1000 B FUA write inside a block reached the plugin with fua=1 before the reply" \
  plugin_has "$T/fua-sub-block.log" Write 70000 1000 fua
check "S2: a plain write did not reach the plugin before its reply (nor before a flush)" \
  eval '! plugin_touched "$T/plain.log" "Write|Zero|Trim" 131072 4096'
check "S2: an unaligned FUA write across a block boundary reached the plugin with fua=1 before the reply" \
  plugin_has "$T/fua-across.log" Write 200000 3000 fua
check "S2: a FUA zero reached the plugin with fua=1 before the reply" \
  plugin_has "$T/fua-zero.log" "Write|Zero" 266240 8192 fua
check "S2: a FUA trim reached the plugin with fua=1 before the reply" \
  plugin_has "$T/fua-trim.log" "Write|Zero|Trim" 327680 4096 fua
check "S1: FUA and plain writes, zero and trim read back exactly" \
  cmp -s "$T/read" "$T/model"
check "S3: the plain write reached the plugin at the flush" \
  plugin_has "$T/flushed.log" "Write|Zero" 131072 4096 durable

done_testing
