#!/usr/bin/env bash
# Safe reopen under load (wcache(7), SAFE REOPEN, with the mode switch rule
# S5 and the host flags of CACHE MODES): four writers hammer distinct
# regions of MOUNTPOINT/disk -- one with O_DSYNC writes, one with fsync, one
# with O_DIRECT writes and fsync, one with plain (cached) writes and an
# occasional fsync -- each reading its data back after every write, while
# the test switches the cache mode hundreds of times through all five modes,
# alternately by MOUNTPOINT/mode and by `wcachectl mode`.  Every switch
# reopens the image (quiesce, fdatasync, open /proc/self/fd/N with the new
# flags, swap) or writes the cache back (WCE off).
#
# Asserts: no writer request failed and every read-back was exact (S1);
# every switch replied ok with the mode's host flags and no host_error, and
# /proc/PID/fdinfo agreed each time; no descriptor leaked; and after a last
# fsync the image holds exactly each writer's final data (cmp of the whole
# image against a model that received the same writes).

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/fuse-functions.sh"

: "${WCACHECTL:=$top_builddir/server/wcachectl}"

requires_fuse
requires_cmd dd cmp head stat sync
[ -x "$WCACHECTL" ] || skip_all "requires wcachectl at $WCACHECTL"

T=$tmpdir
dd if=/dev/zero of="$T/.direct-probe" bs=4096 count=1 oflag=direct \
   status=none 2>/dev/null ||
  skip_all "the filesystem of $T refuses O_DIRECT (set TMPDIR elsewhere)"
rm -f "$T/.direct-probe"

SIZE=$((16 << 20))
K64=65536
REGION=$((2 << 20))             # per writer, at i * REGION
SLOTS=8                         # 64K slots a writer cycles through
NW=4
HOWS=(dsync fsync direct plain)
MIN_SWITCHES=200                # at least this many ...
MIN_SECONDS=8                   # ... over at least this long,
MAX_SECONDS=60                  # and never longer (a wedge, not a slow machine)

# Leftover mounts are detached at exit, and a hang fails the test
# (fuse_unmount_leftovers, fuse_watchdog: tests/fuse-functions.sh).
cleanup_fn fuse_unmount_leftovers
fuse_watchdog 150

make_image l.img $SIZE
make_image l.model $SIZE
start_fuse l "$T/l.img" --control="$(fctl_of l)"
MNT=$(mnt_of l)
CTL=$(fctl_of l)
FPID=$(fpid_of l)

# ---- The writers -------------------------------------------------------------

# writer I HOW: until $T/stop exists or SIGTERM arrives (taken between
# iterations: bash runs the trap after the dd in progress), writes 64K of
# fresh random data to the next slot of region I, reads it back, and
# records every failure in $T/wI.fail.  The model gets each write that
# succeeded.  $T/wI.count: iterations done; $T/wI.ready after the first.
writer ()
{
  local i=$1 how=$2 n=0 off oflag conv iflag data=$T/w$1.data stopping=0
  trap 'stopping=1' TERM
  while ((!stopping)) && [ ! -e "$T/stop" ]; do
    off=$((i * REGION + (n % SLOTS) * K64))
    head -c $K64 /dev/urandom > "$data"
    oflag=seek_bytes conv=notrunc iflag=skip_bytes,count_bytes,direct
    case $how in
      dsync) oflag=seek_bytes,dsync ;;
      fsync) conv=notrunc,fsync iflag=skip_bytes,count_bytes ;;
      direct) oflag=seek_bytes,direct conv=notrunc,fsync ;;
      plain) ((n % 4 == 3)) && conv=notrunc,fsync ;;
    esac
    # In 4K requests: 16 per iteration, many in flight across a switch.
    if ! dd if="$data" of="$MNT/disk" bs=4096 seek=$off oflag=$oflag \
         conv=$conv status=none 2>>"$T/w$i.fail"; then
      echo "iteration $n: $how write of 64K at $off failed" >> "$T/w$i.fail"
    else
      dd if="$data" of="$T/l.model" bs=$K64 seek=$off oflag=seek_bytes \
         conv=notrunc status=none
      if ! dd if="$MNT/disk" bs=4096 skip=$off count=$K64 iflag=$iflag \
           status=none 2>>"$T/w$i.fail" | cmp -s - "$data"; then
        echo "iteration $n: read-back of 64K at $off differs" >> "$T/w$i.fail"
      fi
    fi
    n=$((n + 1))
    echo $n > "$T/w$i.count.tmp" && mv -f "$T/w$i.count.tmp" "$T/w$i.count"
    ((n == 1)) && : > "$T/w$i.ready"
  done
  exit 0
}

pids=()
# stop_writers: SIGTERM each by pid, then wait for each (they finish the
# iteration in progress, so the model matches what they wrote); one still
# there after 30 s is stuck in the disk, and gets SIGKILL.
stop_writers ()
{
  local p k n
  : > "$T/stop"
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for ((k = 0; k < 600; k++)); do
    n=0
    for p in "${pids[@]}"; do pid_alive "$p" && n=$((n + 1)); done
    ((n == 0)) && break
    sleep 0.05
  done
  for k in "${!pids[@]}"; do
    p=${pids[k]}
    if pid_alive "$p"; then
      echo "stuck in the disk 30 s after SIGTERM: killed" >> "$T/w$k.fail"
      kill -KILL "$p"
    fi
    wait "$p" 2>/dev/null
  done
  pids=()
}
cleanup_fn stop_writers

for ((i = 0; i < NW; i++)); do
  : > "$T/w$i.fail"
  writer $i "${HOWS[i]}" &
  pids+=($!)
done

# All writers through their first iteration (bounded poll, 30 s).
ready=0
for ((k = 0; k < 600; k++)); do
  ready=0
  for ((i = 0; i < NW; i++)); do [ -e "$T/w$i.ready" ] && ready=$((ready + 1)); done
  ((ready == NW)) && break
  sleep 0.05
done
((ready == NW)) || bail "only $ready of $NW writers got going"

count_of () { cat "$T/w$1.count" 2>/dev/null || echo 0; }
declare -a before
for ((i = 0; i < NW; i++)); do before[i]=$(count_of $i); done

# ---- The switches ------------------------------------------------------------

declare -A FLAGS=([writeback]=buffered [unsafe]=buffered [writethrough]=O_DSYNC
                  [none]=O_DIRECT [directsync]="O_DIRECT|O_DSYNC")
flags_for () { [ -n "$1" ] && echo "${FLAGS[$1]-}"; }

# The cycle has every kind of transition: WCE off -> on, on -> on with new
# flags, on -> off (S5 write-back), and a length of 5, so every mode is
# reached through both interfaces, alternately.
modes=(writethrough none unsafe directsync writeback)
switches=0 failed=0 disagree=0 by_file=0 by_ctl=0
fail_msg () { failed=$((failed + 1)); ((failed <= 5)) && echo "# switch $switches: $*"; }

# The loop forks only wcachectl: on a busy machine every fork costs.
# read_status: MOUNTPOINT/status into the array ST.
declare -A ST
read_status ()
{
  local line
  ST=()
  while IFS= read -r line; do ST[${line%%=*}]=${line#*=}; done < "$MNT/status"
}
# fdinfo_flags FD: sets got to the O_DIRECT/O_DSYNC bits of the daemon's
# FD, named as host_flags names them (as host_flags_of does, without its
# forks).
fdinfo_flags ()
{
  local k v f=
  got="no fdinfo for fd $1"
  while read -r k v; do [ "$k" = flags: ] && f=$v; done < "/proc/$FPID/fdinfo/$1"
  [ -n "$f" ] || return
  f=$((8#$f))
  if ((f & 8#40000 && f & 8#10000)); then got="O_DIRECT|O_DSYNC"
  elif ((f & 8#40000)); then got=O_DIRECT
  elif ((f & 8#10000)); then got=O_DSYNC
  else got=buffered
  fi
}

t0=$SECONDS
while :; do
  e=$((SECONDS - t0))
  ((e >= MAX_SECONDS)) && break
  ((switches >= MIN_SWITCHES && e >= MIN_SECONDS)) && break
  m=${modes[switches % 5]}
  want=${FLAGS[$m]}
  fd=
  if ((switches % 2 == 0)); then
    by_file=$((by_file + 1))
    if ! echo "$m" > "$MNT/mode"; then
      fail_msg "echo $m > mode failed"
    else
      read_status
      fd=${ST[host_fd]-}
      if [ "${ST[mode]-}" != "$m" ] || [ "${ST[host_flags]-}" != "$want" ] ||
         [ -n "${ST[host_error]+set}" ]; then
        fail_msg "echo $m > mode: status mode=${ST[mode]-} host_flags=${ST[host_flags]-}" \
          "host_error=${ST[host_error]-}"
      fi
    fi
  else
    by_ctl=$((by_ctl + 1))
    reply=$("$WCACHECTL" -s "$CTL" --timeout=30 mode "$m" 2>&1)
    rc=$?
    [[ $reply =~ \ host_fd=([0-9]+) ]] && fd=${BASH_REMATCH[1]}
    if ((rc != 0)) || [[ $reply != "ok mode=$m "* ]] ||
       [[ "$reply " != *" host_flags=$want "* ]] ||
       [[ $reply == *" host_error="* ]]; then
      fail_msg "wcachectl mode $m: exit $rc: $reply"
    fi
  fi
  # The kernel's view of the descriptor now in force.
  got="no host_fd"
  [ -n "$fd" ] && fdinfo_flags "$fd"
  if [ "$got" != "$want" ]; then
    disagree=$((disagree + 1))
    ((disagree <= 5)) && echo "# switch $switches to $m: fdinfo says $got, expected $want"
  fi
  switches=$((switches + 1))
done
secs=$((SECONDS - t0))

declare -a after
for ((i = 0; i < NW; i++)); do after[i]=$(count_of $i); done
stop_writers
for ((i = 0; i < NW; i++)); do
  echo "# writer $i (${HOWS[i]}): $(count_of $i) iterations," \
       "$((after[i] - before[i])) during the switches"
done
echo "# $switches switches ($by_file by the mode file, $by_ctl by wcachectl) in ${secs}s"

check "every switch replied ok with the mode's host_flags and no host_error ($failed of $switches failed)" \
  test "$failed" = 0
check "after every switch fdinfo showed the mode's flags ($disagree disagreed)" \
  test "$disagree" = 0
check "$MIN_SWITCHES+ switches, through both interfaces ($by_file + $by_ctl)" \
  eval '((switches >= MIN_SWITCHES && by_file >= MIN_SWITCHES / 2 &&
          by_ctl >= MIN_SWITCHES / 2))'
for ((i = 0; i < NW; i++)); do
  check "writer $i (${HOWS[i]}): wrote and read back during the switches ($((after[i] - before[i])) iterations)" \
    test $((after[i] - before[i])) -ge 10
  if [ -s "$T/w$i.fail" ]; then
    sed 's/^/# /' "$T/w$i.fail" | head -n 5
  fi
  check "writer $i (${HOWS[i]}): no request failed, every read-back exact" \
    test ! -s "$T/w$i.fail"
done

# The end state: the last mode's flags, no descriptor leaked over all those
# reopens, no media error.
last=$(cat "$MNT/mode")
check "status host_flags agrees with fdinfo at the end ($last)" \
  eval '[ -n "$(flags_for "$last")" ] &&
        [ "$(stat_of l host_flags)" = "$(flags_for "$last")" ] &&
        [ "$(host_flags_of l)" = "$(flags_for "$last")" ]'
key=$(stat -L -c %d:%i "/proc/$FPID/fd/$(stat_of l host_fd)") || key="no host_fd"
nfd=0
for f in /proc/"$FPID"/fd/*; do
  [ "$(stat -L -c %d:%i "$f" 2>/dev/null)" = "$key" ] && nfd=$((nfd + 1))
done
case $(flags_for "$last") in *O_DIRECT*) wantfd=2 ;; *) wantfd=1 ;; esac
check "no descriptor of the image leaked after $switches switches ($nfd open, $wantfd expected)" \
  test "$nfd" = "$wantfd"
check "no media error during the run (status media_errors=0)" \
  test "$(stat_of l media_errors)" = 0

# A last fsync (S3), then the image itself: each writer's final data in its
# region, zeros elsewhere.  The switching may have ended in unsafe, where
# a flush is ignored by design: leave it first (WCE stays on, nothing is
# written back by the switch itself).
check "back to writeback for the last fsync" \
  eval 'echo writeback > "$MNT/mode" && test "$(cat "$MNT/mode")" = writeback'
check "a last fsync of the disk succeeds" sync "$MNT/disk"
for ((i = 0; i < NW; i++)); do
  check "writer $i (${HOWS[i]}): the image holds exactly its final data" \
    cmp -i $((i * REGION)):$((i * REGION)) -n $REGION "$T/l.img" "$T/l.model"
done
check "the whole image is byte for byte the model (nothing outside the regions)" \
  cmp "$T/l.img" "$T/l.model"
check "the disk reads the model" \
  eval 'dd if="$MNT/disk" bs=1M iflag=direct status=none | cmp - "$T/l.model"'
stop_fuse l

check "nothing hung (the watchdog did not fire)" fuse_watchdog_quiet
done_testing
