# Shared by the control-plane tests (tests/test-control-*.sh), on top of
# tests/functions.sh:
#
#   . "$top_srcdir/tests/functions.sh"
#   . "$top_srcdir/tests/control-functions.sh"
#   requires_wcachectl
#   start_wcache disk memory 1M             # control socket: $(ctl_of disk)
#   ctl disk mode writethrough              # wcachectl -s ... mode writethrough
#   printf 'mode\r\n' | raw_ctl "$(ctl_of disk)"   # bytes in, replies out
#   nbd_ops "$(uri_of disk)" w:0:4096:0x11 f r:0:4096   # prints "ok ok ok"
#
# Python helpers are written to $tmpdir and run by Debian's python3 (the
# one with the nbd module; a python3 earlier on PATH may lack it).

: "${WCACHECTL:=$top_builddir/server/wcachectl}"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
export WCACHECTL PY

requires_wcachectl ()
{
  [ -x "$WCACHECTL" ] ||
    skip_all "requires wcachectl at $WCACHECTL (make server/wcachectl)"
  [ -f "$WCACHE_FILTER" ] || bail "no filter at $WCACHE_FILTER (not built?)"
  requires "$PY" -c 'import socket'
}

# Control socket of server NAME.
ctl_of () { echo "$tmpdir/$1.ctl"; }

# start_wcache NAME [PLUGIN-ARGS and filter keys]...: start_nbdkit with the
# wcache filter outermost and its control socket at $(ctl_of NAME); returns
# once the control socket answers.  Put more filters (--filter=log) first
# in the arguments: they go below wcache.
start_wcache ()
{
  local name=$1
  shift
  rm -f "$(ctl_of "$name")"
  start_nbdkit "$name" --filter="$WCACHE_FILTER" "$@" \
    wcache-control="$(ctl_of "$name")"
  "$WCACHECTL" -s "$(ctl_of "$name")" --wait=10 status >/dev/null ||
    { tail -40 "$tmpdir/$name.err" >&2; bail "the control socket of $name does not answer"; }
}

# ctl NAME ARGS...: wcachectl on server NAME (its exit status and output).
ctl ()
{
  local name=$1
  shift
  "$WCACHECTL" -s "$(ctl_of "$name")" --timeout=30 "$@"
}

# kv LINE KEY: the value of KEY in a reply line (quoted values unquoted);
# fails if absent.
kv ()
{
  "$PY" - "$1" "$2" <<'PYEOF'
import re, sys
line, key = sys.argv[1], sys.argv[2]
for m in re.finditer(r' ([A-Za-z0-9_-]+)=("((?:[^"\\]|\\.)*)"|[^ ]+)', line):
    if m.group(1) == key:
        v = m.group(3) if m.group(3) is not None else m.group(2)
        print(re.sub(r'\\(.)', r'\1', v) if m.group(3) is not None else v)
        sys.exit(0)
sys.exit(1)
PYEOF
}

# raw_ctl SOCKET: sends stdin to the control socket in one go and prints
# the replies: as many lines as stdin holds newlines (one reply per request
# line; a line cut off by the end of stdin gets none), then closes.
cat > "$tmpdir/raw_ctl.py" <<'PYEOF'
import socket, sys
data = sys.stdin.buffer.read()
want = data.count(b"\n")
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(30)
s.connect(sys.argv[1])
s.sendall(data)
got = b""
while got.count(b"\n") < want:
    b = s.recv(65536)
    if not b:
        break
    got += b
sys.stdout.buffer.write(got)
s.close()
PYEOF
raw_ctl () { "$PY" "$tmpdir/raw_ctl.py" "$1"; }

# poll_until SECONDS COMMAND...: runs COMMAND every 0.1 s until it
# succeeds (true) or SECONDS have passed (false).  For conditions that
# become true by themselves (a timer); never a synchronisation by sleep.
poll_until ()
{
  local deadline=$((SECONDS + $1))
  shift
  while :; do
    "$@" && return 0
    ((SECONDS <= deadline)) || return 1
    sleep 0.1
  done
}

# nbd_ops URI OP...: runs NBD requests in order and prints one result per
# op on one line, space-separated: "ok", an errno name ("EIO"), or what the
# op says.  Connections stay open for the whole run, so a connection opened
# before a cut can be tried again after power-on.
#   conn:NAME            use connection NAME from now on (opened on first
#                        use; the first op uses "a")
#   w:OFF:LEN:BYTE[:fua] write LEN bytes of BYTE (0x11) at OFF
#   z:OFF:LEN[:fua]      zero;  t:OFF:LEN[:fua]  trim
#   f                    flush
#   r:OFF:LEN            read
#   rb:OFF:LEN:BYTE      read and check every byte: ok / diff / errno
#   img:PATH             read the whole disk; "same" if it equals the file
#                        PATH (read when the op runs), else "diff"
#   canflush             1 or 0: whether FLUSH was offered at the handshake
#   ctl:W1,W2,...        wcachectl -s $CTL W1 W2 ...: ok / error
#   get:KEY              the value of KEY in wcachectl -s $CTL status
#   snap:NAME            copy the file $LOG to $T/NAME (a log snapshot)
cat > "$tmpdir/nbd_ops.py" <<'PYEOF'
import errno, os, shutil, subprocess, sys
import nbd

uri = sys.argv[1]
conns = {}
cur = None

def conn(name):
    if name not in conns:
        h = nbd.NBD()
        h.connect_uri(uri)
        conns[name] = h
    return conns[name]

def err(e):
    return errno.errorcode.get(e.errnum, str(e.errnum)) if e.errnum else "ERR"

out = []
for op in sys.argv[2:]:
    w = op.split(":")
    if w[0] == "conn":
        try:
            conn(w[1])
            cur = w[1]
            out.append("ok")
        except nbd.Error as e:
            out.append(err(e))
        continue
    if w[0] == "ctl":
        rc = subprocess.run([os.environ["WCACHECTL"], "-s", os.environ["CTL"]] +
                            op[4:].split(","), stdout=subprocess.DEVNULL).returncode
        out.append("ok" if rc == 0 else "error")
        continue
    if w[0] == "get":
        p = subprocess.run([os.environ["WCACHECTL"], "-s", os.environ["CTL"],
                            "--get", w[1], "status"],
                           stdout=subprocess.PIPE, text=True)
        out.append(p.stdout.strip() if p.returncode == 0 else "error")
        continue
    if w[0] == "snap":
        shutil.copy(os.environ["LOG"], os.path.join(os.environ["T"], w[1]))
        out.append("ok")
        continue
    h = conn(cur or "a")
    cur = cur or "a"
    fua = nbd.CMD_FLAG_FUA if w[-1] == "fua" else 0
    try:
        if w[0] == "w":
            h.pwrite(bytes([int(w[3], 0)]) * int(w[2], 0), int(w[1], 0), fua)
            out.append("ok")
        elif w[0] == "z":
            h.zero(int(w[2], 0), int(w[1], 0), fua)
            out.append("ok")
        elif w[0] == "t":
            h.trim(int(w[2], 0), int(w[1], 0), fua)
            out.append("ok")
        elif w[0] == "f":
            h.flush()
            out.append("ok")
        elif w[0] == "r":
            h.pread(int(w[2], 0), int(w[1], 0))
            out.append("ok")
        elif w[0] == "rb":
            b = h.pread(int(w[2], 0), int(w[1], 0))
            out.append("ok" if b == bytes([int(w[3], 0)]) * len(b) else "diff")
        elif w[0] == "img":
            b = h.pread(h.get_size(), 0)
            out.append("same" if b == open(w[1], "rb").read() else "diff")
        elif w[0] == "canflush":
            out.append(str(int(h.can_flush())))
        else:
            sys.exit("nbd_ops: bad op " + op)
    except nbd.Error as e:
        out.append(err(e))
print(" ".join(out))
PYEOF

nbd_ops ()
{
  local uri=$1
  shift
  T=$tmpdir "$PY" "$tmpdir/nbd_ops.py" "$uri" "$@"
}
