# Sourced by tools/*/ensure.sh (not run): the cache protocol they share.
# ensure_cached DIR RESULT [ARG]: with ARG --print, prints RESULT and exits 0 when built() says the cache holds it,
# else exits 1; otherwise exits printing RESULT on a cache hit, or returns holding DIR/.lock (fd 9) so one builder
# at a time (parallel CI steps, several sessions on one machine) fills DIR. The caller defines built().
ensure_cached() {
  local dir="$1" result="$2"
  if [[ "${3:-}" == "--print" ]]; then
    built && { echo "$result"; exit 0; }
    exit 1
  fi
  if built; then echo "$result"; exit 0; fi
  mkdir -p "$dir"
  exec 9>"$dir/.lock"
  flock 9
  if built; then echo "$result"; exit 0; fi
}
