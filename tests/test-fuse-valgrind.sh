#!/usr/bin/env bash
# wcache-fuse under valgrind: a session that touches every path of the
# frontend (disk I/O with and without FUA and O_DIRECT, fsync, fallocate,
# control files, the control socket, mode switches with safe reopen, a cut
# and power-on with page cache invalidation, unmount), and one over an NBD
# backing (--control-of, a cut, the reconnect at the next open), must show
# no memory error and no definite leak.
. "$top_srcdir/tests/functions.sh"
. "$top_srcdir/tests/fuse-functions.sh"
. "$top_srcdir/tests/control-functions.sh"

requires_cmd valgrind
requires_fuse
requires_wcachectl

make_image img 16M
m=$(mnt_of vg)
mkdir -p "$m"
valgrind --error-exitcode=99 --leak-check=full \
  --errors-for-leak-kinds=definite --log-file="$tmpdir/vg.log" \
  "$WCACHE_FUSE" -f -P "$tmpdir/vg.fpid" --control="$(fctl_of vg)" \
  "$m" "$tmpdir/img" 2>"$tmpdir/vg.ferr" &
vgpid=$!
cleanup_fn "kill $vgpid 2>/dev/null; stop_fuse vg"
# The pid file appears once the disk serves (valgrind is slow to get there).
for i in $(seq 1 600); do
  [ -s "$tmpdir/vg.fpid" ] && break
  pid_alive "$vgpid" || break
  sleep 0.05
done
[ -s "$tmpdir/vg.fpid" ] || { cat "$tmpdir/vg.log" >&2; bail "no pid file"; }

d="$m/disk"
head -c 65536 /dev/urandom > "$tmpdir/data"
check "write + fsync" dd if="$tmpdir/data" of="$d" bs=64k conv=notrunc,fsync \
  status=none
check "O_DSYNC write" dd if="$tmpdir/data" of="$d" bs=4k count=4 seek=100 \
  oflag=dsync conv=notrunc status=none
check "O_DIRECT read" dd if="$d" of=/dev/null bs=4k count=16 iflag=direct \
  status=none
check "O_DIRECT write (drops the page cache)" dd if="$tmpdir/data" of="$d" \
  bs=4k count=4 seek=200 oflag=direct conv=notrunc status=none
check "punch hole" fallocate -p -o 0 -l 8192 "$d"
check "zero range" fallocate -z -o 8192 -l 8192 "$d"
for mode in writethrough directsync none unsafe writeback; do
  echo "$mode" > "$m/mode"
done
check "mode file switches" test "$(cat "$m/mode")" = writeback
echo "write through" > "$m/cache_type"
echo "write back" > "$m/cache_type"
check "cache_type switches" test "$(cat "$m/mode")" = writeback
check "cache_type" test "$(cat "$m/cache_type")" = "write back"
check "socket status" test "$("$WCACHECTL" -s "$(fctl_of vg)" -q host_flags \
  status)" = buffered
check "status file" grep -q '^power=on$' "$m/status"
dd if="$tmpdir/data" of="$d" bs=64k conv=notrunc status=none
dd if="$d" of=/dev/null bs=64k count=1 status=none
echo "cut policy=random seed=7" > "$m/power"
check "reads fail while off" bash -c "! dd if='$d' of=/dev/null bs=4k count=1 status=none 2>/dev/null"
echo on > "$m/power"
check "reads after power-on" dd if="$d" of=/dev/null bs=64k count=1 \
  status=none
check "bad control write is refused" bash -c "! echo bogus > '$m/mode' 2>/dev/null"

"$FUSERMOUNT3" -u "$m"
wait "$vgpid"
rc=$?
if [ "$rc" -eq 0 ]; then
  ok "valgrind: no errors, no definite leaks"
else
  not_ok "valgrind: exit $rc"
  sed 's/^/# /' "$tmpdir/vg.log"
fi

# ---- NBD backing ------------------------------------------------------------
if ! is_built fuse-nbd; then
  ok "NBD backing # SKIP wcache-fuse is built without NBD disks (no libnbd)"
  done_testing
fi
if ! "$NBDKIT" memory --version >/dev/null 2>&1; then
  ok "NBD backing # SKIP requires the nbdkit memory plugin"
  done_testing
fi
start_wcache s memory 16M
m=$(mnt_of vn)
mkdir -p "$m"
valgrind --error-exitcode=99 --leak-check=full \
  --errors-for-leak-kinds=definite --log-file="$tmpdir/vn.log" \
  "$WCACHE_FUSE" -f -P "$tmpdir/vn.fpid" --control-of="$(ctl_of s)" \
  "$m" "$(uri_of s)" 2>"$tmpdir/vn.ferr" &
vnpid=$!
cleanup_fn "kill $vnpid 2>/dev/null; stop_fuse vn"
for i in $(seq 1 600); do
  [ -s "$tmpdir/vn.fpid" ] && break
  pid_alive "$vnpid" || break
  sleep 0.05
done
[ -s "$tmpdir/vn.fpid" ] || { cat "$tmpdir/vn.log" >&2; bail "no pid file"; }
d="$m/disk"
check "NBD: write + fsync" dd if="$tmpdir/data" of="$d" bs=64k \
  conv=notrunc,fsync status=none
check "NBD: O_DSYNC write" dd if="$tmpdir/data" of="$d" bs=4k count=4 \
  seek=100 oflag=dsync conv=notrunc status=none
check "NBD: zero range" fallocate -z -o 8192 -l 8192 "$d"
check "NBD: status file" grep -q '^power=on$' "$m/status"
check "NBD: a bad cut is refused before it is sent" \
  bash -c "! echo 'cut policy=x' > '$m/power' 2>/dev/null"
exec 7<"$d"
echo cut > "$m/power"
check "NBD: reads fail while off" \
  bash -c "! dd if='$d' of=/dev/null bs=4k count=1 status=none 2>/dev/null"
echo on > "$m/power"
check "NBD: reads after power-on (a reconnect)" \
  dd if="$d" of=/dev/null bs=64k count=1 status=none
exec 7<&-
"$FUSERMOUNT3" -u "$m"
wait "$vnpid"
rc=$?
if [ "$rc" -eq 0 ]; then
  ok "valgrind NBD: no errors, no definite leaks"
else
  not_ok "valgrind NBD: exit $rc"
  sed 's/^/# /' "$tmpdir/vn.log"
fi
done_testing
