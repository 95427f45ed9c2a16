"""The ledger's chain, in pure functions: redaction, canonical JSON, hashing, verification.

Each entry's hash covers its content and the previous entry's hash, so editing, deleting or
reordering an entry breaks the chain there; the head (store.py) shows deleting the newest ones.

Tamper-evident, not tamper-proof: whoever can write the database can rebuild the chain from the
entry they changed on. Recording head() somewhere else (a CI log, a ticket) pins the chain up to
that point.

Payloads are redacted before they are hashed or stored: a secret the ledger was given never
reaches the database, wherever it hides in a payload.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from provisioner.errors import LedgerError
from provisioner.ledger.records import Entry, Head

MASK = "********"
GENESIS = "0" * 64  # the prev_hash of the first entry


def redact(obj: Any, secrets: Iterable[str]) -> Any:
    """`obj` with every occurrence of every secret, in any string, key or number nested in it,
    replaced by MASK. Overlapping occurrences are masked as one, so no fragment survives."""
    wanted = sorted({secret for secret in secrets if secret})
    return _redact(obj, wanted) if wanted else obj


def _redact(obj: Any, secrets: list[str]) -> Any:
    if isinstance(obj, str):
        return mask(obj, secrets)
    if isinstance(obj, Mapping):
        return {_redact(key, secrets): _redact(value, secrets) for key, value in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        items = [_redact(item, secrets) for item in obj]
        if isinstance(obj, set | frozenset):
            return type(obj)(items)
        return items if isinstance(obj, list) else tuple(items)
    if isinstance(obj, int | float) and not isinstance(obj, bool):
        # a numeric secret (a PIN) stored as a number would otherwise pass as JSON digits
        return MASK if mask(str(obj), secrets) != str(obj) else obj
    return obj


def mask(text: str, secrets: list[str]) -> str:
    spans: list[tuple[int, int]] = []
    for secret in secrets:
        at = text.find(secret)
        while at != -1:
            spans.append((at, at + len(secret)))
            at = text.find(secret, at + 1)
    if not spans:
        return text
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    pieces, pos = [], 0
    for start, end in merged:
        pieces += [text[pos:start], MASK]
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces)


def canonical(obj: Any) -> str:
    """The one JSON text for a value: what is hashed is exactly what is stored."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def plain_json(obj: Any) -> Any:
    """`obj` as plain JSON values (dataclasses, paths, sets and datetimes converted), so that
    redaction sees every string before anything is serialized."""
    return json.loads(json.dumps(obj, default=_jsonable, allow_nan=False))


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"cannot record a {type(value).__name__} in the run ledger")


def entry_hash(
    prev_hash: str, *, id: int, run_id: str | None, kind: str, env: str, at: str, payload: str
) -> str:
    """sha256 over the previous hash and the canonical JSON of the entry's other fields."""
    fields = {"at": at, "env": env, "id": id, "kind": kind, "payload": payload, "run_id": run_id}
    return hashlib.sha256((prev_hash + canonical(fields)).encode("utf-8")).hexdigest()


class Row(NamedTuple):
    """An entry as stored: the payload still as text, which is what its hash covers."""

    id: int
    run_id: str | None
    kind: str
    env: str
    at: str
    payload: str
    prev_hash: str
    hash: str

    def expected_hash(self) -> str:
        fields = self._asdict()
        del fields["prev_hash"], fields["hash"]
        return entry_hash(self.prev_hash, **fields)

    def entry(self) -> Entry:
        try:
            payload = json.loads(self.payload)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise LedgerError(f"run ledger entry {self.id}: payload is not a JSON object (edited?)")
        fields = self._asdict() | {"payload": payload}
        return Entry(**fields)


def check_chain(rows: Sequence[Row], head: Head | None) -> list[str]:
    """Every problem in a chain read in id order, each naming the entry; [] when intact."""
    problems: list[str] = []
    prev_id, prev_hash = 0, GENESIS
    for row in rows:
        if row.id > prev_id + 1:
            gap = (
                f"entry {prev_id + 1} is"
                if row.id == prev_id + 2
                else f"entries {prev_id + 1} to {row.id - 1} are"
            )
            problems.append(f"{gap} missing (deleted?)")
        if row.hash != row.expected_hash():
            problems.append(f"entry {row.id}: hash does not match its content (edited?)")
        if row.prev_hash != prev_hash:
            before = f"entry {prev_id}" if prev_id else "the start of the chain"
            problems.append(
                f"entry {row.id}: prev_hash does not match {before} (deleted or reordered?)"
            )
        prev_id, prev_hash = row.id, row.hash
    if head is None:
        if rows:
            problems.append(f"the head row is missing, found {len(rows)} entries (deleted?)")
        return problems
    if head.count != len(rows):
        why = _count_hint(head.count, len(rows), prev_id)
        problems.append(f"head says {head.count} entries, found {len(rows)} ({why})")
    if head.hash != prev_hash:
        last = f"entry {prev_id}, the last one" if prev_id else "the empty chain"
        problems.append(f"head hash does not match {last} (last entry deleted or edited?)")
    return problems


def _count_hint(count: int, found: int, last_id: int) -> str:
    if found > count:
        return "entries added by hand?"
    missing_at_end = count - last_id  # ids stop short of the count: the newest are gone
    if missing_at_end == 1:
        return "last entry deleted?"
    if missing_at_end > 1:
        return f"last {missing_at_end} entries deleted?"
    return "deleted?"  # from the middle: the gap is named above
