#!/usr/bin/env bash
# Rewrites the tree so `make lint` passes as far as tools can: eslint --fix (rule fixes such as dropping an
# unnecessary type assertion), then prettier --write (layout per .prettierrc, so it also tidies eslint's edits).
# What eslint then still reports needs a hand fix (tools/lint/README). Arguments narrow it to paths
# (default: all TypeScript that `make lint` checks).
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=node_modules/.bin
if [ $# -gt 0 ]; then paths=("$@"); else paths=('{cmd,pkg,e2e,bench,tools}/**/*.ts' eslint.config.mjs); fi
"$bin/eslint" --fix "${paths[@]}"
rc=$?
"$bin/prettier" --write --log-level warn "${paths[@]}" || exit 1
if [ "$rc" -eq 0 ]; then echo "lint fix: clean"; else
  echo "lint fix: the eslint findings above need a hand fix (eslint --fix cannot rewrite them)"; exit 1; fi
