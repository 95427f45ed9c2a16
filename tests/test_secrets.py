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
from provisioner.errors import EXIT_INPUT, InputError, LedgerError
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


# --- the tool's private paths are never followed through a link --------------------------------


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh .state of our own, and a directory elsewhere that a planted link points to."""
    monkeypatch.setattr(paths, "STATE", tmp_path / ".state")
    monkeypatch.delenv("PROVISION_VAULT_PASSWORD_FILE_QA", raising=False)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere").chmod(0o755)  # whatever the umask: a mode we would change
    return paths.STATE


def _qa() -> secrets.Vault:
    return secrets.vault_for("qa", load_source(paths.DEFAULT_SOURCE).environment("qa"))


def test_a_state_directory_that_is_a_link_is_refused_and_not_followed(state: Path) -> None:
    elsewhere = state.parent / "elsewhere"
    state.symlink_to(elsewhere)
    with pytest.raises(paths.UnsafePathError, match=r"\.state is a symbolic link"):
        _qa()
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o755  # not chmodded at the target
    assert list(elsewhere.iterdir()) == []  # nothing written there


def test_a_vault_directory_that_is_a_link_is_refused(state: Path) -> None:
    state.mkdir(mode=0o700)
    (state / "vault").symlink_to(state.parent / "elsewhere")
    with pytest.raises(paths.UnsafePathError, match=r"vault is a symbolic link"):
        _qa()
    assert list((state.parent / "elsewhere").iterdir()) == []


@pytest.mark.parametrize("dangling", [True, False])
def test_a_password_file_that_is_a_link_is_refused_not_written_through(
    state: Path, dangling: bool
) -> None:
    (state / "vault").mkdir(mode=0o700, parents=True)
    target = state.parent / "elsewhere" / "planted"
    if not dangling:
        target.write_text("attacker's password\n")
    secrets.default_password_file("qa").symlink_to(target)
    with pytest.raises(paths.UnsafePathError, match=r"qa\.password is a symbolic link"):
        _qa()
    assert target.exists() is not dangling  # not created through the link
    if not dangling:
        assert target.read_text() == "attacker's password\n"


def test_a_password_named_by_the_user_may_be_a_link(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI systems mount secrets as links (Kubernetes: ..data/): the user's choice, not ours."""
    real = state.parent / "elsewhere" / "pw"
    real.write_text("pw from CI\n")
    link = state.parent / "pw-link"
    link.symlink_to(real)
    monkeypatch.setenv("PROVISION_VAULT_PASSWORD_FILE_QA", str(link))
    assert _qa().password_file == link


def test_unsafe_modes_are_said_then_made_private(
    state: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (state / "vault").mkdir(mode=0o700, parents=True)
    state.chmod(0o755)
    password = secrets.default_password_file("qa")
    password.write_text("pw\n")
    password.chmod(0o644)
    _qa()
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(".state was mode 0o755, open to others; made 0o700" in s for s in said), said
    assert any("qa.password was mode 0o644, open to others; made 0o600" in s for s in said)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE(password.stat().st_mode) == 0o600


def test_a_linked_state_directory_is_one_error_line_exit_2(
    state: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROVISION_LEDGER_URL", raising=False)  # the default: in .state
    state.symlink_to(state.parent / "elsewhere")
    assert main(["history"]) == EXIT_INPUT
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: ")
    assert ".state is a symbolic link" in err[0]
    assert list((state.parent / "elsewhere").iterdir()) == []


def test_a_real_environments_password_in_state_that_is_a_link_is_refused(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """prod's secrets are committed; its password, where the tool looks by default, is still
    the tool's own file: not a link."""
    monkeypatch.delenv("PROVISION_VAULT_PASSWORD_FILE_PROD", raising=False)
    committed = state.parent / "prod.yml"
    committed.write_text("$ANSIBLE_VAULT;1.2;AES256;prod\n")
    monkeypatch.setenv("PROVISION_SECRETS_FILE_PROD", str(committed))
    (state / "vault").mkdir(mode=0o700, parents=True)
    target = state.parent / "elsewhere" / "pw"
    target.write_text("pw\n")
    secrets.default_password_file("prod").symlink_to(target)
    prod = load_source(paths.DEFAULT_SOURCE).environment("prod")
    with pytest.raises(paths.UnsafePathError, match=r"prod\.password is a symbolic link"):
        secrets.vault_for("prod", prod)
