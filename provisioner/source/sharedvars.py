"""The shared values in group_vars/, with where each one is set.

They are written once for every environment. A per-environment value in the source of truth
must not set the same variable: Ansible would silently prefer one over the other (a root
group_vars/all.yml beats a group's value in the inventory file), so we refuse the overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner import paths
from provisioner.errors import InputError, Location
from provisioner.source import yamlfile
from provisioner.source.model import LoadedSource


@dataclass(frozen=True)
class SharedVar:
    group: str
    name: str
    value: Any
    where: Location


def _files(root: Path) -> list[tuple[str, Path]]:
    """(group, file) for group_vars/<group>.yml and group_vars/<group>/*.yml."""
    found: list[tuple[str, Path]] = []
    for entry in sorted(root.iterdir()) if root.is_dir() else []:
        if entry.is_file() and entry.suffix in (".yml", ".yaml"):
            found.append((entry.stem, entry))
        elif entry.is_dir():
            found += [(entry.name, f) for f in sorted(entry.glob("*.y*ml")) if f.is_file()]
    return found


def load(root: Path | None = None) -> dict[str, SharedVar]:
    """Every shared variable by name; a name set in two files is an input error. `root`:
    group_vars/ (paths.GROUP_VARS, read when called, so a test can point it elsewhere)."""
    root = paths.GROUP_VARS if root is None else root
    shared: dict[str, SharedVar] = {}
    for group, file in _files(root):
        loaded = yamlfile.load(file)
        if loaded.data is None:
            continue
        if not isinstance(loaded.data, dict):
            raise InputError("expected a mapping of variables", loaded.where(()))
        for name, value in loaded.data.items():
            where = loaded.where((name,))
            if name in shared:
                raise InputError(
                    f"also set in {shared[name].where}; a shared value is set in one place",
                    where,
                    name,
                )
            shared[name] = SharedVar(group, name, value, where)
    return shared


def check_no_overlap(loaded: LoadedSource, shared: dict[str, SharedVar]) -> None:
    for env_name, env in loaded.source.environments.items():
        for group, values in env.vars.items():
            for name in values:
                if name in shared:
                    keys = ("environments", env_name, "vars", group, name)
                    raise InputError(
                        f"also set for every environment in {shared[name].where}; a value is "
                        "either shared (group_vars/) or per environment (here), not both",
                        loaded.loaded.where(keys),
                        yamlfile.format_keys(keys),
                    )
