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
from signing import Keys

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


def provision(
    *args: str, signer: tuple[Keys, str] | None = None, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """provision.py with the unpromoted source, unless the test names its own; `signer`: sign
    as that person (their throwaway key, tests/signing.py)."""
    if "--source" not in args:
        args = (*args, "--source", str(UNPROMOTED["path"]))
    if signer is not None:
        keys, who = signer
        kwargs["extra_env"] = {**kwargs.get("extra_env", {}), **keys.env(who)}
    return hostrun.provision(*args, **kwargs)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    return sqlite_url(tmp_path_factory.mktemp("ledger") / "ledger.sqlite3")


@pytest.fixture(scope="module")
def plan_id(ledger: str, signing_keys: Keys) -> str:
    planned = provision("plan", "prod", signer=(signing_keys, "alice"), ledger=ledger)
    return hostrun.planned_id(planned)


def test_prod_without_a_signing_key_is_refused_before_anything_is_recorded(ledger: str) -> None:
    """$PROVISION_IDENTITY alone names nobody: without a key the apply stops with exit 2."""
    result = provision(
        "prod", identity="alice", ledger=ledger, extra_env={"PROVISION_SIGNING_KEY": "/nonexistent"}
    )
    assert result.returncode == 2, result.stderr
    assert "signing key /nonexistent is not a file" in result.stderr
    assert Asked(ledger).runs(env="prod") == []


def test_prod_without_approval_is_refused_before_any_host_is_touched(
    ledger: str, signing_keys: Keys
) -> None:
    result = provision("prod", signer=(signing_keys, "alice"), ledger=ledger)
    assert result.returncode == EXIT_REFUSED
    assert "needs an approved plan" in result.stderr
    assert "creating" not in result.stdout
    assert Asked(ledger).runs(env="prod")[0].status == "refused"


def test_self_approval_is_refused(ledger: str, plan_id: str, signing_keys: Keys) -> None:
    # The planner approving their own plan: refused when they try.
    own = provision("approve", "prod", plan_id, signer=(signing_keys, "alice"), ledger=ledger)
    assert own.returncode == EXIT_REFUSED, own.stderr
    assert "self-approval" in own.stderr
    # The approver applying what they approved: refused at the apply.
    approved = provision("approve", "prod", plan_id, signer=(signing_keys, "bob"), ledger=ledger)
    assert approved.returncode == 0, approved.stderr
    result = provision("prod", signer=(signing_keys, "bob"), ledger=ledger)
    assert result.returncode == EXIT_REFUSED
    assert "self-approval" in result.stderr


def test_expired_approval_is_refused(
    ledger: str, plan_id: str, tmp_path: Path, signing_keys: Keys
) -> None:
    approved = provision("approve", "prod", plan_id, signer=(signing_keys, "bob"), ledger=ledger)
    assert approved.returncode == 0, approved.stderr
    impatient = tmp_path / "environments.yml"
    impatient.write_text(
        unpromoted(paths.DEFAULT_SOURCE.read_text()).replace(
            "approval_max_age_hours: 24", "approval_max_age_hours: 0.00001"
        )
    )
    try:
        result = provision(
            "prod", "--source", str(impatient), signer=(signing_keys, "alice"), ledger=ledger
        )
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
    ledger: str, plan_id: str, roles_changed: None, signing_keys: Keys
) -> None:
    approved = provision("approve", "prod", plan_id, signer=(signing_keys, "bob"), ledger=ledger)
    assert approved.returncode == 0, approved.stderr
    result = provision("prod", signer=(signing_keys, "alice"), ledger=ledger)
    assert result.returncode == EXIT_REFUSED
    assert "is stale" in result.stderr
    assert "the roles, playbooks or shared values" in result.stderr


def test_a_valid_approval_from_someone_else_applies(
    ledger: str, plan_id: str, signing_keys: Keys
) -> None:
    approved = provision(
        "approve",
        "prod",
        plan_id,
        "--reason",
        "diff read",
        signer=(signing_keys, "bob"),
        ledger=ledger,
    )
    assert approved.returncode == 0, approved.stderr
    result = provision("prod", signer=(signing_keys, "alice"), ledger=ledger)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"plan {plan_id}, approved by bob" in result.stdout
    runs = Asked(ledger).runs(env="prod")
    assert (runs[0].kind, runs[0].status, runs[0].identity) == ("apply", "successful", "alice")
    again = provision("prod", signer=(signing_keys, "alice"), ledger=ledger)
    assert again.returncode == EXIT_REFUSED
    assert "already applied" in again.stderr
    assert Asked(ledger).verify() == []
    # Every command signed the ledger's head with its writer's key (listed for the ledger).
    verified = hostrun.provision(
        "history", "--verify", "--strict", ledger=ledger, extra_env=signing_keys.env("alice")
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "signed head:" in verified.stdout
