#!/usr/bin/env python3
"""Entry point: `python provision.py staging`. All logic lives in the provisioner package."""

import os
import sys
from pathlib import Path

# Run from any Python: outside a virtualenv, switch to the project's .venv (made by `make setup`),
# which holds the pinned Ansible, ansible-runner and friends.
VENV_PYTHON = Path(__file__).resolve().parent / ".venv" / "bin" / "python"
if sys.prefix == sys.base_prefix and VENV_PYTHON.exists():
    os.execv(VENV_PYTHON, [str(VENV_PYTHON), *sys.argv])  # noqa: S606  (same script, our venv)

from provisioner.cli import main  # noqa: E402  (after the venv switch on purpose)

if __name__ == "__main__":
    raise SystemExit(main())
