#!/usr/bin/env bash
# The write log fuzz target replays its corpus: every log in it is read,
# checked and replayed with no crash and no broken property (see
# tests/fuzz/fuzz-wlog.c; make fuzz-wlog explores further with libFuzzer).
. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
exec "$top_builddir/tests/fuzz/fuzz-wlog-replay" "$top_srcdir/tests/fuzz/corpus-wlog"
