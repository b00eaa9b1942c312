# Example user workload for `wcache-guest run --script=...`: an
# append-only log, one line per record, made durable by fsync of the file
# (busybox `sync FILE`).  Runs in the guest under busybox sh, sourced by
# /init with the helpers of lib.sh; /mnt is the ext4 filesystem.
i=1
while [ $i -le $wg_n ]; do
  echo "applog seed=$wg_seed rec=$i" >> /mnt/app.log || { wg_fail "append $i"; break; }
  sync /mnt/app.log || { wg_fail "fsync $i"; break; }
  wg_durable $i
  i=$((i + 1))
done
