#!/usr/bin/env bash
# Runs every compiled test file under tap and ends with the plain line
# "N passed, N failed, N skipped" that CI reads, preceded by one line per skip reason. N counts the test
# points one level inside each file (each t.test or top-level assertion), from the TAP stream.
set -uo pipefail
cd "$(dirname "$0")/.."
# Only compiled tests whose TypeScript source still exists: tsc never deletes
# outputs of removed sources, and a stale test would run against stale code.
# Arguments, when given, name the files instead (tools tests run it on fixtures).
if [ $# -gt 0 ]; then files=("$@"); else
mapfile -t files < <(find dist -name '*.test.js' -not -path '*/node_modules/*' | sort | while read -r f; do
  src="${f#dist/}"; [ -f "${src%.js}.ts" ] && echo "$f"; done)
fi
if [ ${#files[@]} -eq 0 ]; then echo "no test files"; echo "0 passed, 1 failed"; exit 1; fi
out=$(mktemp)
node_modules/.bin/tap --reporter=tap "${files[@]}" | tee "$out"
rc=${PIPESTATUS[0]}
skipped=$(grep -E '^    ok [0-9]+' "$out" | grep -cE '# (SKIP|skip)' || true)
passed=$(( $(grep -cE '^    ok [0-9]+' "$out" || true) - skipped ))
failed=$(grep -cE '^    not ok [0-9]+' "$out" || true)
# A file that crashed before emitting subtests shows up only at top level.
topfail=$(grep -cE '^not ok [0-9]+' "$out" || true)
if [ "$failed" -eq 0 ] && [ "$topfail" -gt 0 ]; then failed=$topfail; fi
# Why tests skipped (a tool that could not be had, say), once per reason, just above the closing line.
grep -E '^    ok [0-9]+ .*# (SKIP|skip)' "$out" | sed -E 's/.*# (SKIP|skip) ?//' | sort | uniq -c | sort -rn |
  while read -r n reason; do echo "skipped ($n): ${reason:-no reason given}"; done
rm -f "$out"
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
