"""The local backend: ansible-runner runs the playbook on this machine."""

from __future__ import annotations

from pathlib import Path

from provisioner import paths
from provisioner.run.ansible_env import ansible_env
from provisioner.run.request import ARTIFACTS_KEPT, Cancel, Ended, Handle, RunRequest


def run(request: RunRequest, private: Path, handle: Handle, cancel: Cancel | None) -> Ended:
    # Imported here: a tenth of a second that an apply which runs no playbook does not pay.
    import ansible_runner  # noqa: PLC0415 - see above

    runner = ansible_runner.run(
        private_data_dir=str(private),
        project_dir=str(paths.REPO),
        playbook=str(request.playbook),
        inventory=request.inventory or str(paths.INVENTORIES / request.env),
        envvars=ansible_env(),
        cmdline=request.cmdline() or None,
        limit=request.limit,
        forks=request.forks,
        extravars=request.extravars or None,
        verbosity=request.verbosity or None,
        quiet=True,
        event_handler=handle,
        cancel_callback=cancel,
        suppress_env_files=True,  # env files would hold the command line and passwords
        rotate_artifacts=ARTIFACTS_KEPT,
    )
    return Ended(runner.status, runner.rc, Path(runner.config.artifact_dir))
