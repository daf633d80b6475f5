#!/usr/bin/env bash
# Builds (once) and caches a real kube-apiserver and etcd for the e2e/kube tests.
#
# Both come from the Go module proxy through the wrapper module in this folder (a go.mod only:
# it requires k8s.io/kubernetes and maps every staging module onto its published v0.x.y).
# Binaries are cached OUTSIDE the repo, keyed by version, so a second run takes seconds:
#   ${AMBIENTD_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ambientd/kube}/<kube-version>/{kube-apiserver,etcd}
# Prints the binary directory on stdout as its last line. Cold build: 10-20 min on 2 cores.
#
# Usage: tools/kube/ensure.sh            build when missing, print the dir
#        tools/kube/ensure.sh --print    print the dir only (exit 1 when not built)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
GO="${GO:-}"
if [[ -z "$GO" ]]; then
  if command -v go >/dev/null 2>&1; then GO="$(command -v go)"; else GO=/usr/local/go/bin/go; fi
fi
kube_version="$(awk '$1=="k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$here/go.mod")"
etcd_version="$(awk '$1=="go.etcd.io/etcd/server/v3" && $2 ~ /^v/ {print $2; exit}' "$here/go.mod")"
root="${AMBIENTD_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ambientd/kube}"
dir="$root/$kube_version"

built() { [[ -x "$dir/kube-apiserver" && -x "$dir/etcd" && -f "$dir/.complete" ]]; }

# shellcheck source=../ensure-cache.sh
. "$here/../ensure-cache.sh"
ensure_cached "$dir" "$dir" "${1:-}"

work="$dir/.work"
rm -rf "$work" && mkdir -p "$work"
cp "$here/go.mod" "$work/go.mod"
[[ -f "$here/go.sum" ]] && cp "$here/go.sum" "$work/go.sum"
cd "$work"
minor="$(echo "$kube_version" | cut -d. -f2)"
ldk="-s -w -X k8s.io/component-base/version.gitVersion=$kube_version"
ldk="$ldk -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
ldk="$ldk -X k8s.io/component-base/version.gitTreeState=clean"
start=$(date +%s)
echo "ensure.sh: building kube-apiserver $kube_version and etcd $etcd_version into $dir (cold: 10-20 min)" >&2
# -mod=mod lets go resolve the full graph and record go.sum in the scratch copy (never the repo).
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=mod"
"$GO" build -trimpath -ldflags "$ldk" -o "$work/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2
"$GO" build -trimpath -ldflags "-s -w" -o "$work/etcd" go.etcd.io/etcd/server/v3 >&2
mv -f "$work/kube-apiserver" "$dir/kube-apiserver"
mv -f "$work/etcd" "$dir/etcd"
echo "kube=$kube_version etcd=$etcd_version built_seconds=$(( $(date +%s) - start ))" > "$dir/.complete"
rm -rf "$work"
echo "ensure.sh: built in $(( $(date +%s) - start ))s" >&2
echo "$dir"
