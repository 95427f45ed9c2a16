"""Before prod changes, a plan approved by someone else: each refusal with its own reason, and
an apply with a valid approval goes through (real local prod hosts)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostrun import Asked, provision, sqlite_url

from provisioner import paths

pytestmark = pytest.mark.hosts

EXIT_REFUSED = 4


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    return sqlite_url(tmp_path_factory.mktemp("ledger") / "ledger.sqlite3")


@pytest.fixture(scope="module")
def plan_id(ledger: str) -> str:
    planned = provision("plan", "prod", identity="alice", ledger=ledger)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    found = re.search(r"plan (\w+): \d+ change", planned.stdout)
    assert found, planned.stdout
    return found.group(1)


def test_prod_without_approval_is_refused_before_any_host_is_touched(ledger: str) -> None:
    result = provision("prod", identity="alice", ledger=ledger)
    assert result.returncode == EXIT_REFUSED
    assert "needs an approved plan" in result.stderr
    assert "creating" not in result.stdout
    assert Asked(ledger).runs(env="prod")[0].status == "refused"


def test_self_approval_is_refused(ledger: str, plan_id: str) -> None:
    assert provision("approve", "prod", plan_id, identity="alice", ledger=ledger).returncode == 0
    result = provision("prod", identity="alice", ledger=ledger)
    assert result.returncode == EXIT_REFUSED
    assert "self-approval" in result.stderr


def test_expired_approval_is_refused(ledger: str, plan_id: str, tmp_path: Path) -> None:
    assert provision("approve", "prod", plan_id, identity="bob", ledger=ledger).returncode == 0
    impatient = tmp_path / "environments.yml"
    impatient.write_text(
        paths.DEFAULT_SOURCE.read_text().replace(
            "approval_max_age_hours: 24", "approval_max_age_hours: 0.00001"
        )
    )
    try:
        result = provision("prod", "--source", str(impatient), identity="alice", ledger=ledger)
    finally:
        assert provision("inventory").returncode == 0  # back to the committed inventories
    assert result.returncode == EXIT_REFUSED
    assert "expired" in result.stderr


@pytest.fixture
def roles_changed() -> Iterator[None]:
    defaults = paths.REPO / "roles" / "common" / "defaults" / "main.yml"
    original = defaults.read_bytes()
    defaults.write_bytes(original + b"# changed after the plan\n")
    yield
    defaults.write_bytes(original)


def test_a_change_to_the_roles_since_the_plan_is_refused(
    ledger: str, plan_id: str, roles_changed: None
) -> None:
    assert provision("approve", "prod", plan_id, identity="bob", ledger=ledger).returncode == 0
    result = provision("prod", identity="alice", ledger=ledger)
    assert result.returncode == EXIT_REFUSED
    assert "is stale" in result.stderr
    assert "the roles, playbooks or shared values" in result.stderr


def test_a_valid_approval_from_someone_else_applies(ledger: str, plan_id: str) -> None:
    assert provision("approve", "prod", plan_id, identity="bob", ledger=ledger).returncode == 0
    result = provision("prod", identity="alice", ledger=ledger)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"plan {plan_id}, approved by bob" in result.stdout
    runs = Asked(ledger).runs(env="prod")
    assert (runs[0].kind, runs[0].status, runs[0].identity) == ("apply", "successful", "alice")
    again = provision("prod", identity="alice", ledger=ledger)
    assert again.returncode == EXIT_REFUSED
    assert "already applied" in again.stderr
    assert Asked(ledger).verify() == []


def test_prod_hosts_are_removed(ledger: str) -> None:
    assert provision("down", "prod").returncode == 0
