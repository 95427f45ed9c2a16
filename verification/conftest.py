"""Shared verification suite: the same tests check molecule instances and real environments.

Hosts come from testinfra's --hosts (ssh:// for `provision.py verify`, podman:// in molecule);
each host's groups and variables come from the Ansible inventory named by
PROVISIONER_VERIFY_INVENTORY (or testinfra's --ansible-inventory, which molecule passes), so the
tests assert what the inventory asked for. A module marked `pytest.mark.tier("db")` runs only on
the hosts of that group; on the others its tests are deselected.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import pytest
from testinfra.utils.ansible_runner import AnsibleRunner


@dataclass(frozen=True)
class Node:
    name: str
    vars: dict[str, Any]
    inventory: AnsibleRunner = field(compare=False, repr=False)

    def hostvars(self, name: str) -> dict[str, Any]:
        """Another host's variables (e.g. the address of an app host)."""
        return plain(self.inventory.get_variables(name))

    @property
    def groups(self) -> list[str]:
        return list(self.vars.get("group_names", []))

    @property
    def release(self) -> str:
        """The release this host should run: app_release, unless the tool rolled the host back
        since the last deploy (it then names the release in PROVISIONER_EXPECTED_RELEASES)."""
        rolled_back = json.loads(os.environ.get("PROVISIONER_EXPECTED_RELEASES") or "{}")
        return str(rolled_back.get(self.name, self.vars["app_release"]))


UNSAFE_KEY = "__ansible_unsafe"


def plain(value: Any) -> Any:
    """`ansible-inventory --list` (what testinfra reads) writes a string the inventory marks
    `!unsafe` (every string the source of truth sets: provisioner/source/inventory.py) as
    {"__ansible_unsafe": "text"}; the tests compare the text."""
    if isinstance(value, dict):
        if set(value) == {UNSAFE_KEY}:
            return value[UNSAFE_KEY]
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def _inventory(config: pytest.Config) -> AnsibleRunner:
    path = os.environ.get("PROVISIONER_VERIFY_INVENTORY") or config.option.ansible_inventory
    if not path:
        raise pytest.UsageError("set PROVISIONER_VERIFY_INVENTORY or --ansible-inventory")
    return AnsibleRunner.get_runner(path)


def _node(config: pytest.Config, host: Any) -> Node:
    """The inventory host behind a testinfra host (matched by name or by address)."""
    inventory = _inventory(config)
    target = host.backend.get_hostname()
    for name in inventory.get_hosts("all"):
        variables = plain(inventory.get_variables(name))
        if target in (name, variables.get("ansible_host")):
            return Node(name, variables, inventory)
    raise LookupError(f"{target} is not in the inventory")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tier(group): run only on hosts of this inventory group")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep, drop = [], []
    for item in items:
        mark = item.get_closest_marker("tier")
        host = getattr(item, "callspec", None) and item.callspec.params.get("_testinfra_host")
        if mark is None or host is None or mark.args[0] in _node(config, host).groups:
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="module")
def node(host: Any, request: pytest.FixtureRequest) -> Node:
    return _node(request.config, host)
