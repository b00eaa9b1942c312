#!/usr/bin/env bash
# S1 (with S3 and S7) under load from a real client: fio's nbd engine
# writes 32M of random 4K blocks at queue depth 16 with a flush every 8
# writes, then reads everything back and checks each block's crc32c.  Run
# with the default cache, with a 16K cache, and with a 64K cache and no
# flushes at all (S7: a full cache writes back its oldest dirty blocks and
# never drops one).  Each run passes only if fio exits 0, reports no error
# and verified all 32M.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"

: "${FIO:=fio}"
requires_cmd "$FIO"
"$FIO" --enghelp=nbd 2>/dev/null | grep -q uri ||
  skip_all "requires fio with the nbd engine (fio --enghelp=nbd)"
requires_plugin memory
requires "$NBDKIT" --filter=log null --version
[ -f "$WCACHE_FILTER" ] || bail "no filter at $WCACHE_FILTER (not built?)"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
requires "$PY" -c 'import json'

T=$tmpdir

# fio_run NAME FIO-ARGS...: runs the fio job against server NAME; JSON in
# NAME.json, other output in NAME.out, exit status in NAME.rc.
fio_run ()
{
  local name=$1
  shift
  # In $T, and without a verify state file: fio leaves nothing behind.
  (cd "$T" &&
   "$FIO" --name="$name" --ioengine=nbd --uri="$(uri_of "$name")" \
     --rw=randwrite --bs=4k --size=32M --iodepth=16 \
     --verify=crc32c --do_verify=1 --verify_state_save=0 "$@" \
     --output-format=json --output="$T/$name.json" > "$T/$name.out" 2>&1)
  echo $? > "$T/$name.rc"
  if [ "$(cat "$T/$name.rc")" != 0 ]; then
    echo "# fio $name exited $(cat "$T/$name.rc"):"
    tail -20 "$T/$name.out" "$T/$name.json" 2>/dev/null | sed 's/^/# /'
  fi
}

# fio_clean NAME SYNCS: fio exited 0, reported no error, wrote 32M and
# read all of it back to verify it; it sent fsyncs if SYNCS is yes.
fio_clean ()
{
  [ "$(cat "$T/$1.rc")" = 0 ] || return 1
  "$PY" - "$T/$1.json" "$2" <<'PYEOF'
import json, sys
job = json.load(open(sys.argv[1]))["jobs"][0]
syncs = job["sync"]["total_ios"]
ok = (job["error"] == 0 and
      job["write"]["io_bytes"] == 32 << 20 and
      job["read"]["io_bytes"] == 32 << 20 and
      (syncs > 0 if sys.argv[2] == "yes" else syncs == 0))
sys.exit(0 if ok else 1)
PYEOF
}

start_nbdkit default --filter="$WCACHE_FILTER" --filter=log memory 64M \
  logfile="$T/default.plugin.log"
fio_run default --fsync=8
check "S1: fio randwrite with fsync every 8 writes, crc32c-verified over 32M, passes (default cache)" \
  fio_clean default yes
check "S3: fio's fsyncs reached the plugin as flushes" \
  grep -q " Flush id=[0-9]* \.\.\.$" "$T/default.plugin.log"

start_nbdkit small --filter="$WCACHE_FILTER" memory 64M wcache-size=16K
fio_run small --fsync=8
check "S1/S7: the same fio job passes with a 16K cache" fio_clean small yes

start_nbdkit nofsync --filter="$WCACHE_FILTER" memory 64M wcache-size=64K
fio_run nofsync
check "S1/S7: fio without any flush passes with a 64K cache (destaging, never dropping)" \
  fio_clean nofsync no

done_testing
