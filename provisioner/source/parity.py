"""Environment parity: every variable a host gets, where it came from, and whether it may differ.

For each group, a host's effective variables are layered (lowest first) from:
    role defaults of the roles site.yml applies to that group (roles/<role>/defaults/main.yml)
    group_vars/all.yml, group_vars/<group>.yml          shared: the same in every environment
    environments.yml  environments.<env>.vars.all / .<group>   per environment
A variable may differ between environments only if the parity contract (`parity:` in the source)
lists it, and then every value must meet the contract's constraint. Everything here is pure:
files are read, nothing is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner import paths
from provisioner.errors import InputError, Location
from provisioner.source import sharedvars, yamlfile
from provisioner.source.model import LoadedSource, ParityRule

# Connection settings and the tool's own facts differ by construction, not by choice.
INHERENT = ("ansible_", "provisioner_")


@dataclass(frozen=True)
class Value:
    value: Any
    where: Location

    @property
    def origin(self) -> str:
        return str(self.where)


@dataclass(frozen=True)
class Difference:
    group: str
    name: str
    values: dict[str, Value | None]  # env -> value (None: not set for that group)
    allowed: bool
    reason: str
    culprit: str | None = None  # the environment whose value breaks the contract, if one does

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "variable": self.name,
            "values": {
                env: None if v is None else {"value": v.value, "origin": v.origin}
                for env, v in self.values.items()
            },
            "allowed": self.allowed,
            "reason": self.reason,
        }


def same(a: Any, b: Any) -> bool:
    """Equal in type and value, all the way down. Python's == says 1 == True == 1.0, but
    Ansible and the roles see an int, a bool and a float: an environment with `true` where
    the others have `1` differs from them."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def roles_by_group(playbook: Path = paths.SITE_PLAYBOOK) -> dict[str, list[str]]:
    """Which roles site.yml applies to which host pattern ('all' or a group name)."""
    loaded = yamlfile.load(playbook)
    found: dict[str, list[str]] = {}
    for play in loaded.data or []:
        roles = [r["role"] if isinstance(r, dict) else r for r in play.get("roles", [])]
        found.setdefault(str(play.get("hosts")), []).extend(roles)
    return found


def role_defaults(role: str) -> dict[str, Value]:
    path = paths.REPO / "roles" / role / "defaults" / "main.yml"
    if not path.exists():
        return {}
    loaded = yamlfile.load(path)
    return {name: Value(v, loaded.where((name,))) for name, v in (loaded.data or {}).items()}


class Layers:
    """The shared layers (role defaults, group_vars), read once, for every environment."""

    def __init__(self, loaded: LoadedSource) -> None:
        self.loaded = loaded
        self.shared = sharedvars.load()
        self.roles = roles_by_group()
        self.defaults = {
            role: role_defaults(role) for roles in self.roles.values() for role in roles
        }

    def effective(self, env_name: str, group: str) -> dict[str, Value]:
        values: dict[str, Value] = {}
        for pattern in ("all", group):
            for role in self.roles.get(pattern, []):
                values.update(self.defaults[role])
        for pattern in ("all", group):
            for var in self.shared.values():
                if var.group == pattern:
                    values[var.name] = Value(var.value, var.where)
        env = self.loaded.source.environments[env_name]
        for pattern in ("all", group):
            for name, value in env.vars.get(pattern, {}).items():
                keys = ("environments", env_name, "vars", pattern, name)
                values[name] = Value(value, self.loaded.loaded.where(keys))
        return values


def differences(
    loaded: LoadedSource, envs: list[str], layers: Layers | None = None
) -> list[Difference]:
    """Every variable, per group, whose value is not the same in all of `envs`."""
    layers = layers or Layers(loaded)
    found: list[Difference] = []
    for group in sorted(loaded.source.groups):
        per_env = {env: layers.effective(env, group) for env in envs}
        names = sorted(set().union(*per_env.values()))
        for name in names:
            if name.startswith(INHERENT):
                continue
            values = {env: per_env[env].get(name) for env in envs}
            plain = [None if v is None else v.value for v in values.values()]
            if all(same(p, plain[0]) for p in plain):
                continue
            allowed, reason, culprit = _judge(loaded, name, values, layers, group)
            found.append(Difference(group, name, values, allowed, reason, culprit))
    return found


def _judge(
    loaded: LoadedSource,
    name: str,
    values: dict[str, Value | None],
    layers: Layers,
    group: str,
) -> tuple[bool, str, str | None]:
    """(allowed, why, which environment's value is at fault)."""
    rule = loaded.source.parity.get(name)
    if rule is None:
        return False, "not in the parity contract", None
    for env, value in values.items():
        if value is None:
            return False, f"not set in {env}", env
        problem = _violates(rule, value.value) or _beyond(rule, name, value.value, group, layers)
        if problem:
            return False, f"{env}: {problem}", env
    return True, rule.description or "allowed by the parity contract", None


def _beyond(rule: ParityRule, name: str, value: Any, group: str, layers: Layers) -> str | None:
    """The relative bounds: at_most / at_least another environment's value."""
    for bound, sign in (("at_most", 1), ("at_least", -1)):
        other = getattr(rule, bound)
        limit = layers.effective(other, group).get(name) if other else None
        if limit is None or not isinstance(limit.value, int) or not isinstance(value, int):
            continue
        if (value - limit.value) * sign > 0:
            return f"{value} is {'above' if sign > 0 else 'below'} {other}'s {limit.value}"
    return None


def _violates(rule: ParityRule, value: Any) -> str | None:
    """The absolute constraints: type, range, choices, pattern."""
    kinds = {"int": int, "str": str, "bool": bool}
    if type(value) is not kinds[rule.type]:  # bool is an int in Python; not here
        return f"{value!r} is not of type {rule.type}"
    if isinstance(value, int) and rule.min is not None and value < rule.min:
        return f"{value} is below the minimum {rule.min}"
    if isinstance(value, int) and rule.max is not None and value > rule.max:
        return f"{value} is above the maximum {rule.max}"
    if rule.one_of is not None and not any(same(value, choice) for choice in rule.one_of):
        return f"{value!r} is not one of {rule.one_of}"
    if (
        isinstance(value, str)
        and rule.pattern is not None
        and not re.fullmatch(rule.pattern, value)
    ):
        return f"{value!r} does not match {rule.pattern}"
    return None


def enforce(loaded: LoadedSource, layers: Layers | None = None) -> None:
    """Refuse a source whose environments differ in a way the contract does not allow."""
    envs = list(loaded.source.environments)
    for diff in differences(loaded, envs, layers):
        if diff.allowed:
            continue
        shown = [
            f"{env}={'(unset)' if v is None else repr(v.value)} ({'-' if v is None else v.origin})"
            for env, v in diff.values.items()
        ]
        # Point at the value at fault, else at a per-environment value in the source: that is
        # where the fix usually is.
        culprit = diff.values.get(diff.culprit or "")
        origins = [v.where for v in diff.values.values() if v is not None]
        first = (
            culprit.where
            if culprit is not None
            else next((w for w in origins if w.file == loaded.path), origins[0])
        )
        raise InputError(
            f"parity: {diff.name} differs between environments ({'; '.join(shown)}): {diff.reason}",
            first,
            f"{diff.group}.{diff.name}",
        )
