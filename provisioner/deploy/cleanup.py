"""Removing the tickets the gate's load test created (the plan's POST /tickets, outside the
environment whose peak it is).

The app has no endpoint that deletes (and should not get one for a test's sake), so the gate
deletes them in SQL on the db host, over ssh with the inventory's connection settings (as the
host sampling does), as PostgreSQL's superuser: the tickets the locustfile marks (its
MARK_CUSTOMER and MARK_SUBJECT; tests/test_stepgate.py checks both files agree), including those
an interrupted earlier run left.
"""

from __future__ import annotations

import shlex
import subprocess

from provisioner import paths
from provisioner.errors import ProvisionerError
from provisioner.source import inventory
from provisioner.source.model import Environment

MARK_CUSTOMER = "provisioner-load-test"  # loadtest/locustfile.py's
MARK_SUBJECT = "[load test]"
DB_GROUP = "db"
TIMEOUT_S = 60
# Written out, not built from the constants above (the test checks they agree): no value of
# ours is ever spliced into SQL.
SQL = (
    "WITH gone AS (DELETE FROM tickets WHERE customer = 'provisioner-load-test'"
    " AND subject LIKE '[load test]%' RETURNING 1) SELECT count(*) FROM gone"
)


def command(user: str, db_name: str) -> str:
    """The remote command: psql as postgres on the app's database; prints the count removed."""
    as_postgres = ["runuser", "-u", "postgres", "--"] if user == "root" else [
        "sudo", "-n", "-u", "postgres",
    ]  # fmt: skip
    # cd /: postgres may not enter the login directory psql would start in (root's home)
    return "cd / && " + shlex.join([*as_postgres, "psql", "-XAtq", "-v", "ON_ERROR_STOP=1",
                                    "-d", db_name, "-c", SQL])  # fmt: skip


def remove_load_tickets(env_name: str, env: Environment, db_name: str) -> int:
    """Delete the marked tickets on the environment's (first) db host, the app's database;
    the number removed."""
    host = env.hosts_in(DB_GROUP)[0]
    ssh, user = inventory.ssh_command(env_name, env, host)
    argv = [*ssh[:1], "-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", *ssh[1:]]
    try:
        done = subprocess.run(
            [*argv, command(user, db_name)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
            cwd=paths.REPO,  # the inventory's key and known_hosts paths are relative to it
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProvisionerError(f"{host}: cannot remove the load test's tickets: {exc}") from None
    said = done.stdout.strip()
    if done.returncode != 0 or not said.isdigit():
        last = (done.stderr.strip().splitlines() or [said or f"exit {done.returncode}"])[-1]
        raise ProvisionerError(f"{host}: cannot remove the load test's tickets: {last}")
    return int(said)
