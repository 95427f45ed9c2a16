"""What the execution_node role leaves on a node: the controller's versions in the venv, the
link the controller's ANSIBLE_STRATEGY_PLUGINS names, the private jobs directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
DEFAULTS = yaml.safe_load((REPO / "roles" / "execution_node" / "defaults" / "main.yml").read_text())
VENV = DEFAULTS["execution_node_venv"]


def pins() -> dict[str, str]:
    """The controller's pins of what the node runs, from requirements.txt."""
    wanted = {"ansible-core", "ansible", "ansible-runner", "mitogen"}
    found = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        name, _, version = line.split("#", 1)[0].strip().partition("==")
        if name.lower() in wanted:
            found[name.lower()] = version.strip()
    assert set(found) == wanted
    return found


def test_the_venv_has_the_controllers_versions(host: Any) -> None:
    listed = host.check_output(f"{VENV}/bin/pip list --format=json")
    installed = {p["name"].lower(): p["version"] for p in json.loads(listed)}
    for name, version in pins().items():
        assert installed.get(name) == version, name


def test_ansible_runner_and_ansible_playbook_run(host: Any) -> None:
    assert pins()["ansible-runner"] in host.check_output(f"{VENV}/bin/ansible-runner --version")
    assert pins()["ansible-core"] in host.check_output(f"{VENV}/bin/ansible-playbook --version")


def test_the_strategy_link_points_at_mitogen(host: Any) -> None:
    link = host.file(DEFAULTS["execution_node_strategy_plugins"])
    assert link.is_symlink
    assert host.file(f"{link.linked_to}/mitogen_linear.py").exists


def test_the_jobs_directory_is_private_and_on_tmpfs(host: Any) -> None:
    jobs = host.file(DEFAULTS["execution_node_jobs_dir"])
    assert jobs.is_directory
    assert jobs.mode == 0o700
    assert host.check_output(f"stat -f -c %T {jobs.path}") == "tmpfs"
    assert host.file("/etc/tmpfiles.d/provisioner-jobs.conf").contains(jobs.path)
