#!/usr/bin/env bash
# Run make targets as stages, each timed, and print a table of their wall times at the end, also
# when one fails (the run stops there), so whoever reads a CI log sees where the time went.
# Used by `make test`: scripts/stages.sh setup image& lint unit ...
#
# A stage written NAME& starts in the background and the next ones go on beside it: for work
# that waits on downloads and disks while the next stages use the CPU (the local images, a
# fresh machine's minutes of debootstrap, beside lint and the unit tests). Whatever needs its
# result must wait for it itself (`make hosts` depends on `image`, whose builds wait on the
# running ones' locks). Its output is printed when it ends; the run waits for it before the
# table, and fails if it failed. The table's total is the wall time of the whole run.
set -uo pipefail
cd "$(dirname "$0")/.."

names=() seconds=() results=()
run_started=$(date +%s)
background=()  # "name pid started logfile"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

table() {
  local i
  printf '\n%-16s %8s  %s\n' stage seconds result
  for i in "${!names[@]}"; do
    printf '%-16s %8s  %s\n' "${names[$i]}" "${seconds[$i]}" "${results[$i]}"
  done
  printf '%-16s %8s  %s\n' total "$(($(date +%s) - run_started))" "(wall time)"
}

record() {  # name seconds exit-code
  names+=("$1") seconds+=("$2")
  if [ "$3" -eq 0 ]; then results+=(ok); else results+=("failed (exit $3)"); fi
}

# Wait for every background stage, print its output, record it; the first failure's exit code.
finish_background() {
  local entry name pid started log code first=0
  for entry in "${background[@]}"; do
    read -r name pid started log <<<"$entry"
    wait "$pid"
    code=$?
    echo "== stage $name (in the background) ended"
    cat "$log"
    record "$name" "$(($(cat "$log.ended") - started))" "$code"
    [ "$code" -eq 0 ] || [ "$first" -ne 0 ] || first=$code
  done
  background=()
  return "$first"
}

for stage in "$@"; do
  name=${stage%&}
  started=$(date +%s)
  if [ "$name" != "$stage" ]; then
    echo "== stage $name (started in the background)"
    log="$work/$name.log"
    (make --no-print-directory "$name" >"$log" 2>&1; code=$?; date +%s >"$log.ended"; exit "$code") &
    background+=("$name $! $started $log")
    continue
  fi
  echo "== stage $name"
  make --no-print-directory "$name"
  code=$?
  record "$name" "$(($(date +%s) - started))" "$code"
  if [ "$code" -ne 0 ]; then
    finish_background
    table
    exit "$code"
  fi
done
finish_background
code=$?
table
exit "$code"
