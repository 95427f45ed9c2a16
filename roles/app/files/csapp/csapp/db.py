"""Database access: one connection pool per worker process, sized from the environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from psycopg2 import pool

_POOL: pool.ThreadedConnectionPool | None = None


def dsn() -> str:
    return (
        f"host={os.environ['CSAPP_DB_HOST']} port={os.environ.get('CSAPP_DB_PORT', '5432')} "
        f"dbname={os.environ['CSAPP_DB_NAME']} user={os.environ['CSAPP_DB_USER']} "
        f"password={os.environ['CSAPP_DB_PASSWORD']} connect_timeout=3"
    )


def _pool() -> pool.ThreadedConnectionPool:
    global _POOL  # noqa: PLW0603  (one pool per gunicorn worker, made on first use)
    if _POOL is None:
        size = int(os.environ.get("CSAPP_DB_POOL_SIZE", "5"))
        _POOL = pool.ThreadedConnectionPool(1, size, dsn())
    return _POOL


@contextmanager
def cursor() -> Iterator[Any]:
    """A cursor in a transaction: committed on success, rolled back on error."""
    conn = _pool().getconn()
    try:
        with conn, conn.cursor() as cur:
            yield cur
    except Exception:
        _pool().putconn(conn, close=conn.closed != 0)
        raise
    _pool().putconn(conn)
