"""A throwaway PostgreSQL server for the ledger tests, started by the test session itself.

Debian's postgresql package provides the binaries; nothing of the system's own cluster is used.
The server lives in a temporary directory, listens on 127.0.0.1 only, on a free port, and is
stopped and removed at the end. initdb refuses to run as root, so as root the server runs as the
`postgres` OS user. The superuser is reached through the unix socket in the private directory
(trust); over TCP a password is required (scram-sha-256), and that is how the ledger connects:
as its own role, with a fresh database for each test.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

ROLE = "ledger"
PG_ROOT = Path("/usr/lib/postgresql")


def server_bin() -> Path:
    """The newest installed PostgreSQL's bin directory (15 on Debian 12)."""
    found = sorted(PG_ROOT.glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise RuntimeError(
            f"no PostgreSQL server in {PG_ROOT}: install Debian's postgresql package "
            "(scripts/setup.sh does)"
        )
    return found[-1].parent


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresServer:
    def __init__(self) -> None:
        self.bin = server_bin()
        self.root = Path(tempfile.mkdtemp(prefix="ledger-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self.password = secrets.token_hex(16)
        self._databases = 0
        self._started = False

    def start(self) -> None:
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self._run(
            "initdb",
            *("-D", str(self.data), "-U", "postgres", "--encoding=UTF8", "--locale=C"),
            *("--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"),
        )
        for attempt in range(3):  # the free port may be taken before the server binds it
            self.port = free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
                # a test server: durability buys nothing here and costs seconds
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            try:
                self._run(
                    "pg_ctl",
                    *("-D", str(self.data), "-l", str(self.log), "-w", "-t", "30"),
                    *("-o", options, "start"),
                )
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        self._started = True
        with self._admin() as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(ROLE), sql.Literal(self.password)
                )
            )

    def new_database(self) -> str:
        """A fresh, empty database owned by the ledger's role; its URL, with the password."""
        self._databases += 1
        name = f"ledger_{self._databases}"
        with self._admin() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(ROLE)
                )
            )
        return self.url(name)

    def url(self, database: str, password: str | None = None) -> str:
        secret = self.password if password is None else password
        return f"postgresql://{ROLE}:{secret}@127.0.0.1:{self.port}/{database}"

    def restart(self) -> None:
        """Stop (every connection cut, as a restart or a failover does) and start again on the
        same port and data. `fast`, not `immediate`: with this server's synchronous_commit=off an
        immediate stop may lose the last commits, which a real server would have kept."""
        # `restart` starts it with the first start's options (postmaster.opts): the same port
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-m",
            "fast",
            "-w",
            "-t",
            "30",
            "restart",
        )

    def stop(self) -> None:
        try:
            if self._started:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=str(self.root), port=self.port, user="postgres", dbname="postgres", autocommit=True
        )

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(
            command, cwd=self.root, capture_output=True, text=True, check=False, timeout=60
        )
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{program} failed ({result.returncode}): {result.stderr.strip()}\n{log}"
            )
