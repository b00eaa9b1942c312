#!/usr/bin/env bash
# The plugin's thread model holds below wcache: media calls come from
# every connection, the control socket (flush, mode switches, cuts) and
# the timer, and a plugin that asks for serialize_all_requests or
# serialize_requests must never see two calls at once.  The plugin here is
# an nbdkit sh script that fails loudly (logs OVERLAP, returns EIO) when a
# call starts while another runs; a parallel copy of it proves the load
# really overlaps calls, so the check can fail.  The plugin also sees
# exactly one open handle, whatever the number of clients.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/control-functions.sh"

requires_wcachectl
requires_nbdsh
requires_plugin sh

export T=$tmpdir
cat > "$T/plugin.sh" <<'EOF'
#!/usr/bin/env bash
# $T/$NAME.img is the disk.  A call takes the lock directory $T/$NAME.busy
# (mkdir is atomic) and holds it while it works; a call that finds it
# taken logs OVERLAP and fails.
img=$T/$NAME.img busy=$T/$NAME.busy
method=$1
case $method in
  thread_model) echo "$MODEL"; exit 0 ;;
  open) echo "open" >> "$T/$NAME.opens"; echo h; exit 0 ;;
  close) exit 0 ;;
esac
if ! mkdir "$busy" 2>/dev/null; then
  echo "OVERLAP $method while $(cat "$busy/what" 2>/dev/null)" >> "$T/$NAME.overlap"
  echo "EIO overlapping calls" >&2
  exit 1
fi
echo "$method" > "$busy/what"
rv=0
case $method in
  get_size) stat -c %s "$img" ;;
  can_write|can_flush|can_zero) ;;
  can_fua) echo native ;;
  pread) dd if="$img" skip=$4 count=$3 iflag=skip_bytes,count_bytes status=none ;;
  pwrite) dd of="$img" seek=$4 conv=notrunc oflag=seek_bytes status=none
          sleep 0.002 ;;
  zero) head -c "$3" /dev/zero |
          dd of="$img" seek=$4 conv=notrunc oflag=seek_bytes status=none ;;
  flush) sleep 0.002 ;;
  *) rv=2 ;;
esac
rm -rf "$busy"
exit $rv
EOF
chmod +x "$T/plugin.sh"

# load NAME: 3 clients write and flush while the control socket flushes,
# switches modes and cuts the power; then power-on and a read.
load ()
{
  local name=$1 i pids=()
  for i in 0 1 2; do
    I=$i nbdsh -u "$(uri_of "$name")" -c '
import os
i = int(os.environ["I"])
for k in range(24):
    try:
        h.pwrite(bytes([65 + i]) * 4096, (i * 64 + k) * 4096)
        if k % 6 == 5:
            h.flush()
    except nbd.Error:
        pass    # a cut in the middle: EIO is the point
' &
    pids+=($!)
  done
  for i in 1 2 3; do
    ctl "$name" flush
    ctl "$name" mode writethrough
    ctl "$name" mode writeback
  done > /dev/null
  ctl "$name" power-cut policy=keep > /dev/null
  wait "${pids[@]}"
  ctl "$name" power-on > /dev/null
  nbdsh -u "$(uri_of "$name")" -c 'h.pread(4096, 0)'
}

for model in serialize_all_requests serialize_requests parallel; do
  head -c $((1 << 20)) /dev/zero > "$T/$model.img"
  : > "$T/$model.overlap"
  MODEL=$model NAME=$model start_wcache "$model" \
    sh "$T/plugin.sh" wcache-size=64K
  load "$model"
  stop_nbdkit "$model"
  sed 's/^/# /' "$T/$model.overlap"
  overlaps=$(wc -l < "$T/$model.overlap")
  case $model in
    parallel)
      check "parallel: the load overlaps calls when nothing stops it ($overlaps)" \
        test "$overlaps" -gt 0 ;;
    *)
      check "$model: the plugin never saw two calls at once ($overlaps)" \
        test "$overlaps" -eq 0
      check "$model: no error from the plugin in nbdkit's log" \
        eval '! grep -q "overlapping calls" "$T/$model.err"' ;;
  esac
  check "$model: one plugin handle for every client ($(wc -l < "$T/$model.opens") opens)" \
    test "$(wc -l < "$T/$model.opens")" -eq 1
done

done_testing
