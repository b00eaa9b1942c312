#!/usr/bin/env bash
# The write log reader (lib/wlog.h, through tests/wlog-tool) reads logs
# that QEMU's blklogwrites driver wrote, an independent writer of the
# dm-log-writes format, in 512- and 4096-byte log sectors:
#   - the entries are the requests qemu-io sent (offsets, lengths, flags,
#     data), with QEMU's own additions: write -z becomes a plain entry full
#     of zeros, a FUA write becomes a plain entry followed by a FLUSH (QEMU
#     emulates FUA with a flush, and sends it only when earlier writes were
#     unflushed), and closing the image flushes;
#   - replaying the whole log onto a copy of the base image gives QEMU's
#     final image byte for byte, and replaying the prefix before the first
#     FLUSH gives what qemu-io's first commands alone make;
#   - a log cut short after a FLUSH reads to that FLUSH.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"

: "${QEMU_IO:=qemu-io}"
WLOG_TOOL=$top_builddir/tests/wlog-tool
requires_cmd "$QEMU_IO" cmp sha256sum
[ -x "$WLOG_TOOL" ] || skip_all "$WLOG_TOOL is not built"

T=$tmpdir
K=1024

# opts BASE LOG SS: blklogwrites over BASE, logging to LOG.
opts ()
{
  echo "driver=blklogwrites,discard=unmap,file.driver=file,file.filename=$1,log.driver=file,log.filename=$2,log-sector-size=$3"
}

truncate -s 64k "$T/probe.img"
: > "$T/probe.log"
"$QEMU_IO" -t writeback --image-opts "$(opts "$T/probe.img" "$T/probe.log" 512)" \
  -c 'write 0 512' >/dev/null 2>&1 ||
  skip_all "$QEMU_IO has no blklogwrites driver"

differs () { ! cmp -s "$1" "$2"; }

# sha BYTE LEN: the SHA-256 of LEN bytes of BYTE.
sha ()
{
  head -c "$2" /dev/zero | tr '\0' "\\$(printf '%03o' "$1")" |
    sha256sum | cut -d' ' -f1
}

# The commands, in the order QEMU sees them.
first=(
  -c 'write -P 0x11 0 4k'
  -c 'write -P 0x22 64k 8k'
  -c 'write -z 128k 16k'
  -c 'discard 192k 8k'
)
rest=(
  -c 'flush'
  -c 'write -P 0x33 4k 4k'
  -c 'write -f -P 0x44 256k 4k'
  -c 'write -P 0x55 512k 12k'
)

for ss in 512 4096; do
  d=$T/$ss
  mkdir "$d"
  # A base of 0xee, so zeroes and discards show.
  head -c $((1024 * K)) /dev/zero | tr '\0' '\356' > "$d/orig.img"
  cp "$d/orig.img" "$d/base.img"
  : > "$d/log"
  "$QEMU_IO" -t writeback --image-opts "$(opts "$d/base.img" "$d/log" $ss)" \
    "${first[@]}" "${rest[@]}" > "$d/qemu-io.out" 2>&1 ||
    { sed 's/^/# /' "$d/qemu-io.out"; bail "qemu-io failed"; }

  s=$((ss))
  cat > "$d/want" <<EOF
0 NONE 0 $((4 * K / s)) sha256:$(sha 0x11 $((4 * K)))
1 NONE $((64 * K / s)) $((8 * K / s)) sha256:$(sha 0x22 $((8 * K)))
2 NONE $((128 * K / s)) $((16 * K / s)) sha256:$(sha 0 $((16 * K)))
3 DISCARD $((192 * K / s)) $((8 * K / s)) -
4 FLUSH 0 0 -
5 NONE $((4 * K / s)) $((4 * K / s)) sha256:$(sha 0x33 $((4 * K)))
6 NONE $((256 * K / s)) $((4 * K / s)) sha256:$(sha 0x44 $((4 * K)))
7 FLUSH 0 0 -
8 NONE $((512 * K / s)) $((12 * K / s)) sha256:$(sha 0x55 $((12 * K)))
9 FLUSH 0 0 -
EOF
  "$WLOG_TOOL" dump "$d/log" > "$d/dump" 2> "$d/dump.err"
  echo $? > "$d/dump.rc"
  if check "ss=$ss: dump lists the commands qemu-io sent" \
       diff -u "$d/want" "$d/dump"; then :; else
    sed 's/^/# /' "$d/dump.err"
    diff -u "$d/want" "$d/dump" | sed 's/^/# /'
  fi
  check "ss=$ss: dump succeeds" test "$(cat "$d/dump.rc")" = 0

  "$WLOG_TOOL" info "$d/log" > "$d/info"
  check "ss=$ss: info: sector size, 10 entries, 6 writes, 1 discard, 3 flushes" \
    test "$(grep -E '^(sector_size|nr_entries|writes|discards|flushes|marks|fua_writes|bytes_written)=' "$d/info" | tr '\n' ' ')" = \
         "sector_size=$ss nr_entries=10 writes=6 fua_writes=0 discards=1 flushes=3 marks=0 bytes_written=$((48 * K)) "

  # The whole log onto the original base: QEMU's final image.
  cp "$d/orig.img" "$d/replay.img"
  "$WLOG_TOOL" replay "$d/log" "$d/replay.img"
  check "ss=$ss: replaying the whole log gives QEMU's image" \
    cmp "$d/replay.img" "$d/base.img"

  # The prefix before the first FLUSH: what the first commands alone make.
  cp "$d/orig.img" "$d/first.img"
  "$QEMU_IO" -f raw -t writeback -d unmap "${first[@]}" "$d/first.img" \
    >/dev/null 2>&1
  cp "$d/orig.img" "$d/prefix.img"
  "$WLOG_TOOL" replay "$d/log" "$d/prefix.img" --to 4
  check "ss=$ss: replaying entries 0-3 gives the image of the first commands" \
    cmp "$d/prefix.img" "$d/first.img"
  check "ss=$ss: ... which differs from the final image" \
    differs "$d/prefix.img" "$d/base.img"

  # Cut short: QEMU rewrites the superblock at each FLUSH, so a log lost
  # in the middle of entry 8 says nr_entries=8 and reads to entry 7.
  cut=$(( (1 + 1 + 4 * K / s + 1 + 8 * K / s + 1 + 16 * K / s + 1 + 1 +
           1 + 4 * K / s + 1 + 4 * K / s + 1 + 1 + 2 * K / s) * s ))
  head -c $cut "$d/log" > "$d/cut.log"
  printf '\010' | dd of="$d/cut.log" bs=1 seek=16 conv=notrunc status=none
  "$WLOG_TOOL" dump "$d/cut.log" > "$d/cut.dump"
  check "ss=$ss: a log cut in entry 8 reads entries 0-7" \
    diff -u <(head -n 8 "$d/want") "$d/cut.dump"
  # With the superblock of the end, the cut is an error that names entry 8.
  printf '\012' | dd of="$d/cut.log" bs=1 seek=16 conv=notrunc status=none
  "$WLOG_TOOL" dump "$d/cut.log" > /dev/null 2> "$d/cut.err"
  check "ss=$ss: with nr_entries=10 the cut is entry 8's error: $(cat "$d/cut.err")" \
    test "$(cat "$d/cut.err")" = \
         "wlog-tool: dump: $d/cut.log: entry 8: data runs past the end of the file"
done

done_testing
