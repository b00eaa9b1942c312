# Records written with O_DIRECT, each followed by fsync.
i=1
while [ $i -le $wg_n ]; do
  if [ "$wg_fs" != raw ]; then
    wg_write $i /mnt/records $i conv=notrunc,fsync oflag=direct || { wg_fail "record $i"; break; }
  else
    wg_write $i /dev/vda $((WG_RAW_BASE + i)) conv=notrunc,fsync oflag=direct || { wg_fail "record $i"; break; }
  fi
  wg_durable $i
  i=$((i + 1))
done
