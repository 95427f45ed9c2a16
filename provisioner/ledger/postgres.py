"""The ledger in PostgreSQL (a postgresql:// URL): shared by every machine that provisions the
same environments, so the locks hold across machines and one clock (the database's) judges
them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import psycopg

from provisioner.ledger.store import Store, Tx, display_url

PG_CONNECT_TIMEOUT = 10
# Key of the PostgreSQL advisory lock that makes writers take turns ("prov" in ASCII).
PG_WRITE_LOCK = 0x70726F76


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
        self.name = self.where
        self.secrets = _url_secrets(url)
        self._conn = self._connect()

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        try:
            conn = psycopg.connect(
                self._url,
                autocommit=True,  # transactions are explicit: conn.transaction()
                connect_timeout=PG_CONNECT_TIMEOUT,
                application_name="provisioner-ledger",
            )
        except (psycopg.Error, UnicodeError, ValueError) as exc:
            # UnicodeError: a host name label over 63 characters fails in the idna codec
            raise self._error(exc, "cannot reach the run ledger") from exc
        try:
            # A writer that hangs must not stop every other run for long.
            conn.execute("SET lock_timeout = '30s'")
            conn.execute("SET idle_in_transaction_session_timeout = '60s'")
        except psycopg.Error as exc:
            conn.close()
            raise self._error(exc) from exc
        return conn

    def _usable(self) -> psycopg.Connection[tuple[Any, ...]]:
        """The connection, or a new one when the server dropped it since the last use: a run
        holds its connection for the minutes Ansible takes, and a restart or failover of the
        server meanwhile must not lose the run's record. Safe to retry here: nothing of the
        caller's transaction has been sent yet."""
        if not (self._conn.closed or self._conn.broken):
            try:
                self._conn.execute("SELECT 1")
                return self._conn
            except psycopg.OperationalError:
                if not self._conn.broken:  # the server answered: a real error, not a lost link
                    raise
        self._conn.close()
        self._conn = self._connect()
        return self._conn

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
            conn = self._usable()
            with conn.transaction():
                conn.execute(first)
                yield _PostgresTx(conn)
        except psycopg.Error as exc:
            raise self._error(exc) from exc
