"""A host's fingerprint as the module returns it: kind -> name -> value, all strings.

Kinds: system (OS, architecture, kernel, CPUs, memory, timezone, locale), packages, units,
sockets, sysctl, users, groups, files (content; the roles' files and the rest of /etc that dpkg
does not vouch for) and settings (the roles' probes of their services' effective configuration).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provisioner.errors import ProvisionerError
from provisioner.run.request import RunRequest
from provisioner.run.runner import run_playbook

HostPrint = dict[str, dict[str, str]]
TAGS = "fingerprint"  # site.yml's last play, and the roles' declarations of what they manage
# Kinds whose values are text worth a line diff (the others are one line each).
TEXT_KINDS = ("files", "settings")


def collect(
    env: str,
    hosts: list[str],
    vault_args: tuple[str, ...],
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, HostPrint]:
    """Read every host of `env` (read-only: only the fingerprint play and the roles'
    declarations run); refuse an incomplete reading rather than compare half of it."""
    request = RunRequest(
        env=env, tags=TAGS, skip_tags="always", hosts=len(hosts), vault_args=vault_args
    )
    result = run_playbook(request, on_event=on_event)
    missing = sorted(set(hosts) - set(result.fingerprints))
    if not result.succeeded or missing:
        raise ProvisionerError(
            f"{env}: fingerprint incomplete ({result.status}"
            + (f"; not read: {', '.join(missing)}" if missing else "")
            + ")"
        )
    return result.fingerprints
