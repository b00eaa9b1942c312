#!/usr/bin/env bash
# S6 clients that cannot flush: with wcache-advertise=auto (the default) a
# client connecting while the cache is off (writethrough, directsync) is not
# offered FLUSH, is offered FUA, and its plain writes are on the plugin
# before their replies; a client connecting while the cache is on
# (writeback, none, unsafe) is offered FLUSH and FUA.
# wcache-advertise=always offers FLUSH whatever the mode.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"

requires_nbdsh
requires_plugin memory
requires "$NBDKIT" --filter=log null --version
[ -f "$WCACHE_FILTER" ] || bail "no filter at $WCACHE_FILTER (not built?)"

export T=$tmpdir

# probe NAME KEY=VALUE...: serves memory through wcache with the log filter
# below it; one client records can_flush/can_fua in NAME.can, makes a plain
# 4K write at 64K and snapshots the plugin log in NAME.log as soon as the
# write is acknowledged; a second client records can_flush/can_fua in
# NAME.can2 and reads the block back into NAME.read.  Then nbdkit stops.
probe ()
{
  local name=$1
  shift
  start_nbdkit "$name" --filter="$WCACHE_FILTER" --filter=log memory 1M \
    logfile="$T/$name.plugin.log" "$@"
  URI=$(uri_of "$name") N=$name LOG=$T/$name.plugin.log \
    nbdsh -u "$(uri_of "$name")" -c '
import os, shutil
T, N = os.environ["T"], os.environ["N"]
open(T + "/" + N + ".can", "w").write("flush=%s fua=%s\n" % (h.can_flush(), h.can_fua()))
h.pwrite(b"\xab" * 4096, 65536)
shutil.copy(os.environ["LOG"], T + "/" + N + ".log")
h2 = nbd.NBD()
h2.connect_uri(os.environ["URI"])
open(T + "/" + N + ".can2", "w").write("flush=%s fua=%s\n" % (h2.can_flush(), h2.can_fua()))
open(T + "/" + N + ".read", "wb").write(h2.pread(4096, 65536))
h2.shutdown()
' || bail "client of $name failed"
  stop_nbdkit "$name"
}
head -c 4096 /dev/zero | tr '\0' '\253' > "$T/block"

# offered NAME FLUSH FUA: both clients of NAME saw can_flush FLUSH, can_fua FUA.
offered ()
{
  grep -qx "flush=$2 fua=$3" "$T/$1.can" && grep -qx "flush=$2 fua=$3" "$T/$1.can2"
}
# durable_now NAME: the plain write was on the plugin, durable, at its reply.
durable_now () { plugin_has "$T/$1.log" "Write|Zero" 65536 4096 durable; }
# cached NAME: the plain write had not reached the plugin at its reply.
cached () { ! plugin_touched "$T/$1.log" "Write|Zero|Trim" 65536 4096; }
# reads NAME: the second client read the block back.
reads () { cmp -s "$T/$1.read" "$T/block"; }

for run in "wt wcache-mode=writethrough" \
           "wt-auto wcache-mode=writethrough wcache-advertise=auto" \
           "wt-always wcache-mode=writethrough wcache-advertise=always" \
           "ds wcache-mode=directsync" \
           "ds-always wcache-mode=directsync wcache-advertise=always" \
           "wb" \
           "wb-auto wcache-mode=writeback wcache-advertise=auto" \
           "wb-always wcache-mode=writeback wcache-advertise=always" \
           "none wcache-mode=none" \
           "unsafe wcache-mode=unsafe"; do
  # shellcheck disable=SC2086 # "NAME KEY=VALUE..."
  probe $run
done

check "S6: writethrough, advertise default: FLUSH not offered, FUA offered" \
  offered wt False True
check "S6: writethrough, advertise=auto: FLUSH not offered, FUA offered" \
  offered wt-auto False True
check "S4/S6: writethrough: a plain write is durable on the plugin at its reply" \
  durable_now wt
check "S4/S6: writethrough, advertise=auto: a plain write is durable on the plugin at its reply" \
  durable_now wt-auto
check "S6: writethrough, advertise=always: FLUSH and FUA offered" \
  offered wt-always True True
check "S4: writethrough, advertise=always: a plain write is still durable at its reply" \
  durable_now wt-always
check "S6: directsync (cache off): FLUSH not offered, FUA offered" \
  offered ds False True
check "S4/S6: directsync: a plain write is durable on the plugin at its reply" \
  durable_now ds
check "S6: directsync, advertise=always: FLUSH and FUA offered" \
  offered ds-always True True
check "S6: writeback (default mode and advertise): a client connecting is offered FLUSH and FUA" \
  offered wb True True
check "S3: writeback: a plain write stays cached at its reply" \
  cached wb
check "S6: writeback, advertise=auto: FLUSH and FUA offered" \
  offered wb-auto True True
check "S6: writeback, advertise=always: FLUSH and FUA offered" \
  offered wb-always True True
check "S3: writeback, advertise=always: a plain write stays cached at its reply" \
  cached wb-always
check "S6: none (cache on): FLUSH and FUA offered" \
  offered none True True
check "S3: none: a plain write stays cached at its reply" \
  cached none
check "S6: unsafe (cache on): FLUSH and FUA offered" \
  offered unsafe True True
check "S3: unsafe: a plain write stays cached at its reply" \
  cached unsafe
for n in wt wt-always ds wb none unsafe; do
  check "S1: $n: another connection reads the write back" reads "$n"
done

done_testing
