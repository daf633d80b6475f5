#!/usr/bin/env bash
# `make test`, before the suite: the real counterparts some tests run against, built once and cached outside the
# repository by their own scripts (tools/kube/ensure.sh: kube-apiserver + etcd; tools/ztunnel/ensure.sh: an
# unmodified ztunnel). A cold build takes 10-20 min each on 2 cores, so this prints what it is doing, and a line
# a minute while a build runs. A tool that cannot be had is not a failure here: the tests that need it skip and
# say why (tools/run-tests.sh repeats those reasons next to its closing line).
set -uo pipefail
cd "$(dirname "$0")/.."
logs="${AMBIENTD_ENSURE_LOGS:-.tap}" # where each build's output goes
mkdir -p "$logs"

ensure() { # name script
  local name=$1 script=$2 log="$logs/ensure-${1}.log" path rc start ticker
  if path="$(bash "$script" --print 2>/dev/null)"; then
    echo "make test: $name: cached at ${path##*$'\n'}"
    return
  fi
  echo "make test: $name is not cached: $script builds it now if it can (cold: 10-20 min on 2 cores; log $log)"
  start=$(date +%s)
  ( trap 'kill "$s" 2>/dev/null; exit 0' TERM
    while :; do
      sleep 60 & s=$!; wait "$s"
      last="$(tail -n 1 "$log" 2>/dev/null | cut -c1-100)"
      echo "make test: still building $name ($(( ($(date +%s) - start) / 60 )) min): $last"
    done ) &
  ticker=$!
  path="$(bash "$script" 2>"$log")"; rc=$?
  kill "$ticker" 2>/dev/null; wait "$ticker" 2>/dev/null
  if [ "$rc" -eq 0 ]; then
    echo "make test: $name ready at ${path##*$'\n'} ($(( $(date +%s) - start )) s)"
  else
    echo "make test: $name unavailable ($(tail -n 1 "$log" | cut -c1-300)); the tests that need it will skip"
  fi
}

ensure kube-apiserver+etcd tools/kube/ensure.sh
ensure ztunnel tools/ztunnel/ensure.sh
exit 0
