#!/usr/bin/env bash
# The control protocol (wcache(7), THE CONTROL PLANE), every command and
# every error path of server/protocol.c, through wcachectl and through a raw
# socket: help lists the whole command table; mode queries and switches all
# five modes (wce and cache_type as in wcache(7) CACHE MODES, S5);
# cache-type switches WCE and keeps the host-flags half of the mode; flush
# writes the cache back to the plugin (--filter=log below wcache), even in
# unsafe mode where a client's flush does not (S3); power-cut with each
# policy reports policy/seed/dirty/kept/lost/torn (S8), a second cut is
# refused, power-on restores power; power-cut cancel disarms (S9); every bad
# argument gets its own error and changes nothing; status carries every
# field and its counters follow the I/O; mark TEXT keeps its spaces; empty
# lines, whitespace, CRLF, control bytes.  The man pages document every
# command.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/control-functions.sh"

requires_wcachectl
requires_nbdsh
requires_plugin memory
requires "$NBDKIT" --filter=log null --version

T=$tmpdir
LOG=$T/plugin.log
export T LOG
start_wcache p --filter=log memory 1M logfile="$LOG"
CTL=$(ctl_of p)
URI=$(uri_of p)
export CTL

# The command names, from the table in commands.c.
mapfile -t names < <(sed -n 's/^  \[WC_CMD_[A-Z_]*\] = { "\([a-z-]*\)",.*/\1/p' \
                       "$top_srcdir/server/commands.c")
[ ${#names[@]} -ge 8 ] || bail "could not read the command table of commands.c"

# has_keys LINE KEY...: the reply line carries every KEY= pair.
has_keys ()
{
  local line=" $1 " k
  shift
  for k in "$@"; do
    [[ $line == *" $k="* ]] || { echo "# missing $k= in: $1"; return 1; }
  done
}

# reply_is WANT ARGS...: wcachectl ARGS prints exactly WANT and exits 0
# (WANT starts with "ok") or 1 (WANT starts with "error:").
reply_is ()
{
  local want=$1 got rc wrc=0
  shift
  [[ $want == error:* ]] && wrc=1
  got=$(ctl p "$@")
  rc=$?
  [ "$got" = "$want" ] && [ $rc = $wrc ] && return 0
  echo "# wcachectl $*: exit $rc (want $wrc)"
  echo "#   got:  $got"
  echo "#   want: $want"
  return 1
}

# grammar LINE: the reply follows kv.h's grammar.
grammar ()
{
  "$PY" - "$1" <<'PYEOF'
import re, sys
line = sys.argv[1]
pair = r' [A-Za-z0-9_-]+=([!#-\[\]-~]+|"([ !#-\[\]-~]|\\"|\\\\)*")'
ok = re.fullmatch(r'ok(' + pair + r')*', line) or \
     re.fullmatch(r'error: [ -~]*', line)
if not ok:
    print("# not in kv.h's grammar: " + line[:300])
sys.exit(0 if ok else 1)
PYEOF
}

# ---- help ------------------------------------------------------------------
out=$(ctl p help 2>&1)
rc=$?
missing=
for n in "${names[@]}"; do
  [[ $out == *"$n"* ]] || missing+=" $n"
done
check "wcachectl help exits 0 and lists every command of the table (${names[*]})" \
  test $rc = 0 -a -z "$missing"
[ $rc = 0 ] || echo "# wcachectl help: exit $rc: ${out:0:300}"

raw_help=$(printf 'help\n' | raw_ctl "$CTL")
missing=
for n in "${names[@]}"; do
  [[ $raw_help == *" $n=\"$n"* ]] || missing+=" $n"
done
check "raw help: one NAME=\"synopsis: help\" pair per command of the table${missing:+ (missing:$missing)}" \
  test -z "$missing" -a "${raw_help:0:3}" = "ok "
check "raw help: the reply follows the kv.h grammar" \
  grammar "$raw_help"

# wcachectl --help comes from the same table: every synopsis the server's
# help gives, word for word.
usage=$("$WCACHECTL" --help)
missing=
while IFS= read -r syn; do
  grep -qxF "  $syn" <<<"$usage" || missing+=" [$syn]"
done < <("$WCACHECTL" -s "$CTL" --json help | "$PY" -c '
import json, sys
for k, v in json.load(sys.stdin).items():
    if ": " in str(v):
        print(str(v).split(": ", 1)[0])')
check "wcachectl --help lists each command's synopsis as the server's help does${missing:+ (missing:$missing)}" \
  test -z "$missing"

# ---- mode ------------------------------------------------------------------
check "mode: the default is writeback, WCE on" \
  reply_is 'ok mode=writeback wce=1 cache_type="write back"' mode
for m in writethrough:0:"write through" none:1:"write back" \
         directsync:0:"write through" unsafe:1:"write back" \
         writeback:1:"write back"; do
  IFS=: read -r name wce ct <<< "$m"
  want="ok mode=$name wce=$wce cache_type=\"$ct\""
  check "mode $name: $want" reply_is "$want" mode "$name"
  check "mode (query) after mode $name says the same" reply_is "$want" mode
  check "status after mode $name: mode=$name wce=$wce" \
    eval '[[ " $(ctl p status) " == *" mode=$name wce=$wce cache_type=\"$ct\" "* ]]'
done
for m in writethrough directsync unsafe none writeback; do
  r=$(printf 'mode %s\n' $m | raw_ctl "$CTL")
  [[ $r == "ok mode=$m "* ]] || break
done
check "raw: mode NAME switches to each of the five modes" \
  test "$r" = 'ok mode=writeback wce=1 cache_type="write back"'

# ---- cache-type: WCE alone, the host-flags half kept --------------------------
# START VALUE END: cache-type VALUE in mode START switches to END.
for t in "writeback|write through|writethrough" "writethrough|write back|writeback" \
         "none|write through|directsync" "directsync|write back|none" \
         "unsafe|write through|writethrough" "unsafe|write back|unsafe" \
         "writeback|write back|writeback" "directsync|write through|directsync"; do
  IFS='|' read -r from value to <<< "$t"
  case $to in writethrough|directsync) wce=0 ct="write through" ;;
              *) wce=1 ct="write back" ;; esac
  ctl p mode "$from" >/dev/null || bail "mode $from failed"
  check "cache-type $value in mode $from: mode=$to" \
    reply_is "ok mode=$to wce=$wce cache_type=\"$ct\"" cache-type $value
done
check "cache-type (no argument) replies as mode" \
  reply_is 'ok mode=directsync wce=0 cache_type="write through"' cache-type
check "raw: cache-type write back" \
  test "$(printf 'cache-type write back\n' | raw_ctl "$CTL")" = \
       'ok mode=none wce=1 cache_type="write back"'
ctl p mode writeback >/dev/null || bail "mode writeback failed"

# ---- flush writes back ------------------------------------------------------
check "nbdsh: a plain 4K write at 64K is acknowledged" \
  test "$(nbd_ops "$URI" w:65536:4096:0x5a)" = ok
check "S3: the plain write has not reached the plugin before 'flush'" \
  eval '! plugin_touched "$LOG" "Write|Zero|Trim" 65536 4096'
check "flush: ok" reply_is ok flush
check "S3: after 'wcachectl flush' the write is on the plugin, then a plugin flush" \
  plugin_has "$LOG" "Write|Zero" 65536 4096 durable

check "mode unsafe" reply_is 'ok mode=unsafe wce=1 cache_type="write back"' \
  mode unsafe
check "unsafe: nbdsh writes 4K at 128K and flushes (acknowledged, ignored)" \
  test "$(nbd_ops "$URI" w:131072:4096:0x5b f)" = "ok ok"
check "unsafe: the client's flush did not write back" \
  eval '! plugin_touched "$LOG" "Write|Zero|Trim" 131072 4096'
check "unsafe: 'flush' still writes back (the operator's flush is forced)" \
  eval 'ctl p flush >/dev/null && plugin_has "$LOG" "Write|Zero" 131072 4096 durable'
check "mode writeback" reply_is 'ok mode=writeback wce=1 cache_type="write back"' \
  mode writeback
check "raw: flush: ok" test "$(printf 'flush\n' | raw_ctl "$CTL")" = ok

# ---- flush and mode when the media fails (error filter below wcache) ----------
start_wcache e --filter=error memory 1M error-pwrite-rate=1 \
  error-pwrite-file="$T/media-fails"
check "media-fail disk: a plain 4K write of 0x77 at 0 (cached)" \
  test "$(nbd_ops "$(uri_of e)" w:0:4096:0x77)" = ok
touch "$T/media-fails"
check "flush with failing media: exit 1, error: flush: Input/output error; failed data stays cached" \
  eval '[ "$(ctl e flush)" = "error: flush: Input/output error; failed data stays cached" ]'
check "cache-type write through with failing media: S5 refuses, the mode stays writeback" \
  eval '[ "$(ctl e cache-type write through)" = "error: cache-type: switching writeback -> writethrough: Input/output error; the mode stays writeback" ]'
check "mode writethrough with failing media: S5 refuses, the mode stays writeback" \
  eval '[ "$(ctl e mode writethrough)" = "error: mode: switching writeback -> writethrough: Input/output error; the mode stays writeback" ]'
st=$(ctl e status)
check "status: mode=writeback, the block still dirty (dirty_blocks=1), media_errors > 0" \
  eval '[ "$(kv "$st" mode) $(kv "$st" dirty_blocks)" = "writeback 1" ] && [ "$(kv "$st" media_errors)" -gt 0 ]'
rm -f "$T/media-fails"
check "media healed: mode writethrough now succeeds (writes back first)" \
  eval '[ "$(ctl e mode writethrough)" = "ok mode=writethrough wce=0 cache_type=\"write through\"" ]'
check "nothing was lost: the write reads back, and the cache is clean" \
  eval '[ "$(nbd_ops "$(uri_of e)" rb:0:4096:0x77)" = ok ] && [ "$(ctl e --get dirty_blocks status)" = 0 ]'
stop_nbdkit e

# ---- status: fields and counters --------------------------------------------
fields=(power mode wce cache_type size block_size cache_bytes dirty_blocks
        dirty_bytes reads writes fua_writes zeroes trims flushes bytes_read
        bytes_written writeback_blocks writeback_ios destaged_blocks
        media_errors marks cuts armed)
s0=$(ctl p status)
check "status: exit 0 and every field (${fields[*]})" has_keys "$s0" "${fields[@]}"
check "status: power=on, size=1048576, block_size=4096, cache_bytes=268435456, armed=none" \
  eval '[ "$(kv "$s0" power)$(kv "$s0" size)$(kv "$s0" block_size)$(kv "$s0" cache_bytes)$(kv "$s0" armed)" = on10485764096268435456none ]'
check "status: no last_cut_* before any cut" eval '[[ $s0 != *last_cut_* ]]'
check "status: the reply follows the kv.h grammar" grammar "$s0"
check "status --json: a JSON object with ok=true and every field" \
  "$PY" -c '
import json, sys
j = json.loads(sys.argv[1])
sys.exit(0 if j["ok"] is True and all(k in j for k in sys.argv[2:]) else 1)
' "$(ctl p --json status)" "${fields[@]}"
check "status --get power: on" test "$(ctl p --get power status)" = on
check "status --get no_such_key: exit 1" eval 'ctl p --get no_such_key status 2>/dev/null; [ $? = 1 ]'

# Counters: 3 writes (one FUA) of 4K, 4K, 8K; a zero and a trim of 4K; then
# 2 reads (4K, 8K) and a flush.  Blocks 0..5 of 4K are touched.
d0=$(ctl p status)
check "nbdsh: writes, FUA write, zero, trim" \
  test "$(nbd_ops "$URI" w:0:4096:1 w:4096:4096:2:fua w:8192:8192:3 \
          z:16384:4096 t:20480:4096)" = "ok ok ok ok ok"
d1=$(ctl p status)
check "nbdsh: 2 reads and a flush" \
  test "$(nbd_ops "$URI" r:0:4096 r:0:8192 f)" = "ok ok ok"
d2=$(ctl p status)
delta () { echo $(( $(kv "$2" "$3") - $(kv "$1" "$3") )); }
for e in writes:3 fua_writes:1 zeroes:1 trims:1 bytes_written:24576 \
         reads:0 flushes:0; do
  check "status: $e more after the writes" \
    test "$(delta "$d0" "$d1" "${e%%:*}")" = "${e#*:}"
done
check "status: dirty_blocks=5 dirty_bytes=20480 before the flush (the FUA block is clean)" \
  test "$(kv "$d1" dirty_blocks):$(kv "$d1" dirty_bytes)" = 5:20480
for e in reads:2 bytes_read:12288 flushes:1 writes:0 writeback_blocks:5; do
  check "status: $e more after the reads and the flush" \
    test "$(delta "$d1" "$d2" "${e%%:*}")" = "${e#*:}"
done
check "status: the FUA write was written back at once (writeback_blocks +1 before the flush)" \
  test "$(delta "$d0" "$d1" writeback_blocks)" = 1
check "status: dirty_blocks=0 dirty_bytes=0 after the flush" \
  test "$(kv "$d2" dirty_blocks):$(kv "$d2" dirty_bytes)" = 0:0
wios=$(delta "$d1" "$d2" writeback_ios)
check "status: the flush took 1..5 media I/Os for 5 blocks ($wios)" \
  test "$wios" -ge 1 -a "$wios" -le 5
check "status: destaged_blocks=0 media_errors=0 (256M cache, good media)" \
  test "$(kv "$d2" destaged_blocks):$(kv "$d2" media_errors)" = 0:0

# ---- mark ------------------------------------------------------------------
m0=$(kv "$(ctl p status)" marks)
check "mark TEXT with spaces (wcachectl words): the text whole, quoted" \
  reply_is 'ok mark="hello big world" power=on' mark hello big world
check "raw: mark keeps inner runs of spaces, drops the outer ones" \
  test "$(printf 'mark   two  spaces   \n' | raw_ctl "$CTL")" = \
       'ok mark="two  spaces" power=on'
check "raw: mark with a quote and a backslash is escaped in the reply" \
  test "$(printf 'mark a"b\\c\n' | raw_ctl "$CTL")" = 'ok mark="a\"b\\c" power=on'
check "wcachectl --get mark gives the text back unescaped" \
  test "$(ctl p --get mark mark 'a"b\c')" = 'a"b\c'
check "mark: a bare word is not quoted" reply_is 'ok mark=commit1 power=on' mark commit1
check "status: marks counted 5 more" \
  test "$(kv "$(ctl p status)" marks)" = $((m0 + 5))

# ---- errors that change nothing ---------------------------------------------
long_mark=$(printf 'm%.0s' $(seq 256))
long_cmd=$(printf 'x%.0s' $(seq 100))
errors=(
  "mode bogus|error: mode: 'bogus' is not writeback, writethrough, none, directsync or unsafe"
  "mode a b|error: mode: too many arguments (usage: mode [NAME])"
  "mode WRITEBACK|error: mode: 'WRITEBACK' is not writeback, writethrough, none, directsync or unsafe"
  "cache-type write-back|error: cache-type: 'write-back' is not 'write back' or 'write through'"
  "cache-type write back now|error: cache-type: 'write back now' is not 'write back' or 'write through'"
  "cache-type writeback|error: cache-type: 'writeback' is not 'write back' or 'write through'"
  "flush now|error: flush: takes no arguments"
  "power-on now|error: power-on: takes no arguments"
  "status all|error: status: takes no arguments"
  "power-cut bogus=1|error: power-cut: unknown key 'bogus' (policy, seed, p, unit, after)"
  "power-cut policy=lose policy=keep|error: power-cut: policy given twice"
  "power-cut seed=1 seed=1|error: power-cut: seed given twice"
  "power-cut p=0.5 p=0.5|error: power-cut: p given twice"
  "power-cut unit=512 unit=512|error: power-cut: unit given twice"
  "power-cut after=writes:1 after=writes:2|error: power-cut: after given twice"
  "power-cut policy=x|error: power-cut: policy=x: not lose, keep, random, ordered or torn"
  "power-cut policy=|error: power-cut: policy=: not lose, keep, random, ordered or torn"
  "power-cut seed=-1|error: power-cut: seed=-1: not a number from 0 to 18446744073709551615"
  "power-cut seed=abc|error: power-cut: seed=abc: not a number from 0 to 18446744073709551615"
  "power-cut seed=18446744073709551616|error: power-cut: seed=18446744073709551616: not a number from 0 to 18446744073709551615"
  "power-cut seed=|error: power-cut: seed=: not a number from 0 to 18446744073709551615"
  "power-cut p=2|error: power-cut: p=2: not a probability from 0 to 1"
  "power-cut p=|error: power-cut: p=: not a probability from 0 to 1"
  "power-cut p=-0.1|error: power-cut: p=-0.1: not a probability from 0 to 1"
  "power-cut p=nan|error: power-cut: p=nan: not a probability from 0 to 1"
  "power-cut p=0.5x|error: power-cut: p=0.5x: not a probability from 0 to 1"
  "power-cut unit=1000|error: power-cut: unit=1000 is not a power of two (from 512 to the block size); block size 4096"
  "power-cut unit=256|error: power-cut: unit=256 is smaller than 512 (a power of two from 512 to the block size); block size 4096"
  "power-cut unit=131072|error: power-cut: unit=131072 is larger than the block size; block size 4096"
  "power-cut unit=wide|error: power-cut: unit=wide: not a size (such as 512 or 4K)"
  "power-cut unit=0x200|error: power-cut: unit=0x200: not a size (such as 512 or 4K)"
  "power-cut policy=torn unit=8192|error: power-cut: unit=8192 is larger than the block size; block size 4096"
  "power-cut policy=lose unit=8K|error: power-cut: unit=8K is larger than the block size; block size 4096"
  "power-cut seed=0x10|error: power-cut: seed=0x10: not a number from 0 to 18446744073709551615"
  "power-cut seed=+1|error: power-cut: seed=+1: not a number from 0 to 18446744073709551615"
  "power-cut p=1e-1|error: power-cut: p=1e-1: not a probability from 0 to 1"
  "power-cut after=x|error: power-cut: after=x: expected KIND:N or mark:NAME"
  "power-cut after=|error: power-cut: after=: expected KIND:N or mark:NAME"
  "power-cut after=writes:0|error: power-cut: after=writes:0: N must be a whole number from 1"
  "power-cut after=writes:|error: power-cut: after=writes:: N must be a whole number from 1"
  "power-cut after=flushes:-1|error: power-cut: after=flushes:-1: N must be a whole number from 1"
  "power-cut after=bytes:1k|error: power-cut: after=bytes:1k: N must be a whole number from 1"
  "power-cut after=ms:99999999999|error: power-cut: after=ms:99999999999: N must be a whole number from 1 to 4294967295 ms"
  "power-cut after=ms:0|error: power-cut: after=ms:0: N must be a whole number from 1 to 4294967295 ms"
  "power-cut after=mark:|error: power-cut: after=mark:NAME: the name must be 1 to 255 bytes"
  "power-cut after=mark:$long_mark|error: power-cut: after=mark:NAME: the name must be 1 to 255 bytes"
  "power-cut after=bogus:1|error: power-cut: after=bogus:1: KIND is writes, flushes, bytes, ms or mark"
  "power-cut after=write:1|error: power-cut: after=write:1: KIND is writes, flushes, bytes, ms or mark"
  "power-cut now|error: power-cut: 'now': expected KEY=VALUE (policy, seed, p, unit, after) or 'cancel'"
  "power-cut cancel now|error: power-cut: 'cancel': expected KEY=VALUE (policy, seed, p, unit, after) or 'cancel'"
  "power-cut policy=keep =1|error: power-cut: unknown key '' (policy, seed, p, unit, after)"
  "mark|error: mark: usage: mark TEXT"
  "log|error: log: usage: log start PATH [sector-size=N] | log stop"
  "log start|error: log: usage: log start PATH [sector-size=N] | log stop"
  "log start wlog|error: log start: wlog: the path must be absolute"
  "log start $T/wlog sector-size=1000|error: log start: sector-size=1000 is not a power of two from 512 to the block size"
  "log start $T/wlog sector-size=8192|error: log start: sector-size=8192 is larger than the block size (a log sector is never split between cache blocks)"
  "log start $T/wlog size=512|error: log start: 'size=512': expected sector-size=N (512 or 4096)"
  "log start $T/wlog sector-size=512 x|error: log: usage: log start PATH [sector-size=N] | log stop"
  "log stop|error: log stop: no log is on"
  "log stop now|error: log: usage: log start PATH [sector-size=N] | log stop"
  "frobnicate|error: unknown command 'frobnicate'; try 'help'"
  "Mode|error: unknown command 'Mode'; try 'help'"
  "power|error: unknown command 'power'; try 'help'"
  "$long_cmd now|error: unknown command '${long_cmd:0:64}'; try 'help'"
)
before=$(ctl p status)
raw_in=
raw_want=
for e in "${errors[@]}"; do
  req=${e%%|*} want=${e#*|}
  read -r -a words <<< "$req"
  check "wcachectl ${req:0:60}: exit 1, $want" reply_is "$want" "${words[@]}"
  raw_in+="$req"$'\n'
  raw_want+="$want"$'\n'
done
raw_got=$(printf %s "$raw_in" | raw_ctl "$CTL")
check "raw: the same ${#errors[@]} bad requests, pipelined on one connection, get the same ${#errors[@]} error lines in order" \
  test "$raw_got" = "${raw_want%$'\n'}"
after=$(ctl p status)
check "the bad requests changed nothing: power, mode, cuts, armed, writes as before" \
  test "$(kv "$before" power) $(kv "$before" mode) $(kv "$before" cuts) $(kv "$before" armed) $(kv "$before" writes)" = \
       "$(kv "$after" power) $(kv "$after" mode) $(kv "$after" cuts) $(kv "$after" armed) $(kv "$after" writes)"

# ---- raw-only line handling -------------------------------------------------
raw_case ()
{
  local desc=$1 in=$2 want=$3 got
  got=$(printf "$in" | raw_ctl "$CTL")
  if [ "$got" = "$want" ]; then ok "$desc"
  else not_ok "$desc"; echo "#   got:  $got"; echo "#   want: $want"; fi
}
mode_ok='ok mode=writeback wce=1 cache_type="write back"'
raw_case "raw: an empty line is an error" '\n' "error: empty request; try 'help'"
raw_case "raw: a line of spaces is an error" '    \n' "error: empty request; try 'help'"
raw_case "raw: leading, trailing and repeated spaces are accepted" \
  '   mode    writeback   \n' "$mode_ok"
raw_case "raw: CRLF line ending is accepted" 'mode\r\n' "$mode_ok"
raw_case "raw: CRLF after arguments is accepted" 'mode writeback\r\n' "$mode_ok"
raw_case "raw: a tab is not a separator: error naming byte 0x09" 'mode\twriteback\n' \
  "error: the request holds a byte that is not printable ASCII (0x09)"
raw_case "raw: a CR inside the line: error naming byte 0x0d" 'mo\rde\n' \
  "error: the request holds a byte that is not printable ASCII (0x0d)"
raw_case "raw: a NUL byte: error" 'mode\0writeback\n' \
  "error: the request holds a NUL byte"
raw_case "raw: a 0xff byte: error naming it" 'mode \377\n' \
  "error: the request holds a byte that is not printable ASCII (0xff)"
raw_case "raw: DEL (0x7f): error naming it" 'status\177\n' \
  "error: the request holds a byte that is not printable ASCII (0x7f)"
raw_case "raw: a request without its newline gets no reply" 'status' ""
raw_case "raw: errors do not end the connection: error, error, ok" \
  '\nbogus\nmode\n' "error: empty request; try 'help'
error: unknown command 'bogus'; try 'help'
$mode_ok"

# ---- power-cut now, each policy ---------------------------------------------
# Each round: power on, 8 dirty 4K blocks, a cut with a fixed seed.
for pol in lose keep random ordered torn; do
  args=(power-cut "policy=$pol" seed=7)
  [ $pol = torn ] && args+=(unit=512)
  w=()
  for i in 0 1 2 3 4 5 6 7; do w+=("w:$((262144 + i * 4096)):4096:$((0x40 + i))"); done
  r=$(nbd_ops "$URI" "${w[@]}")
  [ "$r" = "ok ok ok ok ok ok ok ok" ] || not_ok "power-cut $pol: 8 writes: $r"
  cut=$(ctl p "${args[@]}")
  rc=$?
  check "power-cut policy=$pol seed=7: exit 0, ok power=off policy=$pol seed=7 dirty=8 errors=0" \
    eval '[ $rc = 0 ] && [[ $cut == "ok power=off policy=$pol seed=7 dirty=8 "* ]] &&
          [ "$(kv "$cut" errors)" = 0 ]'
  check "power-cut policy=$pol: reply has policy seed dirty kept lost torn" \
    has_keys "$cut" policy seed dirty kept lost torn
  check "power-cut policy=$pol: kept+lost+torn = dirty ($cut)" \
    test $(($(kv "$cut" kept) + $(kv "$cut" lost) + $(kv "$cut" torn))) = 8
  case $pol in
    lose) check "policy=lose: lost=8" test "$(kv "$cut" lost)" = 8 ;;
    keep) check "policy=keep: kept=8" test "$(kv "$cut" kept)" = 8 ;;
    random|ordered) check "policy=$pol: no block torn" test "$(kv "$cut" torn)" = 0 ;;
    torn) check "policy=torn unit=512: some of 8 blocks of 8 units torn" \
            test "$(kv "$cut" torn)" -gt 0 ;;
  esac
  st=$(ctl p status)
  check "status after the $pol cut: power=off, last_cut_* as the reply" \
    eval '[ "$(kv "$st" power)" = off ] &&
          has_keys "$st" last_cut_policy last_cut_seed last_cut_dirty last_cut_kept last_cut_lost last_cut_torn &&
          [ "$(kv "$st" last_cut_policy) $(kv "$st" last_cut_seed) $(kv "$st" last_cut_dirty) $(kv "$st" last_cut_kept) $(kv "$st" last_cut_lost) $(kv "$st" last_cut_torn)" = \
            "$pol 7 8 $(kv "$cut" kept) $(kv "$cut" lost) $(kv "$cut" torn)" ]'
  if [ $pol = lose ]; then
    check "power-cut while off: exit 1, error: power-cut: the power is already off" \
      reply_is "error: power-cut: the power is already off" power-cut
    check "raw: power-cut while off: the same error" \
      test "$(printf 'power-cut policy=keep\n' | raw_ctl "$CTL")" = \
           "error: power-cut: the power is already off"
    check "mark while off: exit 1, error: mark: the power is off" \
      reply_is "error: mark: the power is off" mark x
    check "flush while off: exit 1, error: flush: Input/output error; failed data stays cached" \
      reply_is "error: flush: Input/output error; failed data stays cached" flush
    # Nothing is cached while the power is off: the switch has nothing to
    # write back and succeeds (engine.c); switch back for the next rounds.
    check "mode writethrough while off: ok (nothing to write back)" \
      reply_is 'ok mode=writethrough wce=0 cache_type="write through"' mode writethrough
    check "mode writeback while off: ok" reply_is "$mode_ok" mode writeback
  fi
  if [ $pol = keep ]; then
    check "raw: power-on: ok power=on" \
      test "$(printf 'power-on\n' | raw_ctl "$CTL")" = "ok power=on"
  else
    check "power-on: ok power=on" reply_is "ok power=on" power-on
  fi
done
check "power-on while on: ok power=on" reply_is "ok power=on" power-on
check "status: cuts=5 after five cuts" test "$(kv "$(ctl p status)" cuts)" = 5
r=$(printf 'power-cut policy=random p=1 seed=1\n' | raw_ctl "$CTL")
check "raw: power-cut policy=random p=1 seed=1 (nothing dirty): ok power=off ... dirty=0" \
  eval '[[ $r == "ok power=off policy=random seed=1 dirty=0 kept=0 lost=0 torn=0"* ]]'
check "power-on" reply_is "ok power=on" power-on
r=$(ctl p power-cut)
check "power-cut without arguments: policy=lose, a seed picked and reported" \
  eval '[[ $r =~ ^ok\ power=off\ policy=lose\ seed=[0-9]+\ dirty=0 ]]'
check "power-on" reply_is "ok power=on" power-on

# ---- power-cut cancel --------------------------------------------------------
check "power-cut after=writes:5 policy=keep seed=3: armed" \
  reply_is "ok armed=writes:5 policy=keep seed=3" power-cut after=writes:5 policy=keep seed=3
st=$(ctl p status)
check "status: armed=writes armed_remaining=5 armed_policy=keep" \
  eval '[ "$(kv "$st" armed) $(kv "$st" armed_remaining) $(kv "$st" armed_policy)" = "writes 5 keep" ]'
check "power-cut cancel: ok armed=none" reply_is "ok armed=none" power-cut cancel
# Numbers are decimal everywhere, as the filter's keys: 010 is ten.
check "power-cut after=writes:010 seed=010: ten writes, seed ten" \
  reply_is "ok armed=writes:10 policy=lose seed=10" power-cut after=writes:010 seed=010
st=$(ctl p status)
check "status: armed_remaining=10" eval '[ "$(kv "$st" armed_remaining)" = 10 ]'
check "power-cut policy=torn unit=1K after=flushes:1: a size takes a suffix" \
  reply_is "ok armed=flushes:1 policy=torn" power-cut policy=torn unit=1K after=flushes:1
check "power-cut cancel again: ok armed=none" reply_is "ok armed=none" power-cut cancel
check "status after cancel: armed=none, no armed_* fields" \
  eval '[[ " $(ctl p status) " == *" armed=none "* && "$(ctl p status)" != *armed_* ]]'
check "raw: power-cut after=mark:m1, then cancel" \
  test "$(printf 'power-cut after=mark:m1\npower-cut cancel\n' | raw_ctl "$CTL")" = \
       "ok armed=mark:m1 policy=lose
ok armed=none"
check "power-cut cancel with nothing armed: ok armed=none" \
  reply_is "ok armed=none" power-cut cancel
check "nothing fired: power=on, cuts=7" \
  test "$(ctl p --get power status) $(ctl p --get cuts status)" = "on 7"

# ---- the man pages document every command -----------------------------------
pods=()
for f in "$top_srcdir/man/nbdkit-wcache-filter.pod" "$top_srcdir/man/wcachectl.pod"; do
  [ -f "$f" ] && pods+=("$f")
done
check "man/wcachectl.pod exists" test -f "$top_srcdir/man/wcachectl.pod"
# The filter's CONTROL PROTOCOL section and all of wcachectl.pod.
doc=$(
  [ -f "$top_srcdir/man/nbdkit-wcache-filter.pod" ] &&
    sed -n '/^=head1 CONTROL PROTOCOL/,/^=head1 /p' "$top_srcdir/man/nbdkit-wcache-filter.pod"
  [ -f "$top_srcdir/man/wcachectl.pod" ] && cat "$top_srcdir/man/wcachectl.pod"
)
for n in "${names[@]}"; do
  check "man: the control command '$n' is documented (filter's CONTROL PROTOCOL or wcachectl.pod)" \
    eval 'grep -qw -- "$n" <<< "$doc"'
done

done_testing
