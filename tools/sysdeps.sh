#!/usr/bin/env bash
# Installs the Debian packages the tests use as oracles or rig tools, only when missing.
set -euo pipefail
need=()
command -v protoc >/dev/null || need+=(protobuf-compiler)
# protoc resolves google/protobuf/*.proto imports from libprotobuf-dev.
[ -f /usr/include/google/protobuf/any.proto ] || need+=(libprotobuf-dev)
command -v openssl >/dev/null || need+=(openssl)
command -v promtool >/dev/null || need+=(prometheus)
command -v systemd-analyze >/dev/null || need+=(systemd)
# The data-plane rig (e2e/dataplane): network namespaces, bridges and veths (ip), inbound capture (iptables).
command -v ip >/dev/null || need+=(iproute2)
command -v iptables >/dev/null || need+=(iptables)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
