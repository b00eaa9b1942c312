#!/usr/bin/env bash
# wcache-crash --check=fsck:ext4|xfs|btrfs on real filesystems: the kernel
# writes through a loop device over nbdfuse over nbdkit + wcache with the
# write log on (files written and fsync'd, a directory, a rename), so the
# log holds what a filesystem really sends: journal writes, FLUSH, commit
# blocks.  Every crash state of a correct filesystem replays its journal
# on mount and then passes the read-only fsck (S3): 0 inconsistent.
# Negative control (ext4): garbage written over the block bitmap without a
# flush after the workload: the states that keep it fail e2fsck -fn.
# Needs root and loop devices; xfs and btrfs need their mkfs and modules.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/crash-functions.sh"
requires_crash
requires_plugin file
[ "$(id -u)" = 0 ] || skip_all "requires root (loop devices and mount)"
requires_cmd nbdfuse fusermount3 losetup mkfs.ext4 e2fsck dumpe2fs
[ -e /dev/fuse ] || skip_all "requires /dev/fuse"
T=$tmpdir
truncate -s 1M "$T/probe"
dev=$(losetup --find --show "$T/probe" 2>"$T/probe.err") ||
  skip_all "no loop device: $(head -n1 "$T/probe.err")"
losetup -d "$dev"

# fs_log FS SIZE MKFS...: a base made by MKFS, then the workload through
# wcache: $T/FS.base and $T/FS.log.  The nbdkit server stays up ($FS)
# for more writes; stop it with stop_nbdkit.
fs_log ()
{
  local fs=$1 size=$2 dev
  shift 2
  truncate -s "$size" "$T/$fs.base"
  "$@" "$T/$fs.base" > "$T/$fs.mkfs" 2>&1 || bail "$* failed"
  cp "$T/$fs.base" "$T/$fs.img"
  start_nbdkit "$fs" --filter="$WCACHE_FILTER" file "$T/$fs.img" \
    wcache-log="$T/$fs.log"
  mkdir -p "$T/$fs.fm" "$T/$fs.mnt"
  nbdfuse -P "$T/$fs.fpid" "$T/$fs.fm/disk" --unix "$(sock_of "$fs")" &
  for _ in $(seq 1 100); do [ -s "$T/$fs.fpid" ] && [ -e "$T/$fs.fm/disk" ] && break; sleep 0.05; done
  cleanup_fn "fusermount3 -u '$T/$fs.fm' 2>/dev/null"
  dev=$(losetup --find --show "$T/$fs.fm/disk") || bail "losetup $fs"
  cleanup_fn "losetup -d $dev 2>/dev/null"
  mount -t "$fs" "$dev" "$T/$fs.mnt" || bail "mount $fs"
  cleanup_fn "umount '$T/$fs.mnt' 2>/dev/null"
  for i in 1 2 3; do
    head -c $((i * 7000)) /dev/urandom > "$T/$fs.mnt/f$i"
    sync "$T/$fs.mnt/f$i"
  done
  mkdir "$T/$fs.mnt/d"
  mv "$T/$fs.mnt/f1" "$T/$fs.mnt/d/g"
  sync -f "$T/$fs.mnt"
  umount "$T/$fs.mnt" || bail "umount $fs"
  losetup -d "$dev"
  fusermount3 -u "$T/$fs.fm"
}

fs_log ext4 16M mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0
# The negative control: garbage over group 0's block bitmap, unflushed.
bb=$(dumpe2fs "$T/ext4.base" 2>/dev/null | sed -n 's/^ *Block bitmap at \([0-9]*\).*/\1/p' | head -n1)
bs=$(dumpe2fs -h "$T/ext4.base" 2>/dev/null | sed -n 's/^Block size: *//p')
[ -n "$bb" ] && [ -n "$bs" ] || bail "no block bitmap in dumpe2fs"
BB=$((bb * bs)) BS=$bs nbdsh -u "$(uri_of ext4)" -c '
import os
h.pwrite(bytes([0x5a]) * int(os.environ["BS"]), int(os.environ["BB"]))'
stop_nbdkit ext4

crash info "$T/ext4.log" --exhaustive 4 --samples 2 > "$T/ext4.info"
# Every epoch but the last (the garbage's): a correct filesystem.
nflush=$(sed -n 's/^entries: .*, \([0-9]*\) flushes.*/\1/p' "$T/ext4.info")
crash explore "$T/ext4.log" --base "$T/ext4.base" --check fsck:ext4 \
  --exhaustive 4 --samples 2 -j 2 --keep-going > "$T/ext4.out" 2>&1
rc=$?
check "ext4: the log holds journal commits ($nflush flushes)" test "${nflush:-0}" -ge 4
check "ext4 S3: every state before the garbage replays and passes e2fsck -fn" \
  eval '! grep -q "^INCONSISTENT e[0-$((nflush - 1))]\." "$T/ext4.out" && ! grep -q "^CHECKER ERROR" "$T/ext4.out"'
check "ext4 negative control: the unflushed garbage makes a state inconsistent (exit 1)" \
  eval 'test $rc = 1 && grep -q "^INCONSISTENT e$nflush\.p[0-9]*\.k0: fsck:ext4: e2fsck -fn: exit status 4" "$T/ext4.out"'
id=$(sed -n 's/^INCONSISTENT \([^:]*\):.*/\1/p' "$T/ext4.out" | head -n1)
crash materialize "$T/ext4.log" --base "$T/ext4.base" --state "$id" -o "$T/bad.img"
# Judged again by hand: mount (journal replay), umount, e2fsck -fn.
dev=$(losetup --find --show "$T/bad.img") && cleanup_fn "losetup -d $dev 2>/dev/null"
mount -t ext4 "$dev" "$T/ext4.mnt" && umount "$T/ext4.mnt"
losetup -d "$dev"
e2fsck -fn "$T/bad.img" > "$T/bad.fsck" 2>&1
check "ext4: the rebuilt state $id fails e2fsck -fn by hand too" test $? = 4
unique=$(sed -n 's/^states: .* \([0-9]*\) unique$/\1/p' "$T/ext4.out")
check "ext4: every unique state explored ($unique)" \
  grep -q "^explored: $unique states:" "$T/ext4.out"

for fs in xfs btrfs; do
  command -v "mkfs.$fs" > /dev/null || { ok "# SKIP $fs: no mkfs.$fs"; continue; }
  case $fs in
    xfs) fs_log xfs 320M mkfs.xfs -q -f ;;
    btrfs) fs_log btrfs 256M mkfs.btrfs -q -f ;;
  esac
  stop_nbdkit $fs
  crash explore "$T/$fs.log" --base "$T/$fs.base" --check "fsck:$fs" \
    --exhaustive 3 --samples 1 -j 2 --keep-going > "$T/$fs.out" 2>&1
  rc=$?
  check "$fs S3: every state replays its log on mount and passes the read-only check" \
    eval 'test $rc = 0 && grep -q "^explored: [1-9][0-9]* states: .* 0 inconsistent, 0 checker errors" "$T/$fs.out"'
done

done_testing
