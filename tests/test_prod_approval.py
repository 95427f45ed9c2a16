"""Before prod changes, a plan approved by someone else: each refusal with its own reason, and
an apply with a valid approval goes through (real local prod hosts, left converged for the
pipeline stage that promotes to prod after this)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hostrun
import pytest
from hostrun import Asked, sqlite_url

from provisioner import paths

pytestmark = pytest.mark.hosts("prod")

EXIT_REFUSED = 4
PROMOTION = re.compile(r"^    promoted_from: staging\b.*\n", re.MULTILINE)
# The shipped source without prod's promotion rule: these tests are about approvals alone
# (tests/test_releases.py and the pipeline cover promotion).
UNPROMOTED: dict[str, Path] = {}


def unpromoted(text: str) -> str:
    text, found = PROMOTION.subn("", text)
    assert found == 1, "environments.yml changed: update PROMOTION"
    return text


@pytest.fixture(scope="module", autouse=True)
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    path = tmp_path_factory.mktemp("source") / "environments.yml"
    path.write_text(unpromoted(paths.DEFAULT_SOURCE.read_text()))
    UNPROMOTED["path"] = path
    yield
    assert hostrun.provision("inventory").returncode == 0  # back to the committed inventories


def provision(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """provision.py with the unpromoted source, unless the test names its own."""
    if "--source" not in args:
        args = (*args, "--source", str(UNPROMOTED["path"]))
    return hostrun.provision(*args, **kwargs)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    return sqlite_url(tmp_path_factory.mktemp("ledger") / "ledger.sqlite3")


@pytest.fixture(scope="module")
def plan_id(ledger: str) -> str:
    return hostrun.planned_id(provision("plan", "prod", identity="alice", ledger=ledger))


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
        unpromoted(paths.DEFAULT_SOURCE.read_text()).replace(
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
