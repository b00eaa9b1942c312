# Rename-over churn.  A filesystem: write cur.tmp, fsync it, rename over cur,
# fsync the directory; then record i is durable (cur holds i or later).
# Raw disk, the same idea without a filesystem: write record i into slot
# i%2, fsync, then write it as the commit block, fsync.
i=1
while [ $i -le $wg_n ]; do
  if [ "$wg_fs" != raw ]; then
    wg_write $i /mnt/cur.tmp 0 conv=fsync || { wg_fail "record $i"; break; }
    mv /mnt/cur.tmp /mnt/cur || { wg_fail "rename $i"; break; }
    sync /mnt || { wg_fail "dirsync $i"; break; }
  else
    wg_write $i /dev/vda $((WG_RAW_BASE + 2 + i % 2)) conv=notrunc,fsync || { wg_fail "record $i"; break; }
    wg_write $i /dev/vda $WG_RAW_BASE conv=notrunc,fsync || { wg_fail "commit $i"; break; }
  fi
  wg_durable $i
  i=$((i + 1))
done
