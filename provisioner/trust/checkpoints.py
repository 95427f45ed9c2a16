"""Signed checkpoints of the ledger's head, and a witness of the newest one outside the
database: what makes a forger show, not only an accident.

The hash chain (ledger/chain.py) shows an edit, but whoever can write the database can
recompute every hash after it, or delete the newest entries and fix the head. A checkpoint is
a statement {ledger, count, hash, at} signed by the writer's key in the `provisioner-ledger`
namespace, written after a command wrote entries when the writer has a listed key. Re-chaining
without such a key leaves every checkpoint after the edit pointing at a hash the chain no
longer has. Deleting checkpoints, or the newest entries with them, or emptying or replacing
the file, is what the witness is for: the newest checkpoint, also kept in .state/witness/
(one file per ledger), compared with the ledger on every verify.

Not protected: someone who controls the database and .state/ together (they delete both), or
who holds a listed key. For a team, the signed head `history --verify` prints goes into CI logs
(and may be stored as a git note): a copy outside both.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from provisioner import paths
from provisioner.ledger.chain import GENESIS, Row, canonical
from provisioner.ledger.ledger import Ledger
from provisioner.trust import statements
from provisioner.trust.signers import LEDGER_NAMESPACE, Signers

KIND = "checkpoint"


@dataclass(frozen=True)
class Checkpoint:
    ledger: str
    count: int
    hash: str
    at: str
    principal: str

    def __str__(self) -> str:
        return f"{self.count} entries at {self.hash}, signed by {self.principal} at {self.at}"


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)  # each a failure, naming what it found
    notes: list[str] = field(default_factory=list)  # said, not failures
    signed_head: Checkpoint | None = None  # the newest checkpoint that verified
    unsigned: int = 0  # entries after it


def witness_path(ledger_name: str) -> Path:
    key = hashlib.sha256(ledger_name.encode("utf-8")).hexdigest()[:16]
    return paths.STATE.joinpath(*paths.WITNESS, f"{key}.json")


def sign_head(ledger: Ledger, key: Path, signers: Signers) -> Checkpoint | None:
    """Sign the ledger's head, keep the checkpoint in the ledger and the witness; None when the
    newest checkpoint covers the head already. ApprovalError when `key` is not listed for the
    ledger; ValueError when the chain is broken (a forger's chain is never vouched for)."""
    head = ledger.head()
    kept = ledger.checkpoints()
    if kept and kept[-1][0] >= head.count:
        return None
    problems = ledger.verify()
    if problems:
        raise ValueError(f"the chain is broken ({problems[0]}); run history --verify")
    # Never vouch for a forger's chain: it must still hold every checkpoint where it was (by
    # position; signatures are history --verify's) and the witness (its signature too: one).
    rows, _head = ledger.chain()
    for count, hash_, _text, _signature in kept:
        mismatch = _matches(rows, Checkpoint(ledger.name, count, hash_, "", ""))
        if mismatch:
            raise ValueError(f"checkpoint at entry {count}: {mismatch}; run history --verify")
    report = Report()
    _check_witness(ledger, rows, signers, report)
    if report.problems:
        raise ValueError(f"{report.problems[0]}; run history --verify")
    signer = statements.signer(key, signers, LEDGER_NAMESPACE)
    fields = {"kind": KIND, "ledger": ledger.name, "count": head.count, "hash": head.hash}
    signed = signer.sign(fields)
    text = canonical(signed[statements.STATEMENT])
    ledger.add_checkpoint(head.count, head.hash, text, signed[statements.SIGNATURE])
    _write_witness(ledger.name, signed)
    statement = signed[statements.STATEMENT]
    return Checkpoint(ledger.name, head.count, head.hash, statement["at"], signer.principal)


def _write_witness(ledger_name: str, signed: dict[str, object]) -> None:
    directory = paths.state_dir(*paths.WITNESS)
    final = witness_path(ledger_name)
    partial = directory / f".{final.name}.partial"
    partial.unlink(missing_ok=True)
    paths.write_private(partial, json.dumps(signed, sort_keys=True) + "\n", new=True)
    os.replace(partial, final)  # whole or not at all


def _checkpoint(
    ledger_name: str, statement: object, signature: object, signers: Signers
) -> Checkpoint:
    """A checkpoint whose signature verifies, for this ledger; ValueError otherwise."""
    checked, principal = statements.verify(
        {statements.STATEMENT: statement, statements.SIGNATURE: signature},
        signers,
        LEDGER_NAMESPACE,
    )
    if checked.get("kind") != KIND:
        raise ValueError("its signed statement is not a checkpoint")
    if checked.get("ledger") != ledger_name:
        raise ValueError(f"it was signed for ledger {checked.get('ledger')}, not this one")
    count, hash_ = checked.get("count"), checked.get("hash")
    if not isinstance(count, int) or isinstance(count, bool) or not isinstance(hash_, str):
        raise ValueError("its signed statement has no count and hash")
    return Checkpoint(ledger_name, count, hash_, str(checked.get("at")), principal)


def _matches(rows: list[Row], point: Checkpoint) -> str | None:
    """Why the chain does not hold what the checkpoint signed, or None when it does."""
    if point.count > len(rows):
        return (
            f"the ledger has {len(rows)} entries, the checkpoint signed {point.count} at "
            f"{point.hash[:16]} (newest entries deleted, emptied or replaced?)"
        )
    found = rows[point.count - 1].hash if point.count else GENESIS
    if found != point.hash:
        return (
            f"entry {point.count} has hash {found[:16]}, the checkpoint signed "
            f"{point.hash[:16]} (re-chained or replaced?)"
        )
    return None


def verify(ledger: Ledger, signers: Signers) -> Report:
    """Every checkpoint's signature and its place in the chain, and the witness, against the
    ledger as it is now."""
    report = Report()
    rows, _head = ledger.chain()
    for count, hash_, text, signature in ledger.checkpoints():
        where = f"checkpoint at entry {count}"
        try:
            point = _checkpoint(ledger.name, json.loads(text), signature, signers)
        except ValueError as exc:  # json's errors are ValueErrors too
            report.problems.append(f"{where}: {exc}")
            continue
        if (point.count, point.hash) != (count, hash_):
            report.problems.append(f"{where}: the row differs from its signed statement (edited?)")
            continue
        mismatch = _matches(rows, point)
        if mismatch:
            report.problems.append(f"{where}, signed by {point.principal}: {mismatch}")
        elif report.signed_head is None or point.count >= report.signed_head.count:
            report.signed_head = point
    _check_witness(ledger, rows, signers, report)
    signed = report.signed_head.count if report.signed_head else 0
    report.unsigned = max(0, len(rows) - signed)
    return report


def _check_witness(ledger: Ledger, rows: list[Row], signers: Signers, report: Report) -> None:
    path = witness_path(ledger.name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        report.notes.append(
            f"no witness of this ledger in {paths.display(path)} (none signed here yet)"
        )
        return
    except OSError as exc:
        report.problems.append(f"witness {paths.display(path)}: {exc.strerror}")
        return
    try:
        signed = json.loads(text)
        if not isinstance(signed, dict):
            raise ValueError("not a JSON object")
        point = _checkpoint(
            ledger.name, signed.get(statements.STATEMENT), signed.get(statements.SIGNATURE), signers
        )
    except ValueError as exc:
        report.problems.append(f"witness {paths.display(path)}: {exc}")
        return
    if _matches(rows, point):
        found = rows[point.count - 1].hash[:16] if 0 < point.count <= len(rows) else ""
        report.problems.append(
            f"witness {paths.display(path)}: the ledger has {len(rows)} entries, the witness "
            f"signed {point.count} at {point.hash[:16]} ({point.principal}, {point.at})"
            + (f"; entry {point.count} is now {found} (re-chained?)" if found else "")
            + " - entries deleted, emptied, re-chained or the file replaced"
        )
    elif report.signed_head is None or point.count > report.signed_head.count:
        report.signed_head = point  # its checkpoint row was deleted, the chain still holds it
