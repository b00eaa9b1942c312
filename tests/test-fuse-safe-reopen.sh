#!/usr/bin/env bash
# Safe reopen of the FUSE frontend's image file (wcache(7), SAFE REOPEN,
# with the host file flags of CACHE MODES and the mode switch rule S5).
#
# 1. A cycle through all five modes, switched through MOUNTPOINT/mode and
#    through `wcachectl mode`: after every switch the image's descriptor has
#    the mode's flags as the kernel reports them in /proc/PID/fdinfo
#    (buffered, O_DSYNC, O_DIRECT, O_DIRECT|O_DSYNC), status host_flags says
#    the same, no descriptor leaks, I/O works, and data cached before a
#    switch that turns WCE off is on the image after it (S5).
# 2. Reopens that cannot be done keep the old descriptor: the switch reports
#    host_error (reply and status), host_flags and fdinfo show the old
#    flags, I/O goes on, and no acknowledged data is lost -- the image holds
#    byte for byte what was written and fsync'd before, during and after,
#    and what was only cached before a WCE-off switch (S5 writes it back
#    even when the reopen then fails):
#    a) the image chmod 000 (wcache-fuse run without CAP_DAC_OVERRIDE and
#       CAP_DAC_READ_SEARCH, so that permissions apply to root too); after
#       chmod 644 a retry succeeds and host_error goes away;
#    b) the image deleted: NOT a failure on Linux -- see below;
#    c) O_DIRECT refused by the filesystem (ramfs): none and directsync
#       report it and keep the old flags; starting in those modes there
#       fails with a message.
#
# Every image is checked against a model file that receives the same
# writes: cmp of the whole image, so a lost or misplaced write fails.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/fuse-functions.sh"

: "${WCACHECTL:=$top_builddir/server/wcachectl}"

requires_fuse
requires_cmd dd cmp head stat chmod sync
[ -x "$WCACHECTL" ] || skip_all "requires wcachectl at $WCACHECTL"

T=$tmpdir
SIZE=$((16 << 20))
K64=65536

# The main part needs O_DIRECT where the images live.
dd if=/dev/zero of="$T/.direct-probe" bs=4096 count=1 oflag=direct \
   status=none 2>/dev/null ||
  skip_all "the filesystem of $T refuses O_DIRECT (set TMPDIR elsewhere)"
rm -f "$T/.direct-probe"

# ---- Helpers ----------------------------------------------------------------

# Leftover mounts are detached at exit, and a hang fails the test
# (fuse_unmount_leftovers, fuse_watchdog: tests/fuse-functions.sh).
cleanup_fn fuse_unmount_leftovers

# ctl NAME ARGS...: wcachectl on NAME's control socket.
ctl () { local n=$1; shift; "$WCACHECTL" -s "$(fctl_of "$n")" --timeout=30 "$@"; }

# rkv LINE KEY: the value of KEY in a reply line (quotes and backslash
# escapes removed); fails if KEY is absent.
rkv ()
{
  local re=' '"$2"'=("(([^"\]|\\.)*)"|[^ ]*)'
  [[ " ${1#ok}" =~ $re ]] || return 1
  if [[ ${BASH_REMATCH[1]} == \"* ]]; then
    printf '%s\n' "${BASH_REMATCH[2]}" | sed 's/\\\(.\)/\1/g'
  else
    printf '%s\n' "${BASH_REMATCH[1]}"
  fi
}

# new_data FILE: 64K of fresh random bytes (never zeros, never old data).
new_data () { head -c $K64 /dev/urandom > "$1"; }

# new_disk NAME: an image $T/NAME.img of zeros and its model $T/NAME.model.
new_disk ()
{
  make_image "$1.img" $SIZE
  make_image "$1.model" $SIZE
}

# put NAME OFF FILE HOW: writes FILE to NAME's disk at byte OFF in one
# write(2), HOW being plain (cached), fsync (then fsync: S3), dsync
# (O_DSYNC: FUA) or direct (O_DIRECT, then fsync); on success the model
# gets the same bytes.
put ()
{
  local name=$1 off=$2 file=$3 how=$4 oflag=seek_bytes conv=notrunc
  case $how in
    plain) ;;
    fsync) conv=notrunc,fsync ;;
    dsync) oflag=seek_bytes,dsync ;;
    direct) oflag=seek_bytes,direct conv=notrunc,fsync ;;
    *) bail "put: bad HOW $how" ;;
  esac
  dd if="$file" of="$(mnt_of "$name")/disk" bs=$K64 seek="$off" \
     oflag=$oflag conv=$conv status=none || return 1
  dd if="$file" of="$T/$name.model" bs=$K64 seek="$off" oflag=seek_bytes \
     conv=notrunc status=none
}

# reads_back NAME OFF FILE: the disk reads FILE at OFF (O_DIRECT, so the
# read reaches the engine, not the kernel's page cache of the mount).
reads_back ()
{
  dd if="$(mnt_of "$1")/disk" bs=$K64 skip="$2" count="$(stat -c %s "$3")" \
     iflag=skip_bytes,count_bytes,direct status=none | cmp -s - "$3"
}

# media_has MEDIA OFF FILE: the file MEDIA holds FILE's bytes at OFF.
# media_lacks: it does not (differs: an unreadable MEDIA is no proof).
media_has () { cmp -s -i "$2:0" -n "$(stat -c %s "$3")" "$1" "$3"; }
media_lacks ()
{
  cmp -s -i "$2:0" -n "$(stat -c %s "$3")" "$1" "$3"
  [ $? = 1 ]
}

# media_is NAME MEDIA: MEDIA (the image, or the daemon's descriptor of it)
# is byte for byte NAME's model.
media_is ()
{
  cmp "$2" "$T/$1.model" >&2 || return 1
}

# disk_is NAME: the whole disk, read through the mount, is the model.
disk_is ()
{
  dd if="$(mnt_of "$1")/disk" bs=1M iflag=direct status=none |
    cmp - "$T/$1.model" >&2
}

# flush_disk NAME: fsync(2) of the disk (S3), as a last sync before
# looking at the image.
flush_disk () { sync "$(mnt_of "$1")/disk"; }

# flags_are NAME FLAGS: status host_flags is FLAGS and the kernel agrees
# (fdinfo of the descriptor status names as host_fd).
flags_are ()
{
  local st fdi
  st=$(stat_of "$1" host_flags)
  fdi=$(host_flags_of "$1")
  [ "$st" = "$2" ] && [ "$fdi" = "$2" ] && return 0
  echo "# expected $2: status host_flags=$st, fdinfo says $fdi" >&2
  return 1
}

# image_fds NAME: how many of the daemon's descriptors are the image (same
# device and inode as host_fd): 1, or 2 with O_DIRECT (the unaligned-I/O
# twin, lib/backing.h).  More is a leak.
image_fds ()
{
  local pid fd key f n=0
  pid=$(fpid_of "$1")
  fd=$(stat_of "$1" host_fd)
  key=$(stat -L -c %d:%i "/proc/$pid/fd/$fd") || return 1
  for f in /proc/"$pid"/fd/*; do
    [ "$(stat -L -c %d:%i "$f" 2>/dev/null)" = "$key" ] && n=$((n + 1))
  done
  echo $n
}

fds_are () { local n; n=$(image_fds "$1"); [ "$n" = "$2" ] ||
  { echo "# $n descriptors of the image, expected $2" >&2; return 1; }; }

want_fds () { case $1 in *O_DIRECT*) echo 2 ;; *) echo 1 ;; esac; }

# no_error NAME: status has no host_error.
no_error () { ! grep -q '^host_error=' "$(mnt_of "$1")/status"; }

# status_error NAME: prints status host_error; fails if there is none.
status_error () { grep '^host_error=' "$(mnt_of "$1")/status" | sed 's/^host_error=//' | grep .; }

# switch_ctl NAME MODE: wcachectl mode MODE; the reply in $reply.
switch_ctl ()
{
  reply=$(ctl "$1" mode "$2" 2>&1)
  local rc=$?
  echo "# wcachectl mode $2: $reply"
  return $rc
}

# switch_file NAME MODE: echo MODE > MOUNTPOINT/mode.
switch_file ()
{
  local rc
  echo "$2" > "$(mnt_of "$1")/mode"
  rc=$?
  echo "# echo $2 > mode: exit $rc, status host_flags=$(stat_of "$1" host_flags)" \
       "host_error=$(stat_of "$1" host_error)"
  return $rc
}

# reply_ok MODE FLAGS: $reply is an ok switch to MODE with FLAGS in force
# and no host_error.
reply_ok ()
{
  [[ $reply == "ok mode=$1 "* ]] &&
    [ "$(rkv "$reply" host_flags)" = "$2" ] &&
    ! rkv "$reply" host_error >/dev/null
}

# reply_kept MODE FLAGS WORD: $reply says the mode is MODE (the WCE half
# of the switch stands, S5) while the reopen failed: host_flags are still
# FLAGS and host_error mentions WORD.
reply_kept ()
{
  local e
  [[ $reply == "ok mode=$1 "* ]] || return 1
  [ "$(rkv "$reply" host_flags)" = "$2" ] || return 1
  e=$(rkv "$reply" host_error) || return 1
  [[ $e == *"$3"* ]]
}

fuse_watchdog 120

# ---- 1. The cycle: every mode's flags, through both interfaces -------------

new_disk c
start_fuse c "$T/c.img" --control="$(fctl_of c)"

check "cycle: starts in writeback with a buffered descriptor (status and fdinfo)" \
  eval '[ "$(cat "$(mnt_of c)/mode")" = writeback ] && flags_are c buffered'

# MODE FLAGS VIA.  Every mode through each interface; every flags change
# (and one non-change); every WCE-on -> WCE-off transition is preceded by
# a plain write, cached until the switch writes it back (S5).
steps=(
  "writethrough O_DSYNC file"
  "directsync O_DIRECT|O_DSYNC ctl"
  "writeback buffered file"
  "none O_DIRECT ctl"
  "unsafe buffered file"
  "directsync O_DIRECT|O_DSYNC file"
  "none O_DIRECT file"
  "writethrough O_DSYNC ctl"
  "unsafe buffered ctl"
  "writeback buffered ctl"
)
wce () { case $1 in writeback|none|unsafe) echo 1 ;; *) echo 0 ;; esac; }
cur=writeback
i=0
for step in "${steps[@]}"; do
  read -r mode flags via <<< "$step"
  i=$((i + 1))
  # Cached data just before a switch that turns WCE off (S5).
  s5=
  if [ "$(wce "$cur")" = 1 ] && [ "$(wce "$mode")" = 0 ]; then
    new_data "$T/c.s5.$i"
    s5=$((i * 4 * K64 + 2 * K64))
    put c "$s5" "$T/c.s5.$i" plain || not_ok "cycle $i: plain write before $cur -> $mode"
    check "cycle $i: before $cur -> $mode the plain write is only cached (not on the image)" \
      eval 'media_lacks "$T/c.img" "$s5" "$T/c.s5.$i"'
  fi
  if [ "$via" = ctl ]; then
    switch_ctl c "$mode"
    check "cycle $i: wcachectl mode $mode (from $cur): ok, host_flags=$flags, no host_error" \
      eval 'reply_ok "$mode" "$flags"'
  else
    switch_file c "$mode"
    check "cycle $i: echo $mode > mode (from $cur): accepted, mode reads $mode, no host_error" \
      eval '[ "$(cat "$(mnt_of c)/mode")" = "$mode" ] && no_error c'
  fi
  check "cycle $i: $mode: status host_flags=$flags, fdinfo agrees" flags_are c "$flags"
  check "cycle $i: $mode: $(want_fds "$flags") descriptor(s) of the image, none leaked" \
    fds_are c "$(want_fds "$flags")"
  if [ -n "$s5" ]; then
    check "cycle $i: S5: $cur -> $mode wrote the cached data back to the image" \
      media_has "$T/c.img" "$s5" "$T/c.s5.$i"
  fi
  # I/O in the new mode: a 64K write (fsync, O_DSYNC or O_DIRECT in turn),
  # read back through the engine.
  new_data "$T/c.d.$i"
  hows=(fsync dsync direct)
  how=${hows[i % 3]}
  check "cycle $i: $mode: a $how write and its read-back" \
    eval 'put c $((i * 4 * K64)) "$T/c.d.$i" $how && reads_back c $((i * 4 * K64)) "$T/c.d.$i"'
  cur=$mode
done
flush_disk c
check "cycle: after a final fsync the image is byte for byte the model" \
  media_is c "$T/c.img"
check "cycle: the disk reads the model" disk_is c
stop_fuse c

# ---- 2a. Permission denied: the image chmod 000 --------------------------

# As root, open(2) ignores the mode bits; without CAP_DAC_OVERRIDE and
# CAP_DAC_READ_SEARCH it does not, and an open of /proc/self/fd/N checks the
# inode's permissions like any other.
part_a ()
{
  local fuse=$WCACHE_FUSE caps pid

  if [ "$(id -u)" = 0 ]; then
    command -v setpriv >/dev/null 2>&1 || return 1
    setpriv --bounding-set=-dac_override,-dac_read_search \
      --inh-caps=-dac_override,-dac_read_search true 2>/dev/null || return 1
    fuse=$T/wcache-fuse-nodac
    cat > "$fuse" <<EOF
#!/bin/sh
exec setpriv --bounding-set=-dac_override,-dac_read_search \\
  --inh-caps=-dac_override,-dac_read_search "$WCACHE_FUSE" "\$@"
EOF
    chmod +x "$fuse"
  fi
  # peek CMD...: runs CMD, which reads the image; as root the test reads it
  # whatever its mode, otherwise it is made readable for just that while
  # (no switch runs meanwhile).
  peek ()
  {
    local rc
    [ "$(id -u)" = 0 ] || chmod 600 "$T/p.img"
    "$@"
    rc=$?
    [ "$(id -u)" = 0 ] || chmod 000 "$T/p.img"
    return $rc
  }
  new_disk p
  WCACHE_FUSE=$fuse start_fuse p "$T/p.img" --control="$(fctl_of p)"
  pid=$(fpid_of p)
  caps=$(sed -n 's/^CapEff:[[:space:]]*//p' "/proc/$pid/status")
  check "chmod: wcache-fuse runs without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (CapEff=$caps)" \
    test $((16#$caps & 6)) = 0

  new_data "$T/p.a"; new_data "$T/p.b"; new_data "$T/p.c"; new_data "$T/p.d"
  new_data "$T/p.e"; new_data "$T/p.f"; new_data "$T/p.g"
  check "chmod: data A written and fsync'd before" put p 0 "$T/p.a" fsync
  chmod 000 "$T/p.img"
  check "chmod: data B written (plain, cached) after chmod 000" \
    put p $((4 * K64)) "$T/p.b" plain
  check "chmod: B is only cached: not on the image yet" \
    eval 'peek media_lacks "$T/p.img" $((4 * K64)) "$T/p.b"'

  # writeback -> writethrough: WCE off (S5 writes B back), reopen with
  # O_DSYNC refused.
  switch_ctl p writethrough
  check "chmod: wcachectl mode writethrough: WCE off took effect, host_flags still buffered, host_error says Permission denied" \
    reply_kept writethrough buffered "Permission denied"
  check "chmod: status shows the host_error" eval 'e=$(status_error p)'
  check "chmod: status host_flags=buffered, fdinfo agrees (old descriptor kept)" \
    flags_are p buffered
  check "chmod: one descriptor of the image (the failed open left nothing open)" \
    fds_are p 1
  check "chmod: S5: B, only cached before the switch, is on the image" \
    peek media_has "$T/p.img" $((4 * K64)) "$T/p.b"
  check "chmod: I/O goes on: C written+fsync'd and read back" \
    eval 'put p $((8 * K64)) "$T/p.c" fsync && reads_back p $((8 * K64)) "$T/p.c"'
  check "chmod: I/O goes on: D written O_DSYNC and read back" \
    eval 'put p $((12 * K64)) "$T/p.d" dsync && reads_back p $((12 * K64)) "$T/p.d"'
  check "chmod: writethrough with the old descriptor: D is on the image without a flush (S4)" \
    peek media_has "$T/p.img" $((12 * K64)) "$T/p.d"

  # -> none through the mode file: WCE on, O_DIRECT refused too.
  switch_file p none
  check "chmod: echo none > mode: accepted, mode reads none" \
    eval '[ "$(cat "$(mnt_of p)/mode")" = none ]'
  check "chmod: status host_error says O_DIRECT and Permission denied" \
    eval 'e=$(status_error p) && [[ $e == *O_DIRECT*"Permission denied"* ]]'
  check "chmod: status host_flags=buffered, fdinfo agrees" flags_are p buffered
  check "chmod: E written plain in none (cached), read back" \
    eval 'put p $((16 * K64)) "$T/p.e" plain && reads_back p $((16 * K64)) "$T/p.e"'
  switch_file p directsync
  check "chmod: echo directsync > mode: accepted, status host_error, still buffered" \
    eval '[ "$(cat "$(mnt_of p)/mode")" = directsync ] && status_error p >/dev/null &&
          flags_are p buffered'
  check "chmod: S5: E, cached in none, is on the image after -> directsync" \
    peek media_has "$T/p.img" $((16 * K64)) "$T/p.e"
  check "chmod: one descriptor of the image after two failed O_DIRECT reopens" \
    fds_are p 1
  check "chmod: the image is byte for byte the model (nothing lost)" \
    peek media_is p "$T/p.img"

  chmod 644 "$T/p.img"
  switch_ctl p directsync
  check "chmod 644 again: a retry of mode directsync succeeds: host_flags=O_DIRECT|O_DSYNC, no host_error" \
    reply_ok directsync "O_DIRECT|O_DSYNC"
  check "chmod 644 again: status has no host_error any more" no_error p
  check "chmod 644 again: status host_flags=O_DIRECT|O_DSYNC, fdinfo agrees" \
    flags_are p "O_DIRECT|O_DSYNC"
  check "chmod 644 again: two descriptors of the image (O_DIRECT and its twin)" \
    fds_are p 2
  check "chmod 644 again: F written+fsync'd and read back" \
    eval 'put p $((20 * K64)) "$T/p.f" fsync && reads_back p $((20 * K64)) "$T/p.f"'
  switch_file p writeback
  check "chmod 644 again: echo writeback > mode: buffered, no host_error" \
    eval 'no_error p && flags_are p buffered && fds_are p 1'
  check "chmod 644 again: G written+fsync'd in writeback" \
    put p $((24 * K64)) "$T/p.g" fsync
  flush_disk p
  check "chmod: after a final fsync the image is byte for byte the model" \
    media_is p "$T/p.img"
  check "chmod: the disk reads the model" disk_is p
  stop_fuse p
  return 0
}
if ! part_a; then
  ok "chmod 000: # SKIP as root this needs setpriv to drop CAP_DAC_OVERRIDE (util-linux)"
fi

# ---- 2b. The image deleted while mounted ---------------------------------

# A deleted image is NOT unreachable on Linux: its inode lives while a
# descriptor holds it, and open("/proc/self/fd/N") reaches that inode
# whatever happened to the name -- which is why safe reopen (wcache(7)) routes
# the reopen through /proc/self/fd.  So every switch here must SUCCEED and
# keep using the same (deleted) image, even when a new file has taken its
# name: reopening by path would pick up that decoy.
new_disk d
start_fuse d "$T/d.img" --control="$(fctl_of d)"
dpid=$(fpid_of d)
# proc_img: the image through the daemon's current descriptor.
proc_img () { echo "/proc/$dpid/fd/$(stat_of d host_fd)"; }
new_data "$T/d.a"; new_data "$T/d.b"; new_data "$T/d.c"; new_data "$T/d.d"
new_data "$T/d.e"; new_data "$T/d.f"
check "deleted: A written and fsync'd before" put d 0 "$T/d.a" fsync
rm -f "$T/d.img"
check "deleted: B written plain (cached) after rm" put d $((4 * K64)) "$T/d.b" plain
check "deleted: B is only cached: not in the (deleted) image yet" \
  eval 'media_lacks "$(proc_img)" $((4 * K64)) "$T/d.b"'
switch_ctl d writethrough
check "deleted: wcachectl mode writethrough succeeds: host_flags=O_DSYNC, no host_error" \
  reply_ok writethrough O_DSYNC
check "deleted: status host_flags=O_DSYNC, fdinfo agrees, no host_error" \
  eval 'flags_are d O_DSYNC && no_error d'
check "deleted: the new descriptor is the deleted image (readlink says so)" \
  eval '[[ $(readlink "$(proc_img)") == "$T/d.img (deleted)" ]]'
check "deleted: one descriptor of the image" fds_are d 1
check "deleted: S5: B is in the image after the switch" \
  media_has "$(proc_img)" $((4 * K64)) "$T/d.b"
check "deleted: C written+fsync'd and read back" \
  eval 'put d $((8 * K64)) "$T/d.c" fsync && reads_back d $((8 * K64)) "$T/d.c"'
check "deleted: D written O_DSYNC and read back" \
  eval 'put d $((12 * K64)) "$T/d.d" dsync && reads_back d $((12 * K64)) "$T/d.d"'
check "deleted: the image (via /proc/PID/fd) is byte for byte the model" \
  media_is d "$(proc_img)"
# A decoy takes the name.
make_image d.img $SIZE
switch_file d directsync
check "deleted, name reused: echo directsync > mode succeeds: O_DIRECT|O_DSYNC, fdinfo agrees, no host_error" \
  eval 'no_error d && flags_are d "O_DIRECT|O_DSYNC"'
check "deleted, name reused: the descriptors are still the deleted image, not the decoy" \
  eval '[[ $(readlink "$(proc_img)") == "$T/d.img (deleted)" ]] && fds_are d 2'
check "deleted, name reused: E written+fsync'd and read back" \
  eval 'put d $((16 * K64)) "$T/d.e" fsync && reads_back d $((16 * K64)) "$T/d.e"'
switch_ctl d writeback
check "deleted, name reused: wcachectl mode writeback: buffered, no host_error" \
  eval 'reply_ok writeback buffered && flags_are d buffered && fds_are d 1'
check "deleted, name reused: F written+fsync'd and read back" \
  eval 'put d $((20 * K64)) "$T/d.f" fsync && reads_back d $((20 * K64)) "$T/d.f"'
flush_disk d
check "deleted: after a final fsync the image (via /proc/PID/fd) is byte for byte the model" \
  media_is d "$(proc_img)"
check "deleted: the disk reads the model" disk_is d
check "deleted: the decoy holding the name was never written (all zeros)" \
  cmp -n $SIZE "$T/d.img" /dev/zero
stop_fuse d

# ---- 2c. O_DIRECT refused by the filesystem ------------------------------

# tmpfs supports O_DIRECT since Linux 6.6; ramfs does not.  Use whichever
# of the two refuses it (a mount needs root).
part_c ()
{
  local fs= try dir=$T/nodirect err
  mkdir -p "$dir"
  for try in ramfs tmpfs; do
    mount -t $try $try "$dir" 2>/dev/null || continue
    if ! dd if=/dev/zero of="$dir/probe" bs=4096 count=1 oflag=direct \
         status=none 2>/dev/null; then
      rm -f "$dir/probe"
      cleanup_fn "umount '$dir' || umount -l '$dir'"
      fs=$try
      break
    fi
    umount "$dir"
  done
  [ -n "$fs" ] || return 1
  echo "# $fs refuses O_DIRECT: the image goes there"

  truncate -s $SIZE "$dir/r.img"
  make_image r.model $SIZE
  # Starting in none or directsync fails, before the mount, with a message.
  mkdir -p "$(mnt_of r0)"
  for m in none directsync; do
    "$WCACHE_FUSE" -P "$T/r0.fpid" --mode=$m "$(mnt_of r0)" "$dir/r.img" \
      2>"$T/r0.err" </dev/null
    err=$?
    echo "# --mode=$m: exit $err: $(cat "$T/r0.err")"
    check "$fs: --mode=$m fails at start-up (exit $err) with a message naming O_DIRECT" \
      eval '[ $err != 0 ] && grep -q "O_DIRECT" "$T/r0.err"'
    check "$fs: --mode=$m left nothing mounted and no pid file" \
      eval '! mountpoint -q "$(mnt_of r0)" && [ ! -e "$T/r0.fpid" ]'
    mountpoint -q "$(mnt_of r0)" && stop_fuse r0
  done

  start_fuse r "$dir/r.img" --control="$(fctl_of r)"
  new_data "$T/r.a"; new_data "$T/r.b"; new_data "$T/r.c"; new_data "$T/r.d"
  new_data "$T/r.e"; new_data "$T/r.f"; new_data "$T/r.g"
  check "$fs: A written and fsync'd in writeback" put r 0 "$T/r.a" fsync
  check "$fs: B written plain (cached)" put r $((4 * K64)) "$T/r.b" plain

  switch_ctl r none
  check "$fs: wcachectl mode none: mode=none, host_flags still buffered, host_error names O_DIRECT" \
    reply_kept none buffered O_DIRECT
  check "$fs: status host_error names O_DIRECT" \
    eval 'e=$(status_error r) && [[ $e == *O_DIRECT* ]]'
  check "$fs: status host_flags=buffered, fdinfo agrees" flags_are r buffered
  check "$fs: one descriptor of the image" fds_are r 1
  check "$fs: C written+fsync'd in none (old descriptor) and read back" \
    eval 'put r $((8 * K64)) "$T/r.c" fsync && reads_back r $((8 * K64)) "$T/r.c"'
  check "$fs: B, cached before the failed switch, is on the image after C's fsync (S3)" \
    media_has "$dir/r.img" $((4 * K64)) "$T/r.b"
  check "$fs: D written plain in none (cached)" put r $((12 * K64)) "$T/r.d" plain
  check "$fs: D is only cached" eval 'media_lacks "$dir/r.img" $((12 * K64)) "$T/r.d"'

  switch_file r directsync
  check "$fs: echo directsync > mode: accepted, mode reads directsync" \
    eval '[ "$(cat "$(mnt_of r)/mode")" = directsync ]'
  check "$fs: status host_error names O_DIRECT|O_DSYNC" \
    eval 'e=$(status_error r) && [[ $e == *"O_DIRECT|O_DSYNC"* ]]'
  check "$fs: status host_flags=buffered (the whole new set failed, the old descriptor stays), fdinfo agrees" \
    flags_are r buffered
  check "$fs: S5: D, cached before the switch to directsync, is on the image" \
    media_has "$dir/r.img" $((12 * K64)) "$T/r.d"
  check "$fs: E written O_DSYNC in directsync and read back" \
    eval 'put r $((16 * K64)) "$T/r.e" dsync && reads_back r $((16 * K64)) "$T/r.e"'
  check "$fs: the image is byte for byte the model (nothing lost)" \
    media_is r "$dir/r.img"

  switch_ctl r writethrough
  check "$fs: wcachectl mode writethrough: O_DSYNC works here, host_error gone" \
    eval 'reply_ok writethrough O_DSYNC && no_error r && flags_are r O_DSYNC'
  switch_ctl r directsync
  check "$fs: wcachectl mode directsync from writethrough: host_flags stay O_DSYNC, host_error names O_DIRECT" \
    reply_kept directsync O_DSYNC O_DIRECT
  check "$fs: status host_flags=O_DSYNC, fdinfo agrees, one descriptor" \
    eval 'flags_are r O_DSYNC && fds_are r 1'
  check "$fs: F written plain with the O_DSYNC descriptor, durable at once (S4), read back" \
    eval 'put r $((20 * K64)) "$T/r.f" plain && media_has "$dir/r.img" $((20 * K64)) "$T/r.f" &&
          reads_back r $((20 * K64)) "$T/r.f"'
  switch_file r writeback
  check "$fs: G written+fsync'd after going back to writeback" \
    eval 'no_error r && flags_are r buffered && put r $((24 * K64)) "$T/r.g" fsync'
  flush_disk r
  check "$fs: after a final fsync the image is byte for byte the model" \
    media_is r "$dir/r.img"
  check "$fs: the disk reads the model" disk_is r
  stop_fuse r
  return 0
}
if ! part_c; then
  ok "O_DIRECT refused: # SKIP needs root to mount a ramfs (or a tmpfs without O_DIRECT)"
fi

check "nothing hung (the watchdog did not fire)" fuse_watchdog_quiet
done_testing
