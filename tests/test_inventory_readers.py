"""Standard tools read the generated inventory as Ansible does (issue 17): testinfra's ansible://
backend, run the way its users run it, from the repo root with nothing but the venv on PATH,

    python -m pytest --hosts='ansible://all' --ansible-inventory=inventories/staging TESTS

reaches every host of staging over its own ssh, with the user, key and ssh arguments it reads
from `ansible-inventory --list` as they are (no Jinja left for Ansible to render: the key is
`.state/ssh/id_ed25519`, opened from the working directory).

The hosts are only started (`provision.py up`), not converged: reaching them is the point, and
the files that follow converge staging themselves.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hostrun import provision

from provisioner import paths
from provisioner.source.model import load_source

pytestmark = pytest.mark.hosts("staging")

ENV = "staging"

# The user's test module: one test per host, as testinfra parametrizes `host`.
PROBE = """\
def test_reaches_the_inventory_host(host):
    backend = host.backend
    assert backend.NAME == "ansible"
    # testinfra's own ssh, built from the inventory's connection settings (not Ansible's)
    native = backend.ansible_runner.get_host(backend.host)
    assert native is not None and native.backend.NAME == "ssh"
    assert native.backend.ssh_identity_file == ".state/ssh/id_ed25519"
    assert host.check_output("hostname") == backend.get_hostname()  # the inventory's name
    assert host.check_output("id -un") == "root"
"""


@pytest.fixture(scope="module")
def hosts() -> list[str]:
    started = provision("up", ENV)
    assert started.returncode == 0, started.stdout + started.stderr
    return sorted(load_source(paths.DEFAULT_SOURCE).environment(ENV).hosts)


def plain_environment() -> dict[str, str]:
    """A user's shell: the venv's tools on PATH (testinfra runs ansible-inventory), no
    ANSIBLE_* or PROVISION* setting (ansible.cfg is the one in the working directory)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PROVISION"))}
    environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environ.get('PATH', '')}"
    return environ


def test_testinfra_ansible_backend_reaches_every_host_from_the_repo_root(
    hosts: list[str], tmp_path: Path
) -> None:
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # the probe's own (empty) pytest config
    ran = subprocess.run(
        [
            sys.executable,
            *("-m", "pytest", "-v", "-p", "no:cacheprovider"),
            "--hosts=ansible://all",
            f"--ansible-inventory=inventories/{ENV}",
            str(probe),
        ],
        cwd=paths.REPO,
        env=plain_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        start_new_session=True,  # no terminal: ssh cannot fall back to asking for a password
    )
    said = ran.stdout[-4000:] + ran.stderr[-2000:]
    assert ran.returncode == 0, said
    for host in hosts:
        assert f"test_probe.py::test_reaches_the_inventory_host[ansible://{host}] PASSED" in (
            ran.stdout
        ), said
    assert f"{len(hosts)} passed" in ran.stdout, said
