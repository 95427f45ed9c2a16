"""Plain `ansible-playbook -i inventories/qa playbooks/site.yml` converges qa with no help from
provision.py: what AWX does with the project (its inventory, its playbook, its ansible.cfg found
in the working directory; no --vault-id, no -e, no ANSIBLE_* settings)."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from hostrun import provision, sqlite_url, tamper_motd

from provisioner import paths
from provisioner.source.model import load_source

pytestmark = pytest.mark.hosts("qa")

ENV = "qa"  # a shipped environment: ansible.cfg's vault identities name only those


def hosts() -> list[str]:
    return sorted(load_source(paths.DEFAULT_SOURCE).environment(ENV).hosts)


def test_plain_ansible_playbook_converges_qa_without_provision_py(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    ledger = sqlite_url(tmp_path_factory.mktemp("plain") / "ledger.sqlite3")
    up = provision("up", ENV, ledger=ledger)  # converged by the earlier files; up if stopped
    assert up.returncode == 0, up.stdout + up.stderr
    tamper_motd(hosts())
    plain_env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PROVISION"))}
    plain_env["PATH"] = f"{paths.REPO / '.venv' / 'bin'}:{plain_env['PATH']}"
    played = subprocess.run(
        ["ansible-playbook", "-i", f"inventories/{ENV}", "playbooks/site.yml"],
        cwd=paths.REPO,
        env=plain_env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert played.returncode == 0, played.stdout[-3000:] + played.stderr
    recap = played.stdout[played.stdout.rindex("PLAY RECAP") :]
    for host in hosts():
        assert re.search(rf"{host}\s+: ok=\d+\s+changed=[1-9]", recap), recap
    drift = provision("drift", ENV, ledger=ledger)
    assert drift.returncode == 0, drift.stdout + drift.stderr
