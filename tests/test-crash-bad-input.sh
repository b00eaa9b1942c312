#!/usr/bin/env bash
# wcache-crash refuses bad input with exit status 2 and a message that
# names the problem, before exploring anything: a malformed log (the
# reader's entry index and reason), a base image smaller than the log's
# highest sector, a checker that is not executable or not found, bad
# options and state IDs, results that do not merge.  A checker that fails
# (exit 3, or writes to the image) is a checker error, never consistent.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/crash-functions.sh"
requires_crash

T=$tmpdir
log_through_wcache j 1M "
for i in range(1, 4):
    h.pwrite(b'J' * 4096, 4096 * i)
h.flush()
h.pwrite(b'C' * 4096, 0)
"
printf '#!/bin/sh\nexit 0\n' > "$T/ok-check"
chmod +x "$T/ok-check"

# expect_fail DESC PATTERN ARGS...: exit status 2, PATTERN on stderr.
expect_fail ()
{
  local desc=$1 pattern=$2 rc
  shift 2
  crash "$@" > "$T/out" 2> "$T/err"
  rc=$?
  if [ $rc = 2 ] && grep -qE -- "$pattern" "$T/err"; then
    ok "$desc"
  else
    not_ok "$desc (exit $rc: $(head -c 300 "$T/err"))"
  fi
}

# A malformed log: entry 2's flags get an unknown bit (the reader's
# rule), found by walking the headers of this 512-byte-sector log.
cp "$T/j.log" "$T/bad.log"
/usr/bin/python3 - "$T/bad.log" <<'EOS'
import struct, sys
f = open(sys.argv[1], "r+b")
off = 512
for i in range(3):
    f.seek(off)
    sector, nr, flags, dlen = struct.unpack("<QQQQ", f.read(32))
    if i == 2:
        f.seek(off + 16)
        f.write(struct.pack("<Q", flags | 0x40))
        break
    off += 512 + (0 if flags & (1 | 4 | 8) else nr * 512)
EOS
expect_fail "a malformed log: the entry and the reason (explore)" \
  'bad\.log: entry 2: .*flag' explore "$T/bad.log" --base "$T/j.base" --check "$T/ok-check"
expect_fail "a malformed log: the entry and the reason (info)" \
  'bad\.log: entry 2: ' info "$T/bad.log"
expect_fail "a malformed log: the entry and the reason (materialize)" \
  'bad\.log: entry 2: ' materialize "$T/bad.log" --base "$T/j.base" --state e0.p1.knone -o "$T/x.img"
head -c 100 "$T/j.log" > "$T/short.log"
expect_fail "a log shorter than its superblock" 'short\.log: ' info "$T/short.log"
expect_fail "no log at all" 'nothere\.log: .*No such file' info "$T/nothere.log"

truncate -s 8K "$T/small.base"
expect_fail "a base image smaller than the log's highest sector" \
  "base .*small\.base: 8192 bytes, smaller than the log's highest sector \(entry 2 writes up to byte 16384\)" \
  explore "$T/j.log" --base "$T/small.base" --check "$T/ok-check"
expect_fail "materialize: the same" "smaller than the log's highest sector" \
  materialize "$T/j.log" --base "$T/small.base" --state e0.p3.knone -o "$T/x.img"

# A checker that cannot run: refused before any state (no summary).
printf '#!/bin/sh\ntouch "%s/ran"\n' "$T" > "$T/noexec-check"
chmod -x "$T/noexec-check"
expect_fail "a checker that is not executable" 'noexec-check: not executable' \
  explore "$T/j.log" --base "$T/j.base" --check "$T/noexec-check"
check "... refused before any state was explored" \
  eval '! grep -q "^explored" "$T/out" && test ! -e "$T/ran"'
expect_fail "a checker not on PATH" 'no-such-checker-xyz: not found on PATH' \
  explore "$T/j.log" --base "$T/j.base" --check no-such-checker-xyz
expect_fail "fsck of an unknown filesystem" 'fsck:ntfs: unknown filesystem' \
  explore "$T/j.log" --base "$T/j.base" --check fsck:ntfs
expect_fail "records without record marks in the log" 'no MARK "record N"' \
  explore "$T/j.log" --base "$T/j.base" --check records

# Options.
expect_fail "explore without --base" 'base IMAGE is required' explore "$T/j.log" --check "$T/ok-check"
expect_fail "explore without --check" 'check is required' explore "$T/j.log" --base "$T/j.base"
expect_fail "an unknown option" 'unrecognized option' explore "$T/j.log" --bogus
expect_fail "an unknown command" 'unknown command' frobnicate
expect_fail "--shard 4/3" 'shard 4/3: not I/N' info --shard 4/3 "$T/j.log"
expect_fail "--torn 1000" 'torn 1000: not a power of two' info --torn 1000 "$T/j.log"
expect_fail "--exhaustive 31" 'exhaustive 31: not a number from 0 to 30' info --exhaustive 31 "$T/j.log"
expect_fail "-j 0" '-j 0: at least 1' explore "$T/j.log" --base "$T/j.base" --check "$T/ok-check" -j 0
expect_fail "--from-mark of a mark the log lacks" 'from-mark nope: no such MARK' info --from-mark nope "$T/j.log"
expect_fail "materialize: a malformed ID" 'state e0\.p3\.k2-1: bad piece range' \
  materialize "$T/j.log" --base "$T/j.base" --state e0.p3.k2-1 -o "$T/x.img"
expect_fail "materialize: the wrong epoch for the crash point" 'epoch 1, but 0 FLUSH entries precede p3' \
  materialize "$T/j.log" --base "$T/j.base" --state e1.p3.knone -o "$T/x.img"
expect_fail "materialize: a piece the crash point does not have" 'piece 3 kept, but the epoch has 3 candidate pieces' \
  materialize "$T/j.log" --base "$T/j.base" --state e0.p3.k3 -o "$T/x.img"
expect_fail "materialize: a crash point past the log" 'past the log' \
  materialize "$T/j.log" --base "$T/j.base" --state e1.p99.knone -o "$T/x.img"
echo '{"tool": "something else"}' > "$T/other.json"
expect_fail "merge: not a result" 'not a wcache-crash --json result' merge "$T/other.json"
crash --help > "$T/help" 2>&1
check "--help: exit 0 with the usage" eval 'grep -q "^Usage:" "$T/help"'

# Checker errors: never consistent, exit 2.
printf '#!/bin/sh\necho cannot tell\nexit 3\n' > "$T/err-check"
chmod +x "$T/err-check"
crash explore "$T/j.log" --base "$T/j.base" --check "$T/err-check" --keep-going > "$T/out" 2>&1
rc=$?
check "a checker exiting 3: exit 2, every state a checker error" \
  eval 'test $rc = 2 && grep -q "checker errors" "$T/out" && grep -q "^CHECKER ERROR e0.*exit status 3: cannot tell" "$T/out" && grep -q " 0 consistent" "$T/out"'
printf '#!/bin/sh\nprintf x | dd of="$WCACHE_CRASH_IMAGE" bs=1 seek=100 conv=notrunc 2>/dev/null\nexit 0\n' > "$T/write-check"
chmod +x "$T/write-check"
crash explore "$T/j.log" --base "$T/j.base" --check "$T/write-check" --keep-going > "$T/out" 2>&1
rc=$?
check "a checker that writes to the image: a checker error, exit 2" \
  eval 'test $rc = 2 && grep -q "the checker wrote to the image" "$T/out" && grep -q " 0 consistent" "$T/out"'

done_testing
