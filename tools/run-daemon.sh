#!/usr/bin/env bash
# `make run`: the daemon on the embedded default mesh (examples/default) in the foreground, after minting the
# tokens a local ztunnel needs. Extra arguments are appended to `ambientd serve` (flags win over the file).
#
# Signals. GNU make forwards a SIGTERM it receives to its children, so a SIGTERM sent to make's process group
# reached a daemon started in that group twice ("second signal: exiting now"). The daemon therefore runs in a
# process group of its own (set -m) and this script forwards the first INT/TERM/HUP it receives, once. On a
# terminal the daemon's group is also made the foreground group, so Ctrl-C reaches only the daemon: it drains,
# logs one "stopped" and exits 0, and make exits 0. A signal sent to make itself still makes make exit 128+n
# after the daemon has stopped cleanly: GNU make re-raises a fatal signal once its children are done.
set -uo pipefail
cd "$(dirname "$0")/.."
STATE="${RUN_STATE:-.state}"
CONFIG=examples/default/ambientd.yaml
# bin/ambientd: node with the CLI's own node options (its shebang); it execs node, so $! below is the daemon.
cli() { bin/ambientd "$@"; }

mkdir -p "$STATE"
abs="$(cd "$STATE" && pwd)"
mint() { # file namespace service-account; no trailing newline: ztunnel sends the file's bytes as the token
  local t
  t="$(cli token create --config "$CONFIG" --state-dir "$STATE" --namespace "$2" --service-account "$3" \
    --ttl 24h)" || exit 1
  printf '%s' "$t" > "$abs/$1"
}
mint ztunnel-token istio-system ztunnel
mint bookstore-frontend-token bookstore frontend
echo "ambientd: ztunnel tokens (24 h): node $abs/ztunnel-token (istio-system/ztunnel);" \
  "workload $abs/bookstore-frontend-token (bookstore/frontend, the README's dedicated-mode ztunnel)"
echo "ambientd: mesh root certificate: $abs/ca/root-cert.pem (XDS_ROOT_CA / CA_ROOT_CA)"
echo "ambientd: starting the daemon ($CONFIG, state $abs); ready when it logs \"ambientd serving\"; Ctrl-C stops it"

# Descriptor headroom (docs/reliability.md): the gRPC connection cap is this limit minus runtime.fdReserve,
# so a connection flood meets the cap before the daemon's own file reads fail.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
set -m
bin/ambientd serve --config "$CONFIG" --state-dir "$STATE" "$@" &
pid=$!
set +m
forwarded=0
forward() { if [ "$forwarded" = 0 ]; then forwarded=1; kill -TERM "$pid" 2>/dev/null; fi; }
trap forward INT TERM HUP
# perl-base is Essential on Debian; POSIX::tcsetpgrp is the one call bash has no builtin for.
foreground() { perl -MPOSIX -e '$SIG{TTOU} = "IGNORE"; tcsetpgrp(0, $ARGV[0]) or exit 1' "$1" 2>/dev/null; }
tty=0
if [ -t 0 ] && foreground "$pid"; then tty=1; fi
# wait returns early when a trapped signal arrives; bash keeps the exit status for the final wait.
while kill -0 "$pid" 2>/dev/null; do wait "$pid"; done
wait "$pid"; rc=$?
if [ "$tty" = 1 ]; then foreground "$(ps -o pgid= $$ | tr -d ' ')"; fi
exit "$rc"
