"""The quarantine of a rolled-back bundle (provisioner/deploy/quarantine.py), read from a real
(SQLite) ledger: which rollback holds which bundle where, and what lifts it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostrun import sqlite_url

from provisioner.deploy import quarantine
from provisioner.errors import EXIT_REFUSED, QuarantinedError
from provisioner.ledger.ledger import Ledger, open_ledger
from provisioner.run.status import Status

BROKEN = {"commit": "b" * 40, "roles_hash": "r" * 64, "app_release": "1.2.0"}
FIXED = {**BROKEN, "commit": "c" * 40}


@pytest.fixture
def book(tmp_path: Path) -> Iterator[Ledger]:
    with open_ledger(sqlite_url(tmp_path / "ledger.sqlite3")) as opened:
        yield opened


def applied(book: Ledger, env: str, bundle: dict[str, Any], status: str) -> str:
    run_id = book.start_run(
        "apply", env, command=f"provision.py {env}", identity="ci", commit=bundle["commit"],
        inventory_hash="i", extra={"roles_hash": bundle["roles_hash"], "promotable": bundle},
    )  # fmt: skip
    book.finish_run(run_id, status, {}, [])
    return run_id


def lift(book: Ledger, env: str, found: quarantine.Held, reason: str = "flaky load test") -> str:
    run_id = book.start_run(
        "quarantine", env, command="provision.py quarantine", identity="alice", commit=None,
        inventory_hash="i",
    )  # fmt: skip
    book.append(quarantine.OVERRIDE, env, quarantine.override_payload(found, reason), run_id)
    book.finish_run(run_id, Status.SUCCESSFUL, {}, [])
    return run_id


def test_a_rolled_back_bundle_is_refused_naming_the_run(book: Ledger) -> None:
    applied(book, "staging", BROKEN, Status.SUCCESSFUL)
    rolled = applied(book, "staging", BROKEN, Status.ROLLED_BACK)
    with pytest.raises(QuarantinedError) as refused:
        quarantine.check(book, "staging", BROKEN)
    assert refused.value.exit_code == EXIT_REFUSED
    assert f"rolled back by run {rolled}" in str(refused.value)
    assert "quarantine staging --lift --reason" in str(refused.value)


def test_another_bundle_or_environment_is_not_held(book: Ledger) -> None:
    applied(book, "staging", BROKEN, Status.ROLLED_BACK)
    assert quarantine.check(book, "staging", FIXED) is None  # a new commit
    assert quarantine.check(book, "staging", {**BROKEN, "app_release": "1.2.1"}) is None
    assert quarantine.check(book, "prod", BROKEN) is None  # held where it was rolled back
    applied(book, "qa", BROKEN, Status.FAILED)  # failed, not rolled back by the gate
    assert quarantine.check(book, "qa", BROKEN) is None


def test_a_lifted_quarantine_lets_it_through_and_says_why(book: Ledger) -> None:
    rolled = applied(book, "prod", BROKEN, Status.ROLLED_BACK)
    found = quarantine.held(book, "prod", BROKEN)
    assert found is not None
    lifted_in = lift(book, "prod", found, "  the gate's load test\nwas flaky  ")
    passed = quarantine.check(book, "prod", BROKEN)
    assert passed is not None
    assert passed.run_id == rolled
    assert passed.lifted is not None
    assert passed.lifted.run_id == lifted_in
    assert passed.lifted.payload["reason"] == "the gate's load test was flaky"  # one line


def test_a_lift_does_not_cover_a_later_rollback_of_the_same_bundle(book: Ledger) -> None:
    applied(book, "prod", BROKEN, Status.ROLLED_BACK)
    found = quarantine.held(book, "prod", BROKEN)
    assert found is not None
    lift(book, "prod", found)
    again = applied(book, "prod", BROKEN, Status.ROLLED_BACK)  # deployed again, rolled back again
    with pytest.raises(QuarantinedError, match=f"run {again}"):
        quarantine.check(book, "prod", BROKEN)


def test_a_lift_is_bound_to_its_bundle(book: Ledger) -> None:
    """An override entry naming the rollback run but another bundle lifts nothing."""
    rolled = applied(book, "prod", BROKEN, Status.ROLLED_BACK)
    forged = {"rolled_back_by": rolled, "bundle": FIXED, "reason": "x"}
    book.append(quarantine.OVERRIDE, "prod", forged)
    book.append(quarantine.OVERRIDE, "staging", {**forged, "bundle": BROKEN})  # another env's
    with pytest.raises(QuarantinedError):
        quarantine.check(book, "prod", BROKEN)


@pytest.mark.parametrize("reason", ["", "   \n ", "x" * (quarantine.MAX_REASON + 1)])
def test_a_lift_needs_a_reason(book: Ledger, reason: str) -> None:
    applied(book, "prod", BROKEN, Status.ROLLED_BACK)
    found = quarantine.held(book, "prod", BROKEN)
    assert found is not None
    with pytest.raises(ValueError, match="reason"):
        quarantine.override_payload(found, reason)


def test_a_crafted_start_entry_is_passed_over(book: Ledger) -> None:
    run_id = book.start_run(
        "apply", "prod", command="provision.py prod", identity="ci", commit=None,
        inventory_hash="i", extra={"promotable": ["not", "a", "mapping"]},
    )  # fmt: skip
    book.finish_run(run_id, Status.ROLLED_BACK, {}, [])
    assert quarantine.check(book, "prod", BROKEN) is None
