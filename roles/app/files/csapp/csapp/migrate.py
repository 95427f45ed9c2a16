"""Versioned schema migrations: apply, in order, each migrations/NNN_*.sql not yet applied.

Migrations only add (tables, nullable columns, indexes), so the previous release keeps working
on the migrated schema and a rollback never needs a down-migration. Concurrent runs from several
app hosts are serialized by an advisory lock. Prints "applied N" (the role reads it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psycopg2

from csapp import db

MIGRATIONS = Path(__file__).parent / "migrations"
LOCK_ID = 7_310_001


def load_env_file(path: str) -> None:
    """Read the service's KEY=VALUE environment file (the same one systemd uses)."""
    for line in Path(path).read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            os.environ[key.strip()] = value.strip()


def main() -> int:
    if len(sys.argv) > 1:
        load_env_file(sys.argv[1])
    conn = psycopg2.connect(db.dsn())
    applied = 0
    with conn, conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_ID,))
        cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur.execute("SELECT version FROM schema_migrations")
        done = {row[0] for row in cur.fetchall()}
        for path in sorted(MIGRATIONS.glob("[0-9][0-9][0-9]_*.sql")):
            version = int(path.name[:3])
            if version in done:
                continue
            cur.execute(path.read_text())
            cur.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (version, path.stem),
            )
            applied += 1
    conn.close()
    print(f"applied {applied}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
