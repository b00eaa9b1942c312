#!/bin/bash
# wcache demo: what a power cut does to a disk with a volatile write cache.
#
#   make demo                       (or: WCACHE_FILTER=... bash scripts/demo.sh)
#
# For each cache mode (writeback, writethrough, unsafe) it starts
#   nbdkit --filter=wcache file IMAGE wcache-mode=MODE wcache-control=CTL
# over a fresh zeroed image, writes four 4 KiB records through nbdsh (a real
# NBD client), cuts the power with `wcachectl -s CTL power-cut` (the reply
# comes once the cut has happened), and reads the image file directly,
# without nbdkit, to see which records survived.
#
# It checks the outcome against the contract (wcache(7) S2, S3, S4, S8) and
# exits non-zero if it differs, so it doubles as a smoke test.
#
# Environment: WCACHE_FILTER (the filter .so), WCACHECTL (the client),
# NBDKIT (default nbdkit).
# Leaves nothing behind: every nbdkit is stopped by its pid file and the
# temporary directory is removed at exit.

# `make demo` runs this with /bin/sh: re-exec under bash.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"

set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${WCACHE_FILTER:=$here/../plugin/.libs/nbdkit-wcache-filter.so}"
: "${NBDKIT:=nbdkit}"
: "${WCACHECTL:=$here/../server/wcachectl}"
# nbdsh is a Python program; the python3 first on PATH may lack the nbd
# module, so use the system one.
NBDSH_PATH=/usr/bin:$PATH
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

MODES="writeback writethrough unsafe"   # word-split on purpose below
NRECORDS=4
IMAGE_SIZE=1M

die ()
{
  echo "demo: FAILED: $*" >&2
  exit 1
}

[ -f "$WCACHE_FILTER" ] ||
  die "no filter at $WCACHE_FILTER (build it: make plugin/nbdkit-wcache-filter.la)"
command -v "$NBDKIT" >/dev/null 2>&1 || die "nbdkit is not installed"
[ -x "$WCACHECTL" ] || die "no wcachectl at $WCACHECTL (build it: make)"
PATH=$NBDSH_PATH nbdsh -c 'pass' >/dev/null 2>&1 ||
  die "nbdsh (with the python3 nbd module, package python3-libnbd) is not usable"

tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/wcache-demo.XXXXXX") ||
  die "cannot create a temporary directory"
current_pidfile=

cleanup ()
{
  local pid
  if [ -n "$current_pidfile" ] && [ -s "$current_pidfile" ]; then
    pid=$(cat "$current_pidfile")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null
      for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -9 "$pid" 2>/dev/null
    fi
  fi
  rm -rf "$tmpdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# What the client sends.  Record K is one 4 KiB block at offset K * 64 KiB,
# filled with "wcache demo record K " repeated.  A flush is sent only if the
# disk offers it: a write-through disk does not (S6), and QEMU would drop it.
client_script='
import sys
BLOCK = 4096
def rec(k):
    s = ("wcache demo record %d " % k).encode()
    return (s * (BLOCK // len(s) + 1))[:BLOCK]
def off(k):
    return k * 65536
flush_ok = h.can_flush()
h.pwrite(rec(1), off(1));  print("ack 1")
if flush_ok:
    h.flush();             print("ack flush")
else:
    print("no flush offered")
h.pwrite(rec(2), off(2), nbd.CMD_FLAG_FUA); print("ack 2")
h.pwrite(rec(3), off(3));  print("ack 3")
h.pwrite(rec(4), off(4));  print("ack 4")
sys.stdout.flush()
try:
    h.shutdown()
except Exception:
    pass
'

# Reads the image directly: prints one word per record, survived / LOST /
# CORRUPT (neither the record nor zeros: never expected).
check_script='
import sys
BLOCK = 4096
img = open(sys.argv[1], "rb").read()
out = []
for k in range(1, int(sys.argv[2]) + 1):
    s = ("wcache demo record %d " % k).encode()
    want = (s * (BLOCK // len(s) + 1))[:BLOCK]
    got = img[k * 65536 : k * 65536 + BLOCK]
    out.append("survived" if got == want else
               "LOST" if got == bytes(BLOCK) else "CORRUPT")
print(" ".join(out))
'

# nbdkit_cmd MODE SOCK PIDFILE IMAGE CTL: sets the array cmd.
nbdkit_cmd ()
{
  cmd=("$NBDKIT" -U "$2" -P "$3" --filter="$WCACHE_FILTER" file "$4"
       wcache-mode="$1" wcache-control="$5")
}

show_logs ()    # MODE
{
  local f
  for f in "$tmpdir/$1".nbdkit.err "$tmpdir/$1".client.out "$tmpdir/$1".client.err; do
    [ -s "$f" ] || continue
    echo "--- ${f##*/}" >&2
    sed 's/^/    /' "$f" >&2
  done
}

# run_mode MODE: sets result[MODE] to the words from check_script.
declare -A result cut_reply
run_mode ()
{
  local mode=$1
  local img="$tmpdir/$mode.img" sock="$tmpdir/$mode.sock"
  local pidfile="$tmpdir/$mode.pid" err="$tmpdir/$mode.nbdkit.err"
  local ctl="$tmpdir/$mode.ctl"
  local pid i

  truncate -s $IMAGE_SIZE "$img" || die "truncate $img"
  current_pidfile=$pidfile
  # nbdkit forks into the background once it listens; the child writes
  # the pid file.
  nbdkit_cmd "$mode" "$sock" "$pidfile" "$img" "$ctl"
  "${cmd[@]}" 2>"$err" || {
    show_logs "$mode"
    die "$mode: nbdkit did not start"
  }
  for i in $(seq 1 100); do
    [ -s "$pidfile" ] && [ -S "$sock" ] && break
    sleep 0.05
  done
  [ -s "$pidfile" ] || { show_logs "$mode"; die "$mode: nbdkit wrote no pid file"; }
  pid=$(cat "$pidfile")

  PATH=$NBDSH_PATH nbdsh -u "nbd+unix:///?socket=$sock" -c "$client_script" \
    >"$tmpdir/$mode.client.out" 2>"$tmpdir/$mode.client.err"
  for i in 1 2 3 4; do
    grep -qx "ack $i" "$tmpdir/$mode.client.out" || {
      show_logs "$mode"
      die "$mode: record $i was not acknowledged by the server"
    }
  done

  # The reply comes once the cut has happened: the image is final.
  cut_reply[$mode]=$("$WCACHECTL" -s "$ctl" power-cut policy=lose) || {
    show_logs "$mode"
    die "$mode: wcachectl power-cut failed: ${cut_reply[$mode]}"
  }
  result[$mode]=$("$PY" -c "$check_script" "$img" $NRECORDS) ||
    die "$mode: reading the image failed"

  # nbdkit 1.32 itself takes about 1-2 s to exit.
  kill "$pid" 2>/dev/null
  for i in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  current_pidfile=
}

for mode in $MODES; do
  run_mode "$mode"
done

# ---- Report ------------------------------------------------------------------
declare -A expect=(
  [writeback]="survived survived LOST LOST"
  [writethrough]="survived survived survived survived"
  [unsafe]="LOST LOST LOST LOST"
)
how=("" "write + flush" "write FUA" "write, no flush" "write, then power cut")

echo "wcache demo: a disk with a volatile write cache loses power"
echo
echo "Per mode: nbdkit + wcache over a fresh $IMAGE_SIZE image file; nbdsh writes"
echo "4 records (4 KiB each), then the power is cut from the control socket and"
echo "the image is read without nbdkit.  The writeback run, to reproduce by hand:"
nbdkit_cmd writeback disk.sock disk.pid disk.img disk.ctl
echo "  ${cmd[*]}"
echo "  (nbdsh writes the records)"
echo "  wcachectl -s disk.ctl power-cut policy=lose"
echo "  ${cut_reply[writeback]}"
echo

failures=()
row ()   # prints its arguments as one table row, without trailing blanks
{
  local line
  line=$(printf '  %-6s  %-22s' "$1" "$2"; shift 2; printf '  %-12s' "$@")
  echo "${line%"${line##*[! ]}"}"
}
# shellcheck disable=SC2086
row "record" "how it was written" $MODES
for k in $(seq 1 $NRECORDS); do
  cells=()
  for mode in $MODES; do
    read -r -a got <<<"${result[$mode]}"
    read -r -a want <<<"${expect[$mode]}"
    cell=${got[k-1]}
    if [ "$cell" != "${want[k-1]}" ]; then
      cell="$cell (!)"
      failures+=("$mode, record $k (${how[k]}): expected ${want[k-1]}, got ${got[k-1]}")
    fi
    cells+=("$cell")
  done
  row "$k" "${how[k]}" "${cells[@]}"
done
echo
echo "Why:"
echo "  writeback     flush (1) and FUA (2) made those records durable; 3 and 4 lived"
echo "                only in the volatile cache, which the cut threw away."
echo "  writethrough  every write is durable before it is acknowledged (the disk"
echo "                does not even offer FLUSH: there is nothing to flush)."
echo "  unsafe        flush and FUA are acknowledged and ignored, so even records"
echo "                1 and 2, which the client made sure of, are lost."
echo

if [ ${#failures[@]} -gt 0 ]; then
  echo "FAILED: the outcome differs from the contract (wcache(7) S2/S3/S4/S8):" >&2
  for f in "${failures[@]}"; do echo "  $f" >&2; done
  for mode in $MODES; do show_logs "$mode"; done
  exit 1
fi
echo "OK: as expected (writeback keeps 1-2, writethrough keeps all, unsafe none)."
