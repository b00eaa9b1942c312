# Shared by the guest tests, sourced after functions.sh: checks what the
# harness needs (skipping with a reason otherwise), builds the guest once
# and exports it for every cycle.  Sets $guest, the harness.

guest=$top_srcdir/tools/wcache-guest
export top_srcdir top_builddir
requires_cmd qemu-system-x86_64 mkfs.ext4 e2fsck cpio gzip apt-cache
[ "$(id -u)" = 0 ] || skip_all "needs root (loop mount of the checked ext4 image)"
[ -x "$top_builddir/server/wcachectl" ] || skip_all "wcachectl is not built"

_guest_out=$("$guest" build 2>"$tmpdir/build.err")
case $? in
  0) ;;
  77) skip_all "cannot obtain the guest packages: $(tail -n1 "$tmpdir/build.err")" ;;
  *) sed 's/^/# /' "$tmpdir/build.err"; bail "building the guest failed" ;;
esac
WCACHE_GUEST_KERNEL=$(tail -n2 <<<"$_guest_out" | head -n1)
WCACHE_GUEST_INITRD=$(tail -n1 <<<"$_guest_out")
export WCACHE_GUEST_KERNEL WCACHE_GUEST_INITRD
