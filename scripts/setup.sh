#!/usr/bin/env bash
# Set up everything the tool and its tests need on a fresh Debian 12 machine, idempotently:
#   1. Debian packages (podman and friends, debootstrap) - only those missing; needs root.
#   2. A Python >= 3.12 (ansible-core 2.21 needs it), found on this machine, never guessed.
#   3. The virtualenv .venv with the pinned requirements.txt (reinstalled when it changes).
# Quick when everything is already there, so every make target can call it.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(podman runc netavark aardvark-dns iptables uidmap slirp4netns debootstrap
  openssh-client ca-certificates postgresql apt-cacher-ng iproute2
  chromium)  # chromium: the web report's browser tests (tests/test_report_browser.py)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# Installs the packages named; run in the background, beside the venv's downloads from PyPI
# (on a fresh machine both take a minute or more, mostly waiting on the network and dpkg).
install_packages() {
  # Packages must not start their system services: apt-cacher-ng's would listen on every
  # address of this machine; the tool starts its own instance when it needs one
  # (provisioner/hosts/pkgcache.py), on an address only local hosts reach.
  local no_start=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    no_start=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\n# scripts/setup.sh: no service starts during this install\nexit 101\n' >"$no_start"
    chmod 0755 "$no_start"
    # The path is expanded now: at exit the function's local variable is gone.
    # shellcheck disable=SC2064
    trap "rm -f '$no_start'" EXIT
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

apt_pid="" apt_log=""
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: install them as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  apt_log=$(mktemp)
  (install_packages "${missing[@]}") >"$apt_log" 2>&1 &
  apt_pid=$!
  # Whatever ends this script (a failed pip install too) waits for dpkg first: nothing is
  # left installing behind the caller's back.
  trap 'wait "$apt_pid" 2>/dev/null; rm -f "$apt_log"' EXIT
fi

# Find a Python >= 3.12: $PYTHON if set, then the usual names, then pyenv's installs (whose
# shims fail unless PYENV_VERSION names them, so we call the interpreters directly).
find_python() {
  local candidates=()
  [ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
  candidates+=(python3.13 python3.12 python3)
  local root
  root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
  for dir in $(ls -d "$root"/versions/3.1[2-9]* 2>/dev/null | sort -rV); do
    candidates+=("$dir/bin/python3")
  done
  for py in "${candidates[@]}"; do
    if "$py" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
      command -v "$py" || echo "$py"
      return 0
    fi
  done
  return 1
}

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
  python=$(find_python) || {
    echo "setup: no Python >= 3.12 found (tried \$PYTHON, python3.13, python3.12, python3, pyenv)." >&2
    echo "setup: ansible-core 2.21 needs one; install it, or set PYTHON=/path/to/python3.12" >&2
    exit 1
  }
  echo "setup: creating .venv with $python ($("$python" --version))" >&2
  rm -rf .venv
  "$python" -m venv .venv
fi

stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing requirements.txt into .venv (the ansible package is large)" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
  echo "$want" >"$stamp"
fi

if [ -n "$apt_pid" ]; then
  if ! wait "$apt_pid"; then
    cat "$apt_log" >&2
    echo "setup: installing the Debian packages failed (apt-get's output above)" >&2
    exit 1
  fi
fi
