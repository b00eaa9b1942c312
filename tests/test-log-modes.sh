#!/usr/bin/env bash
# The write log through nbdkit in every mode, at a cut, from the control
# socket, with bad paths, and on a disk that fills up:
#   - FUA flags and FLUSH entries as each mode promises (writethrough and
#     directsync: every write FUA; unsafe: no FUA, no FLUSH);
#   - a cut ends the log with a MARK naming it; power-on does not resume
#     it; log start does, after a power-on;
#   - log start while logging, on a file that is not a log, or where the
#     file cannot be made, fails and changes nothing;
#   - a log on a full filesystem stops with log=failed in status and an
#     error in nbdkit's log, the disk goes on, and the log reads back.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/control-functions.sh"

requires_wcachectl
requires_plugin memory
requires_cmd "${QEMU_IO:-qemu-io}"
QEMU_IO=${QEMU_IO:-qemu-io}
WLOG=$top_builddir/tests/wlog-tool
[ -x "$WLOG" ] || bail "no $WLOG (not built?)"

T=$tmpdir

# flags LOG: the FLAGS column of the dump, one line; a run of FLUSH
# entries counts once (qemu-io flushes again as it exits).
flags ()
{
  "$WLOG" dump "$1" | awk '{ print $2 }' | paste -sd' ' |
    sed -E 's/FLUSH( FLUSH)+/FLUSH/g'
}
requires_nbdsh

# ---- Every mode ------------------------------------------------------------
for mode in writeback none writethrough directsync unsafe; do
  start_wcache "m-$mode" memory 1M wcache-mode=$mode wcache-log="$T/$mode.log"
  "$QEMU_IO" -t none -f raw "$(uri_of "m-$mode")" \
    -c 'write -P 1 0 4k' -c 'write -f -P 2 4k 4k' -c 'flush' > /dev/null
  ctl "m-$mode" log stop > /dev/null
  case $mode in
    writeback|none) want="NONE FUA FLUSH" ;;
    # S6: a client connected with the cache off was not offered FLUSH
    # (its flush is nothing); every write is durable.
    writethrough|directsync) want="FUA FUA" ;;
    unsafe) want="NONE NONE" ;;
  esac
  check "$mode: the log says $want" test "$(flags "$T/$mode.log")" = "$want"
  stop_nbdkit "m-$mode"
done

# ---- A cut ends the log ------------------------------------------------------
start_wcache cut memory 1M wcache-log="$T/cut.log"
ctl cut mark before-writes > /dev/null
nbdsh -u "$(uri_of cut)" -c 'h.pwrite(b"\1" * 4096, 0)'
ctl cut power-cut policy=random seed=5 > /dev/null
"$WLOG" dump "$T/cut.log" > "$T/cut.dump"
check "cut: the log is the mark, the write, and a MARK naming the cut" \
  test "$(cut -d' ' -f2,5- "$T/cut.dump" | paste -sd' ')" = \
       "MARK mark:before-writes NONE sha256:$(head -c 4096 /dev/zero | tr '\0' '\1' | sha256sum | cut -d' ' -f1) MARK mark:power-cut policy=random seed=5"
st=$(ctl cut status)
check "cut: status says log=off, last_log, 3 entries" \
  eval '[ "$(kv "$st" log) $(kv "$st" last_log) $(kv "$st" log_entries)" = "off $T/cut.log 3" ]'
ctl cut power-on > /dev/null
nbdsh -u "$(uri_of cut)" -c 'h.pwrite(b"\2" * 4096, 0)'
check "cut: power-on does not resume the log" \
  test "$("$WLOG" dump "$T/cut.log" | wc -l)" -eq 3
check "cut: log start after power-on starts a new one" \
  eval 'ctl cut log start "$T/cut2.log" | grep -q "^ok log=$T/cut2.log"'
nbdsh -u "$(uri_of cut)" -c 'h.pwrite(b"\3" * 4096, 8192)'
ctl cut log stop > /dev/null          # nr_entries is written at the end
check "cut: the new log holds the new write" \
  test "$(flags "$T/cut2.log")" = "NONE"

# ---- Bad starts change nothing -------------------------------------------------
ctl cut log start "$T/cut2.log" > /dev/null
r=$(ctl cut log start "$T/other.log")
check "log start while logging: an error naming the current log" \
  eval '[[ "$r" == "error: log start: already logging to $T/cut2.log" ]]'
check "... and no file made" test ! -e "$T/other.log"
ctl cut log stop > /dev/null
echo "not a log" > "$T/text"
r=$(ctl cut log start "$T/text")
check "log start on a file that is not a log: refused" \
  eval '[[ "$r" == *"exists and is not a write log"* ]]'
check "... and the file is untouched" test "$(cat "$T/text")" = "not a log"
r=$(ctl cut log start "$T/no/such/dir/log")
check "log start where the file cannot be made: an error" \
  eval '[[ "$r" == *"No such file or directory"* ]]'
st=$(ctl cut status)
check "... and the log stays off" eval '[ "$(kv "$st" log)" = off ]'
"$NBDKIT" -U - --filter="$WCACHE_FILTER" memory 1M \
  wcache-log="$T/text" --run true > "$T/start.out" 2>&1
check "wcache-log on a file that is not a log: nbdkit refuses to start" \
  grep -q "wcache-log: .*exists and is not a write log" "$T/start.out"

# ---- A full filesystem ---------------------------------------------------------
mkdir "$T/small"
if mount -t tmpfs -o size=64k tmpfs "$T/small" 2>/dev/null; then
  cleanup_fn "umount '$T/small'"
  start_wcache full memory 4M wcache-log="$T/small/log" wcache-size=64K
  nbdsh -u "$(uri_of full)" -c '
for i in range(64):
    h.pwrite(bytes([i + 1]) * 4096, i * 4096)
    h.flush()
for i in range(64):
    assert h.pread(4096, i * 4096) == bytes([i + 1]) * 4096
' > "$T/full.out" 2>&1
  check "full: every write and flush succeeded and reads back" \
    test ! -s "$T/full.out"
  st=$(ctl full status)
  check "full: status says log=failed with the reason" \
    eval '[[ "$(kv "$st" log)" == "failed: writing: "* ]]'
  check "full: nbdkit's log says the write log stopped" \
    grep -q "wcache: write log: .*logging stopped, the disk goes on" "$T/full.err"
  n=$("$WLOG" info "$T/small/log" | sed -n 's/^nr_entries=//p')
  check "full: the log reads back to its last whole entry ($n entries)" \
    eval '[ "$n" -ge 2 ] && "$WLOG" dump "$T/small/log" > /dev/null'
  check "full: log start after the failure works again (after room is made)" \
    eval 'rm -f "$T/small/log" && ctl full log start "$T/small/log" | grep -q "^ok"'
  stop_nbdkit full
else
  ok "# SKIP full filesystem: cannot mount a tmpfs here"
fi

done_testing
