"""The playbook tasks the Python recognizes by name in Ansible's events, each with the file it is
in: renaming one there means renaming it here (tests/test_task_names.py holds them together)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from provisioner import paths


@dataclass(frozen=True)
class PlaybookTask:
    name: str  # the task's `name:`, as the events carry it
    file: Path  # the playbook or role task file that defines it


# Fails with the host's shortfall as its message: the pre-flight refusal (exit 6).
PREFLIGHT = PlaybookTask("Check the host's capacity", paths.PLAYBOOKS / "site.yml")
# Changed on the hosts whose `current` release link an apply moved: what a rollback undoes.
RELEASE_SWITCH = PlaybookTask(
    "Switch the current release", paths.REPO / "roles" / "app" / "tasks" / "main.yml"
)
# Its result says which release a host runs after a rollback.
RELEASE_REPORT = PlaybookTask(
    "Report the release now running", paths.REPO / "roles" / "app" / "tasks" / "rollback.yml"
)
# Its result is a host's fingerprint.
FINGERPRINT_REPORT = PlaybookTask("Read the host's fingerprint", paths.PLAYBOOKS / "site.yml")

KEYED = (PREFLIGHT, RELEASE_SWITCH, RELEASE_REPORT, FINGERPRINT_REPORT)
