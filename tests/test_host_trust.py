"""Real servers' host keys are checked: an ssh environment (here pointed at qa's containers) runs
only against recorded keys, and a changed key stops it with a clear message."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hostrun import provision

from provisioner import paths
from provisioner.hosts import localhosts
from provisioner.source import hostkeys
from provisioner.source.model import load_source

pytestmark = pytest.mark.hosts("edge", "qa")

ENV = "edge"


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A source whose only environment reaches qa's containers as real servers over ssh."""
    assert provision("up", "qa").returncode == 0
    qa = load_source(paths.DEFAULT_SOURCE).environment("qa")
    base = yaml.safe_load(paths.DEFAULT_SOURCE.read_text())
    hosts = {
        f"edge-{group}": {"groups": [group], "address": qa.address_of(qa.hosts_in(group)[0])}
        for group in ("db", "app", "web")
    }
    source = {
        "groups": base["groups"],
        "environments": {
            ENV: {
                "provider": {"kind": "ssh", "user": "root", "key": str(paths.SSH_KEY)},
                "hosts": hosts,
            }
        },
    }
    work = tmp_path_factory.mktemp("edge")
    path = work / "environments.yml"
    path.write_text(yaml.safe_dump(source))
    password = work / "vault.password"
    password.write_text("edge-only-test-password\n")
    vault = work / "edge.yml"
    subprocess.run(
        [
            str(paths.REPO / ".venv" / "bin" / "ansible-vault"),
            "encrypt",
            "--vault-id",
            f"{ENV}@{password}",
            "--encrypt-vault-id",
            ENV,
            "--output",
            str(vault),
            "-",
        ],
        input="vault_csapp_db_password: edge-test-database-password\n",
        text=True,
        check=True,
        capture_output=True,
    )
    env = {
        "PROVISION_SECRETS_FILE_EDGE": str(vault),
        "PROVISION_VAULT_PASSWORD_FILE_EDGE": str(password),
        "PROVISION_LEDGER_URL": f"sqlite:///{work / 'ledger.sqlite3'}",
    }
    yield path, env
    shutil.rmtree(paths.INVENTORIES / ENV, ignore_errors=True)
    hostkeys.known_hosts(ENV).unlink(missing_ok=True)
    if hostkeys.KNOWN_HOSTS.exists() and not any(hostkeys.KNOWN_HOSTS.iterdir()):
        hostkeys.KNOWN_HOSTS.rmdir()


def run(edge: tuple[Path, dict[str, str]], *args: str) -> subprocess.CompletedProcess[str]:
    path, env = edge
    return provision(*args, "--source", str(path), extra_env=env)


def test_unrecorded_host_keys_are_refused(edge: tuple[Path, dict[str, str]]) -> None:
    result = run(edge, "apply", ENV, "--tags", "common")
    assert result.returncode == 2
    assert f"no recorded host keys for {ENV}: run `provision.py trust {ENV}`" in result.stderr


def test_recorded_keys_let_the_run_through(edge: tuple[Path, dict[str, str]]) -> None:
    trusted = run(edge, "trust", ENV)
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert "ED25519" in trusted.stdout
    assert len(hostkeys.known_hosts(ENV).read_text().splitlines()) >= 3
    result = run(edge, "apply", ENV, "--tags", "common")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_changed_host_key_stops_the_run_with_a_clear_message(
    edge: tuple[Path, dict[str, str]],
) -> None:
    victim = load_source(paths.DEFAULT_SOURCE).environment("qa").hosts_in("web")[0]
    localhosts.podman(
        "exec",
        victim,
        "sh",
        "-c",
        "rm -f /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null && systemctl restart ssh",
    )
    # A persistent master connection (ControlPersist) would skip the new handshake.
    for socket in (Path.home() / ".ansible" / "cp").glob("*"):
        socket.unlink()
    result = run(edge, "apply", ENV, "--tags", "common")
    assert result.returncode == 1
    assert "edge-web" in result.stdout
    assert "SSH host key does not match the recorded one" in result.stdout
