"""Who is running the tool, as the run ledger and the environment locks record it.

Names only: nothing here is proved. Plans, approvals and applies of an approval_required
environment are recorded under the principal the signer's SSH key proves instead (trust/).

In this order, the first that gives a non-empty answer:
  1. $PROVISION_IDENTITY (CI and shared service accounts set it to name the real person or job)
  2. `git config user.email`, read in the repository (what the commits are signed with)
  3. the operating-system user
"""

from __future__ import annotations

import getpass
import os
import subprocess

from provisioner import paths

ENV_VAR = "PROVISION_IDENTITY"


def current_identity() -> str:
    explicit = os.environ.get(ENV_VAR, "").strip()
    if explicit:
        return explicit
    return _git_email() or _os_user()


def _git_email() -> str | None:
    try:
        result = subprocess.run(
            ["git", "config", "user.email"],
            cwd=paths.REPO,
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):  # no git, or a hung credential helper
        return None
    if result.returncode != 0:  # 1: not set
        return None
    return result.stdout.strip() or None


def _os_user() -> str:
    try:
        return getpass.getuser()
    except OSError:  # no $USER and no passwd entry (some containers): still name someone
        return f"uid {os.getuid()}"
