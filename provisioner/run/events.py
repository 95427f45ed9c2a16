"""What ansible-runner's events say, read in one place: which ones are failures, the message of a
failed task, and the per-host counts of the final stats event."""

from __future__ import annotations

from typing import Any

from provisioner.run.request import HostStats

FAILED_EVENTS = frozenset({"runner_on_failed", "runner_on_unreachable"})
DONE_EVENTS = FAILED_EVENTS | {"runner_on_ok", "runner_on_skipped"}  # a host is done with a task
# The events worth a file in the run's artifacts when nobody asked for Ansible's output (-v):
# what failed, and the final stats. Writing one JSON file per event costs about a quarter of the
# controller's CPU on a no-op run; the live display and the ledger get every event in memory
# either way.
KEPT_EVENTS = FAILED_EVENTS | {"playbook_on_stats"}

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


def is_failure(event: dict[str, Any]) -> bool:
    """A failed or unreachable host whose task did not say ignore_errors."""
    return event.get("event") in FAILED_EVENTS and not event.get("event_data", {}).get(
        "ignore_errors"
    )


def failure_message(data: dict[str, Any]) -> str:
    """What Ansible said about a failed task (an event's event_data): the module's msg, else its
    stderr. The run's result keeps it (RunResult.failures) and the live display shows it."""
    result = data.get("res") or {}
    return str(result.get("msg") or result.get("stderr") or "").strip()


def host_stats(stats: dict[str, Any]) -> dict[str, HostStats]:
    hosts: dict[str, HostStats] = {}
    for key, name in STAT_FIELDS.items():
        for host, count in (stats.get(key) or {}).items():
            counts = hosts.setdefault(host, HostStats())
            if name is not None:
                setattr(counts, name, getattr(counts, name) + count)
    return dict(sorted(hosts.items()))
