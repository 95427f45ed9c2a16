"""Values written once in group_vars/ and per-environment values from environments.yml reach
every host, as Ansible itself sees them (`ansible-inventory -i inventories/<env>`).

group_vars/ sits at the repo root, not next to any inventory: only the generated
inventories/<env>/group_vars link brings it to the hosts. These tests fail if that link (or the
way Ansible is run) stops working.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioner import paths
from provisioner.source.model import load_source

SOURCE = load_source(paths.DEFAULT_SOURCE)
ENVIRONMENTS = list(SOURCE.source.environments)
ROOT_ALL = paths.GROUP_VARS / "all.yml"
ONLY_IN_ROOT_GROUP_VARS = ("common_deploy_user", "common_timezone")


def ansible_inventory(*args: str) -> Any:
    process = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-inventory"), *args],
        cwd=paths.REPO,
        env={**os.environ, "ANSIBLE_CONFIG": str(paths.ANSIBLE_CFG)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    return json.loads(process.stdout)


def shared_values() -> dict[str, Any]:
    values = yaml.safe_load(ROOT_ALL.read_text(encoding="utf-8"))
    assert isinstance(values, dict)
    return values


def test_the_values_used_here_are_set_only_in_the_root_group_vars() -> None:
    """Otherwise finding them on a host would not prove that group_vars/ reached it."""
    shared = shared_values()
    elsewhere = [paths.DEFAULT_SOURCE] + [
        paths.REPO / "inventories" / env / "hosts.yml" for env in ENVIRONMENTS
    ]
    for name in ONLY_IN_ROOT_GROUP_VARS:
        assert name in shared
        for path in elsewhere:
            assert name not in path.read_text(encoding="utf-8"), f"{name} is set in {path}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_app_host_sees_shared_and_per_environment_values(env: str) -> None:
    environment = SOURCE.environment(env)
    host = environment.hosts_in("app")[0]  # e.g. staging-app-1
    seen = ansible_inventory("-i", f"inventories/{env}", "--host", host)
    shared = shared_values()
    for name in ONLY_IN_ROOT_GROUP_VARS:
        assert seen[name] == shared[name], name
    assert seen["app_workers"] == environment.vars["app"]["app_workers"]
    assert seen["provisioner_environment"] == env


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_host_sees_every_shared_value_and_only_its_groups_values(env: str) -> None:
    environment = SOURCE.environment(env)
    listing = ansible_inventory("-i", f"inventories/{env}", "--list")
    hostvars = listing["_meta"]["hostvars"]
    assert set(hostvars) == set(environment.hosts)
    shared = shared_values()
    for host, seen in hostvars.items():
        assert {name: seen.get(name) for name in shared} == shared, host
        assert seen["ansible_host"] == environment.address_of(host)
        if "app" in environment.hosts[host].groups:
            assert seen["app_workers"] == environment.vars["app"]["app_workers"], host
        else:
            assert "app_workers" not in seen, host  # a group's value stays in its group
