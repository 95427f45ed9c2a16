"""Live fingerprints: what the roles manage, read from the hosts, and compared across environments.

`collect` runs playbooks/fingerprint.yml (read-only) and shapes its report per host:
installed versions of the managed packages, sha256 of managed config files, service states,
kernel settings and the deployed app release. `compare` lines up the hosts of the same group in
two environments and flags each difference that the parity contract does not explain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from provisioner import paths
from provisioner.deploy import tasks
from provisioner.errors import ProvisionerError
from provisioner.run.request import RunRequest, RunResult
from provisioner.run.runner import run_playbook
from provisioner.source import parity
from provisioner.source.model import LoadedSource

PLAYBOOK = paths.PLAYBOOKS / "fingerprint.yml"
# A file that depends on these differs between environments by construction.
INHERENT_DEPENDENCIES = {"inventory", "provisioner_environment", "vault_csapp_db_password"}


@dataclass
class HostPrint:
    packages: dict[str, str | None] = field(default_factory=dict)
    files: dict[str, str | None] = field(default_factory=dict)  # path -> sha256 (None: absent)
    depends: dict[str, list[str]] = field(default_factory=dict)  # path -> variables it uses
    services: dict[str, str | None] = field(default_factory=dict)
    sysctl: dict[str, str] = field(default_factory=dict)
    release: str | None = None

    def items(self) -> dict[tuple[str, str], str | None]:
        """Flat (kind, name) -> value, for comparing."""
        flat: dict[tuple[str, str], str | None] = {}
        for kind in ("packages", "files", "services", "sysctl"):
            for name, value in getattr(self, kind).items():
                flat[(kind, name)] = value
        if self.release is not None:  # only app hosts have one
            flat[("release", "app")] = self.release
        return flat


def shape(report: dict[str, Any]) -> HostPrint:
    printed = HostPrint(release=report.get("release"))
    installed = report.get("packages") or {}
    for name in report.get("wanted_packages") or []:
        versions = installed.get(name) or []
        printed.packages[name] = versions[0]["version"] if versions else None
    for path, stat in zip(report.get("file_paths") or [], report.get("files") or [], strict=True):
        printed.files[path] = stat.get("checksum") if stat.get("exists") else None
    printed.depends = {k: list(v) for k, v in (report.get("depends") or {}).items()}
    services = report.get("services") or {}
    for name in report.get("wanted_services") or []:
        printed.services[name] = (services.get(name) or {}).get("state")
    printed.sysctl = {key: value for value, key in report.get("sysctl") or []}
    return printed


def collect(
    env: str, vault_args: tuple[str, ...], on_event: Callable[[dict[str, Any]], None] | None = None
) -> tuple[dict[str, HostPrint], RunResult]:
    reports: dict[str, HostPrint] = {}

    def handle(event: dict[str, Any]) -> None:
        data = event.get("event_data", {})
        if (
            event.get("event") == "runner_on_ok"
            and data.get("task") == tasks.FINGERPRINT_REPORT.name
        ):
            reports[data["host"]] = shape(data["res"]["msg"])
        if on_event is not None:
            on_event(event)

    request = RunRequest(env=env, playbook=PLAYBOOK, vault_args=vault_args)
    result = run_playbook(request, on_event=handle)
    if not result.succeeded:
        raise ProvisionerError(f"{env}: fingerprint incomplete ({result.status})")
    return dict(sorted(reports.items())), result


@dataclass(frozen=True)
class LiveDifference:
    group: str
    kind: str
    name: str
    values: dict[str, list[str | None]]  # env -> distinct values on that group's hosts
    explained: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "kind": self.kind,
            "name": self.name,
            "values": self.values,
            "explained": self.explained,
            "reason": self.reason,
        }


def compare(
    loaded: LoadedSource, envs: list[str], prints: dict[str, dict[str, HostPrint]]
) -> list[LiveDifference]:
    """Differences between the same groups of two environments, judged by the contract."""
    allowed = {(d.group, d.name) for d in parity.differences(loaded, envs) if d.allowed}
    found: list[LiveDifference] = []
    for group in sorted(loaded.source.groups):
        views: dict[str, dict[tuple[str, str], set[str | None]]] = {}
        depends: dict[str, list[str]] = {}
        for env in envs:
            view: dict[tuple[str, str], set[str | None]] = {}
            for host in loaded.source.environments[env].hosts_in(group):
                printed = prints[env].get(host)
                if printed is None:
                    continue
                depends.update(printed.depends)
                for key, value in printed.items().items():
                    view.setdefault(key, set()).add(value)
            views[env] = view
        keys = sorted(set().union(*(v.keys() for v in views.values())))
        for kind, name in keys:
            values = {env: sorted(views[env].get((kind, name), {None}), key=str) for env in envs}
            if len({tuple(v) for v in values.values()}) == 1 and all(
                len(v) == 1 for v in values.values()
            ):
                continue
            explained, reason = _explain(
                group, kind=kind, name=name, values=values, depends=depends, allowed=allowed
            )
            found.append(LiveDifference(group, kind, name, values, explained, reason))
    return found


def _explain(
    group: str,
    *,
    kind: str,
    name: str,
    values: dict[str, list[str | None]],
    depends: dict[str, list[str]],
    allowed: set[tuple[str, str]],
) -> tuple[bool, str]:
    uses = set(depends.get(name, [])) if kind == "files" else set()
    if uses & INHERENT_DEPENDENCIES:  # names hosts or the environment: differs by design
        return True, f"depends on {', '.join(sorted(uses & INHERENT_DEPENDENCIES))}"
    if any(len(v) > 1 for v in values.values()):
        return False, "hosts of the same group disagree within an environment"
    if kind == "files":
        explaining = sorted(var for var in uses if (group, var) in allowed)
        if explaining:
            return True, f"allowed: {', '.join(explaining)} differ by contract"
    return False, "not explained by the parity contract"
