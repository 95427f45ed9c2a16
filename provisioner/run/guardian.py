"""The parent of a local run's ansible-playbook: when provision.py goes, it ends every process of
the run, and when the run is canceled, it ends them all, not only Ansible's first process.

Why it exists: ansible-runner starts Ansible with SIGHUP ignored (pexpect's ignore_sighup) and
Ansible's workers run in sessions of their own. When provision.py died (SIGKILL, the OOM killer,
a lost machine session), its Ansible went on changing hosts for minutes, while the next run had
taken the dead run's lock over (its holder is gone): two writers on one environment, one of them
recorded nowhere. And a cancel killed only the process group ansible-runner knows.

How, with two kernel features (Linux, like the rest of the tool's local hosts):
- PR_SET_PDEATHSIG: the kernel sends this process SIGTERM when its parent (provision.py) dies;
  right after asking, it checks the parent is still the one that started it (it may have died
  in between).
- PR_SET_CHILD_SUBREAPER: a process of the run whose parent exits is re-parented to this one,
  not to init, so every process of the run stays its descendant and can be found and ended.

Usage (local.py builds it): python -m provisioner.run.guardian PARENT_PID ANSIBLE_ARGS...
Exit status: Ansible's; 128 + the signal when it ended the run on a signal.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PR_SET_CHILD_SUBREAPER = 36
GRACE = 10.0  # seconds between SIGTERM and SIGKILL: Ansible's workers may be mid-write


class Stop(Exception):
    """Raised by the signal handler: the run is to end, every process of it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def descendants(root: int) -> list[int]:
    """Every live process below `root`, from /proc (parents before children). Zombies are left
    out: they have ended, their parent collects them (or reap() does, once they are ours)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, the last ")" ends it
        fields = text[text.rindex(")") + 2 :].split()
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def reap() -> dict[int, int]:
    """Collect every child that has ended (orphans re-parented here too): pid -> wait status."""
    ended: dict[int, int] = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:  # no children left
            return ended
        if pid == 0:
            return ended
        ended[pid] = status


def end_all(grace: float = GRACE) -> None:
    """SIGTERM every descendant, SIGKILL what is left after `grace` seconds, reap them all."""
    for signum, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        for pid in descendants(os.getpid()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            reap()
            if not descendants(os.getpid()):
                return
            time.sleep(0.1)


def _stop(signum: int, _frame: object) -> None:
    raise Stop(signum)


def main(argv: list[str]) -> int:
    parent, args = int(argv[0]), argv[1:]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stop)
    try:
        if os.getppid() != parent:  # the tool died before the kernel was asked to say so
            return 128 + signal.SIGTERM
        playbook = shutil.which("ansible-playbook") or str(
            Path(sys.executable).with_name("ansible-playbook")
        )
        ansible = subprocess.Popen([playbook, *args])
        while True:
            pid, status = os.waitpid(-1, 0)  # Ansible, or an orphan of the run re-parented here
            if pid == ansible.pid:
                ansible.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait
                break
    except Stop as stop:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        end_all()
        return 128 + stop.signum
    end_all()  # Ansible is done: anything of the run still running is left over
    code = ansible.returncode
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
