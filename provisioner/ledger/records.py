"""What the ledger holds, as its readers see it: entries, the chain's head, locks, runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Entry kinds the ledger writes itself; append() refuses them so the runs view stays truthful.
RUN_STARTED = "run-started"
RUN_FINISHED = "run-finished"
LOCK_RECOVERED = "lock-recovered"
OWN_KINDS = frozenset({RUN_STARTED, RUN_FINISHED, LOCK_RECOVERED})


@dataclass(frozen=True)
class Entry:
    id: int
    run_id: str | None  # None: not part of a run (an approval, say)
    kind: str
    env: str
    at: str  # UTC, ISO 8601
    payload: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Head:
    """How many entries the chain has and its newest hash: record it elsewhere to pin the chain."""

    count: int
    hash: str


@dataclass(frozen=True)
class LockInfo:
    env: str
    holder: str  # identity
    hostname: str
    pid: int
    run_id: str
    since: str
    heartbeat: str


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    kind: str  # apply, plan, verify, drift, rollback...
    env: str
    status: str  # as finished (successful, failed, canceled, refused...), or running/abandoned
    identity: str
    command: str
    commit: str | None
    started_at: str
    finished_at: str | None


@dataclass(frozen=True)
class RunDetail:
    summary: RunSummary
    entries: tuple[Entry, ...]  # every entry of the run, oldest first

    @property
    def started(self) -> Entry:
        return next(e for e in self.entries if e.kind == RUN_STARTED)

    @property
    def finished(self) -> Entry | None:
        return next((e for e in self.entries if e.kind == RUN_FINISHED), None)

    @property
    def host_stats(self) -> dict[str, Any]:
        finished = self.finished
        return dict(finished.payload.get("host_stats", {})) if finished else {}

    @property
    def changes(self) -> list[dict[str, Any]]:
        finished = self.finished
        return list(finished.payload.get("changes", [])) if finished else []
