"""Approvals that prove who gave them (real ssh-keygen, throwaway keys): $PROVISION_IDENTITY
grants nothing, a listed key other than the applier's does, self-approval is refused at approve
and at apply (case and look-alike variants too), unlisted keys and other namespaces are refused,
a tampered statement or a forged `at` is refused or ignored, never a traceback. No hosts: plans
are written into the ledger as `plan` would, the gate is the apply's own (workflow.approval_gate).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import Result, run_cli
from signing import Keys, make_keys, namespaces

from provisioner import paths
from provisioner.deploy import approval
from provisioner.deploy.workflow import approval_gate
from provisioner.errors import EXIT_INPUT, EXIT_REFUSED, ApprovalError
from provisioner.ledger.chain import canonical
from provisioner.ledger.ledger import open_ledger
from provisioner.source.bundle import Bundle
from provisioner.source.model import load_source
from provisioner.trust import sshsig, statements
from provisioner.trust.approvals import plan_fields
from provisioner.trust.signers import Signers, namespace

BUNDLE = Bundle(commit="c1", inventory_hash="i1", roles_hash="r1")
PLAN_ID = "plan00000001"


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Keys:
    made = make_keys(tmp_path / "keys")
    monkeypatch.setattr(paths, "STATE", tmp_path / "state")  # the witness, not the repo's
    monkeypatch.setenv("PROVISION_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    monkeypatch.setenv("PROVISION_ALLOWED_SIGNERS", str(made.signers))
    monkeypatch.delenv("PROVISION_SIGNING_KEY", raising=False)
    return made


def as_(monkeypatch: pytest.MonkeyPatch, keys: Keys, who: str) -> None:
    for name, value in keys.env(who).items():
        monkeypatch.setenv(name, value)


def signers(keys: Keys) -> Signers:
    return Signers(keys.signers, override=True)


def planned(keys: Keys, by: str = "alice", plan_id: str = PLAN_ID) -> None:
    """A plan of prod signed by `by`, recorded as `provision.py plan prod` records it."""
    signer = statements.signer(keys.key(by), signers(keys), namespace("plan", "prod"))
    payload = {"plan_id": plan_id, "planner": by, "bundle": BUNDLE.as_dict(), "changes": []}
    payload |= signer.sign(plan_fields("prod", plan_id, BUNDLE.as_dict()))
    with open_ledger() as ledger:
        ledger.append(approval.PLAN, "prod", payload, run_id=plan_id)


def approve(capsys: pytest.CaptureFixture[str], *extra: str) -> Result:
    return run_cli(["approve", "prod", PLAN_ID, *extra], capsys)


def gate(keys: Keys, applier_key: str) -> approval.Granted:
    """What `provision.py prod` decides: the applier's principal is what their key proves."""
    env = load_source(paths.DEFAULT_SOURCE).environment("prod")
    applier = statements.signer(keys.key(applier_key), signers(keys), namespace("apply", "prod"))
    with open_ledger() as ledger:
        return approval_gate("prod", env, ledger, BUNDLE, applier.principal)


def test_an_identity_without_its_key_approves_nothing(
    keys: Keys, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    planned(keys)
    monkeypatch.setenv("PROVISION_IDENTITY", "bob")
    monkeypatch.setattr(Path, "home", lambda: keys.directory / "nobody")
    no_key = approve(capsys)
    assert (no_key.code, no_key.err.count("\n")) == (EXIT_INPUT, 1), no_key
    assert "error: no signing key" in no_key.err
    keys.add("mallory")  # a key of their own, not in the signers file
    monkeypatch.setenv("PROVISION_SIGNING_KEY", str(keys.key("mallory")))
    unlisted = approve(capsys)
    assert unlisted.code == EXIT_REFUSED, unlisted
    assert "is not listed" in unlisted.err
    assert "Traceback" not in unlisted.err + no_key.err
    # And an approval row written as before signatures (approver: "bob") counts for nothing.
    with open_ledger() as ledger:
        ledger.append(approval.APPROVAL, "prod", {"plan_id": PLAN_ID, "approver": "bob"})
    with pytest.raises(ApprovalError, match="is not signed"):
        gate(keys, "alice")


def test_a_signed_approval_from_another_listed_key_is_accepted(
    keys: Keys, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    planned(keys)
    as_(monkeypatch, keys, "bob")
    done = approve(capsys, "--reason", "[bold]reviewed[/] the diff")
    assert done.code == 0, done
    assert "approved by bob" in done.out
    assert "reason: [bold]reviewed[/] the diff" in done.out  # text, never markup
    granted = gate(keys, "alice")
    assert (granted.plan_id, granted.approver) == (PLAN_ID, "bob")
    assert granted.reason == "[bold]reviewed[/] the diff"  # the apply says it
    with open_ledger() as ledger:
        given = ledger.entries(kind=approval.APPROVAL)[-1].payload
    assert given["statement"]["reason"] == "[bold]reviewed[/] the diff"
    assert given["statement"]["principal"] == "bob"


FULLWIDTH_ALICE = "\uff41\uff4c\uff49\uff43\uff45"
FULLWIDTH_BOB = "\uff42\uff4f\uff42"


@pytest.mark.parametrize("alias", ["alice", "Alice", "ALICE", FULLWIDTH_ALICE])
def test_the_planner_cannot_approve_under_any_spelling(
    alias: str, keys: Keys, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    planned(keys)
    keys.add("alias")
    keys.list(alias, "alias", namespaces(("prod",)))  # a second key, listed under the variant
    as_(monkeypatch, keys, "alias")
    refused = approve(capsys)
    assert refused.code == EXIT_REFUSED, refused
    assert "self-approval" in refused.err
    with open_ledger() as ledger:
        assert ledger.entries(kind=approval.APPROVAL) == []


@pytest.mark.parametrize("alias", ["bob", "Bob", FULLWIDTH_BOB])
def test_the_approver_cannot_apply_under_any_spelling(
    alias: str, keys: Keys, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    planned(keys)
    as_(monkeypatch, keys, "bob")
    assert approve(capsys).code == 0
    keys.add("alias")
    keys.list(alias, "alias", namespaces(("prod",)))
    with pytest.raises(ApprovalError, match="self-approval"):
        gate(keys, "alias")


def test_a_principal_with_an_invisible_character_is_refused(
    keys: Keys, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    planned(keys)
    keys.add("zw")
    keys.list("alice\u200b", "zw", namespaces(("prod",)))  # alice with a zero-width space
    as_(monkeypatch, keys, "zw")
    refused = approve(capsys)
    assert refused.code == EXIT_REFUSED, refused
    assert "invisible character U+200B" in refused.err


def test_a_key_listed_without_the_environments_namespace_is_refused(
    keys: Keys, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    planned(keys)
    keys.add("carol")
    keys.list("carol", "carol", namespaces(("staging",)))  # may approve staging, not prod
    as_(monkeypatch, keys, "carol")
    refused = approve(capsys)
    assert refused.code == EXIT_REFUSED, refused
    assert "listed only for other namespaces (carol)" in refused.err
    assert "provisioner-approve@prod" in refused.err


def _rows(database: str, sql: str, *params: object) -> None:
    with sqlite3.connect(database) as conn:
        conn.execute(sql, params)


def test_a_tampered_statement_is_refused_and_a_forged_at_is_ignored(
    keys: Keys, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    database = str(keys.directory.parent / "ledger.sqlite3")
    planned(keys)
    as_(monkeypatch, keys, "bob")
    # bob's approval, signed 25 hours ago (the signer's clock), so it has expired...
    old = (datetime.now(UTC) - timedelta(hours=25)).isoformat(timespec="seconds")
    monkeypatch.setattr(statements, "now", lambda: old)
    assert approve(capsys).code == 0
    monkeypatch.undo()
    as_(monkeypatch, keys, "bob")
    monkeypatch.setattr(paths, "STATE", keys.directory.parent / "state")
    monkeypatch.setenv("PROVISION_LEDGER_URL", f"sqlite:///{database}")
    # ... and a row `at` edited to now, to the far future, or to no time at all changes nothing.
    for forged in (datetime.now(UTC).isoformat(), "9999-12-31T00:00:00+00:00", "[/]not a time"):
        _rows(database, "UPDATE ledger_entries SET at = ? WHERE kind = 'approval'", forged)
        with pytest.raises(ApprovalError, match=r"expired \(25\.0 h old"):
            gate(keys, "alice")
    # The statement itself edited (its time moved to now): the signature no longer holds.
    _rows(
        database,
        "UPDATE ledger_entries SET payload = replace(payload, ?, ?) WHERE kind = 'approval'",
        old,
        datetime.now(UTC).isoformat(timespec="seconds"),
    )
    with pytest.raises(ApprovalError, match="signature does not verify"):
        gate(keys, "alice")


def test_a_forged_approval_does_not_hide_a_valid_one(
    keys: Keys, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    planned(keys)
    as_(monkeypatch, keys, "bob")
    assert approve(capsys).code == 0
    with open_ledger() as ledger:  # a later row claiming alice's own approval, unsigned
        ledger.append(approval.APPROVAL, "prod", {"plan_id": PLAN_ID, "approver": "alice"})
    assert gate(keys, "alice").approver == "bob"


def _prod_source(tmp_path: Path, extra: str, name: str) -> Path:
    """The shipped source with `extra` lines added to prod, as tmp_path/name."""
    text = paths.DEFAULT_SOURCE.read_text()
    marker = "    approval_required: true"
    assert marker in text, "environments.yml changed: update _prod_source"
    path = tmp_path / name
    path.write_text(text.replace(marker, f"{marker}\n{extra}", 1))
    return path


def test_an_approval_in_another_ledger_than_the_source_names_is_refused(
    keys: Keys,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    planned(keys)
    as_(monkeypatch, keys, "bob")
    team = _prod_source(tmp_path, f"    ledger: sqlite:///{tmp_path / 'team.sqlite3'}", "team.yml")
    refused = approve(capsys, "--source", str(team))
    assert refused.code == EXIT_REFUSED, refused
    assert f"names sqlite:///{tmp_path / 'team.sqlite3'}: approvals count only there" in (
        " ".join(refused.err.split())
    )
    ours = _prod_source(
        tmp_path, f"    ledger: sqlite:///{tmp_path / 'ledger.sqlite3'}", "ours.yml"
    )
    assert approve(capsys, "--source", str(ours)).code == 0
    # The apply's gate checks the same before anything: workflow._signer calls binding.check.
    from provisioner.trust import binding  # noqa: PLC0415 - the function the apply calls

    env = load_source(team).environment("prod")
    with pytest.raises(ApprovalError, match="approvals count only there"):
        binding.check("prod", env, f"sqlite:///{tmp_path / 'ledger.sqlite3'}")


def _ssh_prod(tmp_path: Path, extra: str = "") -> Path:
    """The fixture source, its prod (real servers over ssh) needing approvals."""
    text = (paths.TESTS_DIR / "fixtures" / "source.yml").read_text()
    marker = "    description: real servers over ssh"
    path = tmp_path / "ssh.yml"
    path.write_text(text.replace(marker, f"{marker}\n    approval_required: true{extra}", 1))
    return path


def test_real_servers_refuse_the_rehearsal_signers_file_and_need_a_named_ledger(
    keys: Keys,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    planned(keys)
    as_(monkeypatch, keys, "bob")
    source = str(_ssh_prod(tmp_path))
    override = approve(capsys, "--source", source)
    assert override.code == EXIT_INPUT, override
    assert override.err.count("\n") == 1
    assert "PROVISION_ALLOWED_SIGNERS is set, but prod runs on real servers" in override.err
    monkeypatch.delenv("PROVISION_ALLOWED_SIGNERS")
    unnamed = approve(capsys, "--source", source)
    assert unnamed.code == EXIT_REFUSED, unnamed
    assert "names no ledger for it" in unnamed.err
    # Named, and the committed signers file (no keys in it) decides: bob's key is nobody's.
    named = _ssh_prod(tmp_path, f"\n    ledger: sqlite:///{tmp_path / 'ledger.sqlite3'}")
    unlisted = approve(capsys, "--source", str(named))
    assert unlisted.code == EXIT_REFUSED, unlisted
    assert "is not listed in security/allowed_signers" in unlisted.err


def test_the_report_shows_the_signed_reason_principal_and_whether_it_verified(
    keys: Keys, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from provisioner.report import site  # noqa: PLC0415 - only this test reads the report

    planned(keys)
    as_(monkeypatch, keys, "bob")
    assert approve(capsys, "--reason", "diff read, ticket OPS-7").code == 0
    with open_ledger() as ledger:  # and a row claiming to be carol's, unsigned
        ledger.append(approval.APPROVAL, "prod", {"plan_id": PLAN_ID, "approver": "carol"})
        found = site.collect(ledger, load_source(paths.DEFAULT_SOURCE))
    (plan,) = [p for p in found.plans if p.plan_id == PLAN_ID]
    signed, forged = plan.approvals
    assert (signed.approver, signed.reason, signed.signature) == (
        "bob",
        "diff read, ticket OPS-7",
        "verified",
    )
    assert (forged.approver, forged.state) == ("carol", site.REFUSED)
    assert "is not signed" in forged.signature


def test_key_on_the_command_line_signs_whatever_the_variable_says(
    keys: Keys, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    planned(keys)
    as_(monkeypatch, keys, "alice")  # the variables say alice, the planner...
    done = approve(capsys, "--key", str(keys.key("bob")))  # ... the key is bob's
    assert done.code == 0, done
    assert "approved by bob" in done.out
    missing = approve(capsys, "--key", str(keys.directory / "nothing"))
    assert (missing.code, missing.err.count("\n")) == (EXIT_INPUT, 1)
    assert "is not a file" in missing.err


def test_a_principal_that_is_a_pattern_is_nobody(
    keys: Keys, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    planned(keys)
    keys.add("anyone")
    keys.list("*", "anyone", namespaces(("prod",)))
    as_(monkeypatch, keys, "anyone")
    refused = approve(capsys)
    assert refused.code == EXIT_REFUSED, refused
    assert "is a pattern, not a person" in refused.err


def test_a_key_listed_as_a_pattern_cannot_sign_as_someone_else(
    keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    """A statement claiming bob, signed by a key whose line says `*`: ssh-keygen's verify
    matches `*` to bob; the gate does not."""
    planned(keys)
    keys.add("anyone")
    keys.list("*", "anyone", namespaces(("prod",)))
    fields = {"kind": "approval", "env": "prod", "plan_id": PLAN_ID, "principal": "bob"}
    data = canonical(fields).encode()
    signature = sshsig.sign(keys.key("anyone"), namespace("approve", "prod"), data)
    signed = {"statement": fields, "signature": signature}
    with pytest.raises(ValueError, match=r"listed as \*, not bob"):
        statements.verify(signed, signers(keys), namespace("approve", "prod"))
