#!/usr/bin/env bash
# S3 with multi-conn: a flush on one connection makes durable the writes
# acknowledged on every other connection (one engine is the disk), which is
# what makes advertising multi-conn honest.  Checked in the log filter below
# wcache and, after stopping nbdkit, in the file plugin's image.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"

requires_nbdsh
requires_plugin file
requires "$NBDKIT" --filter=log null --version
[ -f "$WCACHE_FILTER" ] || bail "no filter at $WCACHE_FILTER (not built?)"

img=$tmpdir/disk.img
log=$tmpdir/plugin.log
truncate -s 1M "$img"
start_nbdkit mc --filter="$WCACHE_FILTER" --filter=log file "$img" \
  logfile="$log"
URI=$(uri_of mc) T=$tmpdir LOG=$log
export URI T LOG

# Three connections: A and C write random bytes, B only flushes, then A
# writes again without any flush.  The client keeps the expected image
# (the file starts as zeros) as of B's flush.
nbdsh -c '
import os, shutil
T, URI = os.environ["T"], os.environ["URI"]
def conn():
    c = nbd.NBD()
    c.connect_uri(URI)
    return c
a, b, c = conn(), conn(), conn()
open(T + "/multi-conn", "w").write(
    "%s %s %s\n" % (a.can_multi_conn(), b.can_multi_conn(), c.can_multi_conn()))
expect = bytearray(1 << 20)
def write(x, buf, off):
    x.pwrite(buf, off)
    expect[off:off + len(buf)] = buf
write(a, os.urandom(65536), 0)
write(c, os.urandom(1000), 131172)
open(T + "/expect", "wb").write(expect)
open(T + "/read-b", "wb").write(b.pread(1 << 20, 0))
shutil.copy(os.environ["LOG"], T + "/before-flush.log")
b.flush()
shutil.copy(os.environ["LOG"], T + "/after-flush.log")
late = os.urandom(4096)
a.pwrite(late, 262144)
open(T + "/read-c-ok", "w").write("%s\n" % (c.pread(4096, 262144) == late))
for x in (a, b, c):
    x.shutdown()
' || bail "client failed"

check "S3: every connection is offered multi-conn" \
  grep -qx "True True True" "$T/multi-conn"
check "S1: connection B reads what A and C wrote, before any flush" \
  cmp -s "$T/read-b" "$T/expect"
check "S3: before the flush nothing reached the plugin" \
  eval '! plugin_touched "$T/before-flush.log" "Write|Zero|Trim" 0 $((1 << 20))'
check "S3: a flush on B made A's write durable on the plugin (write, then plugin flush)" \
  plugin_has "$T/after-flush.log" "Write|Zero" 0 65536 durable
check "S3: a flush on B made C's write durable on the plugin (write, then plugin flush)" \
  plugin_has "$T/after-flush.log" "Write|Zero" 131172 1000 durable
check "S1: C reads A's write made after the flush" \
  grep -qx True "$T/read-c-ok"

stop_nbdkit mc
check "S3: the image holds exactly the writes of A and C covered by B's flush, and not A's later unflushed write" \
  cmp -s "$img" "$T/expect"

done_testing
