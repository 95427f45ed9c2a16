"""Shared verification suite: the same tests check molecule instances and real environments.

Hosts come from testinfra's --hosts (ssh:// for `provision.py verify`, podman:// in molecule);
each host's groups and variables come from the Ansible inventory named by
PROVISIONER_VERIFY_INVENTORY, so the tests assert what the inventory asked for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pytest
from testinfra.utils.ansible_runner import AnsibleRunner


@dataclass(frozen=True)
class Node:
    name: str
    vars: dict[str, Any]

    @property
    def groups(self) -> list[str]:
        return list(self.vars.get("group_names", []))


@pytest.fixture(scope="session")
def inventory() -> AnsibleRunner:
    return AnsibleRunner.get_runner(os.environ["PROVISIONER_VERIFY_INVENTORY"])


@pytest.fixture(scope="module")
def node(host: Any, inventory: AnsibleRunner) -> Node:
    """The inventory host behind a testinfra host (matched by name or by address)."""
    target = host.backend.get_hostname()
    for name in inventory.get_hosts("all"):
        variables = inventory.get_variables(name)
        if target in (name, variables.get("ansible_host")):
            return Node(name, variables)
    raise LookupError(f"{target} is not in the inventory")


def only_in(node: Node, group: str) -> None:
    if group not in node.groups:
        pytest.skip(f"{node.name} is not in group {group}")
