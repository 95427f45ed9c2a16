#!/usr/bin/env bash
# Run make targets one after another as stages, each timed, and print a table of their wall
# times at the end, also when one fails (the run stops there), so whoever reads a CI log sees
# where the time went. Used by `make test`: scripts/stages.sh setup image lint unit ...
set -uo pipefail
cd "$(dirname "$0")/.."

names=() seconds=() results=()
table() {
  local total=0 i
  printf '\n%-16s %8s  %s\n' stage seconds result
  for i in "${!names[@]}"; do
    printf '%-16s %8s  %s\n' "${names[$i]}" "${seconds[$i]}" "${results[$i]}"
    total=$((total + seconds[i]))
  done
  printf '%-16s %8s\n' total "$total"
}

for stage in "$@"; do
  echo "== stage $stage"
  started=$(date +%s)
  make --no-print-directory "$stage"
  code=$?
  names+=("$stage") seconds+=($(($(date +%s) - started)))
  if [ "$code" -ne 0 ]; then
    results+=("failed (exit $code)")
    table
    exit "$code"
  fi
  results+=(ok)
done
table
