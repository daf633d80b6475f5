#!/usr/bin/env bash
# Gives the tests an unmodified Istio ztunnel at a pinned commit of the public istio/ztunnel repository.
#
# Where the binary comes from, in order:
#   1. ZTUNNEL_BIN: a binary you built yourself (used as is; `ztunnel version` must answer).
#   2. The cache: ${AMBIENTD_ZTUNNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ambientd/ztunnel}/<commit>/ztunnel
#   3. A build from source: ZTUNNEL_SRC (a git checkout at the pinned commit, or an export of it such as
#      `git archive <commit>` unpacked), else the source copy this script cached on an earlier build.
# The source is checked against the pinned commit (a checkout by its HEAD, an export by the git blob hash of
# every file: MANIFEST below),
# copied into the cache, and built there with the two edits the offline recipe needs (the optional
# `tls-boring` git dependency and its FIPS environment removed); the tree you named is never modified.
# Profile `quick-release` (upstream's: opt-level 3, no LTO) so one binary serves tests and benchmarks.
# Cold build: ~15 min on 2 cores (needs cargo, protoc, a C compiler; the crates come from crates.io).
#
# Prints the binary's path on stdout as its last line. Exit 1 (with the reason on stderr) when no binary
# can be had, so callers skip with that reason.
#   tools/ztunnel/ensure.sh            find or build, print the path
#   tools/ztunnel/ensure.sh --print    find only (exit 1 when not built)
set -euo pipefail
COMMIT=62d826530e5ce85764e309170205b293efcbc80b
# sha256 of "<git blob hash> <path>" lines, sorted by path, over the commit's files outside
# vendor/boringssl-fips/ (prebuilt FIPS archives the default build never reads, and too large for some mirrors).
MANIFEST=00ee46e3bc96daf80b900c6caa4732f61002004eacce7d57a06e8a04ca402cd7
root="${AMBIENTD_ZTUNNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ambientd/ztunnel}"
dir="$root/$COMMIT"
bin="$dir/ztunnel"

say() { echo "ztunnel/ensure.sh: $*" >&2; }
built() { [[ -x "$bin" && -f "$dir/.complete" ]]; }

if [[ -n "${ZTUNNEL_BIN:-}" ]]; then
  if [[ -x "$ZTUNNEL_BIN" ]] && "$ZTUNNEL_BIN" version >/dev/null 2>&1; then echo "$ZTUNNEL_BIN"; exit 0; fi
  say "ZTUNNEL_BIN=$ZTUNNEL_BIN is not a runnable ztunnel"; exit 1
fi
# shellcheck source=../ensure-cache.sh
. "$(dirname "$0")/../ensure-cache.sh"
ensure_cached "$dir" "$bin" "${1:-}"

# The source: ZTUNNEL_SRC, checked against the pin, or the copy cached earlier.
src_cache="$dir/src"
if [[ -n "${ZTUNNEL_SRC:-}" ]]; then
  [[ -f "$ZTUNNEL_SRC/Cargo.toml" ]] || { say "ZTUNNEL_SRC=$ZTUNNEL_SRC has no Cargo.toml"; exit 1; }
  if git -C "$ZTUNNEL_SRC" rev-parse --git-dir >/dev/null 2>&1 &&
     [[ "$(git -C "$ZTUNNEL_SRC" rev-parse --show-toplevel)" == "$(cd "$ZTUNNEL_SRC" && pwd -P)" ]]; then
    head="$(git -C "$ZTUNNEL_SRC" rev-parse HEAD)"
    [[ "$head" == "$COMMIT" ]] || { say "ZTUNNEL_SRC is at $head, want $COMMIT"; exit 1; }
    rm -rf "$src_cache.new" && mkdir -p "$src_cache.new"
    git -C "$ZTUNNEL_SRC" archive "$COMMIT" -- . ':!vendor/boringssl-fips' | tar -x -C "$src_cache.new"
  else
    # An export: every file's git blob hash must match the pinned commit's.
    rm -rf "$src_cache.new" && mkdir -p "$src_cache.new"
    cp -a "$ZTUNNEL_SRC/." "$src_cache.new/"
    rm -rf "$src_cache.new/out" "$src_cache.new/.git" "$src_cache.new/vendor/boringssl-fips"
    got="$(cd "$src_cache.new" && find . -type f | sed 's|^\./||' | LC_ALL=C sort |
      while read -r f; do echo "$(git hash-object "$f") $f"; done | sha256sum | cut -d' ' -f1)"
    if [[ "$got" != "$MANIFEST" ]]; then
      rm -rf "$src_cache.new"
      say "ZTUNNEL_SRC is not istio/ztunnel at $COMMIT (file manifest $got, want $MANIFEST)"; exit 1
    fi
  fi
  rm -rf "$src_cache" && mv "$src_cache.new" "$src_cache"
elif [[ ! -f "$src_cache/Cargo.toml" ]]; then
  say "no ztunnel binary cached at $bin and no source: set ZTUNNEL_SRC to istio/ztunnel at $COMMIT (or ZTUNNEL_BIN)"
  exit 1
fi

for tool in cargo protoc cc; do
  command -v "$tool" >/dev/null || { say "cannot build: $tool not found"; exit 1; }
done

work="$dir/build"
rm -rf "$work" && cp -a "$src_cache" "$work"
# The offline edits: Cargo resolves the git-only boring-rustls-provider (feature tls-boring) even with the feature
# off, so drop it and its feature line, and the FIPS paths in .cargo/config.toml. Nothing else changes.
sed -i -E '/^boring-rustls-provider *=/d; /^tls-boring *=/d' "$work/Cargo.toml"
sed -i -E '/^BORING_BSSL_FIPS_/d' "$work/.cargo/config.toml"
start=$(date +%s)
say "building ztunnel $COMMIT (profile quick-release) in $work; cold: ~15 min on 2 cores"
(cd "$work" && CARGO_TARGET_DIR="$work/out" cargo build --profile quick-release --bin ztunnel >&2)
cp "$work/out/quick-release/ztunnel" "$bin.new" && mv -f "$bin.new" "$bin"
"$bin" version >/dev/null
echo "commit=$COMMIT built_seconds=$(( $(date +%s) - start ))" > "$dir/.complete"
rm -rf "$work"
say "built in $(( $(date +%s) - start ))s"
echo "$bin"
