"""Run a playbook on one environment through ansible-runner, on this machine (local.py) or on
execution nodes (remote.py).

Library code: knows nothing of the terminal. Callers pass an `on_event` callback (the CLI's live
display) and get back a RunResult with per-host stats taken from Ansible's own final stats event.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from provisioner import paths
from provisioner.errors import ProvisionerError
from provisioner.run import local, remote, tasks
from provisioner.run.changes import Change, from_event
from provisioner.run.events import KEPT_EVENTS, failure_message, host_stats, is_failure
from provisioner.run.request import Backend, EventCallback, Failure, RunRequest, RunResult


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
    fingerprints: dict[str, dict[str, dict[str, str]]] = {}
    manifests: dict[str, dict[str, Any]] = {}

    def handle(event: dict[str, Any]) -> bool:
        data = event.get("event_data", {})
        if event.get("event") == "playbook_on_stats":  # one per slice when sliced: merged
            for key, value in data.items():
                if isinstance(value, dict):
                    stats.setdefault(key, {}).update(value)
        if is_failure(event):
            failures.append(
                Failure(str(data.get("host", "")), str(data.get("task", "")), failure_message(data))
            )
        printed = _fingerprint(event)
        if printed is not None:
            fingerprints[str(data["host"])] = printed
            manifest = (data.get("res") or {}).get("manifest")
            if isinstance(manifest, dict):
                manifests[str(data["host"])] = manifest
        change = from_event(event)
        if change is not None:
            changes.append(change)
        if on_event is not None:
            on_event(event)
        return request.verbosity > 0 or event.get("event") in KEPT_EVENTS

    backend: Backend = remote.run if request.executors else local.run
    try:
        ended = backend(request, private, handle, cancel)
    except OSError as exc:  # the artifacts directory is full or unwritable
        raise ProvisionerError(
            f"cannot write run artifacts in {paths.display(private)}: {exc.strerror}"
        ) from None
    return RunResult(
        env=request.env,
        status=ended.status,
        rc=ended.rc,
        hosts=host_stats(stats),
        artifacts=ended.artifacts,
        seconds=time.monotonic() - started,
        changes=changes,
        failures=failures,
        fingerprints=dict(sorted(fingerprints.items())),
        manifests=dict(sorted(manifests.items())),
    )


def _fingerprint(event: dict[str, Any]) -> dict[str, dict[str, str]] | None:
    """A host's fingerprint, if this event is the fingerprint task's result (all strings)."""
    data = event.get("event_data", {})
    if event.get("event") != "runner_on_ok" or data.get("task") != tasks.FINGERPRINT_REPORT.name:
        return None
    raw = (data.get("res") or {}).get("fingerprint") or {}
    return {
        str(kind): {str(k): str(v) for k, v in items.items()}
        for kind, items in raw.items()
        if isinstance(items, dict)
    }
