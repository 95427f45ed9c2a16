"""What a playbook run is asked to do and what it returns, whichever backend runs it (local.py
here, remote.py on execution nodes): both are a Backend."""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from provisioner import paths
from provisioner.errors import ProvisionerError
from provisioner.run.changes import Change
from provisioner.run.status import Status
from provisioner.source.executor import Executor

EventCallback = Callable[[dict[str, Any]], None]
# A backend's event handler: True keeps the event's file in the run's artifacts.
Handle = Callable[[dict[str, Any]], bool]
Cancel = Callable[[], bool]
MAX_FORKS = 50
ARTIFACTS_KEPT = 20  # run directories kept in .state/runs/<env>/artifacts, local or remote


@dataclass(frozen=True)
class Payload:
    """Files a remote job needs beyond PROJECT_PARTS and the inventory, each at the path (relative
    to the project) where the inventory and ansible.cfg look for it; extra vars for the rest."""

    files: tuple[tuple[Path, str], ...] = ()
    extravars: dict[str, str] = field(default_factory=dict)
    password_file: str = ""  # the vault password among `files` (relative to the project)


@dataclass
class HostStats:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0

    @property
    def succeeded(self) -> bool:
        return self.failed == 0 and self.unreachable == 0


@dataclass(frozen=True)
class Failure:
    host: str
    task: str
    message: str


@dataclass
class RunResult:
    env: str
    status: str  # ansible-runner's Status: successful, failed, canceled, timeout
    rc: int
    hosts: dict[str, HostStats] = field(default_factory=dict)
    artifacts: Path | None = None
    seconds: float = 0.0
    changes: list[Change] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    # host -> what site.yml's last play read (provisioner/live/): kind -> name -> value
    fingerprints: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    # host -> what the fingerprint module was told the roles manage there (files, probes,
    # services), for the incremental apply's record
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)
    # host -> why it was not run: unchanged since the last good apply (incremental apply)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status == Status.SUCCESSFUL and all(h.succeeded for h in self.hosts.values())

    @property
    def changed(self) -> int:
        return sum(h.changed for h in self.hosts.values())

    def write_summary(self, path: Path) -> None:
        """The run's outcome as JSON, for scripts and CI (what the summary table shows)."""
        summary = {
            "env": self.env,
            "status": self.status,
            "succeeded": self.succeeded,
            "changed": self.changed,
            "seconds": round(self.seconds, 1),
            "hosts": {name: asdict(stats) for name, stats in self.hosts.items()},
            "skipped": dict(self.skipped),
            "changes": [change.as_dict() for change in self.changes],
        }
        # Whole or not at all (scripts read it), and a full disk is one clear message.
        partial = path.with_name(f".{path.name}.partial")
        try:
            partial.write_text(json.dumps(summary, indent=2) + "\n")
            os.replace(partial, path)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise ProvisionerError(
                f"cannot write the run's summary {paths.display(path)}: {exc.strerror}"
            ) from None


@dataclass(frozen=True)
class RunRequest:
    env: str
    playbook: Path = paths.SITE_PLAYBOOK
    limit: str | None = None
    tags: str | None = None
    skip_tags: str | None = None
    check: bool = False
    verbosity: int = 0
    hosts: int = 0  # how many hosts the run may touch: forks are sized to it (0: ansible.cfg's)
    vault_args: tuple[str, ...] = ()
    extravars: dict[str, Any] = field(default_factory=dict)  # never secrets: on the command line
    inventory: dict[str, Any] | None = None  # instead of inventories/<env> (execution nodes)
    # Remote execution (remote.py): the nodes, one slice of hosts each (none: one node, every
    # host), and what the jobs carry.
    executors: tuple[Executor, ...] = ()
    slices: tuple[tuple[str, ...], ...] = ()
    payload: Payload = field(default_factory=Payload)

    @property
    def forks(self) -> int | None:
        return min(self.hosts, MAX_FORKS) or None

    def cmdline(self) -> str:
        return shlex.join([*self.vault_args, *self._options()])

    def remote_cmdline(self, vault_args: list[str]) -> str:
        """A remote job's: vault arguments with the node's paths instead of vault_args (the job
        carries its secrets where the inventory expects them: no override of their path)."""
        return shlex.join([*vault_args, *self._options()])

    def _options(self) -> list[str]:
        parts: list[str] = []
        if self.tags:
            parts += ["--tags", self.tags]
        if self.skip_tags:
            parts += ["--skip-tags", self.skip_tags]
        if self.check:
            parts.append("--check")
        # Diffs always: an apply records what it changed as it changed it (the ledger, `show`,
        # the web report), not only a dry run. Tasks that handle secrets are no_log, and the
        # ledger masks vault values whatever a diff holds.
        parts.append("--diff")
        return parts


class Ended(NamedTuple):
    """How a backend's run ended: ansible-runner's status, Ansible's rc, where the artifacts are."""

    status: str
    rc: int
    artifacts: Path


# A backend runs the request and waits; every event goes to the handle (one at a time); the
# cancel callback is polled while Ansible runs.
Backend = Callable[[RunRequest, Path, Handle, Cancel | None], Ended]
