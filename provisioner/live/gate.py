"""Parity as a gate before an environment that is promoted from another one (prod from staging).

`plan` compares the environment live with its source and puts the result in the plan, so the
approver sees it. A difference is *excused* when the plan changes the hosts it is on (the apply
is what brings them in line: a new release, a cold host); an unexplained one on a host the plan
leaves alone stays, and the apply of that plan is refused (exit 4) unless it is given
`--accept-live-differences REASON`, which the ledger records with the differences accepted.
"""

from __future__ import annotations

from typing import Any

from provisioner.errors import ApprovalError
from provisioner.live import compare
from provisioner.run.changes import Change
from provisioner.source.model import LoadedSource

PLAN_KEY = "live_parity"  # in the plan's ledger entry
OVERRIDE = "live-parity-accepted"  # ledger entry kind
SHOWN = 10  # differences named in a refusal


def for_plan(
    loaded: LoadedSource,
    env: str,
    source: str,
    readings: compare.Readings,
    changes: list[Change],
) -> dict[str, Any]:
    """What goes into the plan: the unexplained differences, split into excused and blocking."""
    changed: dict[str, list[str]] = {}
    for change in changes:
        changed.setdefault(change.host, []).append(change.task)
    own = set(loaded.source.environments[env].hosts)
    blocking: list[dict[str, Any]] = []
    excused: list[dict[str, Any]] = []
    allowed = 0
    for difference in compare.between(loaded, [source, env], readings):
        if difference.allowed:
            allowed += 1
            continue
        hosts = sorted(own & {*difference.hosts, *difference.reference})
        if hosts and all(h in changed for h in hosts):
            excused.append(
                {**difference.as_dict(), "excused": "the plan changes " + ", ".join(hosts)}
            )
        else:
            blocking.append(difference.as_dict())
    return {"source": source, "allowed": allowed, "excused": excused, "unexplained": blocking}


def check(env: str, plan: dict[str, Any], accepted: str | None) -> list[dict[str, Any]]:
    """The plan's blocking differences if an override accepts them; refuse them otherwise."""
    parity = plan.get(PLAN_KEY)
    if parity is None:
        return []
    blocking = list(parity.get("unexplained", []))
    if not blocking or accepted:
        return blocking
    named = "; ".join(
        f"{d['group']} {d['kind']} {d['name']} on {', '.join(d['hosts'])}" for d in blocking[:SHOWN]
    )
    more = f" and {len(blocking) - SHOWN} more" if len(blocking) > SHOWN else ""
    raise ApprovalError(
        f"{env}: the approved plan found {len(blocking)} unexplained live difference(s) from "
        f"{parity.get('source')} on hosts it does not change: {named}{more}. Bring the hosts in "
        f"line and plan again, or apply with --accept-live-differences REASON (recorded)"
    )
