"""The ledger as JSON Lines, for a SIEM: one line per entry, oldest first, with its hash and
prev_hash (so the chain can be checked again there) and the signed checkpoint of the head at
that entry, when one was signed there. Payloads as stored: secrets were redacted before they
were ever recorded, and nothing is added here."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from provisioner.errors import InputError
from provisioner.ledger.ledger import Ledger


def lines(ledger: Ledger) -> list[str]:
    rows, _head = ledger.chain()
    signed = {count: (text, signature) for count, _hash, text, signature in ledger.checkpoints()}
    out = []
    for row in rows:
        record: dict[str, Any] = {
            "ledger": ledger.name,
            "id": row.id,
            "run_id": row.run_id,
            "kind": row.kind,
            "env": row.env,
            "at": row.at,
            "payload": _payload(row.payload),
            "prev_hash": row.prev_hash,
            "hash": row.hash,
            "checkpoint": None,
        }
        if row.id in signed:
            text, signature = signed[row.id]
            record["checkpoint"] = {"statement": _payload(text), "signature": signature}
        out.append(json.dumps(record, sort_keys=True, ensure_ascii=False))
    return out


def _payload(text: str) -> Any:
    """The stored JSON as a value; text that is not JSON (an edited row) as the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def write(path: Path, found: list[str]) -> None:
    """All lines or nothing: written next to `path`, then renamed over it."""
    directory = path.parent if str(path.parent) else Path()
    try:
        fd, partial = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".partial")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(line + "\n" for line in found)
        os.replace(partial, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
