#!/usr/bin/env bash
# Two writers of one format: the same qemu-io commands go once through
# QEMU's blklogwrites driver and once through nbdkit + wcache with its
# write log.  Both logs are read by the tree's reader, and replayed onto
# the base they give the same final image (the one each run left), and at
# every flush the client sent, the same image as a plain run of the
# commands up to that flush.  (QEMU logs write-zeroes as zeros, wcache as
# DISCARD; QEMU emulates FUA with FLUSH entries of its own, wcache sets
# the FUA flag.)

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"

requires_plugin file
requires_cmd "${QEMU_IO:-qemu-io}"
QEMU_IO=${QEMU_IO:-qemu-io}
WLOG=$top_builddir/tests/wlog-tool
[ -x "$WLOG" ] || bail "no $WLOG (not built?)"
: > "$tmpdir/probe.log"
truncate -s 1M "$tmpdir/probe.img"
"$QEMU_IO" --image-opts "driver=blklogwrites,file.driver=file,file.filename=$tmpdir/probe.img,log.driver=file,log.filename=$tmpdir/probe.log,log-sector-size=512" \
  -c 'write 0 512' > /dev/null 2>&1 ||
  skip_all "qemu-io has no blklogwrites driver"

T=$tmpdir
SIZE=$((4 << 20))
head -c $SIZE /dev/urandom > "$T/base"

# The client's commands; the flushes are the points compared.
cmds=(
  'write -P 0x11 0 64k'
  'write -P 0x22 100 1000'
  'flush'
  'write -z 65536 128k'
  'discard 262144 64k'
  'write -f -P 0x33 1M 4k'
  'flush'
  'write -P 0x44 2M 512'
  'write -P 0x55 3000000 7000'
  'write -f -P 0x66 3M 8k'
  'flush'
)
args=()
for c in "${cmds[@]}"; do args+=(-c "$c"); done

# QEMU's log.
cp "$T/base" "$T/qemu.img"
: > "$T/qemu.log"
"$QEMU_IO" -t writeback --image-opts \
  "driver=blklogwrites,discard=unmap,file.driver=file,file.filename=$T/qemu.img,log.driver=file,log.filename=$T/qemu.log,log-sector-size=512" \
  "${args[@]}" > "$T/qemu.out" 2>&1 || { cat "$T/qemu.out"; bail "qemu-io blklogwrites failed"; }

# wcache's log, same commands over NBD.
cp "$T/base" "$T/wcache.img"
start_nbdkit wc --filter="$WCACHE_FILTER" file "$T/wcache.img" \
  wcache-log="$T/wcache.log"
"$QEMU_IO" -t writeback -d unmap -f raw "$(uri_of wc)" "${args[@]}" \
  > "$T/wc.out" 2>&1 || { cat "$T/wc.out"; bail "qemu-io over wcache failed"; }
stop_nbdkit wc

for who in qemu wcache; do
  check "$who: the log reads back" \
    eval '"$WLOG" dump "$T/$who.log" > "$T/$who.dump"'
  cp "$T/base" "$T/$who.replay"
  "$WLOG" replay "$T/$who.log" "$T/$who.replay"
  check "$who: the whole log replayed onto the base is its run's image" \
    cmp -s "$T/$who.replay" "$T/$who.img"
done
check "both logs replay to the same final image" \
  cmp -s "$T/qemu.replay" "$T/wcache.replay"
check "wcache logs FUA writes with the FUA flag" \
  test "$(grep -c ' FUA ' "$T/wcache.dump")" -eq 2
check "wcache logs write-zeroes and discard as DISCARD" \
  test "$(grep -c ' DISCARD ' "$T/wcache.dump")" -eq 2

# The image at each client flush: a plain run of the commands up to it.
# It must be the replay of wcache's k-th FLUSH entry, and the replay of
# one of QEMU's FLUSH entries.
images_at_flushes ()
{
  local who=$1 idx flags
  while read -r idx flags _; do
    [ "$flags" = FLUSH ] || continue
    cp "$T/base" "$T/$who.at"
    "$WLOG" replay "$T/$who.log" "$T/$who.at" --to $((idx + 1))
    sha256sum < "$T/$who.at" | cut -d' ' -f1
  done < "$T/$who.dump"
}
images_at_flushes qemu > "$T/qemu.flushes"
images_at_flushes wcache > "$T/wcache.flushes"
k=0
prefix=()
for c in "${cmds[@]}"; do
  prefix+=(-c "$c")
  [ "$c" = flush ] || continue
  k=$((k + 1))
  cp "$T/base" "$T/ref.img"
  "$QEMU_IO" -t writeback -d unmap -f raw "$T/ref.img" "${prefix[@]}" > /dev/null
  ref=$(sha256sum < "$T/ref.img" | cut -d' ' -f1)
  check "flush $k: wcache's FLUSH entry $k replays to the client's image then" \
    test "$(sed -n "${k}p" "$T/wcache.flushes")" = "$ref"
  check "flush $k: one of QEMU's FLUSH entries replays to it too" \
    grep -qx "$ref" "$T/qemu.flushes"
done

done_testing
