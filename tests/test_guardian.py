"""The guardian of a local run (provisioner/run/guardian.py), with real processes and no hosts:
an "ansible-playbook" of our own in PATH leaves a worker in a session of its own, as Ansible's do,
and the guardian must end it when its parent dies, when it is told to stop, or after Ansible."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from provisioner import paths

# Ansible's shape: a worker in a session of its own (SIGHUP ignored, as ansible-runner starts
# it), then the main process waits, or exits with the status the test asks for.
FAKE_ANSIBLE = """#!/bin/sh
trap '' HUP
setsid sleep 300 &
echo $! > "$WORKER_PID"
if [ -n "$EXIT_AT_ONCE" ]; then exit "$EXIT_AT_ONCE"; fi
sleep 300
"""

# The tool: starts the guardian as ansible-runner does (its child), then waits for it.
TOOL = """
import os, subprocess, sys
guardian = subprocess.Popen([sys.executable, "-m", "provisioner.run.guardian", str(os.getpid()),
                             "--diff", "site.yml"])
sys.exit(guardian.wait())
"""


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def start(tmp_path: Path, exit_at_once: str = "") -> tuple[subprocess.Popen[bytes], int]:
    """The tool, its guardian and the fake Ansible; returns once the worker runs."""
    binary = tmp_path / "bin"
    binary.mkdir(exist_ok=True)
    fake = binary / "ansible-playbook"
    fake.write_text(FAKE_ANSIBLE)
    fake.chmod(0o755)
    worker_pid = tmp_path / "worker.pid"
    env = {
        **os.environ,
        "PATH": f"{binary}:{os.environ['PATH']}",
        "WORKER_PID": str(worker_pid),
        "EXIT_AT_ONCE": exit_at_once,
    }
    tool = subprocess.Popen([sys.executable, "-c", TOOL], cwd=paths.REPO, env=env)
    deadline = time.monotonic() + 30
    while not worker_pid.exists() or not worker_pid.read_text().strip():
        assert time.monotonic() < deadline, "the fake Ansible never started its worker"
        time.sleep(0.05)
    return tool, int(worker_pid.read_text())


def test_the_tool_killed_ends_every_process_of_the_run(tmp_path: Path) -> None:
    tool, worker = start(tmp_path)
    assert running(worker)
    tool.kill()  # SIGKILL: nothing of the tool runs any more
    tool.wait()
    assert gone_within(worker, 20), "the run's worker outlived the tool"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_guardian_ends_the_run_and_says_by_which_signal(
    tmp_path: Path, signum: signal.Signals
) -> None:
    tool, worker = start(tmp_path)
    guardian = int(Path(f"/proc/{tool.pid}/task/{tool.pid}/children").read_text().split()[0])
    os.kill(guardian, signum)
    assert tool.wait(timeout=30) == 128 + signum
    assert not running(worker)


def test_ansibles_status_is_the_guardians_and_nothing_of_the_run_is_left(tmp_path: Path) -> None:
    tool, worker = start(tmp_path, exit_at_once="4")
    assert tool.wait(timeout=30) == 4
    assert not running(worker)


def test_a_guardian_whose_parent_is_already_gone_starts_nothing(tmp_path: Path) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "provisioner.run.guardian", "1", "site.yml"],
        cwd=paths.REPO,
        env={**os.environ, "PATH": str(tmp_path)},  # no ansible-playbook: it must not get that far
        check=False,
        timeout=30,
    )
    assert ran.returncode == 128 + signal.SIGTERM
