"""Promotion: an environment declared `promoted_from: X` (prod from staging) is changed only with
a bundle that already passed apply and the post-deploy gate on X, according to the ledger.

The promotable bundle is what decides what the hosts get: the repo commit, the content hash of
roles, playbooks and shared values, and the application release. The inventory is not part of
it (it differs per environment by design). Pure: the caller passes the ledger entries in.

When the target declares a peak (prod), the gate that passed on the source must also have shown
the capacity for it: the source's sustainable rate (the stepped load test, stepjudge.py),
scaled by the target's app workers now over the source's then, must reach the target's peak x
headroom (check_capacity).
"""

from __future__ import annotations

from typing import Any

from provisioner.deploy.stepjudge import Capacity
from provisioner.errors import ApprovalError
from provisioner.ledger.records import Entry
from provisioner.source.bundle import Bundle
from provisioner.source.model import Peak

CAPACITY = "promotion-capacity"  # ledger entry kind: the capacity a promotion relied on
RECORD = "load_plan"  # the stepped load test's record in a gate entry (stepgate.RECORD)

WORDS = {
    "commit": "commit",
    "roles_hash": "roles/playbooks/shared values",
    "app_release": "release",
}


def promotable(bundle: Bundle, app_release: str) -> dict[str, str]:
    return {"commit": bundle.commit, "roles_hash": bundle.roles_hash, "app_release": app_release}


def check(target: str, source: str, wanted: dict[str, str], gates: list[Entry]) -> Entry:
    """The gate entry on `source` that lets `wanted` be applied to `target`, or ApprovalError
    saying why not. `gates` are `source`'s gate entries, oldest first."""
    prefix = f"{target} is promoted from {source}"
    if not gates:
        raise ApprovalError(
            f"{prefix}, and {source} has never passed a post-deploy gate: run "
            f"`provision.py {source}` (and `provision.py gate {source}`) first"
        )
    same = [g for g in gates if g.payload.get("bundle") == wanted]
    if not same:
        passed = [g for g in gates if g.payload.get("passed") and g.payload.get("bundle")]
        told = f"{prefix}: this bundle never passed {source}'s gate"
        if passed:
            told += f"; it differs from the last one that did (run {passed[-1].run_id}) in " + (
                _differences(passed[-1].payload["bundle"], wanted)
            )
        raise ApprovalError(told + f". Apply it to {source} first")
    latest = same[-1]
    if not latest.payload.get("passed"):
        raise ApprovalError(
            f"{prefix}: this bundle failed {source}'s gate in run {latest.run_id} "
            f"({latest.payload.get('reason', 'see provision.py show ' + str(latest.run_id))})"
        )
    return latest


def _differences(had: dict[str, Any], wanted: dict[str, str]) -> str:
    return ", ".join(
        f"{WORDS[key]} ({str(had.get(key))[:12]} -> {str(wanted[key])[:12]})"
        for key in WORDS
        if had.get(key) != wanted.get(key)
    )


def check_capacity(
    target: str, source: str, gate: Entry, peak: Peak | None, target_workers: int
) -> Capacity | None:
    """The capacity `gate` (the source's passed gate of this bundle) implies for `target`, or
    ApprovalError with the numbers when it falls short of the target's peak x headroom. None
    when the target declares no peak."""
    if peak is None:
        return None
    record = gate.payload.get(RECORD)
    measured = record.get("capacity") if isinstance(record, dict) else None
    if not isinstance(measured, dict):
        raise ApprovalError(
            f"{target} declares a peak of {peak.requests_per_second:g}/s, and {source}'s gate in "
            f"run {gate.run_id} measured no capacity (it ran no stepped load test): run "
            f"`provision.py gate {source}` first"
        )
    capacity = Capacity(
        env=source,
        peak_env=target,
        sustained=float(measured["sustained"]),
        workers=int(measured["workers"]),
        peak_workers=target_workers,
        peak_rate=peak.requests_per_second,
        headroom=peak.headroom,
    )
    if capacity.short_by > 0:
        raise ApprovalError(
            f"{target} is promoted from {source}, whose gate in run {gate.run_id} does not show "
            f"the capacity for {target}'s peak: {capacity.explain()}"
        )
    return capacity
