#!/usr/bin/env bash
# wcache-crash reads QEMU's blklogwrites logs as it reads wcache's: the
# same qemu-io commands (writes, overlapping, and flushes) go once through
# QEMU's blklogwrites driver and once over NBD through nbdkit + wcache
# with its write log; both logs explore the same states: the same counts
# and, state by state, the same images (by hash) and the same verdicts.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/crash-functions.sh"
requires_crash
requires_plugin file
requires_cmd "${QEMU_IO:-qemu-io}"
QEMU_IO=${QEMU_IO:-qemu-io}
T=$tmpdir
: > "$T/probe.log"
truncate -s 1M "$T/probe.img"
"$QEMU_IO" --image-opts "driver=blklogwrites,file.driver=file,file.filename=$T/probe.img,log.driver=file,log.filename=$T/probe.log,log-sector-size=512" \
  -c 'write 0 512' > /dev/null 2>&1 ||
  skip_all "qemu-io has no blklogwrites driver"

truncate -s 1M "$T/base"
cmds=(
  'write -P 0x11 0 8k'
  'write -P 0x22 4k 8k'
  'write -P 0x33 64k 4k'
  'flush'
  'write -P 0x44 128k 4k'
  'write -P 0x55 0 512'
  'write -P 0x66 132k 4k'
  'write -P 0x77 200k 12k'
  'flush'
  'write -P 0x88 8k 4k'
)
args=()
for c in "${cmds[@]}"; do args+=(-c "$c"); done

cp "$T/base" "$T/qemu.img"
: > "$T/qemu.log"
"$QEMU_IO" -t writeback --image-opts \
  "driver=blklogwrites,file.driver=file,file.filename=$T/qemu.img,log.driver=file,log.filename=$T/qemu.log,log-sector-size=512" \
  "${args[@]}" > "$T/qemu.out" 2>&1 || { cat "$T/qemu.out"; bail "qemu-io blklogwrites failed"; }
cp "$T/base" "$T/wcache.img"
start_nbdkit wc --filter="$WCACHE_FILTER" file "$T/wcache.img" wcache-log="$T/wcache.log"
"$QEMU_IO" -t writeback -f raw "$(uri_of wc)" "${args[@]}" > "$T/wc.out" 2>&1 ||
  { cat "$T/wc.out"; bail "qemu-io over wcache failed"; }
stop_nbdkit wc

# The checker notes each state's image hash; "inconsistent" when the
# 0x44 block is there without the 0x66 one (one verdict of each kind).
cat > "$T/check" <<'EOS'
#!/bin/sh
sum=$(sha256sum < "$WCACHE_CRASH_IMAGE" | cut -d' ' -f1)
a=$(od -An -tx1 -j 131072 -N1 "$WCACHE_CRASH_IMAGE" | tr -d ' ')
b=$(od -An -tx1 -j 135168 -N1 "$WCACHE_CRASH_IMAGE" | tr -d ' ')
v=0
[ "$a" = 44 ] && [ "$b" != 66 ] && v=1
echo "$sum $v" >> "$SEEN"
exit $v
EOS
chmod +x "$T/check"
for who in qemu wcache; do
  crash info "$T/$who.log" > "$T/$who.info" || bail "info $who"
  SEEN=$T/$who.seen crash explore "$T/$who.log" --base "$T/base" \
    --check "$T/check" --keep-going > "$T/$who.out" 2>&1
  echo $? > "$T/$who.rc"
done
check "both logs: the same state counts" \
  test "$(grep '^states:' "$T/qemu.info")" = "$(grep '^states:' "$T/wcache.info")"
check "both logs: the same epochs" \
  test "$(grep '^epoch ' "$T/qemu.info" | sed 's/entries [0-9-]*, //')" = \
       "$(grep '^epoch ' "$T/wcache.info" | sed 's/entries [0-9-]*, //')"
check "both logs: the same images, with the same verdicts" \
  cmp -s <(sort "$T/qemu.seen") <(sort "$T/wcache.seen")
check "both: inconsistent states found (exit 1)" \
  test "$(cat "$T/qemu.rc") $(cat "$T/wcache.rc")" = "1 1"
check "both: the same summary" \
  test "$(grep '^explored:' "$T/qemu.out")" = "$(grep '^explored:' "$T/wcache.out")"

done_testing
