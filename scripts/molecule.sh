#!/usr/bin/env bash
# `molecule test -s SCENARIO` for each scenario named, in order; stops at the first that fails.
# Molecule needs nothing else: its base config (.config/molecule/config.yml) carries the rest.
set -euo pipefail
cd "$(dirname "$0")/.."
for scenario in "$@"; do
  echo "== molecule test -s $scenario"
  molecule test -s "$scenario"
done
