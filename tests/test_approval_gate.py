"""The approval gate's rules, one by one (pure: ledger entries in, a decision out)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from provisioner.deploy import approval
from provisioner.errors import ApprovalError
from provisioner.ledger.records import Entry
from provisioner.source.bundle import Bundle

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
BUNDLE = Bundle(commit="c1", inventory_hash="i1", roles_hash="r1")
DAY = timedelta(hours=24)


def entry(kind: str, payload: dict[str, object], *, at: datetime, run_id: str = "") -> Entry:
    return Entry(1, run_id, kind, "prod", at.isoformat(), payload, "p", "h")


def plan(plan_id: str = "plan1", bundle: Bundle = BUNDLE) -> dict[str, Entry]:
    payload = {"plan_id": plan_id, "planner": "alice", "bundle": bundle.as_dict()}
    return {plan_id: entry("plan", payload, at=NOW - timedelta(hours=2), run_id=plan_id)}


def approved_by(who: str, hours_ago: float = 1, plan_id: str = "plan1") -> list[Entry]:
    payload = {"plan_id": plan_id, "approver": who, "planner": "alice"}
    return [entry("approval", payload, at=NOW - timedelta(hours=hours_ago))]


def gate(**overrides: object) -> approval.Granted:
    args: dict[str, object] = {
        "applier": "alice",
        "now": NOW,
        "max_age": DAY,
        "bundle": BUNDLE,
        "approvals": approved_by("bob"),
        "plans": plan(),
        "applied_plans": set(),
    }
    args.update(overrides)
    return approval.check("prod", **args)  # type: ignore[arg-type]


def test_a_fresh_approval_by_someone_else_for_the_same_bundle_passes() -> None:
    granted = gate()
    assert (granted.plan_id, granted.approver) == ("plan1", "bob")
    assert granted.plan == plan()["plan1"].payload  # what the approver saw, for the apply


def test_no_approval() -> None:
    with pytest.raises(ApprovalError, match="needs an approved plan"):
        gate(approvals=[])


def test_self_approval() -> None:
    with pytest.raises(ApprovalError, match="self-approval"):
        gate(approvals=approved_by("alice"))


def test_expired_approval() -> None:
    with pytest.raises(ApprovalError, match=r"expired \(25\.0 h old, the limit is 24\.0 h\)"):
        gate(approvals=approved_by("bob", hours_ago=25))


@pytest.mark.parametrize(
    ("changed", "words"),
    [
        (Bundle("c1", "i1", "r2"), "the roles, playbooks or shared values"),
        (Bundle("c1", "i2", "r1"), "the generated inventory"),
        (Bundle("c2", "i1", "r1"), "the repo commit"),
    ],
)
def test_stale_plan_names_what_changed(changed: Bundle, words: str) -> None:
    with pytest.raises(ApprovalError, match="is stale") as refused:
        gate(bundle=changed)
    assert words in str(refused.value)


def test_a_plan_is_applied_once() -> None:
    with pytest.raises(ApprovalError, match="already applied"):
        gate(applied_plans={"plan1"})


def test_the_newest_approval_decides() -> None:
    approvals = approved_by("bob", hours_ago=3) + approved_by("alice", hours_ago=1)
    with pytest.raises(ApprovalError, match="self-approval"):
        gate(approvals=approvals)


def test_a_newer_approval_of_a_stale_plan_does_not_hide_a_valid_one() -> None:
    """Someone approves an old plan after the valid one was approved: the valid one stands."""
    stale = Bundle("c0", "i1", "r1")
    plans = {**plan(), **plan("old", bundle=stale)}
    approvals = approved_by("bob", hours_ago=2) + approved_by("carol", 1, plan_id="old")
    granted = gate(plans=plans, approvals=approvals)
    assert (granted.plan_id, granted.approver) == ("plan1", "bob")


def test_a_newer_approval_of_an_applied_plan_does_not_hide_a_valid_one() -> None:
    plans = {**plan(), **plan("done")}
    approvals = approved_by("bob", hours_ago=2) + approved_by("carol", 1, plan_id="done")
    granted = gate(plans=plans, approvals=approvals, applied_plans={"done"})
    assert (granted.plan_id, granted.approver) == ("plan1", "bob")


def test_when_every_approval_is_passed_over_the_newest_ones_reason_is_given() -> None:
    stale = Bundle("c0", "i1", "r1")
    plans = {**plan("older", bundle=stale), **plan("old", bundle=stale)}
    approvals = approved_by("bob", 2, plan_id="older") + approved_by("carol", 1, plan_id="old")
    with pytest.raises(ApprovalError, match="plan old is stale"):
        gate(plans=plans, approvals=approvals)


def test_an_expired_approval_behind_one_of_a_stale_plan_is_still_refused() -> None:
    stale = Bundle("c0", "i1", "r1")
    plans = {**plan(), **plan("old", bundle=stale)}
    approvals = approved_by("bob", hours_ago=30) + approved_by("carol", 1, plan_id="old")
    with pytest.raises(ApprovalError, match="expired"):
        gate(plans=plans, approvals=approvals)


def test_a_stale_plan_is_stale_whoever_approved_it_before() -> None:
    """The applier's own approval of a plan that went stale is passed over like any other: the
    refusal says the plan is stale (what the person must act on), not that it was self-approved
    (tests/test_prod_approval.py's sequence: alice, bob, bob again, then the roles change)."""
    stale = Bundle("c1", "i1", "r2")
    approvals = approved_by("alice", 3) + approved_by("bob", 2) + approved_by("bob", 1)
    with pytest.raises(ApprovalError, match="plan plan1 is stale"):
        gate(bundle=stale, approvals=approvals)


def test_when_all_are_passed_over_the_newest_reason_follows_the_rules_order() -> None:
    """Expired and stale at once (tests/test_prod_approval.py's impatient source): the newest
    approval's first failing rule, in the order the module lists them, is the one said."""
    stale = Bundle("c1", "i2", "r1")
    approvals = approved_by("alice", 3) + approved_by("bob", 1)
    with pytest.raises(ApprovalError, match="by bob expired"):
        gate(bundle=stale, approvals=approvals, max_age=timedelta(minutes=1))


@pytest.mark.parametrize("at", ["not a time", "2999-01-01T00:00:00+00:00"])
def test_an_approval_with_a_forged_time_is_refused_not_a_traceback_nor_eternal(at: str) -> None:
    forged = Entry(1, "", "approval", "prod", at, approved_by("bob")[0].payload, "p", "h")
    with pytest.raises(ApprovalError, match=r"no valid time|dated in the future"):
        gate(approvals=[forged])
