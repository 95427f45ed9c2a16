"""Which containers `up` must recreate rather than trust podman's word for (pure logic: the
state is podman's `inspect` State; the process check reads this machine's /proc)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from provisioner.hosts.localhosts import ensure_forwarding, is_stale


def gone_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_a_running_container_whose_process_exists_is_trusted() -> None:
    assert not is_stale({"Running": True, "Pid": os.getpid()})


def test_a_running_container_whose_process_is_gone_is_stale() -> None:
    assert is_stale({"Running": True, "Pid": gone_pid()})
    assert is_stale({"Running": True, "Pid": 0})  # podman's state without a process


def test_a_stopped_container_is_not_stale_it_is_started() -> None:
    assert not is_stale({"Running": False, "Pid": 0})


def test_forwarding_is_turned_on_before_hosts_are_created(tmp_path: Path) -> None:
    flag = tmp_path / "ip_forward"
    flag.write_text("0\n")
    said: list[str] = []
    ensure_forwarding(said.append, flag)
    assert flag.read_text() == "1\n"
    assert len(said) == 1
    ensure_forwarding(said.append, flag)  # already on: nothing written, nothing said
    assert len(said) == 1


def test_forwarding_that_cannot_be_turned_on_is_said_not_raised(tmp_path: Path) -> None:
    said: list[str] = []
    ensure_forwarding(said.append, tmp_path / "missing" / "ip_forward")
    assert len(said) == 1
    assert "cannot turn on IPv4 forwarding" in said[0]
