#!/usr/bin/env bash
# A plugin that fails to open at start-up: nbdkit still serves, each
# client gets the error at once (as without the filter) instead of
# hanging, the control socket says there is no disk, and the disk opens
# at the first connection after the plugin can open.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/control-functions.sh"

requires_wcachectl
requires_nbdsh
requires_plugin sh
requires_cmd qemu-io timeout

export T=$tmpdir
cat > "$T/plugin.sh" <<'EOF'
#!/usr/bin/env bash
# Opens only once $T/ready exists.
case $1 in
  open) if [ -e "$T/ready" ]; then echo h; exit 0; fi
        echo "the disk is not ready" >&2; exit 1 ;;
  get_size) echo 1048576 ;;
  pread) head -c "$3" /dev/zero ;;
  can_write) exit 3 ;;
  *) exit 2 ;;
esac
EOF
chmod +x "$T/plugin.sh"

# --run: the client fails at once (timeout would say 124).
timeout 60 "$NBDKIT" -U - --filter="$WCACHE_FILTER" sh "$T/plugin.sh" \
  --run 'qemu-io -f raw -r "$uri" -c "read 0 512"' > "$T/run.out" 2>&1
rc=$?
check "--run: the client fails and nbdkit exits, no hang (exit $rc)" \
  eval '[ $rc -ne 0 ] && [ $rc -ne 124 ]'
check "--run: the plugin's own message is in the log" \
  grep -q "the disk is not ready" "$T/run.out"

# A server: clients and the control socket before and after the plugin
# can open.
start_nbdkit late --filter="$WCACHE_FILTER" sh "$T/plugin.sh" \
  wcache-control="$T/late.ctl"
"$WCACHECTL" -s "$T/late.ctl" --wait=10 status > "$T/st1" 2>&1
check "control: status fails, saying there is no disk" \
  grep -q "no disk: the plugin below wcache failed to open" "$T/st1"
check "control: help still answers" \
  eval '"$WCACHECTL" -s "$T/late.ctl" help | grep -q "^ok "'
timeout 60 qemu-io -f raw -r "$(uri_of late)" -c "read 0 512" > "$T/q1" 2>&1
rc=$?
check "a client gets an error at once (exit $rc)" \
  eval '[ $rc -ne 0 ] && [ $rc -ne 124 ]'

touch "$T/ready"
check "once the plugin can open, a client reads the disk" \
  eval 'timeout 60 qemu-io -f raw -r "$(uri_of late)" -c "read -P 0 0 512" |
        grep -q "read 512/512"'
"$WCACHECTL" -s "$T/late.ctl" status > "$T/st2" 2>&1
check "control: status answers now (power=on, size=1048576)" \
  eval 'grep -q " power=on " "$T/st2" && grep -q " size=1048576 " "$T/st2"'

done_testing
