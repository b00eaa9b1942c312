#!/usr/bin/env bash
# Configuration: every bad value of every wcache key fails at start-up with
# a message naming the key, and every documented value works at least once
# (all five modes, advertise auto/always, every cut policy, cut-action
# eio/exit, oracle on/off, flush-on-exit, sizes), each checked by what it
# does.  --help lists every key.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"

requires_nbdsh
requires_plugin memory
requires_plugin file
requires "$NBDKIT" --filter=log null --version
[ -f "$WCACHE_FILTER" ] || bail "no filter at $WCACHE_FILTER (not built?)"

export T=$tmpdir

# ---- --help -------------------------------------------------------------
"$NBDKIT" --filter="$WCACHE_FILTER" memory --help > "$T/help" 2>&1
for key in wcache-mode wcache-size wcache-block-size wcache-advertise \
           wcache-cut-after-writes wcache-cut-policy wcache-seed wcache-cut-p \
           wcache-cut-unit wcache-cut-action wcache-oracle wcache-flush-on-exit \
           wcache-control wcache-log wcache-log-sector-size; do
  check "--help lists $key" grep -q "^$key=" "$T/help"
done

# ---- Bad values ---------------------------------------------------------
# bad KEY ARGS...: nbdkit with ARGS fails at start-up, without running the
# --run command, and its error names KEY.
bad ()
{
  local key=$1 rc
  shift
  rm -f "$T/ran"
  "$NBDKIT" -U - --filter="$WCACHE_FILTER" memory 1M "$@" \
    --run "touch '$T/ran'" > "$T/bad.out" 2> "$T/bad.err"
  rc=$?
  if [ $rc -ne 0 ] && [ ! -e "$T/ran" ] &&
     grep -q "error: .*$key" "$T/bad.err"; then
    ok "config: $* fails at start-up naming $key"
  else
    not_ok "config: $* fails at start-up naming $key (exit $rc: $(head -c 300 "$T/bad.err"))"
  fi
}

bad wcache-mode wcache-mode=bogus
bad wcache-mode wcache-mode=
bad wcache-block-size wcache-block-size=1000
bad wcache-block-size wcache-block-size=128K
bad wcache-block-size wcache-block-size=256
bad wcache-block-size wcache-block-size=big
bad wcache-size wcache-size=100
bad wcache-size wcache-size=lots
bad wcache-size wcache-size=4K wcache-block-size=8K
bad wcache-advertise wcache-advertise=x
bad wcache-cut-policy wcache-cut-policy=x
bad wcache-cut-p wcache-cut-p=2
bad wcache-cut-p wcache-cut-p=-0.1
bad wcache-cut-p wcache-cut-p=half
bad wcache-cut-action wcache-cut-action=x
bad wcache-cut-unit wcache-cut-unit=8K
bad wcache-cut-unit wcache-cut-unit=1000
bad wcache-cut-unit wcache-cut-unit=wide
bad wcache-cut-after-writes wcache-cut-after-writes=0
bad wcache-cut-after-writes wcache-cut-after-writes=many
bad wcache-seed wcache-seed=-1
bad wcache-oracle wcache-oracle=maybe
bad wcache-flush-on-exit wcache-flush-on-exit=maybe
bad wcache-mod wcache-mod=writeback
# One grammar for numbers (decimal, no sign, no hex) and sizes (nbdkit's
# suffixes), as wcache-fuse's options and the control protocol.
bad wcache-cut-after-writes wcache-cut-after-writes=0x10
bad wcache-cut-after-writes wcache-cut-after-writes=+5
bad wcache-seed wcache-seed=0x10
bad wcache-size wcache-size=-4K
bad wcache-size wcache-size=1.5M
# The reason is the real one: 1M is too large, not "not a power of two".
"$NBDKIT" -U - --filter="$WCACHE_FILTER" memory 1M wcache-block-size=1M \
  --run true 2> "$T/1m.err"
check "wcache-block-size=1M: the error says larger than 64K" \
  grep -q "wcache-block-size: 1M is larger than 64K" "$T/1m.err"
"$NBDKIT" -U - --filter="$WCACHE_FILTER" memory 1M wcache-cut-unit=8K \
  --run true 2> "$T/8k.err"
check "wcache-cut-unit=8K: the error says larger than the block size" \
  grep -q "wcache-cut-unit: 8192 is larger than the block size" "$T/8k.err"

# 010 is ten, for keys as for the control protocol (after=writes:010).
if [ -x "${WCACHECTL:-}" ]; then
  start_nbdkit dec --filter="$WCACHE_FILTER" memory 1M \
    wcache-cut-after-writes=010 wcache-seed=010 \
    wcache-control="$T/dec.ctl"
  "$WCACHECTL" -s "$T/dec.ctl" --wait=10 status > "$T/dec.status"
  check "wcache-cut-after-writes=010 arms ten writes (armed_remaining=10)" \
    grep -q " armed_remaining=10 " "$T/dec.status"
  nbdsh -u "$(uri_of dec)" -c '
for i in range(9):
    h.pwrite(b"x" * 512, i * 4096)
' 
  "$WCACHECTL" -s "$T/dec.ctl" status > "$T/dec.status9"
  nbdsh -u "$(uri_of dec)" -c 'h.pwrite(b"x" * 512, 65536)'
  "$WCACHECTL" -s "$T/dec.ctl" status > "$T/dec.status10"
  check "nine writes: the power is still on" grep -q " power=on " "$T/dec.status9"
  check "the tenth write cut it, with seed 10 (wcache-seed=010)" \
    eval 'grep -q " power=off " "$T/dec.status10" &&
          grep -q " last_cut_seed=10 " "$T/dec.status10"'
else
  ok "# SKIP decimal keys: no wcachectl"
fi

# ---- Modes, advertise, sizes (memory, log filter below wcache) -----------
# mode NAME KEY=VALUE...: a client records can_flush, makes a plain write of
# 3000 B at 70000 (unaligned), snapshots the plugin log (NAME.w.log),
# flushes if offered, snapshots again (NAME.f.log) and reads 8K around
# the write back (NAME.read: True if exact).
mode ()
{
  local name=$1
  shift
  start_nbdkit "$name" --filter="$WCACHE_FILTER" --filter=log memory 1M \
    logfile="$T/$name.plugin.log" "$@"
  NAME=$name LOG=$T/$name.plugin.log nbdsh -u "$(uri_of "$name")" -c '
import os, shutil
T, N, LOG = os.environ["T"], os.environ["NAME"], os.environ["LOG"]
data = bytes(range(250)) * 12
open("%s/%s.can" % (T, N), "w").write("flush=%s\n" % h.can_flush())
h.pwrite(data, 70000)
shutil.copy(LOG, "%s/%s.w.log" % (T, N))
if h.can_flush():
    h.flush()
shutil.copy(LOG, "%s/%s.f.log" % (T, N))
ok = h.pread(8192, 69632) == bytes(368) + data + bytes(8192 - 368 - 3000)
open("%s/%s.read" % (T, N), "w").write("%s\n" % ok)
' || not_ok "$name: client failed"
  stop_nbdkit "$name"
}
cached_at_reply () { ! plugin_touched "$T/$1.w.log" "Write|Zero|Trim" 70000 3000; }
durable_at_reply () { plugin_has "$T/$1.w.log" "Write|Zero" 70000 3000 durable; }
durable_after_flush () { plugin_has "$T/$1.f.log" "Write|Zero" 70000 3000 durable; }
not_after_flush () { ! plugin_touched "$T/$1.f.log" "Write|Zero|Trim" 70000 3000; }
reads_back () { grep -qx True "$T/$1.read"; }

mode writeback wcache-mode=writeback wcache-advertise=auto \
  wcache-block-size=512 wcache-size=1M
check "wcache-mode=writeback: a plain write is cached at its reply" cached_at_reply writeback
check "wcache-mode=writeback: the flush makes it durable" durable_after_flush writeback
check "wcache-mode=writeback, wcache-block-size=512: the write reads back" reads_back writeback

mode none wcache-mode=none wcache-advertise=always \
  wcache-block-size=64K wcache-size=64K
check "wcache-mode=none: a plain write is cached at its reply" cached_at_reply none
check "wcache-mode=none: the flush makes it durable" durable_after_flush none
check "wcache-mode=none, wcache-block-size=64K wcache-size=64K: the write reads back" reads_back none

mode writethrough wcache-mode=writethrough wcache-advertise=auto
check "wcache-mode=writethrough, advertise=auto: FLUSH not offered" \
  grep -qx flush=False "$T/writethrough.can"
check "wcache-mode=writethrough: a plain write is durable at its reply" durable_at_reply writethrough
check "wcache-mode=writethrough: the write reads back" reads_back writethrough

mode directsync wcache-mode=directsync wcache-advertise=always
check "wcache-mode=directsync, advertise=always: FLUSH offered" \
  grep -qx flush=True "$T/directsync.can"
check "wcache-mode=directsync: a plain write is durable at its reply" durable_at_reply directsync
check "wcache-mode=directsync: the write reads back" reads_back directsync

mode unsafe wcache-mode=unsafe
check "wcache-mode=unsafe: FLUSH offered" grep -qx flush=True "$T/unsafe.can"
check "wcache-mode=unsafe: a plain write is cached at its reply" cached_at_reply unsafe
check "wcache-mode=unsafe: a flush is acknowledged and ignored (nothing reaches the plugin)" \
  not_after_flush unsafe
check "wcache-mode=unsafe: the write reads back" reads_back unsafe

# ---- Cut policies and actions (file, start-up trigger) -------------------
BS=4096
STRIDE=16384                    # record K is one 4K block at K * 16K
head -c $((64 * BS)) /dev/urandom > "$T/records"
head -c $((1 << 20)) /dev/zero | tr '\0' '\356' > "$T/base"

# cut NAME NF NU KEY=VALUE...: serves a copy of base through wcache with
# wcache-cut-after-writes=NF+NU; the client writes records 0..NF-1,
# flushes, writes NF..NF+NU-1 (the last triggers the cut), then tries one
# more write and records its outcome in NAME.after.
cut ()
{
  local name=$1 nf=$2 nu=$3
  shift 3
  cp "$T/base" "$T/$name.img"
  start_nbdkit "$name" --filter="$WCACHE_FILTER" file "$T/$name.img" \
    wcache-cut-after-writes=$((nf + nu)) "$@"
  NAME=$name NF=$nf NU=$nu nbdsh -u "$(uri_of "$name")" -c '
import os, errno
T, N = os.environ["T"], os.environ["NAME"]
nf, nu = int(os.environ["NF"]), int(os.environ["NU"])
recs = open(T + "/records", "rb").read()
def write(k):
    h.pwrite(recs[k * 4096:(k + 1) * 4096], k * 16384)
for k in range(nf):
    write(k)
h.flush()
for k in range(nf, nf + nu - 1):
    write(k)
out = open("%s/%s.after" % (T, N), "w")
try:
    write(nf + nu - 1)
    write(63)
    out.write("ok\n")
except nbd.Error as e:
    out.write("%s\n" % errno.errorcode.get(e.errnum, e.errnum))
out.close()
' || not_ok "$name: client failed"
}

# units IMG K UNIT: record K's block in IMG, one letter per UNIT bytes:
# n (the record), o (the base) or x (anything else).
units ()
{
  local img=$1 k=$2 unit=$3 u s=""
  for ((u = 0; u < BS; u += unit)); do
    if cmp -s -i "$((k * BS + u)):$((k * STRIDE + u))" -n "$unit" \
         "$T/records" "$img"; then s+=n
    elif cmp -s -i "$((k * STRIDE + u)):$((k * STRIDE + u))" -n "$unit" \
         "$T/base" "$img"; then s+=o
    else s+=x
    fi
  done
  echo "$s"
}
# blocks IMG FROM TO UNIT: units of records FROM..TO-1, space-separated.
blocks ()
{
  local k out=()
  for ((k = $2; k < $3; k++)); do out+=("$(units "$1" $k "$4")"); done
  echo "${out[*]}"
}
# oracle_clean NAME: the oracle verified the cut and reported no error.
oracle_clean ()
{
  grep -q 'wcache: oracle: [0-9]* blocks verified' "$T/$1.err" &&
    ! grep 'oracle:' "$T/$1.err" | grep -qv 'blocks verified'
}

all_n="nnnnnnnn"                # a whole 4K record, in 512 B units
cut lose 4 16 wcache-cut-policy=lose wcache-cut-action=exit wcache-oracle=true
check "wcache-cut-action=exit: nbdkit exits after the cut" wait_exit lose
check "wcache-cut-policy=lose: flushed records survive" \
  test "$(blocks "$T/lose.img" 0 4 512)" = "$(echo $all_n $all_n $all_n $all_n)"
check "wcache-cut-policy=lose: every unflushed record is lost" \
  eval '[[ "$(blocks "$T/lose.img" 4 20 512)" =~ ^(oooooooo ?){16}$ ]]'
check "wcache-oracle=true: the oracle verified the lose cut, no error" oracle_clean lose

cut keep 4 16 wcache-cut-policy=keep wcache-cut-action=eio wcache-oracle=false
check "wcache-cut-action=eio: the request after the cut fails with EIO" \
  grep -qx EIO "$T/keep.after"
check "wcache-cut-action=eio: nbdkit keeps running" nbdkit_running keep
check "wcache-oracle=false: no oracle at the cut" eval '! grep -q "oracle:" "$T/keep.err"'
stop_nbdkit keep
check "wcache-cut-policy=keep: every record survives" \
  eval '[[ "$(blocks "$T/keep.img" 0 20 512)" =~ ^(nnnnnnnn ?){20}$ ]]'

cut random 4 16 wcache-cut-policy=random wcache-seed=7 wcache-cut-p=0.5 \
  wcache-cut-action=exit wcache-oracle=true
check "random: nbdkit exits after the cut" wait_exit random
r=$(blocks "$T/random.img" 4 20 512)
check "wcache-cut-policy=random: flushed records survive" \
  eval '[[ "$(blocks "$T/random.img" 0 4 512)" =~ ^(nnnnnnnn ?){4}$ ]]'
check "wcache-cut-policy=random: each unflushed record is whole or lost ($r)" \
  eval '[[ "$r" =~ ^((nnnnnnnn|oooooooo) ?){16}$ ]]'
check "wcache-seed=7: the cut reports its seed" \
  grep -q 'wcache: power cut: policy=random seed=7 ' "$T/random.err"
check "wcache-oracle=true: the oracle verified the random cut, no error" oracle_clean random

cut random-p1 4 16 wcache-cut-policy=random wcache-cut-p=1 wcache-cut-action=exit
wait_exit random-p1 || bail "random-p1 did not exit"
check "wcache-cut-p=1: every unflushed record survives a random cut" \
  eval '[[ "$(blocks "$T/random-p1.img" 4 20 512)" =~ ^(nnnnnnnn ?){16}$ ]]'
cut random-p0 4 16 wcache-cut-policy=random wcache-cut-p=0 wcache-cut-action=exit
wait_exit random-p0 || bail "random-p0 did not exit"
check "wcache-cut-p=0: every unflushed record is lost in a random cut" \
  eval '[[ "$(blocks "$T/random-p0.img" 4 20 512)" =~ ^(oooooooo ?){16}$ ]]'

cut ordered 4 16 wcache-cut-policy=ordered wcache-cut-action=exit wcache-oracle=true
check "ordered: nbdkit exits after the cut" wait_exit ordered
r=$(blocks "$T/ordered.img" 4 20 512)
check "wcache-cut-policy=ordered: unflushed records survive in write order up to a point ($r)" \
  eval '[[ "$r " =~ ^(nnnnnnnn )*(oooooooo )*$ ]]'
check "wcache-cut-policy=ordered: the engine picked and reported a seed" \
  grep -q 'wcache: power cut: policy=ordered seed=[0-9]' "$T/ordered.err"
check "wcache-oracle=true: the oracle verified the ordered cut, no error" oracle_clean ordered

cut torn 4 16 wcache-cut-policy=torn wcache-cut-unit=1K wcache-seed=11 \
  wcache-cut-action=exit wcache-oracle=true
check "torn: nbdkit exits after the cut" wait_exit torn
r=$(blocks "$T/torn.img" 4 20 1024)
check "wcache-cut-policy=torn, wcache-cut-unit=1K: each 1K unit is whole or lost ($r)" \
  eval '[[ "$r " =~ ^([no]{4} )*$ ]]'
check "wcache-cut-policy=torn: at least one record was torn ($r)" \
  eval '[[ "$r" =~ (n+o|o+n) ]]'
check "wcache-oracle=true: the oracle verified the torn cut, no error" oracle_clean torn

# ---- flush-on-exit -------------------------------------------------------
for v in true false; do
  cp "$T/base" "$T/exit-$v.img"
  start_nbdkit "exit-$v" --filter="$WCACHE_FILTER" file "$T/exit-$v.img" \
    wcache-flush-on-exit=$v
  nbdsh -u "$(uri_of "exit-$v")" -c '
import os
h.pwrite(open(os.environ["T"] + "/records", "rb").read(4096), 0)
' || not_ok "exit-$v: client failed"
  stop_nbdkit "exit-$v"
done
check "wcache-flush-on-exit=true: an unflushed write is in the image after exit" \
  test "$(units "$T/exit-true.img" 0 4096)" = n
check "wcache-flush-on-exit=false: an unflushed write is lost at exit" \
  test "$(units "$T/exit-false.img" 0 4096)" = o

done_testing
