"""The local backend: ansible-runner runs the playbook on this machine, under the guardian
(guardian.py), which ends every process of the run when provision.py dies or cancels it."""

from __future__ import annotations

import os
import shlex
import signal
import sys
import time
from pathlib import Path

from provisioner import paths
from provisioner.run import guardian
from provisioner.run.ansible_env import ansible_env
from provisioner.run.request import ARTIFACTS_KEPT, Cancel, Ended, Handle, RunRequest

GUARDIAN = "provisioner.run.guardian"


def run(request: RunRequest, private: Path, handle: Handle, cancel: Cancel | None) -> Ended:
    # Imported here: a tenth of a second that an apply which runs no playbook does not pay.
    import ansible_runner  # noqa: PLC0415 - see above

    # ansible-runner runs `binary` with our command line, then its own options (-i, --limit,
    # --forks, -e, -v); the playbook is ours to pass when the binary is not ansible-playbook.
    # The guardian is imported from the project directory, ansible-runner's working directory.
    runner = ansible_runner.run(
        private_data_dir=str(private),
        project_dir=str(paths.REPO),
        binary=sys.executable,
        inventory=request.inventory or str(paths.INVENTORIES / request.env),
        envvars=ansible_env(),
        cmdline=shlex.join(["-m", GUARDIAN, str(os.getpid())])
        + f" {request.cmdline()} {shlex.quote(str(request.playbook))}",
        limit=request.limit,
        forks=request.forks,
        extravars=request.extravars or None,
        verbosity=request.verbosity or None,
        quiet=True,
        event_handler=handle,
        cancel_callback=None if cancel is None else _ending_everything(cancel),
        suppress_env_files=True,  # env files would hold the command line and passwords
        rotate_artifacts=ARTIFACTS_KEPT,
    )
    return Ended(runner.status, runner.rc, Path(runner.config.artifact_dir))


def _ending_everything(cancel: Cancel) -> Cancel:
    """`cancel`, but before it says so to ansible-runner (which SIGKILLs only the process group
    it started), the guardian is asked to end every process of the run and given the time."""

    def canceled() -> bool:
        if not cancel():
            return False
        for pid in _guardians():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + guardian.GRACE + 10
        while _guardians() and time.monotonic() < deadline:
            time.sleep(0.1)  # the guardian is ansible-runner's child: it reaps it
        return True

    return canceled


def _guardians() -> list[int]:
    """This process's guardians (one while a run is on), still running."""
    found = []
    for pid in guardian.descendants(os.getpid()):
        try:
            words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        if GUARDIAN.encode() in words:
            found.append(pid)
    return found
