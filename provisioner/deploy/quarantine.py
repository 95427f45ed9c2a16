"""A bundle the post-deploy gate rolled back stays rolled back: the next apply or promotion of
the same bundle to that environment is refused (exit 4, naming the run that rolled it back)
until a new commit changes the bundle, or someone lifts the quarantine with a reason
(`provision.py quarantine ENV --lift --reason TEXT`, recorded with who did it). Without this,
the next scheduled run re-applies the release that just broke the environment.

The bundle is what promotion compares (commit, roles hash, app release). The quarantine is read
from the ledger's own records, nothing extra is written when it begins: an apply that ended
rolled-back carries its bundle in its start entry. Only lifting writes an entry (OVERRIDE),
bound to that rollback run and that bundle, so it never lifts a later rollback of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.errors import QuarantinedError
from provisioner.ledger.ledger import Ledger
from provisioner.ledger.records import Entry
from provisioner.run.status import Status

OVERRIDE = "quarantine-override"  # ledger entry kind: a lifted quarantine
SCAN = 200  # the environment's newest runs looked at (as releases.deployed)
MAX_REASON = 500


@dataclass(frozen=True)
class Held:
    """The newest automatic rollback of a bundle on an environment."""

    env: str
    run_id: str  # the apply whose gate failed and that rolled the bundle back
    bundle: dict[str, Any]
    lifted: Entry | None  # the override recorded for it, if any

    def refusal(self) -> str:
        release = str(self.bundle.get("app_release") or "?")
        commit = str(self.bundle.get("commit") or "?")[:12]
        return (
            f"{self.env}: this bundle (release {release} at {commit}) was rolled back by run "
            f"{self.run_id} after its post-deploy gate failed (provision.py show "
            f"{self.run_id}). Commit a change to it, or lift the quarantine with a reason: "
            f"provision.py quarantine {self.env} --lift --reason TEXT"
        )


def held(ledger: Ledger, env: str, bundle: dict[str, Any]) -> Held | None:
    """The newest apply of `env` that the gate rolled back with exactly `bundle`, with the
    override that lifted it, if any; None: this bundle was never rolled back there."""
    for run in ledger.runs(env=env, limit=SCAN):
        if run.kind != "apply" or run.status != Status.ROLLED_BACK:
            continue
        started = ledger.show(run.run_id).started.payload
        extra = started.get("extra")
        if not isinstance(extra, dict) or extra.get("promotable") != bundle:
            continue
        lifts = [
            e
            for e in ledger.entries(kind=OVERRIDE, env=env)
            if e.payload.get("rolled_back_by") == run.run_id and e.payload.get("bundle") == bundle
        ]
        return Held(env, run.run_id, dict(bundle), lifts[-1] if lifts else None)
    return None


def check(ledger: Ledger, env: str, bundle: dict[str, Any]) -> Held | None:
    """QuarantinedError when `bundle` is held on `env`; the lifted quarantine (to be said), or
    None when there is none."""
    found = held(ledger, env, bundle)
    if found is not None and found.lifted is None:
        raise QuarantinedError(found.refusal())
    return found


def override_payload(found: Held, reason: str) -> dict[str, Any]:
    """What lifting records; the reason is one line of text, said wherever it is shown."""
    text = " ".join(reason.split())
    if not text:
        raise ValueError("the reason is empty")
    if len(text) > MAX_REASON:
        raise ValueError(f"the reason is over {MAX_REASON} characters")
    return {"rolled_back_by": found.run_id, "bundle": found.bundle, "reason": text}
