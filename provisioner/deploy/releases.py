"""Which application release each app host runs, what the ledger says was deployed last, and
rolling back.

The app role keeps every recent release in its own directory behind a `current` link and points
a `previous` link at the release a switch replaced; a rollback only moves links (the database is
left alone: migrations are additive, so an earlier release works on the migrated schema).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from provisioner import paths
from provisioner.ledger.ledger import Ledger
from provisioner.run import tasks
from provisioner.run.changes import Change
from provisioner.run.request import EventCallback, RunRequest, RunResult
from provisioner.run.runner import run_playbook
from provisioner.run.status import Status

PLAYBOOK = paths.PLAYBOOKS / "rollback.yml"
ROLLBACK = "rollback"  # ledger entry kind, and the kind of a rollback run


def switched_hosts(changes: list[Change]) -> list[str]:
    """Hosts whose `current` release link this run moved."""
    return sorted({c.host for c in changes if c.task == tasks.RELEASE_SWITCH.name})


@dataclass(frozen=True)
class RolledBack:
    result: RunResult
    releases: dict[str, str]  # host -> the release it runs now

    def as_dict(self) -> dict[str, Any]:
        return {"succeeded": self.result.succeeded, "releases": self.releases}


def roll_back(
    env: str,
    *,
    vault_args: tuple[str, ...],
    hosts: list[str] | None = None,
    to: str | None = None,
    on_event: EventCallback | None = None,
    cancel: Callable[[], bool] | None = None,
) -> RolledBack:
    """Switch app hosts (all, or `hosts`) to release `to`, or each to its previous release."""
    releases: dict[str, str] = {}

    def handle(event: dict[str, Any]) -> None:
        data = event.get("event_data", {})
        if event.get("event") == "runner_on_ok" and data.get("task") == tasks.RELEASE_REPORT.name:
            releases[str(data["host"])] = str(data["res"]["msg"])
        if on_event is not None:
            on_event(event)

    request = RunRequest(
        env=env,
        playbook=PLAYBOOK,
        limit=",".join(hosts) if hosts else None,
        vault_args=vault_args,
        extravars={"app_rollback_to": to} if to else {},
    )
    result = run_playbook(request, on_event=handle, cancel=cancel)
    return RolledBack(result, dict(sorted(releases.items())))


@dataclass(frozen=True)
class Deployed:
    """What the ledger says an environment's hosts run now."""

    bundle: dict[str, Any] | None  # the promotable bundle of the last deploy that stands
    releases: dict[str, str]  # hosts rolled back since, and the release each runs
    reason: str  # why there is no bundle, when there is none


def deployed(ledger: Ledger, env: str) -> Deployed:
    """The newest apply or rollback of `env` that changed something decides."""
    for run in ledger.runs(env=env, limit=200):
        if run.kind not in {"apply", ROLLBACK} or run.status == Status.REFUSED:
            continue
        detail = ledger.show(run.run_id)
        rollbacks = [e for e in detail.entries if e.kind == ROLLBACK]
        if rollbacks:
            releases = dict(rollbacks[-1].payload.get("releases") or {})
            return Deployed(None, releases, f"{env} was rolled back by run {run.run_id}")
        if run.kind == "apply" and run.status == Status.SUCCESSFUL:
            started = detail.started.payload
            return Deployed(dict(started.get("extra", {}).get("promotable") or {}), {}, "")
        return Deployed(None, {}, f"the last apply of {env} (run {run.run_id}) ended {run.status}")
    return Deployed(None, {}, f"{env} has no apply in the ledger")
