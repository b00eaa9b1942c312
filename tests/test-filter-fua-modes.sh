#!/usr/bin/env bash
# S2 whatever FUA support the plugin has: a FUA write, sub-block write and
# zero through wcache are durable on the plugin before their replies -
# in the log filter placed right above the plugin, each carries fua=1 or a
# plugin Flush follows it - whether FUA is native (fua filter
# fuamode=native), emulated by a flush (fuamode=emulate), or absent (an eval
# plugin whose can_fua says none).  A plugin that cannot flush at all must
# not make nbdkit abort (nbdkit asserts on flush/FUA the plugin lacks).

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"

requires_nbdsh
requires_plugin memory
requires_plugin eval
requires "$NBDKIT" --filter=log null --version
requires "$NBDKIT" --filter=fua null --version
[ -f "$WCACHE_FILTER" ] || bail "no filter at $WCACHE_FILTER (not built?)"

export T=$tmpdir
head -c 65536 /dev/zero | tr '\0' '\021' > "$T/rec11"   # the FUA write

# eval_plugin IMG FLUSH: sets EVAL to the arguments of a file-backed eval
# plugin on IMG with no zero and can_fua "none"; it can flush only if FLUSH
# is yes.
eval_plugin ()
{
  local img=$1
  truncate -s 1M "$img"
  EVAL=(eval
    get_size='echo 1048576'
    pread="dd if='$img' iflag=skip_bytes,count_bytes skip=\$4 count=\$3 bs=64K status=none"
    pwrite="dd of='$img' oflag=seek_bytes conv=notrunc seek=\$4 bs=64K status=none"
    can_write='exit 0'
    can_fua='echo none')
  if [ "$2" = yes ]; then
    EVAL+=(can_flush='exit 0' flush="sync '$img'")
  else
    EVAL+=(can_flush='exit 3')
  fi
}

# run NAME ARGS...: serves through wcache on top of ARGS (which put the log
# filter right above the plugin, logging to NAME.plugin.log); the client
# makes a FUA 64K write, a FUA 1000 B write inside a block, a FUA zero and
# a plain write, snapshotting the plugin log (and the image NAME.img of an
# eval plugin) after each reply, then reads the disk back and flushes.
run ()
{
  local name=$1
  shift
  start_nbdkit "$name" --filter="$WCACHE_FILTER" "$@"
  NAME=$name LOG=$T/$name.plugin.log nbdsh -u "$(uri_of "$name")" -c '
import os, shutil
T, N = os.environ["T"], os.environ["NAME"]
def snap(what):
    shutil.copy(os.environ["LOG"], "%s/%s.%s.log" % (T, N, what))
    if os.path.exists("%s/%s.img" % (T, N)):
        shutil.copy("%s/%s.img" % (T, N), "%s/%s.%s.img" % (T, N, what))
model = bytearray(1 << 20)
def write(buf, off, flags=0):
    h.pwrite(buf, off, flags)
    model[off:off + len(buf)] = buf
FUA = nbd.CMD_FLAG_FUA
open("%s/%s.can" % (T, N), "w").write("fua=%s\n" % h.can_fua())
write(b"\x11" * 65536, 0, FUA);         snap("fua-write")
write(os.urandom(1000), 70000, FUA);      snap("fua-sub-block")
write(os.urandom(8192), 131072)
h.zero(8192, 131072, FUA); model[131072:139264] = bytes(8192); snap("fua-zero")
open("%s/%s.model" % (T, N), "wb").write(model)
open("%s/%s.read" % (T, N), "wb").write(h.pread(1 << 20, 0))
h.flush()
open("%s/%s.flushed" % (T, N), "w").write("ok\n")
' || not_ok "$name: the client failed (see below)"
}

# checks NAME WHAT: the FUA requests of NAME were durable at their replies.
checks ()
{
  local n=$1 what=$2
  check "S2: $what: wcache offers FUA to the client" \
    grep -qx "fua=True" "$T/$n.can"
  check "S2: $what: a FUA write was durable on the plugin before its reply" \
    plugin_has "$T/$n.fua-write.log" "Write|Zero" 0 65536 durable
  check "S2: $what: a FUA write inside a block was durable on the plugin before its reply" \
    plugin_has "$T/$n.fua-sub-block.log" "Write|Zero" 70000 1000 durable
  check "S2: $what: a FUA zero was durable on the plugin before its reply" \
    plugin_has "$T/$n.fua-zero.log" "Write|Zero" 131072 8192 durable
  check "S1: $what: everything reads back exactly" \
    cmp -s "$T/$n.read" "$T/$n.model"
  check "$what: a client flush succeeded" test -s "$T/$n.flushed"
  check "$what: nbdkit is still running (no assertion failure)" \
    nbdkit_running "$n"
  no_errors "$n" "$what"
}

# no_errors NAME WHAT: nbdkit's log has no assertion failure and no error.
# Excluded: "no connection in this thread", which nbdkit logs when the eval
# plugin's open asks for the client's export name and TLS state, because
# wcache opens its shared plugin context in .after_fork, outside any
# connection (a known limitation of that design, harmless here).
no_errors ()
{
  local err=$T/$1.err
  [ -s "$err" ] || bail "no nbdkit log $err"
  check "$2: nbdkit logged no assertion failure" \
    eval "! grep -Eqi 'assert|abort' '$err'"
  check "$2: nbdkit logged no error" \
    eval "! grep -i 'error' '$err' | grep -qv 'no connection in this thread'"
}

run native --filter=log --filter=fua memory 1M fuamode=native \
  logfile="$T/native.plugin.log"
check "fuamode=native: wcache sees native FUA below it (setup)" \
  grep -q "wcache: size=.* plugin: flush=1 fua=2 " "$T/native.err"
checks native "fuamode=native"
check "S2: fuamode=native: the FUA write reached the plugin with fua=1" \
  plugin_has "$T/native.fua-write.log" Write 0 65536 fua

run emulate --filter=fua --filter=log memory 1M fuamode=emulate \
  logfile="$T/emulate.plugin.log"
check "fuamode=emulate: wcache sees emulated FUA below it (setup)" \
  grep -q "wcache: size=.* plugin: flush=1 fua=1 " "$T/emulate.err"
checks emulate "fuamode=emulate"

eval_plugin "$T/noplugfua.img" yes
run noplugfua --filter=log "${EVAL[@]}" \
  logfile="$T/noplugfua.plugin.log"
check "plugin without FUA: wcache sees no FUA below it (setup)" \
  grep -q "wcache: size=.* plugin: flush=1 fua=0 " "$T/noplugfua.err"
checks noplugfua "plugin without FUA"
check "S2: plugin without FUA: wcache never sent fua=1 to it" \
  eval '! grep -q " fua=1 \.\.\.$" "$T/noplugfua.plugin.log"'
check "S2: plugin without FUA: the FUA write is in its image at the reply" \
  cmp -s -n 65536 "$T/noplugfua.fua-write.img" "$T/rec11"

# A plugin that can neither flush nor FUA: its writes are durable when they
# return, so the FUA write must have reached it before the reply.
eval_plugin "$T/noflush.img" no
run noflush --filter=log "${EVAL[@]}" \
  logfile="$T/noflush.plugin.log"
check "plugin without flush: wcache sees no flush or FUA below it (setup)" \
  grep -q "wcache: size=.* plugin: flush=0 fua=0 " "$T/noflush.err"
check "S2: plugin without flush: a FUA write reached the plugin before its reply" \
  plugin_has "$T/noflush.fua-write.log" Write 0 65536 any
check "S2: plugin without flush: a FUA zero reached the plugin before its reply" \
  plugin_has "$T/noflush.fua-zero.log" "Write|Zero" 131072 8192 any
check "S2: plugin without flush: the FUA write is in its image at the reply" \
  cmp -s -n 65536 "$T/noflush.fua-write.img" "$T/rec11"
check "S1: plugin without flush: everything reads back exactly" \
  cmp -s "$T/noflush.read" "$T/noflush.model"
check "plugin without flush: a client flush succeeded" test -s "$T/noflush.flushed"
check "plugin without flush: nbdkit is still running (no assertion failure)" \
  nbdkit_running noflush
check "plugin without flush: no flush was sent to the plugin" \
  eval '! grep -q " Flush id=" "$T/noflush.plugin.log"'
no_errors noflush "plugin without flush"

done_testing
