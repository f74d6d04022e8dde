#!/bin/sh
# Runs the unit tests (cmocka, TAP output) and the integration suite against
# the given digest binary; ends with one line "N passed, M failed".
# usage: tests/run.sh [--unit-only] DIGEST UNIT_TEST...
unit_only=0
if [ "$1" = "--unit-only" ]; then unit_only=1; shift; fi
digest=$1; shift
passed=0; failed=0
out=$(mktemp); trap 'rm -f "$out"' EXIT INT TERM
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"

for t in "$@"; do
	CMOCKA_MESSAGE_OUTPUT=TAP "$t" >"$out" 2>&1
	rc=$?
	p=$(grep -c '^ok ' "$out"); f=$(grep -c '^not ok ' "$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi  # crashed, or leaked at exit
	if [ "$f" -ne 0 ] || [ "$rc" -ne 0 ]; then
		echo "FAIL $(basename "$t") ($p passed, $f failed, exit $rc):"; sed 's/^/    /' "$out"
	else
		echo "ok   $(basename "$t"): $p tests"
	fi
	passed=$((passed + p)); failed=$((failed + f))
done

if [ "$unit_only" -eq 0 ]; then
	DIGEST=$digest /usr/bin/python3 tests/integration/run.py >"$out" 2>&1
	rc=$?
	cat "$out"
	last=$(tail -n 1 "$out")
	p=$(echo "$last" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
	f=$(echo "$last" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
	if [ -z "$p" ]; then p=0; f=1; echo "FAIL integration suite did not finish (exit $rc)"; fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	passed=$((passed + p)); failed=$((failed + f))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
