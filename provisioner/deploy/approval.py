"""The approval gate before an environment marked `approval_required` (prod) is changed.

An apply goes ahead only with an approval that
  - exists, for a plan of this environment, and its signature verified (trust/approvals.py
    checks it and passes its signed approver and time in; `rejected` names those that failed),
  - was given by someone other than the person applying (principals compared as people are:
    case and look-alike characters do not make two),
  - is younger than the environment's approval_max_age_hours,
  - is for a plan whose bundle (commit, inventory, roles) is exactly what would run now,
  - has not been used by an earlier successful apply.
The newest approval decides, except that one for a plan that can no longer run (stale, or
already applied), or whose signature does not verify, is passed over: approving an old plan
(or forging an approval) does not hide a valid approval given before. When every approval is
passed over, the newest one's reason is given. Pure: the caller passes the ledger entries in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from provisioner.errors import ApprovalError
from provisioner.ledger.records import Entry
from provisioner.source.bundle import Bundle
from provisioner.trust.principals import same

PLAN = "plan"  # ledger entry kinds
APPROVAL = "approval"
PLAN_APPLIED = "plan-applied"


@dataclass(frozen=True)
class Granted:
    plan_id: str
    approver: str
    plan: dict[str, Any]  # the plan's ledger entry, as the approver saw it
    reason: str = ""  # the approver's, as signed


def check(
    env: str,
    *,
    applier: str,
    now: datetime,
    max_age: timedelta,
    bundle: Bundle,
    approvals: list[Entry],
    plans: dict[str, Entry],
    applied_plans: set[str],
    rejected: Mapping[int, str] | None = None,
) -> Granted:
    rejected = rejected or {}
    if not approvals:
        raise ApprovalError(
            f"{env} needs an approved plan: run `provision.py plan {env}`, then someone else "
            f"runs `provision.py approve {env} PLAN_ID`"
        )
    rules = (env, applier, now, max_age, bundle, plans, applied_plans)
    for approval in reversed(approvals):
        # A forged approval (its signature fails) must not hide a real one given before it.
        if approval.id not in rejected and not _plan_gone(approval, plans, bundle, applied_plans):
            return _valid(approval, *rules)  # the newest approval of a plan that can run decides
    # Every approval is of a plan that can no longer run, or forged: the newest one's reason
    # (the one the person just gave), by the rules in their usual order.
    newest = approvals[-1]
    if newest.id in rejected:
        raise ApprovalError(
            f"{env}: approval {newest.id} of plan {newest.payload.get('plan_id')} is refused: "
            f"{rejected[newest.id]}"
        )
    return _valid(newest, *rules)


def _plan_gone(
    approval: Entry, plans: dict[str, Entry], bundle: Bundle, applied_plans: set[str]
) -> bool:
    """Whether the approved plan can no longer run (stale, or applied already): such an approval
    is passed over, so approving an old plan does not hide a valid approval given before."""
    plan_id = str(approval.payload["plan_id"])
    plan = plans.get(plan_id)
    if plan is None:
        return False  # not passed over: refused, by name
    return plan_id in applied_plans or bool(bundle.differences(planned_bundle(plan)))


def _valid(  # noqa: PLR0917 - private; the rules' inputs, in the order check() has them
    approval: Entry,
    env: str,
    applier: str,
    now: datetime,
    max_age: timedelta,
    bundle: Bundle,
    plans: dict[str, Entry],
    applied_plans: set[str],
) -> Granted:
    """`approval` as granted, or the first rule it fails."""
    plan_id = str(approval.payload["plan_id"])
    approver = str(approval.payload["approver"])
    plan = plans.get(plan_id)
    if plan is None:
        raise ApprovalError(
            f"{env}: approval {approval.id} names plan {plan_id}, not in the ledger"
        )
    if same(approver, applier):
        raise ApprovalError(
            f"{env}: plan {plan_id} was approved by {approver}, who is applying it; "
            "an approval must come from someone else (self-approval)"
        )
    age = _age(approval, now)
    if age is None:  # a hand-edited row: refused, not a traceback
        raise ApprovalError(f"{env}: approval {approval.id} has no valid time ({approval.at!r})")
    if age < timedelta(0) or age > max_age:  # a time to come would make it never expire
        raise ApprovalError(
            f"{env}: the approval of plan {plan_id} by {approver} "
            + ("is dated in the future" if age < timedelta(0) else "expired")
            + f" ({_hours(age)} old, the limit is {_hours(max_age)}); plan and approve again"
        )
    changed = bundle.differences(planned_bundle(plan))
    if changed:
        raise ApprovalError(
            f"{env}: plan {plan_id} is stale, what would run changed since it was planned: "
            f"{'; '.join(changed)}; plan and approve again"
        )
    if plan_id in applied_plans:
        raise ApprovalError(f"{env}: plan {plan_id} was already applied; plan and approve again")
    reason = str(approval.payload.get("reason", ""))
    return Granted(plan_id=plan_id, approver=approver, plan=dict(plan.payload), reason=reason)


def planned_bundle(plan: Entry) -> Bundle:
    """The bundle a plan entry recorded: what an approval of it lets run."""
    return Bundle(**{k: str(plan.payload["bundle"][k]) for k in Bundle.__dataclass_fields__})


# An approval's standing, as the report shows it (the same rules as check(), without raising).
VALID, EXPIRED, STALE, APPLIED = "valid", "expired", "stale", "applied"


def standing(
    approval: Entry,
    plan: Entry | None,
    *,
    now: datetime,
    max_age: timedelta,
    bundle: Bundle,
    applied_plans: set[str],
) -> tuple[str, str]:
    """(state, why) of one approval: applied, expired, stale (or its plan unknown), or valid."""
    plan_id = str(approval.payload.get("plan_id"))
    if plan_id in applied_plans:
        return APPLIED, f"plan {plan_id} was applied"
    age = _age(approval, now)
    if age is None or not timedelta(0) <= age <= max_age:  # check()'s rules, never a traceback
        if age is None:
            return EXPIRED, f"no valid time ({approval.at!r})"
        too_old = f"{_hours(age)} old, the limit is {_hours(max_age)}"
        return EXPIRED, too_old if age > max_age else "dated in the future"
    if plan is None:
        return STALE, f"plan {plan_id} is not in the ledger"
    changed = bundle.differences(planned_bundle(plan))
    if changed:
        return STALE, "changed since planned: " + "; ".join(changed)
    return VALID, f"{_hours(max_age - age)} left"


def _age(approval: Entry, now: datetime) -> timedelta | None:
    """How old the approval is, or None when its time is not one (a hand-edited ledger row)."""
    try:
        return now - datetime.fromisoformat(approval.at)
    except (ValueError, TypeError):  # not ISO 8601, or without a time zone
        return None


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"
