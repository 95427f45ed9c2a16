"""The run ledger: every run, plan, approval and lock takeover, in a tamper-evident chain, and the
locks that let one run at a time change an environment.

Three tables, the same in SQLite and in PostgreSQL:
  ledger_entries  append-only. Each entry's hash covers its content and the previous entry's
                  hash, so editing, deleting or reordering an entry breaks the chain there.
  ledger_head     one row: how many entries there are and the newest hash, written in the same
                  transaction as every append, so deleting the newest entries shows too.
  ledger_locks    one row per environment being changed: who, on which host and pid, since
                  when, and a heartbeat. Not part of the chain: the heartbeat changes all the time.

Where it lives: $PROVISION_LEDGER_URL (postgresql://USER:PASSWORD@HOST:PORT/DB, shared by every
machine that provisions the same environments, so the locks hold across machines), else
.state/ledger.sqlite3 (this checkout only).

Tamper-evident, not tamper-proof: whoever can write the database can rebuild the chain from the
entry they changed on. Recording head() somewhere else (a CI log, a ticket) pins the chain up to
that point.

Payloads are redacted before they are hashed or stored: a secret the ledger was given never
reaches the database, wherever it hides in a payload.

A Ledger (one database connection) belongs to one thread; a lock's heartbeat has its own.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import sqlite3
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Protocol, Self
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import psycopg

from provisioner import paths
from provisioner.errors import InputError, LedgerError, LockedError
from provisioner.run.status import Status

ENV_URL = "PROVISION_LEDGER_URL"
DEFAULT_FILE = "ledger.sqlite3"  # in paths.STATE
STALE_AFTER = 120.0  # seconds without a heartbeat after which a lock may be taken over
HEARTBEAT_EVERY = 10.0
MASK = "********"
GENESIS = "0" * 64  # the prev_hash of the first entry

# Entry kinds the ledger writes itself; append() refuses them so the runs view stays truthful.
RUN_STARTED = "run-started"
RUN_FINISHED = "run-finished"
LOCK_RECOVERED = "lock-recovered"
OWN_KINDS = frozenset({RUN_STARTED, RUN_FINISHED, LOCK_RECOVERED})

SQLITE_BUSY_TIMEOUT = 30.0  # seconds a writer waits for the others
PG_CONNECT_TIMEOUT = 10
# Key of the PostgreSQL advisory lock that makes writers take turns ("prov" in ASCII).
PG_WRITE_LOCK = 0x70726F76

_COLUMNS = "id, run_id, kind, env, at, payload, prev_hash, hash"
_LOCK_COLUMNS = "env, holder, hostname, pid, run_id, since, heartbeat"
_OURS = "env = ? AND run_id = ? AND hostname = ? AND pid = ? AND since = ?"

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
)
# The head starts as the empty chain, once: a head deleted later must not be silently remade.
SEED_HEAD = """INSERT INTO ledger_head (one, count, hash) SELECT 1, 0, ?
    WHERE NOT EXISTS (SELECT 1 FROM ledger_head) AND NOT EXISTS (SELECT 1 FROM ledger_entries)"""


# --- what the ledger holds --------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    id: int
    run_id: str | None  # None: not part of a run (an approval, say)
    kind: str
    env: str
    at: str  # UTC, ISO 8601
    payload: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Head:
    """How many entries the chain has and its newest hash: record it elsewhere to pin the chain."""

    count: int
    hash: str


@dataclass(frozen=True)
class LockInfo:
    env: str
    holder: str  # identity
    hostname: str
    pid: int
    run_id: str
    since: str
    heartbeat: str


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    kind: str  # apply, plan, verify, drift, rollback...
    env: str
    status: str  # as finished (successful, failed, canceled, refused...), or running/abandoned
    identity: str
    command: str
    commit: str | None
    started_at: str
    finished_at: str | None


@dataclass(frozen=True)
class RunDetail:
    summary: RunSummary
    entries: tuple[Entry, ...]  # every entry of the run, oldest first

    @property
    def started(self) -> Entry:
        return next(e for e in self.entries if e.kind == RUN_STARTED)

    @property
    def finished(self) -> Entry | None:
        return next((e for e in self.entries if e.kind == RUN_FINISHED), None)

    @property
    def host_stats(self) -> dict[str, Any]:
        finished = self.finished
        return dict(finished.payload.get("host_stats", {})) if finished else {}

    @property
    def changes(self) -> list[dict[str, Any]]:
        finished = self.finished
        return list(finished.payload.get("changes", [])) if finished else []


# --- redaction, canonical JSON and the chain: pure functions -------------------------------------


def redact(obj: Any, secrets: Iterable[str]) -> Any:
    """`obj` with every occurrence of every secret, in any string, key or number nested in it,
    replaced by MASK. Overlapping occurrences are masked as one, so no fragment survives."""
    wanted = sorted({secret for secret in secrets if secret})
    return _redact(obj, wanted) if wanted else obj


def _redact(obj: Any, secrets: list[str]) -> Any:
    if isinstance(obj, str):
        return _mask(obj, secrets)
    if isinstance(obj, Mapping):
        return {_redact(key, secrets): _redact(value, secrets) for key, value in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        items = [_redact(item, secrets) for item in obj]
        if isinstance(obj, set | frozenset):
            return type(obj)(items)
        return items if isinstance(obj, list) else tuple(items)
    if isinstance(obj, int | float) and not isinstance(obj, bool):
        # a numeric secret (a PIN) stored as a number would otherwise pass as JSON digits
        return MASK if _mask(str(obj), secrets) != str(obj) else obj
    return obj


def _mask(text: str, secrets: list[str]) -> str:
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


def _plain(obj: Any) -> Any:
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


class _Row(NamedTuple):
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


def check_chain(rows: Sequence[_Row], head: Head | None) -> list[str]:
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


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def pid_alive(pid: int) -> bool:
    if pid <= 0:  # kill(0) and kill(-1) would ask about process groups
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, as another user's
        return True
    return True


# --- where the ledger is stored -----------------------------------------------------------------


def display_url(url: str) -> str:
    """`url` as messages show it: without the password, in the user part or the query."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable ledger URL>"
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{parts.username}@{host}" if parts.username else host
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "password"]
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _url_secrets(url: str) -> frozenset[str]:
    """The passwords a URL carries, as written and decoded: never shown, never stored."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return frozenset({url})
    found = {value for key, value in parse_qsl(parts.query) if key == "password"}
    if parts.password:
        found |= {parts.password, unquote(parts.password)}
    return frozenset(found - {""})


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
        reason = _mask(" ".join(str(exc).split()), sorted(self.secrets))
        return LedgerError(f"{what} {self.where}: {reason or type(exc).__name__}")


class _SQLiteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, params).fetchall()

    def change(self, sql: str, *params: object) -> int:
        return self._conn.execute(sql, params).rowcount

    def now(self) -> datetime:
        return datetime.now(UTC)


class SQLiteStore(Store):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = paths.display(path)
        try:
            _create_private(path)
            # isolation_level=None: we issue BEGIN ourselves, so writers can BEGIN IMMEDIATE
            self._conn = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(f"cannot open the run ledger {self.where}: {exc}") from exc
        try:
            # WAL: readers (runs, verify) never wait for a writer; its files get the db's mode
            self._conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            self._conn.close()
            raise LedgerError(f"cannot open the run ledger {self.where}: {exc}") from exc

    def write(self) -> AbstractContextManager[Tx]:
        # IMMEDIATE takes SQLite's write lock at BEGIN, before the head is read
        return self._transaction("BEGIN IMMEDIATE")

    def read(self) -> AbstractContextManager[Tx]:
        return self._transaction("BEGIN")

    def reopen(self) -> SQLiteStore:
        return SQLiteStore(self.path)

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[Tx]:
        try:
            self._conn.execute(begin)
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        try:
            yield _SQLiteTx(self._conn)
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise self._error(exc) from exc
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            with suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")


def _create_private(path: Path) -> None:
    """Create the database file readable by us alone, before SQLite creates it with the umask."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)


class _PostgresTx:
    def __init__(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        self._conn = conn

    def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql.replace("?", "%s"), params).fetchall()

    def change(self, sql: str, *params: object) -> int:
        return self._conn.execute(sql.replace("?", "%s"), params).rowcount

    def now(self) -> datetime:
        moment: datetime = self._conn.execute("SELECT clock_timestamp()").fetchall()[0][0]
        return moment.astimezone(UTC)


class PostgresStore(Store):
    def __init__(self, url: str) -> None:
        self._url = url
        self.where = display_url(url)
        self.secrets = _url_secrets(url)
        try:
            self._conn = psycopg.connect(
                url,
                autocommit=True,  # transactions are explicit: conn.transaction()
                connect_timeout=PG_CONNECT_TIMEOUT,
                application_name="provisioner-ledger",
            )
        except psycopg.Error as exc:
            raise self._error(exc, "cannot reach the run ledger") from exc
        try:
            # A writer that hangs must not stop every other run for long.
            self._conn.execute("SET lock_timeout = '30s'")
            self._conn.execute("SET idle_in_transaction_session_timeout = '60s'")
        except psycopg.Error as exc:
            self._conn.close()
            raise self._error(exc) from exc

    def write(self) -> AbstractContextManager[Tx]:
        # One advisory lock for every writer, held to the end of the transaction; plain reads
        # are not blocked. It needs no table, so it also serializes creating the schema.
        return self._transaction(f"SELECT pg_advisory_xact_lock({PG_WRITE_LOCK})")

    def read(self) -> AbstractContextManager[Tx]:
        return self._transaction("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")

    def reopen(self) -> PostgresStore:
        return PostgresStore(self._url)

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _transaction(self, first: str) -> Iterator[Tx]:
        try:
            with self._conn.transaction():
                self._conn.execute(first)
                yield _PostgresTx(self._conn)
        except psycopg.Error as exc:
            raise self._error(exc) from exc


def open_store(url: str | None) -> Store:
    """The store for `url` (None: .state/ledger.sqlite3), its tables created if missing."""
    store: Store
    if url is None:
        try:
            directory = paths.state_dir()
        except OSError as exc:
            raise LedgerError(f"cannot open the run ledger in {paths.STATE}: {exc}") from exc
        store = SQLiteStore(directory / DEFAULT_FILE)
    else:
        scheme = url.partition(":")[0].lower()
        if scheme in ("postgresql", "postgres"):
            store = PostgresStore(url)
        elif scheme == "sqlite":
            store = SQLiteStore(_sqlite_path(url))
        else:
            raise LedgerError(
                f"run ledger {display_url(url)}: unsupported URL; use "
                "postgresql://USER:PASSWORD@HOST:PORT/DATABASE or sqlite:///PATH"
            )
    try:
        store.create_schema()
    except BaseException:
        store.close()
        raise
    return store


def _sqlite_path(url: str) -> Path:
    """sqlite:///abs/path (as file URLs are written) or sqlite:relative/path."""
    rest = url[len("sqlite:") :]
    path = rest[2:] if rest.startswith("//") else rest
    if not path:
        raise LedgerError(f"run ledger {url}: no file named; use sqlite:///PATH")
    return Path(path)


# --- the ledger ---------------------------------------------------------------------------------


def open_ledger(
    url: str | None = None,
    *,
    secrets: Iterable[str] = (),
    stale_after: float = STALE_AFTER,
    heartbeat_every: float = HEARTBEAT_EVERY,
) -> Ledger:
    """The ledger at `url`, else at $PROVISION_LEDGER_URL, else .state/ledger.sqlite3.
    LedgerError when it cannot be reached, opened or written: refuse to run then."""
    store = open_store(url or os.environ.get(ENV_URL) or None)
    return Ledger(store, secrets=secrets, stale_after=stale_after, heartbeat_every=heartbeat_every)


class Ledger:
    def __init__(
        self,
        store: Store,
        *,
        secrets: Iterable[str] = (),
        stale_after: float = STALE_AFTER,
        heartbeat_every: float = HEARTBEAT_EVERY,
    ) -> None:
        self._store = store
        self._secrets = set(secrets) | store.secrets
        self.stale_after = stale_after
        self.heartbeat_every = heartbeat_every

    @property
    def where(self) -> str:
        return self._store.where

    def add_secrets(self, secrets: Iterable[str]) -> None:
        """More values to redact from now on (a vault is often opened after the ledger)."""
        self._secrets.update(secrets)

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- the chain

    def append(
        self, kind: str, env: str, payload: Mapping[str, Any], run_id: str | None = None
    ) -> Entry:
        """Record a plan, an approval, a load-gate result...: any entry but the ledger's own."""
        if kind in OWN_KINDS:
            raise ValueError(f"{kind!r} entries are written by the ledger itself")
        with self._store.write() as tx:
            return self._append(tx, kind, env, payload, run_id)

    def verify(self) -> list[str]:
        """Every place the chain is broken, each naming the entry; [] when it is intact."""
        with self._store.read() as tx:
            sql = f"SELECT {_COLUMNS} FROM ledger_entries ORDER BY id"  # noqa: S608 - no input
            rows = [_Row(*row) for row in tx.rows(sql)]
            head = tx.rows("SELECT count, hash FROM ledger_head")
        return check_chain(rows, Head(*head[0]) if head else None)

    def head(self) -> Head:
        with self._store.read() as tx:
            found = tx.rows("SELECT count, hash FROM ledger_head")
        if not found:
            raise LedgerError(f"run ledger {self.where}: the head row is missing (deleted?)")
        return Head(*found[0])

    def entries(
        self, *, kind: str | None = None, env: str | None = None, run_id: str | None = None
    ) -> list[Entry]:
        """The entries matching every filter given, oldest first."""
        filters = {"kind": kind, "env": env, "run_id": run_id}
        clauses = [f"{column} = ?" for column, value in filters.items() if value is not None]
        values = [value for value in filters.values() if value is not None]
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT {_COLUMNS} FROM ledger_entries{where} ORDER BY id"  # noqa: S608 - fixed column names; values are parameters
        with self._store.read() as tx:
            return [_Row(*row).entry() for row in tx.rows(sql, *values)]

    def _append(
        self, tx: Tx, kind: str, env: str, payload: Mapping[str, Any], run_id: str | None
    ) -> Entry:
        plain = _plain(payload)
        if not isinstance(plain, dict):
            raise TypeError(f"a ledger payload is a mapping, not {type(payload).__name__}")
        text = canonical(redact(plain, self._secrets))
        head = tx.rows("SELECT count, hash FROM ledger_head")
        if not head:
            raise LedgerError(
                f"run ledger {self.where}: the head row is missing (deleted?), so nothing can be "
                "appended; see what else is wrong with verify()"
            )
        count, prev_hash = head[0]
        row = _Row(count + 1, run_id, kind, env, _stamp(tx.now()), text, prev_hash, "")
        row = row._replace(hash=row.expected_hash())
        tx.change(
            f"INSERT INTO ledger_entries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 - fixed columns
            *row,
        )
        tx.change("UPDATE ledger_head SET count = ?, hash = ? WHERE one = 1", row.id, row.hash)
        return row.entry()

    # --- runs

    def start_run(
        self,
        kind: str,
        env: str,
        *,  # the rest by name: commit and inventory_hash are both strings
        command: str,
        identity: str,
        commit: str | None,
        inventory_hash: str,
        plan_hash: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """Record that a run begins; returns its run id."""
        run_id = new_run_id()
        payload = {
            "kind": kind,
            "command": command,
            "identity": identity,
            "commit": commit,
            "inventory_hash": inventory_hash,
            "plan_hash": plan_hash,
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "extra": dict(extra or {}),
        }
        with self._store.write() as tx:
            self._append(tx, RUN_STARTED, env, payload, run_id)
        return run_id

    def finish_run(
        self,
        run_id: str,
        status: str,
        host_stats: Mapping[str, Any],
        changes: Sequence[Mapping[str, Any]],
        extra: Mapping[str, Any] | None = None,
    ) -> Entry:
        """Record how a run ended: its status, per-host stats and every changed task's diff."""
        payload = {
            "status": status,
            "host_stats": dict(host_stats),
            "changes": list(changes),
            "extra": dict(extra or {}),
        }
        with self._store.write() as tx:
            found = tx.rows(
                "SELECT kind, env FROM ledger_entries WHERE run_id = ? AND kind IN (?, ?)",
                run_id,
                RUN_STARTED,
                RUN_FINISHED,
            )
            envs = dict(found)
            if RUN_STARTED not in envs:
                raise LedgerError(f"run ledger {self.where}: run {run_id} was never started")
            if RUN_FINISHED in envs:
                raise LedgerError(f"run ledger {self.where}: run {run_id} is already finished")
            return self._append(tx, RUN_FINISHED, envs[RUN_STARTED], payload, run_id)

    def runs(self, env: str | None = None, limit: int = 50) -> list[RunSummary]:
        """The newest runs first, each with its status."""
        started = ", ".join(f"s.{column}" for column in _COLUMNS.split(", "))
        finished = ", ".join(f"f.{column}" for column in _COLUMNS.split(", "))
        sql = (
            f"SELECT {started}, {finished} FROM ledger_entries s "  # noqa: S608 - fixed columns
            "LEFT JOIN ledger_entries f ON f.run_id = s.run_id AND f.kind = ? "
            f"WHERE s.kind = ?{' AND s.env = ?' if env is not None else ''} "
            "ORDER BY s.id DESC LIMIT ?"
        )
        params = [RUN_FINISHED, RUN_STARTED, *([env] if env is not None else []), limit]
        width = len(_Row._fields)
        with self._store.read() as tx:
            now = tx.now()
            joined = tx.rows(sql, *params)
            locks = self._locks(tx)
        summaries = []
        for row in joined:
            start, finish = _Row(*row[:width]), row[width:]
            end = _Row(*finish).entry() if finish[0] is not None else None
            summaries.append(self._summary(start.entry(), end, locks, now))
        return summaries

    def show(self, run_id: str) -> RunDetail:
        """One run and every entry recorded under its id."""
        with self._store.read() as tx:
            now = tx.now()
            found = tx.rows(
                f"SELECT {_COLUMNS} FROM ledger_entries WHERE run_id = ? ORDER BY id",  # noqa: S608 - fixed columns
                run_id,
            )
            locks = self._locks(tx)
        entries = tuple(_Row(*row).entry() for row in found)
        started = next((e for e in entries if e.kind == RUN_STARTED), None)
        if started is None:
            raise InputError(f"no run {run_id!r} in the run ledger {self.where}")
        finished = next((e for e in entries if e.kind == RUN_FINISHED), None)
        return RunDetail(self._summary(started, finished, locks, now), entries)

    def _summary(
        self,
        started: Entry,
        finished: Entry | None,
        locks: Mapping[str, LockInfo],
        now: datetime,
    ) -> RunSummary:
        payload = started.payload
        if finished is not None:
            status = str(finished.payload.get("status", "unknown"))
        else:
            lock = locks.get(started.env)
            ours = lock is not None and lock.run_id == started.run_id
            # A run without a run-finished entry (finished runs carry the status they were given).
            status = (
                Status.RUNNING
                if ours and lock and self._stale(lock, now) is None
                else Status.ABANDONED
            )
        return RunSummary(
            run_id=str(started.run_id),
            kind=str(payload.get("kind", "")),
            env=started.env,
            status=status,
            identity=str(payload.get("identity", "")),
            command=str(payload.get("command", "")),
            commit=payload.get("commit"),
            started_at=started.at,
            finished_at=finished.at if finished else None,
        )

    # --- locks

    def acquire(self, env: str, identity: str, run_id: str) -> Lock:
        """Take the environment's lock for this run, or raise LockedError naming its holder.
        A stale lock is taken over, and the takeover recorded, in the same transaction."""
        hostname, pid = socket.gethostname(), os.getpid()
        with self._store.write() as tx:
            now = tx.now()
            held = self._locks(tx, env).get(env)
            if held is not None:
                reason = self._stale(held, now)
                if reason is None:
                    raise LockedError(self._describe(held, now))
                tx.change("DELETE FROM ledger_locks WHERE env = ?", env)
                recovered: dict[str, Any] = {"previous": dataclasses.asdict(held), "reason": reason}
                recovered |= {"by": identity, "hostname": hostname, "pid": pid}
                self._append(tx, LOCK_RECOVERED, env, recovered, run_id)
            stamp = _stamp(now)
            info = LockInfo(env, identity, hostname, pid, run_id, since=stamp, heartbeat=stamp)
            tx.change(
                f"INSERT INTO ledger_locks ({_LOCK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 - fixed columns
                *dataclasses.astuple(info),
            )
        return Lock(self, info)

    def holder(self, env: str) -> LockInfo | None:
        """Who holds the environment's lock, if anyone (stale or not)."""
        with self._store.read() as tx:
            return self._locks(tx, env).get(env)

    def _locks(self, tx: Tx, env: str | None = None) -> dict[str, LockInfo]:
        sql = f"SELECT {_LOCK_COLUMNS} FROM ledger_locks"  # noqa: S608 - fixed columns
        found = tx.rows(f"{sql} WHERE env = ?", env) if env is not None else tx.rows(sql)
        return {row[0]: LockInfo(*row) for row in found}

    def _stale(self, held: LockInfo, now: datetime) -> str | None:
        """Why the lock may be taken over, or None while its holder is alive."""
        try:
            age = (now - datetime.fromisoformat(held.heartbeat)).total_seconds()
        except (TypeError, ValueError):  # edited by hand: nobody can be keeping it alive
            return f"its heartbeat {held.heartbeat!r} is unreadable"
        if age > self.stale_after:
            return f"no heartbeat for {age:.0f} s (stale after {self.stale_after:g} s)"
        # Only on the same host can we see the process. (Hosts sharing a hostname, such as
        # containers with separate pid namespaces, must use distinct hostnames.)
        if held.hostname == socket.gethostname() and not pid_alive(held.pid):
            return f"process {held.pid} on {held.hostname} is gone"
        return None

    def _describe(self, held: LockInfo, now: datetime) -> str:
        try:
            beat = f"{(now - datetime.fromisoformat(held.heartbeat)).total_seconds():.0f} s ago"
        except (TypeError, ValueError):
            beat = held.heartbeat
        return (
            f"environment {held.env} is locked by {held.holder} (run {held.run_id}) on "
            f"{held.hostname}, pid {held.pid}, since {held.since}; last heartbeat {beat}. "
            f"It is taken over once its process is gone or it has had no heartbeat for "
            f"{self.stale_after:g} s."
        )

    def _heartbeat(self, store: Store, info: LockInfo) -> bool:
        """Refresh our lock's heartbeat; False when it is no longer ours (taken over)."""
        with store.write() as tx:
            beat = _stamp(tx.now())
            sql = f"UPDATE ledger_locks SET heartbeat = ? WHERE {_OURS}"  # noqa: S608 - fixed
            return tx.change(sql, beat, *_ours(info)) == 1

    def _release(self, info: LockInfo) -> bool:
        with self._store.write() as tx:
            sql = f"DELETE FROM ledger_locks WHERE {_OURS}"  # noqa: S608 - fixed
            return tx.change(sql, *_ours(info)) == 1


def _ours(info: LockInfo) -> tuple[str, str, str, int, str]:
    """What tells our lock row from a later holder's, even one of the same run on this host."""
    return (info.env, info.run_id, info.hostname, info.pid, info.since)


class Lock:
    """An environment's lock, held from Ledger.acquire() until release() (or the end of a
    `with` block). A background thread refreshes its heartbeat, with its own connection, so a
    long run is not mistaken for a dead one."""

    def __init__(self, ledger: Ledger, info: LockInfo) -> None:
        self.info = info
        self._ledger = ledger
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._released = False
        self._thread = threading.Thread(
            target=self._beat, name=f"ledger-heartbeat-{info.env}", daemon=True
        )
        self._thread.start()

    @property
    def held(self) -> bool:
        """False once released, or once another run took it over (we stalled past the timeout)."""
        return not self._released and not self._lost.is_set()

    def release(self) -> bool:
        """Stop the heartbeat and remove the lock if it is still ours; True if it was."""
        if self._released:
            return False
        self._released = True
        self._stop.set()
        self._thread.join()
        return self._ledger._release(self.info)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def _beat(self) -> None:
        store: Store | None = None
        try:
            while not self._stop.wait(self._ledger.heartbeat_every):
                try:
                    store = store or self._ledger._store.reopen()
                    if not self._ledger._heartbeat(store, self.info):
                        self._lost.set()
                        return
                except LedgerError:
                    # The database is unreachable for now: try again with a new connection
                    # at the next beat; others judge staleness by the clock meanwhile.
                    if store is not None:
                        store.close()
                    store = None
        finally:
            if store is not None:
                store.close()
