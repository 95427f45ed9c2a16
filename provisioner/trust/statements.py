"""Signed statements: what a person's key vouches for (a plan, an approval, an apply, a
checkpoint of the ledger), as the ledger keeps them.

A statement is a JSON object; what is signed is its canonical text (ledger/chain.py), so it is
verified again from the stored object alone. It names its principal, the name the
allowed-signers file gives the signing key: the key proves the name, never $PROVISION_IDENTITY.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from provisioner.errors import ApprovalError
from provisioner.ledger.chain import canonical
from provisioner.trust import principals, sshsig
from provisioner.trust.signers import Signers

STATEMENT, SIGNATURE = "statement", "signature"  # the keys a signed payload carries them under
PATTERN_CHARACTERS = "*?!,"  # what makes a principal in an allowed-signers file a pattern


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def digest(obj: Any) -> str:
    """sha256 of an object's canonical JSON: how a statement names a bundle."""
    return hashlib.sha256(canonical(obj).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Signer:
    """A key, and the principal the signers file gives it for one namespace (proved by a
    signature verified on the spot, so the key is usable and its private half at hand)."""

    key: Path
    signers: Signers
    namespace: str
    principal: str

    def sign(self, fields: dict[str, Any]) -> dict[str, Any]:
        """`fields` with the principal and time, signed: {statement, signature}."""
        statement = {**fields, "principal": self.principal, "at": now()}
        data = canonical(statement).encode("utf-8")
        return {STATEMENT: statement, SIGNATURE: sshsig.sign(self.key, self.namespace, data)}


def signer(key: Path, signers: Signers, namespace: str) -> Signer:
    """The Signer for `key` in `namespace`; ApprovalError when the signers file does not list
    it for that namespace (whatever $PROVISION_IDENTITY says)."""
    probe = canonical({"probe": namespace, "at": now()}).encode("utf-8")
    signature = sshsig.sign(key, namespace, probe)
    listed = sshsig.principals(signers.path, signature)
    usable = [p for p in listed if sshsig.verify(signers.path, p, namespace, probe, signature)]
    if not usable:
        why = f"listed only for other namespaces ({', '.join(listed)})" if listed else "not listed"
        raise ApprovalError(
            f"the key {key} is {why} in {signers} for {namespace}: add it there by review"
        )
    if len(usable) > 1:
        raise ApprovalError(
            f"the key {key} is listed for {namespace} as several principals in {signers} "
            f"({', '.join(usable)}): one key, one person"
        )
    principal = usable[0]
    hidden = principals.invisible(principal)
    if hidden is not None:
        raise ApprovalError(
            f"{signers}: principal {principal!r} has an invisible character {hidden}"
        )
    if any(char in principal for char in PATTERN_CHARACTERS):
        # OpenSSH reads principals as patterns: `*` would be anyone, so no one in particular
        raise ApprovalError(f"{signers}: principal {principal!r} is a pattern, not a person")
    return Signer(key, signers, namespace, principal)


def verify(signed: Any, signers: Signers, namespace: str) -> tuple[dict[str, Any], str]:
    """(statement, principal) of a signed payload, or ValueError saying why it does not
    verify. Nothing in it is trusted before this."""
    if not isinstance(signed, dict):
        raise ValueError("is not signed")
    statement, signature = signed.get(STATEMENT), signed.get(SIGNATURE)
    if not isinstance(statement, dict) or not isinstance(signature, str):
        raise ValueError("is not signed")
    principal = statement.get("principal")
    if not isinstance(principal, str) or not principal:
        raise ValueError("names no principal")
    hidden = principals.invisible(principal)
    if hidden is not None:
        raise ValueError(f"names a principal with an invisible character {hidden}")
    data = canonical(statement).encode("utf-8")
    if not sshsig.verify(signers.path, principal, namespace, data, signature):
        raise ValueError(
            f"signature does not verify as {principal}'s for {namespace} against {signers} "
            "(forged, altered, or the key is not listed there)"
        )
    # The key must be listed under exactly this name: a line whose principal is a pattern
    # (`*`) would otherwise let its key sign as anyone.
    listed = sshsig.principals(signers.path, signature)
    if principal not in listed:
        raise ValueError(
            f"signed by a key listed as {', '.join(listed) or 'nobody'}, not {principal}"
        )
    return statement, principal
