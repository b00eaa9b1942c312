#!/usr/bin/env bash
# S8 power cut end to end with each policy, asked for over the control
# socket with a fixed seed, on the file plugin with the oracle (S10): 256
# distinct 4K blocks are written (64 then flushed, 8 with FUA, 184 plain,
# 32 of them rewritten, 4 zeroed), then "power-cut policy=P seed=S".  The
# image file is read directly: flushed and FUA data are intact (S3, S2);
# lose leaves every unflushed block old, keep makes all new, random and
# ordered leave each block whole old or whole new (ordered: survivors in
# write order), torn each 512-byte unit old or new; the reply's
# kept/lost/torn match the image; the oracle verified the cut and found
# nothing wrong; the same run again (fresh image, same seed) gives a
# byte-identical image.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/control-functions.sh"

requires_wcachectl
requires_nbdsh
requires_plugin file

T=$tmpdir
export T
# old: the image before; new1: the first content written; new2: rewrites.
for f in old new1 new2; do head -c $((1 << 20)) /dev/urandom > "$T/$f"; done

# run NAME ARGS...: a fresh copy of old served as NAME.img with the
# oracle; the client writes the pattern; then power-cut ARGS.  The reply
# goes to NAME.reply, and nbdkit is stopped.
run ()
{
  local name=$1 r
  shift
  cp "$T/old" "$T/$name.img"
  start_wcache "$name" file "$T/$name.img" wcache-oracle=true
  "$PY" - "$(uri_of "$name")" <<'PYEOF' || bail "client of $name failed"
import os, sys
import nbd
T, B = os.environ["T"], 4096
new1 = open(T + "/new1", "rb").read()
new2 = open(T + "/new2", "rb").read()
blk = lambda f, b: f[b * B:(b + 1) * B]
h = nbd.NBD()
h.connect_uri(sys.argv[1])
for b in range(0, 64):
    h.pwrite(blk(new1, b), b * B)
h.flush()
for b in range(64, 72):
    h.pwrite(blk(new1, b), b * B, nbd.CMD_FLAG_FUA)
for b in range(72, 256):
    h.pwrite(blk(new1, b), b * B)
for b in list(range(32, 48)) + list(range(200, 216)):
    h.pwrite(blk(new2, b), b * B)
h.zero(4 * B, 100 * B)
h.shutdown()
PYEOF
  r=$(ctl "$name" status)
  [ "$(kv "$r" dirty_blocks)" = 200 ] ||
    echo "# $name: dirty_blocks=$(kv "$r" dirty_blocks) before the cut, want 200"
  ctl "$name" power-cut "$@" > "$T/$name.reply"
  echo "# $name: $(cat "$T/$name.reply")"
  stop_nbdkit "$name"
}

# classify NAME POLICY: reads NAME.img and prints
#   durable_bad=N bad=N kept=N lost=N torn=N prefix=0|1
# durable_bad: flushed/FUA blocks that are not their data; bad: blocks
# neither old nor new (per 512-byte unit for torn); prefix: survivors of
# the once-written blocks, in write order, form a prefix.
classify ()
{
  "$PY" - "$T/$1.img" "$2" <<'PYEOF'
import os, sys
T, B, U = os.environ["T"], 4096, 512
img = open(sys.argv[1], "rb").read()
policy = sys.argv[2]
old, new1, new2 = (open(T + "/" + f, "rb").read() for f in ("old", "new1", "new2"))
blk = lambda f, b: f[b * B:(b + 1) * B]
D, L = {}, {}                       # durable and latest content
for b in range(256):
    if b < 72:
        D[b] = L[b] = blk(new1, b)
    else:
        D[b], L[b] = blk(old, b), blk(new1, b)
for b in range(32, 48):
    L[b] = blk(new2, b)
for b in range(200, 216):
    L[b] = blk(new2, b)
for b in range(100, 104):
    L[b] = bytes(B)
c = dict(durable_bad=0, bad=0, kept=0, lost=0, torn=0)
state = {}
for b in range(256):
    got = blk(img, b)
    if D[b] == L[b]:
        c["durable_bad"] += got != D[b]
        continue
    if got == L[b]:
        c["kept"] += 1; state[b] = 1
    elif got == D[b]:
        c["lost"] += 1; state[b] = 0
    elif policy == "torn" and all(
            got[u:u + U] in (D[b][u:u + U], L[b][u:u + U])
            for u in range(0, B, U)):
        c["torn"] += 1
    else:
        c["bad"] += 1
order = [b for b in list(range(72, 256)) + list(range(32, 48))
         if not (100 <= b < 104 or 200 <= b < 216)]
seen_lost, prefix = False, 1
for b in order:
    if state.get(b) == 0:
        seen_lost = True
    elif state.get(b) == 1 and seen_lost:
        prefix = 0
print(" ".join("%s=%d" % kv for kv in c.items()), "prefix=%d" % prefix)
PYEOF
}

# oracle_ok NAME: the -v log has a "blocks verified" line and no other
# oracle line.
oracle_ok ()
{
  grep -q 'wcache: oracle: [0-9]* blocks verified' "$T/$1.err" &&
    ! grep "oracle:" "$T/$1.err" | grep -qv "blocks verified"
}

SEED=4242
for pol in lose keep random ordered torn; do
  case $pol in
    random) args=(policy=random p=0.5 seed=$SEED) ;;
    torn) args=(policy=torn unit=512 seed=$SEED) ;;
    *) args=(policy=$pol seed=$SEED) ;;
  esac
  run "$pol-1" "${args[@]}"
  reply=$(cat "$T/$pol-1.reply")
  check "$pol: power-cut ${args[*]}: ok power=off policy=$pol seed=$SEED dirty=200 errors=0" \
    eval '[[ $reply == "ok power=off policy=$pol seed=$SEED dirty=200 "* ]] &&
          [ "$(kv "$reply" errors)" = 0 ]'
  c=$(classify "$pol-1" "$pol")
  echo "# $pol image: $c"
  durable_bad=-1 bad=-1 kept=-1 lost=-1 torn=-1 prefix=-1
  [[ $c =~ ^durable_bad=[0-9]+\ bad=[0-9]+\ kept=[0-9]+\ lost=[0-9]+\ torn=[0-9]+\ prefix=[01]$ ]] &&
    eval "$c"
  check "$pol: S3/S2: the 64 flushed and 8 FUA blocks are intact in the image" \
    test "$durable_bad" = 0
  case $pol in
    lose)
      check "lose: every one of the 200 unflushed blocks holds its old content" \
        test "$lost $kept $torn $bad" = "200 0 0 0" ;;
    keep)
      check "keep: every one of the 200 unflushed blocks holds its new content" \
        test "$kept $lost $torn $bad" = "200 0 0 0" ;;
    random|ordered)
      check "$pol: S10: each unflushed block is whole old or whole new, none torn" \
        test "$bad $torn" = "0 0"
      check "$pol: some blocks survived and some were lost ($kept kept, $lost lost)" \
        test "$kept" -gt 0 -a "$lost" -gt 0 ;;
    torn)
      check "torn: S10: each 512-byte unit of each unflushed block is old or new" \
        test "$bad" = 0
      check "torn: some blocks are torn, some whole ($kept kept, $lost lost, $torn torn)" \
        test "$torn" -gt 0 ;;
  esac
  [ $pol = ordered ] &&
    check "ordered: the surviving blocks are a prefix in write order" test "$prefix" = 1
  check "$pol: the reply's kept/lost/torn match the image ($(kv "$reply" kept)/$(kv "$reply" lost)/$(kv "$reply" torn))" \
    test "$(kv "$reply" kept) $(kv "$reply" lost) $(kv "$reply" torn)" = "$kept $lost $torn"
  check "$pol: S10: the oracle verified the cut and reported no error" oracle_ok "$pol-1"

  run "$pol-2" "${args[@]}"
  check "$pol: the same run with the same seed gives a byte-identical image" \
    cmp -s "$T/$pol-1.img" "$T/$pol-2.img"
  check "$pol: ... and the same reply" cmp -s "$T/$pol-1.reply" "$T/$pol-2.reply"
  check "$pol: S10: the oracle of the second run reported no error" oracle_ok "$pol-2"
done

run random-3 policy=random p=0.5 seed=$((SEED + 1))
check "random: another seed gives another image" \
  eval '! cmp -s "$T/random-1.img" "$T/random-3.img"'

done_testing
