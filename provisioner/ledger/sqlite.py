"""The ledger in a SQLite file: .state/ledger.sqlite3 unless a sqlite: URL names another (this
checkout only)."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from provisioner import paths
from provisioner.errors import LedgerError
from provisioner.ledger.store import Store, Tx

SQLITE_BUSY_TIMEOUT = 30.0  # seconds a writer waits for the others


class _SQLiteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, params).fetchall()

    def change(self, sql: str, *params: object) -> int:
        return self._conn.execute(sql, params).rowcount

    def now(self) -> datetime:
        return datetime.now(UTC)


def _use_wal(conn: sqlite3.Connection) -> None:
    """WAL: readers (runs, verify) never wait for a writer; its files get the db's mode.

    Switching a new file to WAL needs an exclusive lock, and SQLite reports "database is locked"
    at once, without its busy timeout, to the others that open the file meanwhile (several runs
    starting together on a new ledger). The mode is kept in the file: once it reads `wal` there
    is nothing to do; until then, retry within the busy timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class SQLiteStore(Store):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = paths.display(path)
        self.name = f"sqlite:///{path.resolve()}"
        try:
            _create_private(path)
            # isolation_level=None: we issue BEGIN ourselves, so writers can BEGIN IMMEDIATE
            self._conn = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(f"cannot open the run ledger {self.where}: {exc}") from exc
        try:
            _use_wal(self._conn)
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
    """Create the database file readable by us alone, before SQLite creates it with the umask.

    An existing file is checked by its path, never opened: closing any descriptor of a file
    drops every POSIX lock this process holds on it (fcntl's rule), SQLite's SHARED lock of
    another connection of ours included (a run's own, while its lock's heartbeat opened a second
    one). SQLite still believed it held it; another process closing its connection then took
    the EXCLUSIVE lock, believed itself the last one and checkpointed and removed the WAL under
    our run: the run's finish and lock release were lost (seen: a gate that passed, recorded
    as abandoned)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        paths.owned_and_private(None, path, 0o600, ours=False)  # said, then closed
        return
    os.close(fd)  # new and empty: no connection has it open, no lock to lose
