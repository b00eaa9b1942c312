#!/usr/bin/env bash
# S9 triggers armed over the control socket, on the file plugin: each cut
# fires exactly where it says -- after=writes:N right after the N-th
# acknowledged write (reads do not count), after=flushes:N after the N-th
# flush, after=bytes:N inside the write that crosses N bytes, after=mark:NAME
# at that mark only (the mark's reply already says power=off), after=ms:N
# not before N ms and then by itself; a second arm replaces the first and
# power-cut cancel disarms.  S8 around them: the next request on the
# connection fails with EIO, status shows power=off and last_cut_*, after
# power-on a new connection reads exactly the image file while a
# connection open across the cut keeps failing with EIO.  The start-up key
# wcache-cut-after-writes shows in status as armed=writes.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/control-functions.sh"

requires_wcachectl
requires_nbdsh
requires_plugin file

T=$tmpdir
IMG=$T/t.img
head -c $((1 << 20)) /dev/zero | tr '\0' '\356' > "$IMG"      # 0xee
start_wcache t file "$IMG"
CTL=$(ctl_of t)
URI=$(uri_of t)
export CTL

# img_is OFF LEN BYTE: the image file holds LEN bytes of BYTE at OFF.
img_is ()
{
  "$PY" -c '
import sys
f, off, n, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4], 0)
d = open(f, "rb").read()[off:off + n]
sys.exit(0 if d == bytes([b]) * n else 1)' "$IMG" "$@"
}

# ops_are WANT OP...: nbd_ops prints exactly WANT.
ops_are ()
{
  local want=$1 got
  shift
  got=$(nbd_ops "$URI" "$@")
  [ "$got" = "$want" ] && return 0
  echo "# got:  $got"
  echo "# want: $want"
  return 1
}

# reply_is WANT ARGS...: wcachectl ARGS prints exactly WANT.
reply_is ()
{
  local want=$1 got
  shift
  got=$(ctl t "$@")
  [ "$got" = "$want" ] && return 0
  echo "# wcachectl $*: got: $got"
  return 1
}

# ---- after=writes:N ------------------------------------------------------------
check "arm after=writes:3 policy=lose: ok armed=writes:3 policy=lose" \
  reply_is "ok armed=writes:3 policy=lose" power-cut after=writes:3 policy=lose
st=$(ctl t status)
check "status: power=on armed=writes armed_remaining=3 armed_policy=lose" \
  test "$(kv "$st" power) $(kv "$st" armed) $(kv "$st" armed_remaining) $(kv "$st" armed_policy)" = \
       "on writes 3 lose"
# One client run: connection "old" writes 3 blocks (a read between does
# not count), the next requests fail; "mid" connects while the power is
# off; after power-on "old" still fails, "mid" works, and a new connection
# reads exactly the image file.
r=$(nbd_ops "$URI" \
  conn:old w:0:4096:0x11 w:4096:4096:0x12 r:0:4096 get:armed_remaining \
  w:8192:4096:0x13 r:0:4096 w:12288:4096:0x14 \
  get:power get:last_cut_policy get:last_cut_dirty get:last_cut_lost get:armed \
  get:cuts \
  conn:mid r:0:4096 ctl:power-on conn:old r:0:4096 w:0:4096:0x15 \
  conn:mid r:0:4096 conn:new img:"$IMG" rb:0:16384:0xee)
echo "# $r"
read -r -a res <<< "$r"
check "writes:3: write, write, read (remaining 1), write (3rd) acknowledged; then a read and a write fail with EIO" \
  test "${res[*]:0:8}" = "ok ok ok ok 1 ok EIO EIO"
check "writes:3: status power=off last_cut_policy=lose last_cut_dirty=3 last_cut_lost=3 armed=none cuts=1" \
  test "${res[*]:8:6}" = "off lose 3 3 none 1"
check "writes:3 (lose): none of the 3 acknowledged writes is in the image" \
  img_is 0 16384 0xee
check "a connection made while the power is off fails with EIO" \
  test "${res[*]:14:2}" = "ok EIO"
check "S8: after power-on the connection open across the cut keeps getting EIO (read, write)" \
  test "${res[*]:16:4}" = "ok ok EIO EIO"
check "after power-on the connection made while the power was off works" \
  test "${res[*]:20:2}" = "ok ok"
check "S8: after power-on a new connection reads exactly the image file" \
  test "${res[*]:22:3}" = "ok same ok"
check "status after power-on: power=on, cuts=1, last_cut_* kept" \
  eval '[ "$(ctl t --get power status) $(ctl t --get cuts status) $(ctl t --get last_cut_policy status)" = "on 1 lose" ]'

# ---- after=flushes:N -----------------------------------------------------------
check "arm after=flushes:2: ok armed=flushes:2 policy=lose" \
  reply_is "ok armed=flushes:2 policy=lose" power-cut after=flushes:2
check "flushes:2: write, flush (1st), write, flush (2nd) acknowledged; the next write fails with EIO; last_cut_dirty=0" \
  ops_are "ok ok on ok ok EIO off 0" \
  w:16384:4096:0x21 f get:power w:20480:4096:0x22 f w:24576:4096:0x23 \
  get:power get:last_cut_dirty
check "flushes:2: both flushed writes are in the image, the one after the cut is not" \
  eval 'img_is 16384 4096 0x21 && img_is 20480 4096 0x22 && img_is 24576 4096 0xee'
check "power-on" reply_is "ok power=on" power-on

# ---- after=bytes:N ------------------------------------------------------------
check "arm after=bytes:10000 policy=keep: ok armed=bytes:10000 policy=keep" \
  reply_is "ok armed=bytes:10000 policy=keep" power-cut after=bytes:10000 policy=keep
check "bytes:10000 with 4K writes: 5904 left after the 1st, on after the 2nd, the 3rd (crossing 10000) cuts; the next request fails" \
  ops_are "ok 5904 ok on ok EIO off 3 3" \
  w:32768:4096:0x31 get:armed_remaining w:36864:4096:0x32 get:power \
  w:40960:4096:0x33 r:0:1 get:power get:last_cut_dirty get:last_cut_kept
check "bytes:10000 (keep): the 3 writes are in the image" \
  eval 'img_is 32768 4096 0x31 && img_is 36864 4096 0x32 && img_is 40960 4096 0x33'
check "power-on, and a new connection reads exactly the image file" \
  ops_are "ok same" ctl:power-on img:"$IMG"

# ---- after=mark:NAME -----------------------------------------------------------
check "arm after=mark:commit policy=keep: ok armed=mark:commit policy=keep" \
  reply_is "ok armed=mark:commit policy=keep" power-cut after=mark:commit policy=keep
check "status: armed=mark armed_mark=commit armed_policy=keep" \
  eval '[ "$(ctl t --get armed status) $(ctl t --get armed_mark status) $(ctl t --get armed_policy status)" = "mark commit keep" ]'
check "mark:commit: a dirty write; marks 'other' and 'commit2' do not fire" \
  ops_are "ok ok ok on mark" \
  w:49152:4096:0x41 ctl:mark,other ctl:mark,commit2 get:power get:armed
check "mark commit: the mark's reply says power=off" \
  reply_is "ok mark=commit power=off" mark commit
check "mark:commit: status power=off, last_cut_policy=keep, last_cut_kept=1; the write is in the image" \
  eval '[ "$(ctl t --get power status) $(ctl t --get last_cut_policy status) $(ctl t --get last_cut_kept status)" = "off keep 1" ] &&
        img_is 49152 4096 0x41'
check "power-on" reply_is "ok power=on" power-on

# ---- after=ms:N ----------------------------------------------------------------
t0=$(date +%s%N)
check "arm after=ms:3000: ok armed=ms:3000 policy=lose" \
  reply_is "ok armed=ms:3000 policy=lose" power-cut after=ms:3000
st=$(ctl t status)
check "ms:3000: right after arming power=on, armed=ms, 0 < armed_remaining <= 3000" \
  eval '[ "$(kv "$st" power) $(kv "$st" armed)" = "on ms" ] &&
        [ "$(kv "$st" armed_remaining)" -gt 0 ] && [ "$(kv "$st" armed_remaining)" -le 3000 ]'
check "ms:3000: the power goes off by itself (polled, 15 s)" \
  poll_until 15 eval '[ "$(ctl t --get power status)" = off ]'
t1=$(date +%s%N)
check "ms:3000: not before 3000 ms after arming ($(((t1 - t0) / 1000000)) ms)" \
  test $(((t1 - t0) / 1000000)) -ge 3000
check "ms:3000: last_cut_policy=lose, armed=none, cuts=5" \
  eval '[ "$(ctl t --get last_cut_policy status) $(ctl t --get armed status) $(ctl t --get cuts status)" = "lose none 5" ]'
check "power-on" reply_is "ok power=on" power-on

# ---- a second arm replaces the first ---------------------------------------------
ctl t power-cut after=writes:2 >/dev/null
check "arm writes:5 over writes:2: ok armed=writes:5 policy=keep" \
  reply_is "ok armed=writes:5 policy=keep" power-cut after=writes:5 policy=keep
check "status: armed_remaining=5, armed_policy=keep" \
  eval '[ "$(ctl t --get armed_remaining status) $(ctl t --get armed_policy status)" = "5 keep" ]'
check "writes:5 replaced writes:2: writes 1-2 do not cut, the 5th does" \
  ops_are "ok ok on ok ok ok EIO keep" \
  w:65536:4096:0x51 w:69632:4096:0x52 get:power w:73728:4096:0x53 \
  w:77824:4096:0x54 w:81920:4096:0x55 r:0:1 get:last_cut_policy
check "power-on" reply_is "ok power=on" power-on
ctl t power-cut after=flushes:1 >/dev/null
check "arm bytes:8192 over flushes:1" \
  reply_is "ok armed=bytes:8192 policy=lose" power-cut after=bytes:8192
check "bytes:8192 replaced flushes:1: a flush does not cut; the 2nd 4K write does" \
  ops_are "ok on ok ok EIO" f get:power w:98304:4096:0x61 w:102400:4096:0x62 r:0:1
check "power-on" reply_is "ok power=on" power-on

# ---- cancel ------------------------------------------------------------------------
ctl t power-cut after=writes:2 >/dev/null
check "power-cut cancel: ok armed=none" reply_is "ok armed=none" power-cut cancel
cuts=$(ctl t --get cuts status)
check "after cancel: 5 writes and a flush, no cut" \
  ops_are "ok ok ok ok ok ok on none" \
  w:131072:4096:1 w:135168:4096:2 w:139264:4096:3 w:143360:4096:4 \
  w:147456:4096:5 f get:power get:armed
check "after cancel: cuts unchanged ($cuts)" test "$(ctl t --get cuts status)" = "$cuts"
check "a cancelled ms timer does not fire: arm ms:200, cancel, then the power stays on through 1000 ms of polling" \
  eval 'ctl t power-cut after=ms:200 >/dev/null && ctl t power-cut cancel >/dev/null &&
        ! poll_until 1 eval "[ \"\$(ctl t --get power status)\" = off ]"'
stop_nbdkit t

# ---- the start-up key ---------------------------------------------------------------
head -c $((1 << 20)) /dev/zero | tr '\0' '\356' > "$IMG"
start_wcache u file "$IMG" wcache-cut-after-writes=3 wcache-cut-policy=keep
CTL=$(ctl_of u) URI=$(uri_of u)
st=$(ctl u status)
check "wcache-cut-after-writes=3 wcache-cut-policy=keep: status armed=writes armed_remaining=3 armed_policy=keep" \
  test "$(kv "$st" armed) $(kv "$st" armed_remaining) $(kv "$st" armed_policy)" = "writes 3 keep"
check "the start-up trigger fires after the 3rd write; the next request fails" \
  ops_are "ok ok ok EIO off keep 3" \
  w:0:4096:0x71 w:4096:4096:0x72 w:8192:4096:0x73 r:0:1 get:power \
  get:last_cut_policy get:last_cut_kept
check "the start-up cut kept the 3 writes (policy keep)" \
  eval 'img_is 0 4096 0x71 && img_is 4096 4096 0x72 && img_is 8192 4096 0x73'
check "power-on over the control socket after a start-up cut; a new connection reads the image" \
  ops_are "ok same" ctl:power-on img:"$IMG"

done_testing
