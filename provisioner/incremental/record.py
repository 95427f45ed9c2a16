"""The record of each host after a good apply, and the choice of which hosts the next apply
runs.

After an apply that went through (its gate passed, or it changed nothing), the run's
`host-state` ledger entry holds, per host: its inputs (inputs.py, part -> digest), its state
(state.py's reading, item -> digest) and the manifest that reading used. The next apply runs
every host whose inputs differ or whose state reads differently now, and skips the others
("unchanged, skipped"). The record counts only while it belongs to the newest run that could
have changed the environment's hosts (an apply or a rollback that was not refused): anything
else since then (a failed, canceled or narrowed apply, a rollback) means every host runs.

Digests are HMACs keyed with the environment's vault password: a digest of a file that holds
a secret tells nothing to whoever reads the ledger, and each host's record is sealed with an
HMAC too, so that a record forged or edited in the ledger (its manifest names commands the
reading runs as root) is not used without that password. A controller without it cannot
apply anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from provisioner.incremental import inputs, state
from provisioner.ledger.ledger import Ledger
from provisioner.ledger.recording import Recorded
from provisioner.ledger.records import RUN_FINISHED, RUN_STARTED
from provisioner.run.status import Status
from provisioner.source.model import Environment
from provisioner.source.secrets import Vault

HOST_STATE = "host-state"  # ledger entry kind
CHANGING = frozenset({"apply", "rollback"})  # run kinds that change hosts
SHOWN = 3  # parts or items named in a reason before "and N more"


@dataclass(frozen=True)
class HostRecord:
    inputs: dict[str, str]  # part -> keyed digest
    state: dict[str, str]  # item -> keyed digest
    manifest: dict[str, Any]  # what the reading read

    def as_dict(self) -> dict[str, Any]:
        return {"inputs": self.inputs, "state": self.state, "manifest": self.manifest}

    def sealed(self, keyed: Keyed) -> dict[str, Any]:
        """As recorded: with an HMAC over all of it, so that a record edited in the ledger
        (a probe that is a command run as root on the host, above all) is not used."""
        return {**self.as_dict(), "seal": keyed(json.dumps(self.as_dict(), sort_keys=True))}


@dataclass
class Choice:
    """Which hosts run and why, which are skipped; the record the skipped ones carry on."""

    run: dict[str, str] = field(default_factory=dict)  # host -> why it runs
    skip: dict[str, str] = field(default_factory=dict)  # host -> "unchanged since run X"
    carried: dict[str, HostRecord] = field(default_factory=dict)
    inputs: dict[str, dict[str, str]] = field(default_factory=dict)  # host -> part -> digest


class Keyed:
    """HMAC-SHA256 under a key derived from the environment's vault password."""

    def __init__(self, vault: Vault) -> None:
        secret = vault.password_file.read_bytes().strip()
        self.key = hashlib.sha256(b"provisioner incremental record\0" + secret).digest()

    def __call__(self, value: str) -> str:
        return hmac.new(self.key, value.encode(), hashlib.sha256).hexdigest()[:32]

    def all(self, values: dict[str, str]) -> dict[str, str]:
        return {name: self(value) for name, value in values.items()}


def _named(names: list[str]) -> str:
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def last(
    ledger: Ledger, env: str, current: str, keyed: Keyed | None = None
) -> tuple[str, dict[str, HostRecord] | None]:
    """The newest run (not `current`) that could have changed the hosts, and its record of
    them (None, when it kept none); with `keyed`, only the hosts whose record verifies."""
    entries = ledger.entries(env=env)
    refused = {
        e.run_id
        for e in entries
        if e.kind == RUN_FINISHED and e.payload.get("status") == Status.REFUSED
    }
    changing = [
        str(e.run_id)
        for e in entries
        if e.kind == RUN_STARTED
        and e.payload.get("kind") in CHANGING
        and e.run_id not in (current, None)
        and e.run_id not in refused
    ]
    if not changing:
        return "", None
    newest = changing[-1]
    kept = [e for e in entries if e.kind == HOST_STATE and e.run_id == newest]
    if not kept:
        return newest, None
    found = {}
    for host, held in (kept[-1].payload.get("hosts") or {}).items():
        if not isinstance(held, dict):
            continue
        record = HostRecord(
            inputs=dict(held.get("inputs") or {}),
            state=dict(held.get("state") or {}),
            manifest=dict(held.get("manifest") or {}),
        )
        if keyed is None or hmac.compare_digest(
            str(held.get("seal", "")), record.sealed(keyed)["seal"]
        ):
            found[str(host)] = record
    return newest, found


def _differing(now: dict[str, str], then: dict[str, str]) -> list[str]:
    return sorted(k for k in now.keys() | then.keys() if now.get(k) != then.get(k))


def everything(env_name: str, vault: Vault, hosts: list[str]) -> Choice:
    """Every host runs (--full): their inputs are still taken, for this run's record."""
    keyed = Keyed(vault)
    return Choice(
        run=dict.fromkeys(hosts, "--full"),
        inputs={h: keyed.all(p) for h, p in inputs.per_host(env_name, vault.file).items()},
    )


def choose(ledger: Ledger, env_name: str, env: Environment, vault: Vault, current: str) -> Choice:
    """Which hosts of `env` this apply must run (see the module's docstring)."""
    keyed = Keyed(vault)
    choice = Choice(
        inputs={h: keyed.all(p) for h, p in inputs.per_host(env_name, vault.file).items()}
    )
    since, records = last(ledger, env_name, current, keyed)
    if records is None:
        why = (
            f"run {since} recorded no state of the hosts (it did not go through, or was narrowed)"
            if since
            else "no apply recorded yet"
        )
        choice.run = dict.fromkeys(sorted(env.hosts), why)
        return choice
    candidates = {}
    for host in sorted(env.hosts):
        held = records.get(host)
        if held is None:
            choice.run[host] = f"not in the record of run {since}, or its record does not verify"
            continue
        changed = _differing(choice.inputs.get(host, {}), held.inputs)
        if changed:
            choice.run[host] = f"inputs changed: {_named(changed)}"
            continue
        candidates[host] = held
    readings = state.read(env_name, env, {h: r.manifest for h, r in candidates.items()})
    for host, held in candidates.items():
        found = readings[host]
        if found.items is None:
            choice.run[host] = f"state not read: {found.problem}"
            continue
        changed = _differing(keyed.all(found.items), held.state)
        if changed:
            choice.run[host] = f"state changed: {_named(changed)}"
            continue
        choice.skip[host] = f"unchanged since run {since}"
        choice.carried[host] = held
    return choice


def keep(
    run: Recorded,
    env: Environment,
    vault: Vault,
    choice: Choice,
    manifests: dict[str, dict[str, Any]],
) -> dict[str, str]:
    """Record the hosts after a good apply: the skipped ones as they were, the ones that ran
    (with a manifest from the fingerprint play) as they read now. Returns host -> why it is
    left out of the record (it will run next time)."""
    keyed = Keyed(vault)
    readings = state.read(run.env, env, {h: m for h, m in manifests.items() if h in choice.inputs})
    hosts: dict[str, Any] = {h: r.sealed(keyed) for h, r in choice.carried.items()}
    left_out = {}
    for host in sorted(env.hosts):
        if host in hosts:
            continue
        found = readings.get(host)
        if found is None or found.items is None:
            left_out[host] = found.problem if found else "no manifest from the fingerprint play"
            continue
        hosts[host] = HostRecord(
            inputs=choice.inputs[host], state=keyed.all(found.items), manifest=manifests[host]
        ).sealed(keyed)
    run.attach(HOST_STATE, {"format": inputs.FORMAT, "hosts": dict(sorted(hosts.items()))})
    return left_out
