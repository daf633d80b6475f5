#!/usr/bin/env bash
# Installs the Debian packages the tests use as oracles, only when missing.
set -euo pipefail
need=()
command -v protoc >/dev/null || need+=(protobuf-compiler)
# protoc resolves google/protobuf/*.proto imports from libprotobuf-dev.
[ -f /usr/include/google/protobuf/any.proto ] || need+=(libprotobuf-dev)
command -v openssl >/dev/null || need+=(openssl)
command -v promtool >/dev/null || need+=(prometheus)
command -v systemd-analyze >/dev/null || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
