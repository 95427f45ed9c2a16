"""Running provision.py as a user would, for the real-host tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from provisioner import paths


def provision(
    *args: str, identity: str | None = None, ledger: str | None = None, timeout: int = 1200
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    if identity is not None:
        env["PROVISION_IDENTITY"] = identity
    if ledger is not None:
        env["PROVISION_LEDGER_URL"] = ledger
    return subprocess.run(
        [sys.executable, str(paths.REPO / "provision.py"), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=paths.REPO,
        timeout=timeout,
        env=env,
    )


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"
