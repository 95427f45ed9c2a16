"""The shared base of the ledger's stores (sqlite.py, postgres.py): one transaction protocol,
and the schema, said once for both.

Three tables, the same in SQLite and in PostgreSQL:
  ledger_entries  append-only: the chain (chain.py).
  ledger_head     one row: how many entries there are and the newest hash, written in the same
                  transaction as every append, so deleting the newest entries shows too.
  ledger_locks    one row per environment being changed: who, on which host and pid, since
                  when, and a heartbeat. Not part of the chain: the heartbeat changes all the time.
  ledger_checkpoints  signed statements of the head (count, hash), one per count: what a
                  forger without a listed key cannot make again (checkpoints.py).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from provisioner.errors import LedgerError
from provisioner.ledger.chain import GENESIS, MASK, mask

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS ledger_entries (
        id INTEGER PRIMARY KEY,
        run_id TEXT,
        kind TEXT NOT NULL,
        env TEXT NOT NULL,
        at TEXT NOT NULL,
        payload TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS ledger_entries_run ON ledger_entries (run_id)",
    "CREATE INDEX IF NOT EXISTS ledger_entries_kind ON ledger_entries (kind, env)",
    """CREATE TABLE IF NOT EXISTS ledger_head (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        count INTEGER NOT NULL,
        hash TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS ledger_locks (
        env TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        hostname TEXT NOT NULL,
        pid INTEGER NOT NULL,
        run_id TEXT NOT NULL,
        since TEXT NOT NULL,
        heartbeat TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS ledger_checkpoints (
        count INTEGER PRIMARY KEY,
        hash TEXT NOT NULL,
        statement TEXT NOT NULL,
        signature TEXT NOT NULL)""",
)
# The head starts as the empty chain, once: a head deleted later must not be silently remade.
SEED_HEAD = """INSERT INTO ledger_head (one, count, hash) SELECT 1, 0, ?
    WHERE NOT EXISTS (SELECT 1 FROM ledger_head) AND NOT EXISTS (SELECT 1 FROM ledger_entries)"""


# libpq's other way to name a database: key=value pairs, a value 'quoted' with \' and \\ inside.
_DSN_PAIR = re.compile(r"\s*(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']*)")
# A password as a connection string carries it, wherever a driver's message repeats one.
_PASSWORD_IN_TEXT = (
    (re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*)", re.IGNORECASE), rf"\1{MASK}"),
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@]*@", re.IGNORECASE), rf"\1{MASK}@"),
)
MIN_MASKED = 8  # a shorter password, masked wherever it occurs, would show where it occurs


def display_url(url: str) -> str:
    """`url` as messages show it: without the password, in the user part or the query, or in
    a libpq `key=value` string. Parsed, never searched for the password."""
    if "://" not in url and "=" in url:
        pairs = _dsn_pairs(url)
        if pairs is None:
            return "<unparseable ledger URL>"
        return " ".join(f"{k}={v}" for k, v in pairs if k.lower() != "password")
    try:
        parts = urlsplit(url)
        username = parts.username
    except ValueError:
        return "<unparseable ledger URL>"
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{username}@{host}" if username else host
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "password"]
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _dsn_pairs(text: str) -> list[tuple[str, str]] | None:
    """A libpq key=value string's pairs as written, or None if it is not one."""
    pairs, at = [], 0
    while at < len(text.rstrip()):
        found = _DSN_PAIR.match(text, at)
        if found is None or found.end() == at:
            return None
        pairs.append((found[1], found[2]))
        at = found.end()
    return pairs


def hide_passwords(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` (a driver's message) with every password it carries in a URL or `password=`
    masked, and any of `secrets` long enough that masking it shows nothing about it."""
    for pattern, replacement in _PASSWORD_IN_TEXT:
        text = pattern.sub(replacement, text)
    return mask(text, sorted(s for s in secrets if len(s) >= MIN_MASKED))


class Tx(Protocol):
    """One transaction. SQL is written with `?` placeholders for every backend."""

    def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]: ...

    def change(self, sql: str, *params: object) -> int: ...

    def now(self) -> datetime:
        """The database's clock: with PostgreSQL, one clock for every machine."""
        ...


class Store(ABC):
    """One connection to one ledger database."""

    where: str  # how messages name it: never with a password
    name: str  # its URL without a password: what the source of truth names (ledger:) and
    # what checkpoints and the witness are kept for
    secrets: frozenset[str] = frozenset()  # the connection's own, redacted from payloads too

    @abstractmethod
    def write(self) -> AbstractContextManager[Tx]:
        """A transaction holding the ledger's write lock: writers take turns, so two appends
        can never chain onto the same entry and two lock takers can never both win."""

    @abstractmethod
    def read(self) -> AbstractContextManager[Tx]:
        """A read-only transaction that sees one consistent state."""

    def create_schema(self) -> None:
        """The tables, if missing: the same SQL for every backend (`?` placeholders)."""
        with self.write() as tx:
            for statement in SCHEMA:
                tx.change(statement)
            tx.change(SEED_HEAD, GENESIS)

    @abstractmethod
    def reopen(self) -> Store:
        """Another connection to the same database, for another thread."""

    @abstractmethod
    def close(self) -> None: ...

    def _error(self, exc: Exception, what: str = "run ledger") -> LedgerError:
        """The driver's complaint as one line, with the connection's passwords masked."""
        reason = hide_passwords(" ".join(str(exc).split()), self.secrets)
        return LedgerError(f"{what} {self.where}: {reason or type(exc).__name__}")
