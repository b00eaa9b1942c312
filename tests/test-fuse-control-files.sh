#!/usr/bin/env bash
# The control files of wcache-fuse (wcache(7), THE CONTROL PLANE;
# fuse/ctlfiles.c): the mount lists exactly disk, cache_type, mode, power
# and status; cache_type reads "write back"/"write through" and writing it
# switches WCE keeping the host half of the mode (writeback <->
# writethrough, none <-> directsync, unsafe -> writethrough); mode reads
# and writes the five QEMU names, and the host flags of the image follow
# (wcache(7), SAFE REOPEN);
# power reads on/off and takes "cut", "cut KEY=VALUE ...", "on"; status
# carries the same pairs as the control socket's status reply; invalid
# writes fail with EINVAL (status: EACCES) and change nothing; the files and
# the --control socket agree after changes made through either.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/fuse-functions.sh"

requires_fuse
: "${WCACHECTL:=$top_builddir/server/wcachectl}"
[ -x "$WCACHECTL" ] || skip_all "requires wcachectl at $WCACHECTL"
PY=/usr/bin/python3
[ -x "$PY" ] || skip_all "requires /usr/bin/python3"

T=$tmpdir
truncate -s 1M "$T/img"
start_fuse d "$T/img" --control="$(fctl_of d)"
M=$(mnt_of d)
CTL=$(fctl_of d)
"$WCACHECTL" -s "$CTL" --wait=10 status >/dev/null ||
  bail "the control socket does not answer"

ctl () { "$WCACHECTL" -s "$CTL" --timeout=30 "$@"; }

# is_file FILE WANT: FILE reads exactly WANT and one newline.
is_file ()
{
  local got
  got=$(cat "$M/$1"; echo x)
  [ "$got" = "$2"$'\n'x ] && return 0
  echo "# $1 reads '${got%x}', expected '$2\\n'"
  return 1
}

# write_errno FILE TEXT: one write(2) of TEXT to FILE, in a fresh process;
# prints "ok" or the errno's name (of the open or the write).
cat > "$T/w.py" <<'PYEOF'
import errno, os, sys
try:
    fd = os.open(sys.argv[1], os.O_WRONLY)
    n = os.write(fd, sys.argv[2].encode())
    os.close(fd)
    print("ok" if n == len(sys.argv[2].encode()) else "short")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
PYEOF
write_errno () { "$PY" "$T/w.py" "$M/$1" "$2"; }

# writes_ok FILE TEXT: the write succeeds.
writes_ok ()
{
  local got
  got=$(write_errno "$1" "$2")
  [ "$got" = ok ] && return 0
  echo "# writing '$2' to $1: $got"
  return 1
}

# pairs_of_socket: the socket's status reply as sorted KEY=VALUE lines
# (quoted values unquoted); pairs_of_file: MOUNTPOINT/status, sorted.
cat > "$T/pairs.py" <<'PYEOF'
import shlex, sys
words = shlex.split(sys.stdin.read())
if not words or words[0] != "ok":
    sys.exit("not an ok reply")
for w in sorted(words[1:]):
    print(w)
PYEOF
pairs_of_socket () { ctl status | "$PY" "$T/pairs.py"; }
pairs_of_file () { LC_ALL=C sort "$M/status"; }
keys () { sed 's/=.*//'; }

# status_agrees WHAT: the file and the socket carry the same keys, and the
# same values (nothing changes the disk between the two reads).
status_agrees ()
{
  local f s
  f=$(pairs_of_file) && s=$(pairs_of_socket) || return 1
  if [ "$(keys <<<"$f")" != "$(keys <<<"$s")" ]; then
    echo "# keys differ ($1):"
    diff <(keys <<<"$f") <(keys <<<"$s") | sed 's/^/#   /'
    return 1
  fi
  if [ "$f" != "$s" ]; then
    echo "# values differ ($1):"
    diff <(echo "$f") <(echo "$s") | sed 's/^/#   /'
    return 1
  fi
}

# ---- The directory ----------------------------------------------------------
check "ls lists exactly cache_type disk mode power status" \
  test "$(cd "$M" && LC_ALL=C ls | tr '\n' ' ')" = "cache_type disk mode power status "
check "status is read-only (0444), the other control files 0644" \
  test "$(cd "$M" && stat -c '%n=%a' cache_type mode power status | tr '\n' ' ')" = \
       "cache_type=644 mode=644 power=644 status=444 "

# ---- Initial state ----------------------------------------------------------
check "cache_type reads 'write back' at start" is_file cache_type "write back"
check "mode reads 'writeback' at start" is_file mode writeback
check "power reads 'on' at start" is_file power on
check "status carries the same key=value pairs as the socket's status (fresh)" \
  status_agrees fresh
check "status has one key=value per line, power, mode and cache_type among them" \
  eval 'grep -qx power=on "$M/status" && grep -qx mode=writeback "$M/status" &&
        grep -qx "cache_type=write back" "$M/status" &&
        ! grep -qv "^[a-z_]*=" "$M/status"'

# ---- mode: the five names ---------------------------------------------------
# name cache_type host_flags
while read -r name ct flags; do
  ct=${ct//_/ }
  writes_ok mode "$name"$'\n' || bail "cannot write $name to mode"
  check "mode: '$name' written reads back as $name" is_file mode "$name"
  check "mode: $name shows cache_type '$ct'" is_file cache_type "$ct"
  check "mode: $name: the socket says mode=$name, status says host_flags=$flags" \
    eval 'ctl mode | grep -q " mode=$name " &&
          grep -qx "host_flags=$flags" "$M/status"'
  check "mode: $name: the image's descriptor has $flags (fdinfo)" \
    test "$(host_flags_of d)" = "$flags"
  check "mode: $name: status and the socket agree" status_agrees "$name"
done <<'EOF'
writethrough write_through O_DSYNC
none write_back O_DIRECT
directsync write_through O_DIRECT|O_DSYNC
unsafe write_back buffered
writeback write_back buffered
EOF

# ---- cache_type: WCE only, the host half kept --------------------------------
# start-mode written-value resulting-mode
while read -r from value to; do
  value=${value//_/ }
  writes_ok mode "$from" || bail "cannot write $from to mode"
  writes_ok cache_type "$value"$'\n' || { not_ok "cache_type: '$value' from $from"; continue; }
  check "cache_type: '$value' in $from gives mode $to" is_file mode "$to"
  check "cache_type: ... and cache_type reads '$value'" is_file cache_type "$value"
done <<'EOF'
writeback write_through writethrough
writethrough write_back writeback
writeback write_back writeback
none write_through directsync
directsync write_back none
directsync write_through directsync
unsafe write_through writethrough
unsafe write_back unsafe
EOF
writes_ok mode writeback || bail "cannot write writeback to mode"
check "cache_type: a write without a newline works too" \
  eval 'writes_ok cache_type "write through" && is_file mode writethrough'
writes_ok mode writeback || bail "cannot write writeback to mode"

# ---- power --------------------------------------------------------------------
check "power: 'cut' is accepted" writes_ok power $'cut\n'
check "power: reads 'off' after a cut" is_file power off
check "power: the socket says power=off" eval 'ctl status | grep -q "^ok power=off "'
check "power: status and the socket agree after a cut (last_cut_* keys)" \
  status_agrees "after a cut"
check "power: a second 'cut' while off fails with EIO" \
  test "$(write_errno power $'cut\n')" = EIO
check "power: 'on' is accepted" writes_ok power $'on\n'
check "power: reads 'on' after power-on" is_file power on
check "power: 'cut policy=keep seed=42' is accepted" \
  writes_ok power $'cut policy=keep seed=42\n'
check "power: ... the cut it made reports policy=keep seed=42" \
  eval 'grep -qx last_cut_policy=keep "$M/status" &&
        grep -qx last_cut_seed=42 "$M/status" && is_file power off'
writes_ok power on || bail "cannot power on"
check "power: 'cut policy=random seed=7 p=0.25' is accepted" \
  writes_ok power "cut policy=random seed=7 p=0.25"
check "power: ... and reports policy=random seed=7" \
  eval 'grep -qx last_cut_policy=random "$M/status" &&
        grep -qx last_cut_seed=7 "$M/status"'
writes_ok power on || bail "cannot power on"
check "power: 'cut after=writes:5' arms a trigger and leaves the power on" \
  eval 'writes_ok power "cut after=writes:5" && is_file power on &&
        grep -qx armed=writes "$M/status" && grep -qx armed_remaining=5 "$M/status"'
check "power: status and the socket agree with a trigger armed" \
  status_agrees "armed"
ctl power-cut cancel >/dev/null || bail "cannot cancel the trigger"
check "power: the socket's cancel shows in status" grep -qx armed=none "$M/status"

# ---- Invalid writes: EINVAL, nothing changes ----------------------------------
writes_ok mode none || bail "cannot write none to mode"
snap_status=$(cat "$M/status")
# file errno text (\n for a newline)
while IFS='|' read -r file want text; do
  text=$(printf '%b' "$text"; echo x)
  text=${text%x}
  shown=${text//$'\n'/\\n}
  check "invalid: '$shown' to $file fails with $want" \
    test "$(write_errno "$file" "$text")" = "$want"
  check "invalid: ... and changes nothing (mode, power, status)" \
    eval 'is_file mode none && is_file power on &&
          test "$(cat "$M/status")" = "$snap_status"'
done <<'EOF'
mode|EINVAL|garbage\n
mode|EINVAL|write-back\n
mode|EINVAL|\n
mode|EINVAL|writeback directsync\n
mode|EINVAL|writeback\n\n
cache_type|EINVAL|garbage\n
cache_type|EINVAL|write-back\n
cache_type|EINVAL|writeback\n
cache_type|EINVAL|\n
cache_type|EINVAL|write\tback\n
power|EINVAL|garbage\n
power|EINVAL|off\n
power|EINVAL|\n
power|EINVAL|cut policy=bogus\n
power|EINVAL|cut seed=notanumber\n
power|EINVAL|cutpolicy=keep\n
power|EINVAL|cut bogus\n
status|EACCES|power=off\n
EOF
check "invalid: bash 'echo garbage > mode' reports Invalid argument" \
  eval '! (echo garbage > "$M/mode") 2>"$T/bash.err" &&
        grep -q "Invalid argument" "$T/bash.err"'
check "invalid: bash 'echo x > status' reports Permission denied" \
  eval '! (echo x > "$M/status") 2>"$T/bash.err" &&
        grep -q "Permission denied" "$T/bash.err"'
check "invalid: the socket still sees mode none and power on" \
  eval 'ctl mode | grep -q " mode=none " && ctl status | grep -q "^ok power=on "'

# ---- Socket and files agree ---------------------------------------------------
ctl mode directsync >/dev/null || bail "wcachectl mode directsync failed"
check "agree: wcachectl mode directsync shows in mode and cache_type" \
  eval 'is_file mode directsync && is_file cache_type "write through"'
writes_ok mode writethrough || bail "cannot write writethrough"
check "agree: mode written through the file shows on the socket" \
  eval 'ctl mode | grep -q "^ok mode=writethrough wce=0 "'
writes_ok cache_type "write back" || bail "cannot write cache_type"
check "agree: cache_type written through the file shows on the socket" \
  eval 'ctl mode | grep -q "^ok mode=writeback wce=1 "'
ctl power-cut seed=99 >/dev/null || bail "wcachectl power-cut failed"
check "agree: a cut through the socket shows in power and status" \
  eval 'is_file power off && grep -qx last_cut_seed=99 "$M/status"'
writes_ok power on || bail "cannot power on"
check "agree: power-on through the file shows on the socket" \
  eval 'ctl status | grep -q "^ok power=on "'
dd if=/dev/urandom of="$M/disk" bs=4096 count=3 conv=notrunc status=none ||
  bail "dd to the disk failed"
check "agree: after I/O, status and the socket carry the same pairs (3 dirty blocks)" \
  eval 'status_agrees "after I/O" && grep -qx dirty_blocks=3 "$M/status"'

done_testing
