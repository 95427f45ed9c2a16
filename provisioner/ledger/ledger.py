"""The run ledger: every run, plan, approval and lock takeover, in a tamper-evident chain, and the
locks that let one run at a time change an environment.

The layers under it: records.py (what it holds), chain.py (the hash chain and redaction, pure),
store.py (the schema and a transaction, for either store), sqlite.py and postgres.py (the two
stores), lock.py (an environment's lock and its heartbeat).

Where it lives: $PROVISION_LEDGER_URL (postgresql://USER:PASSWORD@HOST:PORT/DB, shared by every
machine that provisions the same environments, so the locks hold across machines), else
.state/ledger.sqlite3 (this checkout only).

A Ledger (one database connection) belongs to one thread; a lock's heartbeat has its own.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from provisioner import paths
from provisioner.errors import InputError, LedgerError, LockedError
from provisioner.ledger.chain import Row, canonical, check_chain, plain_json, redact
from provisioner.ledger.lock import Lock
from provisioner.ledger.records import (
    LOCK_RECOVERED,
    OWN_KINDS,
    RUN_FINISHED,
    RUN_STARTED,
    Entry,
    Head,
    LockInfo,
    RunDetail,
    RunSummary,
)
from provisioner.ledger.sqlite import SQLiteStore
from provisioner.ledger.store import Store, Tx, display_url
from provisioner.run.status import Status

ENV_URL = "PROVISION_LEDGER_URL"
DEFAULT_FILE = "ledger.sqlite3"  # in paths.STATE
STALE_AFTER = 120.0  # seconds without a heartbeat after which a lock may be taken over
HEARTBEAT_EVERY = 10.0

_COLUMNS = "id, run_id, kind, env, at, payload, prev_hash, hash"
_LOCK_COLUMNS = "env, holder, hostname, pid, run_id, since, heartbeat"
_OURS = "env = ? AND run_id = ? AND hostname = ? AND pid = ? AND since = ?"


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


def open_store(url: str | None) -> Store:
    """The store for `url` (None: .state/ledger.sqlite3), its tables created if missing."""
    store: Store
    if url is None:
        try:
            directory = paths.state_dir()
        except paths.UnsafePathError:
            raise  # a link or a stranger's directory: the user's to fix (exit 2), said as is
        except OSError as exc:
            raise LedgerError(f"cannot open the run ledger in {paths.STATE}: {exc}") from exc
        store = SQLiteStore(directory / DEFAULT_FILE)
    else:
        scheme = url.partition(":")[0].lower()
        if scheme in ("postgresql", "postgres"):
            # Imported here: psycopg takes a quarter of a second, and most ledgers are SQLite.
            from provisioner.ledger.postgres import PostgresStore  # noqa: PLC0415 - see above

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


def open_store_name(url: str) -> str:
    """The name a store opened at `url` would have (Store.name), without opening it."""
    scheme = url.partition(":")[0].lower()
    if scheme == "sqlite":
        return f"sqlite:///{_sqlite_path(url).resolve()}"
    return display_url(url)


def _sqlite_path(url: str) -> Path:
    """sqlite:///abs/path (as file URLs are written) or sqlite:relative/path."""
    rest = url[len("sqlite:") :]
    path = rest[2:] if rest.startswith("//") else rest
    if not path:
        raise LedgerError(f"run ledger {url}: no file named; use sqlite:///PATH")
    return Path(path)


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

    @property
    def name(self) -> str:
        """Its URL without a password (store.py)."""
        return self._store.name

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
            rows = [Row(*row) for row in tx.rows(sql)]
            head = tx.rows("SELECT count, hash FROM ledger_head")
        return check_chain(rows, Head(*head[0]) if head else None)

    def chain(self) -> tuple[list[Row], Head | None]:
        """Every entry as stored, oldest first, and the head row (None if deleted), read in one
        transaction: what checkpoints are checked against."""
        with self._store.read() as tx:
            sql = f"SELECT {_COLUMNS} FROM ledger_entries ORDER BY id"  # noqa: S608 - no input
            rows = [Row(*row) for row in tx.rows(sql)]
            head = tx.rows("SELECT count, hash FROM ledger_head")
        return rows, Head(*head[0]) if head else None

    def checkpoints(self) -> list[tuple[int, str, str, str]]:
        """(count, hash, statement, signature) of every signed checkpoint, oldest first."""
        with self._store.read() as tx:
            found = tx.rows(
                "SELECT count, hash, statement, signature FROM ledger_checkpoints ORDER BY count"
            )
        return [(int(c), str(h), str(st), str(sig)) for c, h, st, sig in found]

    def add_checkpoint(self, count: int, hash: str, statement: str, signature: str) -> None:
        """Keep a signed checkpoint (one per count: a second for the same count is dropped)."""
        with self._store.write() as tx:
            if not tx.rows("SELECT 1 FROM ledger_checkpoints WHERE count = ?", count):
                tx.change(
                    "INSERT INTO ledger_checkpoints (count, hash, statement, signature) "
                    "VALUES (?, ?, ?, ?)",
                    count,
                    hash,
                    statement,
                    signature,
                )

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
            return [Row(*row).entry() for row in tx.rows(sql, *values)]

    def _append(
        self, tx: Tx, kind: str, env: str, payload: Mapping[str, Any], run_id: str | None
    ) -> Entry:
        plain = plain_json(payload)
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
        row = Row(count + 1, run_id, kind, env, _stamp(tx.now()), text, prev_hash, "")
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
        width = len(Row._fields)
        with self._store.read() as tx:
            now = tx.now()
            joined = tx.rows(sql, *params)
            locks = self._locks(tx)
        summaries = []
        for row in joined:
            start, finish = Row(*row[:width]), row[width:]
            end = Row(*finish).entry() if finish[0] is not None else None
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
        entries = tuple(Row(*row).entry() for row in found)
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
