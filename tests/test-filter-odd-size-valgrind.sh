#!/usr/bin/env bash
# Disks whose size is not a multiple of the cache block (or of 512): the
# last block is only partly on the disk.  nbdkit runs under valgrind, and
# writes, flushes, reads and a keep cut that touch the partial last block
# (alone and at the end of a run of blocks) must give exact bytes and no
# memory error.  A GPT backup header on such a disk does exactly this.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/control-functions.sh"

requires_wcachectl
requires_cmd valgrind qemu-io
requires_plugin memory
requires_plugin file

export T=$tmpdir

# vg_start NAME ARGS...: nbdkit -f under valgrind on $tmpdir/NAME.sock,
# control socket $tmpdir/NAME.ctl; returns once the control socket answers.
vg_start ()
{
  local name=$1
  shift
  valgrind --quiet --error-exitcode=99 --leak-check=no \
    --log-file="$T/$name.vg" \
    "$NBDKIT" -f -U "$(sock_of "$name")" -P "$T/$name.pid" \
    --filter="$WCACHE_FILTER" "$@" wcache-control="$(ctl_of "$name")" \
    2> "$T/$name.err" &
  eval "vg_$name=$!"
  cleanup_fn "stop_nbdkit $name"
  "$WCACHECTL" -s "$(ctl_of "$name")" --wait=60 status > /dev/null ||
    bail "nbdkit $name under valgrind does not answer"
}

# vg_stop NAME: stops it by pid; true if valgrind saw no memory error.
vg_stop ()
{
  local pid rc
  pid=$(pid_of "$1")
  kill "$pid"
  eval "wait \$vg_$1"
  rc=$?
  rm -f "$T/$1.pid"
  [ $rc -eq 0 ] || { sed 's/^/# /' "$T/$1.vg" | head -40; return 1; }
}

qio () { qemu-io -t none -f raw "$(uri_of "$1")" "${@:2}"; }

# ---- memory 1000000: 244 blocks of 4K and 576 bytes ----------------------
vg_start mem memory 1000000
check "a run ending in the partial block: write, flush, read back exact" \
  eval 'qio mem -c "write -P 0x33 995328 4672" -c flush \
          -c "read -P 0x33 995328 4672" | grep -q "read 4672/4672"'
check "300 bytes inside the partial block: write, flush, read back exact" \
  eval 'qio mem -c "write -P 0xdd 999324 300" -c flush \
          -c "read -P 0xdd 999324 300" | grep -q "read 300/300"'
check "the bytes around it are as written before" \
  eval 'qio mem -c "read -P 0x33 995328 3996" -c "read -P 0x33 999624 376" |
        grep -c "read" | grep -qx 2'
check "nbdkit under valgrind: no memory error (memory 1000000)" vg_stop mem

# ---- file 1000001 bytes, 512-byte blocks: not even a multiple of 512 ----
head -c 1000001 /dev/zero | tr '\0' '\252' > "$T/odd.img"
vg_start odd file "$T/odd.img" wcache-block-size=512
check "file 1000001, 512-byte blocks: a run of 3 blocks to the end, flushed" \
  eval 'qio odd -c "write -P 0x44 998912 1089" -c flush \
          -c "read -P 0x44 998912 1089" | grep -q "read 1089/1089"'
check "... the image holds it to the last byte" \
  eval '[ "$(tail -c 1089 "$T/odd.img" | tr -d "\104" | wc -c)" = 0 ]'
check "an unflushed write of the last byte and a keep cut" \
  eval 'qio odd -c "write -P 0x55 1000000 1" >/dev/null &&
        ctl odd power-cut policy=keep | grep -q "^ok power=off"'
check "... the cut wrote the last byte and nothing past it" \
  eval '[ "$(stat -c %s "$T/odd.img")" = 1000001 ] &&
        [ "$(tail -c 1 "$T/odd.img" | od -An -tx1 | tr -d " ")" = 55 ]'
check "nbdkit under valgrind: no memory error (file 1000001)" vg_stop odd

done_testing
