"""Run a playbook on one environment through ansible-runner.

Library code: knows nothing of the terminal. Callers pass an `on_event` callback (the CLI's live
display) and get back a RunResult with per-host stats taken from Ansible's own final stats event.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner

from provisioner import paths
from provisioner.errors import ProvisionerError
from provisioner.run import remote, strategy
from provisioner.run.changes import Change, from_event

EventCallback = Callable[[dict[str, Any]], None]
FAILED_EVENTS = frozenset({"runner_on_failed", "runner_on_unreachable"})
# The events worth a file in the run's artifacts when nobody asked for Ansible's output (-v):
# what failed, and the final stats. Writing one JSON file per event costs about a quarter of the
# controller's CPU on a no-op run (../shared/notes/performance.md); the live display and the
# ledger get every event in memory either way.
KEPT_EVENTS = FAILED_EVENTS | {"playbook_on_stats"}
MAX_FORKS = 50

# Ansible's per-host stats and the HostStats field each adds to (None: counted as a host only).
STAT_FIELDS = {
    "ok": "ok",
    "changed": "changed",
    "failures": "failed",
    "dark": "unreachable",
    "skipped": "skipped",
    "rescued": None,
    "ignored": None,
}


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
    status: str  # ansible-runner's: successful, failed, canceled, timeout
    rc: int
    hosts: dict[str, HostStats] = field(default_factory=dict)
    artifacts: Path | None = None
    seconds: float = 0.0
    changes: list[Change] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.status == "successful" and all(h.succeeded for h in self.hosts.values())

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
            "changes": [change.as_dict() for change in self.changes],
        }
        path.write_text(json.dumps(summary, indent=2) + "\n")


@dataclass(frozen=True)
class RunRequest:
    env: str
    playbook: Path = paths.SITE_PLAYBOOK
    limit: str | None = None
    tags: str | None = None
    check: bool = False
    verbosity: int = 0
    hosts: int = 0  # how many hosts the run may touch: forks are sized to it (0: ansible.cfg's)
    vault_args: tuple[str, ...] = ()
    extravars: dict[str, Any] = field(default_factory=dict)  # never secrets: on the command line
    inventory: dict[str, Any] | None = None  # instead of inventories/<env> (execution nodes)
    # Remote execution (remote.py): the nodes, one slice of hosts each (none: one node, every
    # host), and what the jobs carry.
    executors: tuple[remote.Executor, ...] = ()
    slices: tuple[tuple[str, ...], ...] = ()
    payload: remote.Payload = field(default_factory=remote.Payload)

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
        if self.check:
            parts += ["--check", "--diff"]
        return parts


def ansible_env(strategy_wanted: str | None = None) -> dict[str, str]:
    """Environment for every Ansible process: the repo's ansible.cfg, wherever we run from, and
    the strategy `strategy_wanted` (default: the one $PROVISION_STRATEGY names)."""
    return {
        "ANSIBLE_CONFIG": str(paths.ANSIBLE_CFG),
        # ansible-runner turns host key checking off unless told otherwise; real servers'
        # keys must be checked (local containers opt out in their inventory).
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        **strategy.settings(strategy_wanted),
    }


def run_playbook(
    request: RunRequest,
    on_event: EventCallback | None = None,
    cancel: Callable[[], bool] | None = None,
) -> RunResult:
    """Run and wait. `cancel` is polled while Ansible runs; when it returns True, ansible-runner
    stops the playbook and the result's status is "canceled"."""
    private = paths.state_dir("runs", request.env)
    started = time.monotonic()
    stats: dict[str, Any] = {}
    changes: list[Change] = []
    failures: list[Failure] = []

    def handle(event: dict[str, Any]) -> bool:
        data = event.get("event_data", {})
        if event.get("event") == "playbook_on_stats":  # one per slice when sliced: merged
            for key, value in data.items():
                if isinstance(value, dict):
                    stats.setdefault(key, {}).update(value)
        if event.get("event") in FAILED_EVENTS and not data.get("ignore_errors"):
            result = data.get("res") or {}
            message = str(result.get("msg") or result.get("stderr") or "").strip()
            failures.append(Failure(str(data.get("host", "")), str(data.get("task", "")), message))
        change = from_event(event)
        if change is not None:
            changes.append(change)
        if on_event is not None:
            on_event(event)
        return request.verbosity > 0 or event.get("event") in KEPT_EVENTS

    try:
        if request.executors:
            status, rc, artifacts = remote.run(request, private, handle, cancel)
        else:
            runner = _run(request, private, handle, cancel)
            status, rc, artifacts = runner.status, runner.rc, Path(runner.config.artifact_dir)
    except OSError as exc:  # the artifacts directory is full or unwritable
        raise ProvisionerError(
            f"cannot write run artifacts in {paths.display(private)}: {exc.strerror}"
        ) from None
    return RunResult(
        env=request.env,
        status=status,
        rc=rc,
        hosts=host_stats(stats),
        artifacts=artifacts,
        seconds=time.monotonic() - started,
        changes=changes,
        failures=failures,
    )


def _run(
    request: RunRequest,
    private: Path,
    handle: Callable[[dict[str, Any]], bool],
    cancel: Callable[[], bool] | None,
) -> Any:
    return ansible_runner.run(
        private_data_dir=str(private),
        project_dir=str(paths.REPO),
        playbook=str(request.playbook),
        inventory=request.inventory or str(paths.INVENTORIES / request.env),
        envvars=ansible_env(),
        cmdline=request.cmdline() or None,
        limit=request.limit,
        forks=request.forks,
        extravars=request.extravars or None,
        verbosity=request.verbosity or None,
        quiet=True,
        event_handler=handle,
        cancel_callback=cancel,
        suppress_env_files=True,  # env files would hold the command line and passwords
        rotate_artifacts=remote.ARTIFACTS_KEPT,
    )


def host_stats(stats: dict[str, Any]) -> dict[str, HostStats]:
    hosts: dict[str, HostStats] = {}
    for key, name in STAT_FIELDS.items():
        for host, count in (stats.get(key) or {}).items():
            counts = hosts.setdefault(host, HostStats())
            if name is not None:
                setattr(counts, name, getattr(counts, name) + count)
    return dict(sorted(hosts.items()))
