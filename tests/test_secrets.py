"""Secrets: one vault id and password per environment; private files; nothing in the clear."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from provisioner import paths
from provisioner.cli import main
from provisioner.errors import InputError, LedgerError
from provisioner.source import secrets
from provisioner.source.model import load_source


@pytest.fixture(scope="module")
def vaults() -> dict[str, secrets.Vault]:
    loaded = load_source(paths.DEFAULT_SOURCE)
    return {env: secrets.vault_for(env, loaded.environment(env)) for env in ("qa", "staging")}


def test_each_environment_has_its_own_vault_id_and_password(
    vaults: dict[str, secrets.Vault],
) -> None:
    qa, staging = vaults["qa"], vaults["staging"]
    assert qa.password_file != staging.password_file
    assert qa.password_file.read_bytes() != staging.password_file.read_bytes()
    assert staging.file.read_text().startswith("$ANSIBLE_VAULT;1.2;AES256;staging\n")


def _view(file: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    """ansible-vault as plain Ansible runs it from the repo: the password comes from ansible.cfg's
    vault client (scripts/vault-password-client.py), nothing on the command line."""
    return subprocess.run(
        ["ansible-vault", "view", str(file)],
        capture_output=True,
        text=True,
        check=False,
        cwd=paths.REPO,
        env={
            **os.environ,
            "PATH": f"{paths.REPO / '.venv' / 'bin'}:{os.environ['PATH']}",
            "ANSIBLE_CONFIG": str(paths.ANSIBLE_CFG),
            **environ,
        },
    )


def test_one_environments_password_cannot_open_anothers_secrets(
    vaults: dict[str, secrets.Vault],
) -> None:
    qa, staging = vaults["qa"], vaults["staging"]
    own = _view(staging.file)
    assert own.returncode == 0, own.stderr
    assert "vault_csapp_db_password" in own.stdout
    # staging's vault id given qa's password (as $PROVISION_VAULT_PASSWORD_FILE_STAGING would):
    # no other listed id may open it either.
    crossed = _view(staging.file, PROVISION_VAULT_PASSWORD_FILE_STAGING=str(qa.password_file))
    assert crossed.returncode != 0
    assert "Decryption failed" in crossed.stderr
    assert "vault_csapp_db_password" not in crossed.stdout


def test_the_vault_client_names_a_missing_password_without_failing_the_run(
    tmp_path: Path,
) -> None:
    client = paths.REPO / "scripts" / "vault-password-client.py"
    missing = tmp_path / "nothing-here"
    said = subprocess.run(
        [sys.executable, str(client), "--vault-id", "prod"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PROVISION_VAULT_PASSWORD_FILE_PROD": str(missing)},
    )
    assert said.returncode == 0
    assert f"no password for prod in {missing}" in said.stderr
    assert said.stdout.startswith("unavailable-")
    (tmp_path / "pw").write_text("the-password\n")
    said = subprocess.run(
        [sys.executable, str(client), "--vault-id", "prod"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PROVISION_VAULT_PASSWORD_FILE_PROD": str(tmp_path / "pw")},
    )
    assert said.stdout == "the-password\n"


def test_secret_files_and_state_are_private(vaults: dict[str, secrets.Vault]) -> None:
    for vault in vaults.values():
        for path in (vault.file, vault.password_file):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for directory in (paths.STATE, paths.STATE / "vault", paths.STATE / "secrets"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory


def test_no_secret_value_in_generated_inventories(vaults: dict[str, secrets.Vault]) -> None:
    values = [v for vault in vaults.values() for v in secrets.values(vault)]
    assert values
    for path in paths.INVENTORIES.rglob("*.yml"):
        text = path.read_text()
        assert not any(value in text for value in values), path


def test_a_real_environment_without_secrets_is_refused() -> None:
    loaded = load_source(paths.REPO / "tests" / "fixtures" / "source.yml")
    with pytest.raises(InputError, match=r"has no secrets: create secrets/prod\.yml"):
        secrets.vault_for("prod", loaded.environment("prod"))


def test_an_unreachable_ledger_stops_an_apply_before_any_host_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def must_not_start(*_: object, **__: object) -> None:
        raise AssertionError("hosts were started although the ledger is unreachable")

    monkeypatch.setattr("provisioner.hosts.localhosts.up", must_not_start)
    monkeypatch.setattr("provisioner.deploy.workflow.run_playbook", must_not_start)
    monkeypatch.setenv("PROVISION_LEDGER_URL", "postgresql://u:pw-SENTINEL@127.0.0.1:1/x")
    assert main(["qa"]) == LedgerError.exit_code
    err = capsys.readouterr().err
    assert "127.0.0.1:1" in err
    assert "pw-SENTINEL" not in err


def test_the_vault_client_reads_where_the_tool_keeps_the_password(
    vaults: dict[str, secrets.Vault],
) -> None:
    client = paths.REPO / "scripts" / "vault-password-client.py"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PROVISION_VAULT")}
    said = subprocess.run(
        [sys.executable, str(client), "--vault-id", "qa"],
        capture_output=True,
        text=True,
        check=True,
        env=environ,
    )
    assert vaults["qa"].password_file == secrets.default_password_file("qa")
    assert said.stdout.strip() == secrets.default_password_file("qa").read_text().strip()


def test_provision_py_names_the_vault_id_itself(vaults: dict[str, secrets.Vault]) -> None:
    """So that an environment ansible.cfg does not list (a --source of one's own) opens too."""
    qa = vaults["qa"]
    assert qa.cmdline() == ["--vault-id", f"qa@{qa.password_file}"]
    moved = secrets.Vault("qa", Path("/elsewhere/qa.yml"), qa.password_file, qa.inventory_file)
    assert moved.cmdline()[2:] == ["-e", "provisioner_secrets_file=/elsewhere/qa.yml"]
