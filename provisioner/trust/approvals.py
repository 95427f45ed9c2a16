"""The ledger's plans and approvals as the gate may believe them: each approval's signature
verified against the signers file, its approver, plan and time taken from the signed statement
only (a row's `at` or `approver` edited in the database changes nothing), and it must name the
bundle of the plan it approves. What does not verify goes to the gate as rejected, with why."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from provisioner.ledger.records import Entry
from provisioner.trust import statements
from provisioner.trust.signers import APPROVE, PLAN, Signers, namespace

APPROVAL_KIND, PLAN_KIND, APPLY_KIND = "approval", "plan", "apply"


def plan_fields(env: str, plan_id: str, bundle: Mapping[str, Any]) -> dict[str, Any]:
    """What a planner signs."""
    return {"kind": PLAN_KIND, "env": env, "plan_id": plan_id, "bundle": statements.digest(bundle)}


def approval_fields(env: str, plan: Entry, reason: str) -> dict[str, Any]:
    """What an approver signs: the environment, the plan and the digest of its bundle."""
    return {
        "kind": APPROVAL_KIND,
        "env": env,
        "plan_id": str(plan.payload.get("plan_id")),
        "bundle": statements.digest(plan.payload.get("bundle")),
        "reason": reason,
    }


def apply_fields(env: str, run_id: str, bundle: Mapping[str, Any]) -> dict[str, Any]:
    """What an applier signs: this run of this bundle."""
    return {"kind": APPLY_KIND, "env": env, "run_id": run_id, "bundle": statements.digest(bundle)}


def planner(env: str, plan: Entry, signers: Signers) -> str:
    """The principal who signed the plan; ValueError when it does not verify as ENV's plan."""
    statement, principal = statements.verify(plan.payload, signers, namespace(PLAN, env))
    expected = plan_fields(env, str(plan.run_id), plan.payload.get("bundle") or {})
    if any(statement.get(key) != value for key, value in expected.items()):
        raise ValueError(f"its signed statement is not plan {plan.run_id} of {env} as recorded")
    return principal


@dataclasses.dataclass(frozen=True)
class Verified:
    """The approvals whose signatures hold, rewritten from their signed statements, and why
    each of the others is rejected (by entry id)."""

    approvals: list[Entry]
    rejected: dict[int, str]


def verify(
    env: str, approvals: list[Entry], plans: Mapping[str, Entry], signers: Signers
) -> Verified:
    believed: list[Entry] = []
    rejected: dict[int, str] = {}
    for given in approvals:
        try:
            believed.append(_believed(env, given, plans, signers))
        except ValueError as exc:
            rejected[given.id] = str(exc)
            believed.append(given)  # kept in order: the gate passes it over, or names why
    return Verified(believed, rejected)


def _believed(env: str, given: Entry, plans: Mapping[str, Entry], signers: Signers) -> Entry:
    statement, principal = statements.verify(given.payload, signers, namespace(APPROVE, env))
    plan_id = str(statement.get("plan_id"))
    if statement.get("kind") != APPROVAL_KIND or statement.get("env") != env:
        raise ValueError(f"its signed statement is not an approval for {env}")
    if plan_id != str(given.payload.get("plan_id")):
        raise ValueError(
            f"the row names plan {given.payload.get('plan_id')}, the signature {plan_id}"
        )
    plan = plans.get(plan_id)
    if plan is not None and statements.digest(plan.payload.get("bundle")) != statement.get(
        "bundle"
    ):
        raise ValueError(f"plan {plan_id}'s recorded bundle is not the one approved (edited?)")
    payload = {
        **given.payload,
        "plan_id": plan_id,
        "approver": principal,
        "reason": str(statement.get("reason", "")),
    }
    # The time is the signed one: the row's `at` is the database's to edit.
    return dataclasses.replace(given, at=str(statement.get("at")), payload=payload)
