#!/usr/bin/env bash
# S8 power cut, fired by the start-up trigger wcache-cut-after-writes=N
# (S9), over the file plugin: the image then holds exactly the flushed
# records and, by policy, none (lose) or all (keep) of the unflushed ones;
# cut-action=exit makes nbdkit exit by itself, cut-action=eio (the default)
# fails every later request with EIO.  A random cut with a given seed is
# reproducible byte for byte, and the oracle (S10) finds nothing wrong.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"

requires_nbdsh
requires_plugin file
[ -f "$WCACHE_FILTER" ] || bail "no filter at $WCACHE_FILTER (not built?)"

export T=$tmpdir
BS=4096
STRIDE=16384                    # record K is one 4K block at K * 16K

# 64 random records and a base image of 0xee (neither zeros nor a lost
# record can pass for a record).
head -c $((64 * BS)) /dev/urandom > "$T/records"
head -c $((1 << 20)) /dev/zero | tr '\0' '\356' > "$T/base"

# expect OUT K...: the base image with records K... in place.
expect ()
{
  local out=$1 k
  shift
  cp "$T/base" "$out"
  for k in "$@"; do
    dd if="$T/records" of="$out" bs=$BS skip="$k" seek=$((k * STRIDE / BS)) \
      count=1 conv=notrunc status=none
  done
}

# has_record IMG K / has_base IMG K: block of record K holds the record /
# the base content.
has_record ()
{
  cmp -s -i "$(($2 * BS)):$(($2 * STRIDE))" -n $BS "$T/records" "$1"
}
has_base () { cmp -s -i "$(($2 * STRIDE)):$(($2 * STRIDE))" -n $BS "$T/base" "$1"; }

# run NAME NF NU AFTER -- KEY=VALUE...: serves a copy of base as NAME.img
# through wcache with wcache-cut-after-writes=NF+NU; the client writes
# records 0..NF-1, flushes, then writes NF..NF+NU-1 (the last is the
# triggering write), and records outcomes in NAME.res.  AFTER is the
# cut-action expected, exit or eio; with eio the client then tries a
# write, a read, a flush, a zero, and a read on a new connection.
run ()
{
  local name=$1 nf=$2 nu=$3 after=$4
  shift 5
  cp "$T/base" "$T/$name.img"
  start_nbdkit "$name" --filter="$WCACHE_FILTER" file "$T/$name.img" \
    wcache-cut-after-writes=$((nf + nu)) "$@"
  URI=$(uri_of "$name") NAME=$name NF=$nf NU=$nu AFTER=$after \
    nbdsh -u "$(uri_of "$name")" -c '
import os, errno
T, name = os.environ["T"], os.environ["NAME"]
nf, nu = int(os.environ["NF"]), int(os.environ["NU"])
recs = open(T + "/records", "rb").read()
def write(k):
    h.pwrite(recs[k * 4096:(k + 1) * 4096], k * 16384)
res = open(T + "/" + name + ".res", "w")
def attempt(what, fn):
    try:
        fn()
        res.write(what + " ok\n")
    except nbd.Error as e:
        res.write("%s %s\n" % (what, errno.errorcode.get(e.errnum, e.errnum)))
    res.flush()
for k in range(nf):
    write(k)
h.flush()
for k in range(nf, nf + nu - 1):
    write(k)
attempt("triggering-write", lambda: write(nf + nu - 1))
if os.environ["AFTER"] == "eio":
    attempt("write", lambda: write(63))
    attempt("read", lambda: h.pread(4096, 0))
    attempt("flush", lambda: h.flush())
    attempt("zero", lambda: h.zero(4096, 0))
    h2 = nbd.NBD()
    h2.connect_uri(os.environ["URI"])
    attempt("new-connection-read", lambda: h2.pread(4096, 0))
' || bail "client of $name failed"
}

# ---- lose + exit: exactly the flushed records survive.
run lose-exit 3 4 exit -- \
  wcache-cut-policy=lose wcache-cut-action=exit
check "S8: cut-action=exit: nbdkit exits by itself after the 7th write" \
  wait_exit lose-exit
expect "$T/lose.expect" 0 1 2
check "S8: policy=lose: the image holds exactly the 3 flushed records, none of the 4 unflushed" \
  cmp -s "$T/lose-exit.img" "$T/lose.expect"

# ---- keep + exit: every record survives.
run keep-exit 3 4 exit -- \
  wcache-cut-policy=keep wcache-cut-action=exit
check "S8: cut-action=exit (keep): nbdkit exits by itself" wait_exit keep-exit
expect "$T/keep.expect" 0 1 2 3 4 5 6
check "S8: policy=keep: the image holds all 7 records, flushed or not" \
  cmp -s "$T/keep-exit.img" "$T/keep.expect"

# ---- lose + eio (the default action): every later request fails with EIO.
# flush-on-exit is on: a stop after the cut must not bring anything back.
run lose-eio 2 3 eio -- wcache-flush-on-exit=true
check "S9: the triggering (5th) write itself was acknowledged" \
  grep -qx "triggering-write ok" "$T/lose-eio.res"
check "S8: cut-action=eio: a write after the cut fails with EIO" \
  grep -qx "write EIO" "$T/lose-eio.res"
check "S8: cut-action=eio: a read after the cut fails with EIO" \
  grep -qx "read EIO" "$T/lose-eio.res"
check "S8: cut-action=eio: a flush after the cut fails with EIO" \
  grep -qx "flush EIO" "$T/lose-eio.res"
check "S8: cut-action=eio: a zero after the cut fails with EIO" \
  grep -qx "zero EIO" "$T/lose-eio.res"
check "S8: cut-action=eio: a read on a new connection fails with EIO" \
  grep -qx "new-connection-read EIO" "$T/lose-eio.res"
check "S8: cut-action=eio: nbdkit is still running after the cut" \
  nbdkit_running lose-eio
stop_nbdkit lose-eio
expect "$T/lose-eio.expect" 0 1
check "S8: policy=lose (default): the image holds exactly the 2 flushed records, even with flush-on-exit" \
  cmp -s "$T/lose-eio.img" "$T/lose-eio.expect"

# ---- random, seeded, twice, with the oracle: same image byte for byte.
for i in 1 2; do
  run "random$i" 4 32 exit -- \
    wcache-cut-policy=random wcache-seed=20240601 wcache-cut-action=exit \
    wcache-oracle=true
  wait_exit "random$i" || bail "nbdkit random$i did not exit after the cut"
done
check "S8: policy=random with the same seed and requests gives byte-identical images" \
  cmp -s "$T/random1.img" "$T/random2.img"
flushed_ok=1 whole=1 kept=0 lost=0
for k in 0 1 2 3; do
  has_record "$T/random1.img" $k || flushed_ok=0
done
for ((k = 4; k < 36; k++)); do
  if has_record "$T/random1.img" $k; then kept=$((kept + 1))
  elif has_base "$T/random1.img" $k; then lost=$((lost + 1))
  else whole=0
  fi
done
check "S8: policy=random: the 4 flushed records survived" test $flushed_ok = 1
check "S10: policy=random: each unflushed record is either whole or its old content" \
  test $whole = 1
check "S8: policy=random (p=0.5): of 32 unflushed records some survived and some were lost ($kept kept, $lost lost)" \
  test $kept -gt 0 -a $lost -gt 0
# Put the base back in every record's block: the rest must be the base.
cp "$T/random1.img" "$T/random1.outside"
for ((k = 0; k < 36; k++)); do
  dd if="$T/base" of="$T/random1.outside" bs=$BS skip=$((k * STRIDE / BS)) \
    seek=$((k * STRIDE / BS)) count=1 conv=notrunc status=none
done
check "S8: policy=random: nothing outside the records changed" \
  cmp -s "$T/random1.outside" "$T/base"
for i in 1 2; do
  check "S10: oracle run $i verified the cut" \
    grep -q 'wcache: oracle: [0-9]* blocks verified' "$T/random$i.err"
  check "S10: oracle run $i reports no error" \
    eval '! grep "oracle:" "$T/random$i.err" | grep -qv "blocks verified"'
done

done_testing
