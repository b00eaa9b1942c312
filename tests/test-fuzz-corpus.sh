#!/usr/bin/env bash
# The protocol fuzz target replays its corpus: every request line gets a
# reply that follows the reply grammar, with no crash (see
# tests/fuzz/fuzz-protocol.c; make fuzz explores further with libFuzzer).
. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
exec "$top_builddir/tests/fuzz/fuzz-replay" "$top_srcdir/tests/fuzz/corpus"
