"""Running provision.py as a user would, in a process of its own: the one helper for that (the
unit tests run the same CLI in-process with conftest.run_cli, for speed)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from provisioner import paths
from provisioner.hosts import localhosts
from provisioner.run import guardian


def provision(
    *args: str,
    identity: str | None = None,
    ledger: str | None = None,
    extra_env: dict[str, str] | None = None,
    timeout: int = 1200,
    repo: Path = paths.REPO,
) -> subprocess.CompletedProcess[str]:
    """provision.py ARGS, run from `repo` (a checkout: this one, or a test's copy)."""
    env = {**os.environ, "COLUMNS": "200", **(extra_env or {})}
    if identity is not None:
        env["PROVISION_IDENTITY"] = identity
    if ledger is not None:
        env["PROVISION_LEDGER_URL"] = ledger
    return subprocess.run(
        [sys.executable, str(repo / "provision.py"), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=repo,
        timeout=timeout,
        env=env,
    )


def last_run(env: str) -> dict[str, Any]:
    """The summary provision.py wrote of `env`'s newest run (.state/runs/ENV/last-run.json)."""
    return dict(json.loads((paths.RUNS / env / "last-run.json").read_text()))


def planned_id(planned: subprocess.CompletedProcess[str]) -> str:
    """The id of the plan a successful `provision.py plan ENV` printed."""
    assert planned.returncode == 0, planned.stdout + planned.stderr
    found = re.search(r"plan (\w+): \d+ change", planned.stdout)
    assert found, planned.stdout
    return found.group(1)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def start_apply(env: str, ledger: str, *extra: str) -> subprocess.Popen[str]:
    """`provision.py ENV --full [EXTRA...]` in the background; returns once the run holds the
    environment's lock (so it really runs), its playbook is running and a few seconds more
    (--full: the incremental apply could skip every host and be done by then)."""
    run = subprocess.Popen(
        [sys.executable, str(paths.REPO / "provision.py"), env, "--full", *extra],
        cwd=paths.REPO,
        env={**os.environ, "PROVISION_LEDGER_URL": ledger},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while Asked(ledger).holder(env) is None:
        assert time.monotonic() < deadline, "the run never took the lock"
        time.sleep(0.2)
    # The lock comes before the hosts are created or started: a fault planted then would be
    # undone by the run itself. Wait for its playbook (a cold converge creates hosts first);
    # one that runs on execution nodes is not a process here: a few seconds more instead.
    remote = any(arg.startswith("--executor") for arg in extra)
    deadline = time.monotonic() + 300
    while not remote and not playbooks_of(env, under=run.pid):
        assert run.poll() is None, "the run ended before its playbook started"
        assert time.monotonic() < deadline, "the run's playbook never started"
        time.sleep(0.2)
    time.sleep(3)
    return run


def playbooks_of(env: str, under: int | None = None) -> list[str]:
    """The command lines of Ansible processes working on `env` (its inventory is in them), of
    the whole machine or only those below process `under` (one run's: not a leftover's)."""
    inventory = str(paths.INVENTORIES / env)
    found = []
    if under is None:
        pids = [int(p.name) for p in Path("/proc").glob("[0-9]*")]
    else:
        pids = guardian.descendants(under)
    for pid in pids:
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        words = [a.decode(errors="replace") for a in args]
        if any("ansible-playbook" in w for w in words) and inventory in words:
            found.append(" ".join(words))
    return found


class Asked:
    """The ledger, opened for each question and closed again: the test process keeps no SQLite
    connection open while provision.py processes write to the same file."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __getattr__(self, name: str) -> Any:
        from provisioner.ledger.ledger import open_ledger  # noqa: PLC0415

        def ask(*args: Any, **kwargs: Any) -> Any:
            with open_ledger(self.url) as book:
                return getattr(book, name)(*args, **kwargs)

        return ask


def tamper_motd(names: list[str]) -> None:
    """Drift the common role's /etc/motd on these hosts: work for the next run on each."""
    for name in names:
        localhosts.podman("exec", name, "sh", "-c", "echo tampered > /etc/motd")
