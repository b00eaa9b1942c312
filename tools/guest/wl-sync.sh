# Records written buffered, made "durable" with sync only (no fsync).
# On a raw block device sync sends no flush: a negative control.
i=1
while [ $i -le $wg_n ]; do
  if [ "$wg_fs" != raw ]; then
    wg_write $i /mnt/records $i conv=notrunc || { wg_fail "record $i"; break; }
  else
    wg_write $i /dev/vda $((WG_RAW_BASE + i)) conv=notrunc || { wg_fail "record $i"; break; }
  fi
  sync || { wg_fail "sync $i"; break; }
  wg_durable $i
  i=$((i + 1))
done
