#!/bin/sh
# Host-side check for examples/applog.sh, run by wcache-guest after the
# power cut with the filesystem mounted (journal replayed) at $WG_MNT.
# Every record the guest called durable ($WG_ACKED, one number a line)
# must be in the log.  Prints "lost N"; exit 0 no loss, 1 loss, 2 error.
lost=0
while read -r n; do
  [ -n "$n" ] || continue
  grep -qx "applog seed=$WG_SEED rec=$n" "$WG_MNT/app.log" 2>/dev/null || {
    [ $lost -lt 3 ] && echo "record $n missing"
    lost=$((lost + 1))
  }
done < "$WG_ACKED"
echo "lost $lost"
[ $lost = 0 ]
