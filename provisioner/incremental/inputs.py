"""What decides what the roles do on one host, as named parts, without running Ansible.

Ansible renders a host's variables from the inventory (its own values, its groups' and all's),
the group_vars/ and host_vars/ files next to the inventory and the playbook that name one of its
groups or the host itself, and the vault; templates also read the other hosts' names, groups and
addresses (nginx's upstreams, PostgreSQL's allowed clients), and the roles read the deploy key's
public half on the controller. Rendering is deterministic given all of that, so digesting the
raw parts is as good as digesting the rendered values, and much cheaper. The parts:

    tool             the record format, the tool's version and its pinned requirements
    code             roles/, playbooks/ and ansible.cfg (any change reruns every host)
    vars             the host's inventory values, its groups' and all's
    topology         every host's name, address and groups
    <file>           each group_vars/host_vars file or directory that reaches the host
    secrets          the vault file as stored (encrypted: a new value is a new ciphertext)
    deploy key       the public key the roles install for the deploy user

A change in any part reruns the host; a part the tool cannot see (a lookup of something outside
the repo) is not covered, and the shipped roles have none.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from provisioner import paths
from provisioner.source import inventory
from provisioner.source.bundle import files_under, tree_hash

FORMAT = "1"  # of the record: a record of another format is not trusted
VARS_DIRS = ("group_vars", "host_vars")
VARS_SUFFIXES = ("", ".yml", ".yaml", ".json")


def _digest(data: Any) -> str:
    return hashlib.sha256(
        json.dumps(_marked(data), sort_keys=True, default=str).encode()
    ).hexdigest()


def _marked(value: Any) -> Any:
    """`value` with each `!unsafe` string told apart from a plain one (JSON would not): a
    variable opted into templating, or out of it, is used differently by Ansible."""
    if isinstance(value, inventory.Unsafe):
        return {"!unsafe": str(value)}
    if isinstance(value, list):
        return [_marked(item) for item in value]
    if isinstance(value, dict):
        return {key: _marked(item) for key, item in value.items()}
    return value


def tool() -> str:
    version = (paths.REPO / "pyproject.toml").read_bytes()
    pins = (paths.REPO / "requirements.txt").read_bytes()
    return _digest([FORMAT, hashlib.sha256(version).hexdigest(), hashlib.sha256(pins).hexdigest()])


def code() -> str:
    files = [f for d in ("roles", "playbooks") for f in files_under(paths.REPO / d)]
    return tree_hash([*files, paths.ANSIBLE_CFG])


def _vars_files(directories: Iterable[Path], names: Iterable[str]) -> list[Path]:
    """The group_vars/host_vars entries Ansible would load for these group or host names."""
    found = []
    for directory in directories:
        for kind in VARS_DIRS:
            for name in names:
                for suffix in VARS_SUFFIXES:
                    path = directory / kind / f"{name}{suffix}"
                    if path.is_dir():
                        found += files_under(path)
                    elif path.is_file():
                        found.append(path)
    return sorted(set(found))


def _groups(children: dict[str, Any]) -> dict[str, list[str]]:
    """host -> its groups, from the generated inventory's `all.children`."""
    member: dict[str, list[str]] = {}
    for group, entry in sorted(children.items()):
        for host in (entry or {}).get("hosts") or {}:
            member.setdefault(host, []).append(group)
    return member


def per_host(env: str, vault_file: Path) -> dict[str, dict[str, str]]:
    """host -> part -> digest, for every host of the generated inventory of `env`."""
    directory = paths.INVENTORIES / env
    root = inventory.parse_generated((directory / "hosts.yml").read_text())["all"]
    children: dict[str, Any] = root.get("children") or {}
    all_vars: dict[str, Any] = root.get("vars") or {}
    member = _groups(children)
    host_vars = {
        host: values
        for entry in children.values()
        for host, values in ((entry or {}).get("hosts") or {}).items()
    }
    topology = _digest({h: [host_vars[h].get("ansible_host"), member[h]] for h in sorted(member)})
    shared = {"tool": tool(), "code": code(), "topology": topology}
    shared["secrets"] = hashlib.sha256(vault_file.read_bytes()).hexdigest()
    key = paths.REPO / f"{all_vars.get('ansible_ssh_private_key_file', '')}.pub"
    shared["deploy key"] = hashlib.sha256(key.read_bytes() if key.is_file() else b"").hexdigest()
    found = {}
    for host, groups in member.items():
        parts = dict(shared)
        parts["vars"] = _digest(
            {
                "all": all_vars,
                "groups": {g: (children[g] or {}).get("vars") or {} for g in groups},
                "host": host_vars[host],
            }
        )
        names = ["all", *groups, host]
        for path in _vars_files([directory.resolve(), paths.PLAYBOOKS], names):
            parts[paths.display(path)] = tree_hash([path], root=path.parent)
        found[host] = parts
    return found
