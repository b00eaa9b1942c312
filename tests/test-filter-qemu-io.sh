#!/usr/bin/env bash
# S2 and S3 with a real client, qemu-io over NBD: a FUA write (write -f) is
# on the plugin with fua=1 when qemu-io moves on, a plain write only after
# qemu-io's flush, and both read back with their patterns.  In
# wcache-mode=writethrough a plain write is durable at once (S4/S6).  The
# log filter below wcache is read while qemu-io stops itself (sigraise 19)
# between commands: a barrier, not a sleep.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"

: "${QEMU_IO:=qemu-io}"
requires_cmd "$QEMU_IO"
requires_plugin memory
requires "$NBDKIT" --filter=log null --version
[ -f "$WCACHE_FILTER" ] || bail "no filter at $WCACHE_FILTER (not built?)"

T=$tmpdir

# stopped PID: waits (bounded, 10 s) until PID is stopped (state T).
stopped ()
{
  local i stat
  for i in $(seq 1 200); do
    read -r stat < "/proc/$1/stat" 2>/dev/null || return 1
    stat=${stat##*) }
    [ "${stat%% *}" = T ] && return 0
    sleep 0.05
  done
  return 1
}

# qemu_io NAME OUT CMD...: runs qemu-io (cache=writeback on its side) on
# server NAME with the commands.  Each time qemu-io stops itself
# ("sigraise 19"), the plugin log is copied to NAME.stopN.log (N = 1, 2 ...)
# and qemu-io is continued.  Its output goes to OUT, its exit status to
# OUT.rc.
qemu_io ()
{
  local name=$1 out=$2 pid c n=0 stops=0 args=()
  shift 2
  for c in "$@"; do
    args+=(-c "$c")
    [ "$c" = "sigraise 19" ] && stops=$((stops + 1))
  done
  "$QEMU_IO" -f raw -t writeback "${args[@]}" \
    "nbd+unix:///?socket=$(sock_of "$name")" > "$out" 2>&1 &
  pid=$!
  while ((n < stops)); do
    n=$((n + 1))
    if ! stopped $pid; then
      not_ok "$name: qemu-io did not stop at sigraise 19 number $n"
      kill $pid 2>/dev/null
      break
    fi
    cp "$T/$name.plugin.log" "$T/$name.stop$n.log"
    kill -CONT $pid
  done
  wait $pid
  echo $? > "$out.rc"
}

# ---- writeback --------------------------------------------------------------
start_nbdkit wb --filter="$WCACHE_FILTER" --filter=log memory 1M \
  logfile="$T/wb.plugin.log"
qemu_io wb "$T/wb.out" \
  'write -P 0x11 0 64k' \
  'write -f -P 0x22 64k 64k' \
  'sigraise 19' \
  'flush' \
  'sigraise 19' \
  'read -P 0x11 0 64k' \
  'read -P 0x22 64k 64k'

check "qemu-io: every command succeeded" \
  eval '[ "$(cat "$T/wb.out.rc")" = 0 ] && ! grep -qi "fail\|error" "$T/wb.out"'
check "S1: qemu-io read both patterns back (read -P)" \
  eval '[ "$(grep -c "^read 65536/65536 bytes" "$T/wb.out")" = 2 ] &&
        ! grep -q "Pattern verification failed" "$T/wb.out"'
check "S2: qemu-io's FUA write (write -f) was on the plugin with fua=1 before qemu-io went on" \
  plugin_has "$T/wb.stop1.log" Write 65536 65536 fua
check "S3: qemu-io's plain write had not reached the plugin before its flush" \
  eval '! plugin_touched "$T/wb.stop1.log" "Write|Zero|Trim" 0 65536'
check "S3: after qemu-io's flush the plain write is on the plugin, then a plugin flush" \
  plugin_has "$T/wb.stop2.log" "Write|Zero" 0 65536 durable

# ---- writethrough -----------------------------------------------------------
start_nbdkit wt --filter="$WCACHE_FILTER" --filter=log memory 1M \
  logfile="$T/wt.plugin.log" wcache-mode=writethrough
qemu_io wt "$T/wt.out" \
  'write -P 0x33 0 64k' \
  'sigraise 19' \
  'read -P 0x33 0 64k'

check "qemu-io (writethrough disk): every command succeeded" \
  eval '[ "$(cat "$T/wt.out.rc")" = 0 ] && ! grep -qi "fail\|error" "$T/wt.out"'
check "S1: qemu-io read the pattern back from the writethrough disk" \
  eval 'grep -q "^read 65536/65536 bytes" "$T/wt.out" &&
        ! grep -q "Pattern verification failed" "$T/wt.out"'
check "S4/S6: writethrough: qemu-io's plain write was durable on the plugin before qemu-io went on" \
  plugin_has "$T/wt.stop1.log" "Write|Zero" 0 65536 durable

done_testing
