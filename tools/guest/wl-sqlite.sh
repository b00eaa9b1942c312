# SQLite: one row per transaction in /mnt/wg.db, table t(id, seed, pad),
# journal mode and synchronous from wg.sqlite=JOURNAL:SYNC.  One sqlite3
# process reads the statements; it prints "WG record N durable" itself,
# after the COMMIT of row N returned, and .bail stops it at the first
# error, so nothing is announced past a failed COMMIT.
[ "$wg_fs" != raw ] || { echo "WG fatal the sqlite workload needs a filesystem"; return; }
wg_sqj=${wg_sqlite%%:*} wg_sqs=${wg_sqlite#*:}
{
  echo ".bail on"
  echo "PRAGMA journal_mode=$wg_sqj;"
  echo "PRAGMA synchronous=$wg_sqs;"
  echo "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, seed INTEGER, pad TEXT);"
  i=1
  while [ $i -le $wg_n ]; do
    echo "BEGIN; INSERT INTO t VALUES($i, $wg_seed, printf('%0200d', $i)); COMMIT;"
    echo "SELECT 'WG record $i durable';"
    i=$((i + 1))
  done
} | sqlite3 /mnt/wg.db || wg_fail "sqlite3 exited with an error"
