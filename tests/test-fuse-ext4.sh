#!/usr/bin/env bash
# A real filesystem on the emulated disk (S3, S8): ext4 on a loop device
# over wcache-fuse's MOUNTPOINT/disk (writeback, a 96M image).  Files
# written with fsync (dd conv=fsync) survive a `lose` power cut byte for
# byte; files written without fsync (buffered, and O_DIRECT so that
# unflushed data sits in the cache) are what the cut may take, and the cut
# does throw unflushed writes away.  After the cut the old loop device is
# dead for ever, even after power-on (fs.c: a file opened before a cut
# fails with EIO); a new loop device sees a disk that needs journal
# recovery, a mount replays the journal, then e2fsck -fn is clean, every
# fsync'd file reads back exactly, and the image file itself (wcache-fuse
# stopped, its cache discarded) is clean under e2fsck -fn and holds every
# fsync'd file: the unmount's flush made the replay durable.
#
# Negative control: the same fsync'd files after switching the disk to `unsafe`
# (MOUNTPOINT/mode) leaves the fsync'd data dirty in the cache, and after
# the same cut the loss is detected (a file missing or different, or the
# filesystem failing mount or e2fsck).  A disk that ignores flushes must
# not pass this test.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh" ||
  { echo "Bail out! cannot read tests/functions.sh"; exit 1; }
. "$top_srcdir/tests/fuse-functions.sh" || bail "cannot read tests/fuse-functions.sh"

[ "$(id -u)" = 0 ] || skip_all "requires root (loop devices and mount)"
requires_cmd losetup mkfs.ext4 e2fsck dumpe2fs mount umount mountpoint
requires_fuse

T=$tmpdir
[ -d "$T" ] || bail "no temporary directory"

# ---- Loop devices and mounts of our own, torn down even on failure. ---
# Each entry of _loops is "DEVICE FILE": a loop device this script
# attached to FILE.  Only a device still attached to our FILE is ever
# detached (a number we freed may have been taken by someone else).
_loops=()
_fsmnts=()

# attach_loop VAR FILE: attaches a new loop device to FILE and sets VAR
# to it (not in a $(...) subshell: the list must outlive the call).
attach_loop ()
{
  local _dev
  _dev=$(losetup --find --show "$2") || return 1
  _loops+=("$_dev $(realpath "$2")")   # losetup shows the real path
  printf -v "$1" %s "$_dev"
}

_loop_is_ours ()
{
  local back
  back=$(losetup -n -O BACK-FILE "$1" 2>/dev/null) || return 1
  back=${back%"${back##*[![:space:]]}"}
  [ "$back" = "$2" ]
}

# detach_loop DEVICE: detaches DEVICE if it is still ours.
detach_loop ()
{
  local i dev file rv=0
  for i in "${!_loops[@]}"; do
    read -r dev file <<< "${_loops[i]}"
    [ "$dev" = "$1" ] || continue
    if _loop_is_ours "$dev" "$file"; then
      losetup -d "$dev" || rv=1
    fi
    unset '_loops[i]'
  done
  return $rv
}

# fs_mount DEVICE DIR [OPTIONS]: mounts ext4, remembered for the teardown.
fs_mount ()
{
  mkdir -p "$2"
  _fsmnts+=("$2")
  mount -t ext4 ${3:+-o "$3"} "$1" "$2"
}

# fs_umount DIR: unmounts; lazily if a plain unmount fails (after a cut
# the filesystem's last writes fail with EIO).
fs_umount ()
{
  mountpoint -q "$1" || return 0
  umount "$1" 2>/dev/null || umount -l "$1"
}

# Runs before stop_fuse (registered after every start_fuse): unmount the
# filesystems, then detach the loop devices, so that the FUSE mount is no
# longer busy.
fs_teardown ()
{
  local m dev file
  for m in "${_fsmnts[@]}"; do fs_umount "$m"; done
  for dev in "${_loops[@]}"; do
    read -r dev file <<< "$dev"
    _loop_is_ours "$dev" "$file" && losetup -d "$dev"
  done
  _loops=()
}

# Loop devices may be missing or forbidden (containers): probe first.
make_image probe 1M
attach_loop dev "$T/probe" 2>"$T/probe.err" ||
  skip_all "no loop device: $(head -n1 "$T/probe.err")"
detach_loop "$dev"
rm -f "$T/probe"

# Mount options: no periodic journal commit (it flushes), so that what is
# unflushed at the cut depends only on this script.
MOPTS=commit=300
# mkfs without lazy init, so no kernel thread writes behind our back.
mkfs_ext4 () { mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$1"; }

# The files: sizes not multiples of the block size, one of 1 MiB.
sizes=(1 4096 100000 1048576 333333)
for i in "${!sizes[@]}"; do
  head -c "${sizes[i]}" /dev/urandom > "$T/sync$i"
done
head -c $((2 << 20)) /dev/urandom > "$T/direct"

# write_workload DIR: the fsync'd files, one in a new directory;
# write_unsynced DIR: buffered and O_DIRECT files, never fsync'd (the
# O_DIRECT data reaches the disk as plain writes, unflushed).  Each fails
# if any write fails.
write_workload ()
{
  local d=$1 i
  mkdir -p "$d/sub" || return 1
  for i in "${!sizes[@]}"; do
    local dst=$d/sync$i
    ((i == 2)) && dst=$d/sub/sync$i
    dd if="$T/sync$i" of="$dst" bs=64K conv=fsync status=none || return 1
  done
}
write_unsynced ()
{
  local d=$1
  head -c 300000 /dev/urandom > "$d/buffered1" &&
    head -c 5000 /dev/urandom > "$d/sub/buffered2" &&
    dd if="$T/direct" of="$d/direct" bs=64K oflag=direct status=none
}

# same_file DIR I: fsync'd file I in DIR is exactly what was written;
# all_same DIR: every one is.
same_file () { cmp -s "$T/sync$2" "$1/$( (($2 == 2)) && echo sub/)sync$2"; }
all_same () { local i; for i in "${!sizes[@]}"; do same_file "$1" "$i" || return 1; done; }

# ===================== writeback: fsync'd data survives =================

make_image img 96M
start_fuse p "$T/img" --control="$(fctl_of p)"
cleanup_fn fs_teardown
P=$(mnt_of p)

attach_loop dev1 "$P/disk" || bail "losetup on $P/disk failed"
check "mkfs.ext4 on a loop device over MOUNTPOINT/disk" mkfs_ext4 "$dev1"
check "mount the new filesystem" fs_mount "$dev1" "$T/fs" "$MOPTS"
flushes0=$(stat_of p flushes)
check "write five files, each followed by fsync" write_workload "$T/fs"
flushes1=$(stat_of p flushes)
check "S3: the fsyncs reached the disk as flushes ($flushes0 -> $flushes1)" \
  test "$flushes1" -ge $((flushes0 + ${#sizes[@]}))
check "write files without fsync (buffered and O_DIRECT)" \
  write_unsynced "$T/fs"
dirty=$(stat_of p dirty_blocks)
check "the O_DIRECT writes are dirty in the cache before the cut (dirty_blocks=$dirty)" \
  test "$dirty" -gt 0

check "echo cut > MOUNTPOINT/power" eval 'echo cut > "$P/power"'
check "power reads off after the cut" test "$(cat "$P/power")" = off
cut_dirty=$(stat_of p last_cut_dirty) lost=$(stat_of p last_cut_lost)
check "S8 lose: the cut threw every dirty block away (last_cut_dirty=$cut_dirty, last_cut_lost=$lost, $dirty seen before)" \
  eval '[ "$lost" = "$cut_dirty" ] && [ "$cut_dirty" -ge "$dirty" ]'

# The filesystem cannot write its last state back (EIO): unmount it,
# lazily if need be, and keep its loop device until after power-on.
fs_umount "$T/fs"
check "echo on > MOUNTPOINT/power" eval 'echo on > "$P/power"'
check "a loop device opened before the cut still fails after power-on" \
  eval '! dd if="$dev1" of=/dev/null bs=4096 count=1 iflag=direct status=none 2>/dev/null'
detach_loop "$dev1"

attach_loop dev2 "$P/disk" || bail "losetup on $P/disk after power-on failed"
check "the same read on a new loop device succeeds" \
  dd if="$dev2" of=/dev/null bs=4096 count=1 iflag=direct status=none
check "the disk after the cut needs journal recovery" \
  eval 'dumpe2fs -h "$dev2" 2>/dev/null | grep -q "^Filesystem features:.*needs_recovery"'
check "mount after the cut (replays the journal)" fs_mount "$dev2" "$T/fs" "$MOPTS"
check "unmount after the replay" umount "$T/fs"
check "e2fsck -fn after the replay is clean" \
  eval 'e2fsck -fn "$dev2" >"$T/fsck1.out" 2>&1 || { sed "s/^/# /" "$T/fsck1.out"; false; }'
check "mount read-only" fs_mount "$dev2" "$T/fs" ro
for i in "${!sizes[@]}"; do
  check "S3: fsync'd file $i (${sizes[i]} B) is intact after the cut" \
    same_file "$T/fs" "$i"
done
fs_umount "$T/fs"
detach_loop "$dev2"
check "wcache-fuse unmounts: no loop device or filesystem holds the disk" \
  "$FUSERMOUNT3" -u "$P"
stop_fuse p

# wcache-fuse has discarded its cache: the image file is the media.
check "e2fsck -fn on the image file itself is clean" \
  eval 'e2fsck -fn "$T/img" >"$T/fsck2.out" 2>&1 || { sed "s/^/# /" "$T/fsck2.out"; false; }'
attach_loop dev3 "$T/img" || bail "losetup on the image failed"
check "the image file holds every fsync'd file byte for byte" \
  eval 'fs_mount "$dev3" "$T/fs" ro && all_same "$T/fs"'
fs_umount "$T/fs"
detach_loop "$dev3"

# ===================== unsafe: the loss is detected =====================

make_image img2 96M
start_fuse n "$T/img2" --control="$(fctl_of n)"
cleanup_fn fs_teardown
N=$(mnt_of n)

attach_loop dev4 "$N/disk" || bail "losetup on $N/disk failed"
mkfs_ext4 "$dev4" || bail "mkfs.ext4 for the negative control failed"
check "negative control: echo unsafe > MOUNTPOINT/mode" \
  eval 'echo unsafe > "$N/mode" && test "$(cat "$N/mode")" = unsafe'
fs_mount "$dev4" "$T/fs" "$MOPTS" || bail "mount for the negative control failed"
write_workload "$T/fs" || bail "the negative control's writes failed"
dirty=$(stat_of n dirty_blocks)
check "negative control: after the fsyncs the data is still dirty (dirty_blocks=$dirty)" \
  test "$dirty" -gt 0
echo cut > "$N/power" || bail "negative control: the cut failed"
fs_umount "$T/fs"
detach_loop "$dev4"
echo on > "$N/power" || bail "negative control: power-on failed"
attach_loop dev5 "$N/disk" || bail "losetup on $N/disk after power-on failed"

# loss_detected DEV: mount fails, or a file is missing or different, or
# e2fsck -fn after the replay is not clean.
loss_detected ()
{
  fs_mount "$1" "$T/fs" "$MOPTS" 2>/dev/null || return 0
  local same=0
  all_same "$T/fs" && same=1
  umount "$T/fs" || return 0
  ((same)) || return 0
  ! e2fsck -fn "$1" >/dev/null 2>&1
}
check "negative control: in unsafe mode the cut's loss of fsync'd data is detected" \
  loss_detected "$dev5"
fs_umount "$T/fs"
detach_loop "$dev5"
check "negative control: wcache-fuse unmounts" "$FUSERMOUNT3" -u "$N"
stop_fuse n

done_testing
