"""Run a playbook on remote execution nodes with ansible-runner's streaming protocol.

The job is packed on this machine (`transmit`), run by `ansible-runner worker` on the execution
node over SSH, and its events come back through `process` into the same callbacks as a local run.
This is the mechanism AWX's automation mesh uses; nothing here is a protocol of our own.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import subprocess
import tempfile
import threading
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any

import yaml

from provisioner import paths
from provisioner.errors import HostError, InputError
from provisioner.run.ansible_env import ansible_env
from provisioner.run.request import ARTIFACTS_KEPT, Cancel, Ended, Handle, Payload, RunRequest
from provisioner.run.status import Status
from provisioner.source import hostkeys
from provisioner.source.executor import Executor
from provisioner.source.model import Environment, LocalProvider, SshProvider
from provisioner.source.secrets import Vault, default_password_file

NODE_DEFAULTS = paths.REPO / "roles" / "execution_node" / "defaults" / "main.yml"


@cache
def node_paths() -> dict[str, str]:
    """The node's venv, jobs directory and mitogen strategy plugins, as the execution_node role
    puts them."""
    defaults = yaml.safe_load(NODE_DEFAULTS.read_text())
    return {
        "venv": str(defaults["execution_node_venv"]),
        "jobs": str(defaults["execution_node_jobs_dir"]),
        "strategy_plugins": str(defaults["execution_node_strategy_plugins"]),
    }


# --- what a job carries -------------------------------------------------------------------------

# The part of the repo a playbook run reads, copied into the job's project directory as it is.
PROJECT_PARTS = (
    "ansible.cfg",
    "playbooks",
    "roles",
    "group_vars",
    "scripts/vault-password-client.py",
)


def payload(env_name: str, env: Environment, vault: Vault) -> Payload:
    """The SSH key, the host keys and the secrets of one environment, for a remote job. They
    travel in the job's stream only; on the node they live in the job's tmpfs directory, which
    the worker deletes when the job ends."""
    # Where the vault client looks when no $PROVISION_VAULT_PASSWORD_FILE_<ENV> says otherwise.
    password_at = default_password_file(env_name).relative_to(paths.REPO).as_posix()
    files: list[tuple[Path, str]] = [
        (vault.password_file, password_at),
        (vault.file, vault.inventory_file),
    ]
    extravars: dict[str, str] = {}
    if isinstance(env.provider, LocalProvider):
        relative = paths.SSH_KEY.relative_to(paths.REPO).as_posix()
        files += [(paths.SSH_KEY, relative), (paths.SSH_KEY.with_suffix(".pub"), relative + ".pub")]
    elif isinstance(env.provider, SshProvider):
        key = Path(env.provider.key).expanduser()
        carried = f".state/ssh/{env_name}-key"
        files += [(key, carried), (Path(f"{key}.pub"), carried + ".pub")]
        # The inventory names the key by its path on this machine.
        extravars["ansible_ssh_private_key_file"] = "{{ playbook_dir | dirname }}/" + carried
        known = hostkeys.known_hosts(env_name)
        files.append((known, known.relative_to(hostkeys.KNOWN_HOSTS.parent).as_posix()))
    missing = [source for source, _ in files if not source.is_file()]
    if missing:
        raise InputError(
            f"a remote job of {env_name} needs {', '.join(map(str, missing))}: not found"
        )
    return Payload(tuple(files), extravars, password_at)


def _pack(request: RunRequest, job: Path) -> None:
    """The job's private data directory: project/ as the repo lays it out, with only what the
    run reads."""
    project = job / "project"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in PROJECT_PARTS:
        source, target = paths.REPO / part, project / part
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(source, target)
    shutil.copytree(
        paths.INVENTORIES / request.env, project / "inventories" / request.env, symlinks=True
    )
    for source, relative in request.payload.files:
        target = project / relative
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copyfile(source, target)  # payload() checked that they exist
        target.chmod(0o600)


# --- running ------------------------------------------------------------------------------------


@dataclass
class SliceOutcome:
    executor: Executor
    status: str = "unstarted"
    rc: int = -1
    explanation: str = ""
    ssh_stderr: str = ""


def ssh_command(executor: Executor, remote: str) -> list[str]:
    """ssh to an execution node: batch mode, host keys checked against ~/.ssh/known_hosts and
    the keys `provision.py executors` recorded for local nodes."""
    return [
        "ssh",
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={paths.EXECUTOR_KNOWN_HOSTS} ~/.ssh/known_hosts",
        "-o", "ServerAliveInterval=15",
        # The local hosts' key, which local nodes accept; real nodes: the agent or ssh's config.
        *(["-i", str(paths.SSH_KEY)] if paths.SSH_KEY.exists() else []),
        "-p", str(executor.port),
        "--",  # the end of the options: the destination is never read as one
        executor.destination,
        remote,
    ]  # fmt: skip


def run(request: RunRequest, private: Path, handle: Handle, cancel: Cancel | None) -> Ended:
    """The remote backend: the request on its executors, one slice each, in parallel; every
    event goes to `handle` (one at a time)."""
    run_id = uuid.uuid4().hex[:12]
    artifacts = private / "artifacts" / f"remote-{run_id}"
    lock = threading.Lock()

    def serialized(event: dict[str, Any]) -> bool:
        with lock:
            return handle(event)

    parts = request.slices or ((),)  # no slices: the one node runs every host
    outcomes = [SliceOutcome(executor) for executor in request.executors]
    shared = _Shared(request, artifacts, serialized, cancel, run_id)
    threads = []
    for index, hosts in enumerate(parts):
        if request.slices and not hosts:  # more nodes than hosts: this one has nothing to do
            outcomes[index].status, outcomes[index].rc = Status.SUCCESSFUL, 0
            continue
        threads.append(
            threading.Thread(
                target=_run_slice,
                args=(shared, index, hosts, outcomes[index]),
                name=f"slice-{index}",
                daemon=True,
            )
        )
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    from ansible_runner.utils import cleanup_artifact_dir  # noqa: PLC0415 - see _runner

    cleanup_artifact_dir(str(private / "artifacts"), ARTIFACTS_KEPT)
    report_broken(outcomes, parts, serialized)
    statuses = {o.status for o in outcomes}
    order = (Status.CANCELED, Status.TIMEOUT, Status.FAILED)
    status = next((s for s in order if s in statuses), Status.SUCCESSFUL)
    rc = max(o.rc for o in outcomes)
    return Ended(status, rc, artifacts)


BROKEN = ("error", "unstarted")  # the job did not run (ssh, the node), as opposed to failed
NODE_TASK = "Run the job on the execution node"  # how a broken slice's hosts are reported


def report_broken(
    outcomes: list[SliceOutcome], parts: tuple[tuple[str, ...], ...], handle: Handle
) -> None:
    """Slices whose job never ran: when no slice ran, one error; otherwise their hosts are
    reported unreachable through `handle`, like any unreachable host, so the summary, the exit
    code and the ledger show what the slices that did run changed, and what did not run."""
    broken = [(o, hosts) for o, hosts in zip(outcomes, parts, strict=True) if o.status in BROKEN]
    if not broken:
        return
    if len(broken) == len(outcomes) or not all(hosts for _, hosts in broken):
        raise HostError("; ".join(_why(o) for o, _ in broken))
    for outcome, hosts in broken:
        for host in hosts:
            data = {"host": host, "task": NODE_TASK, "res": {"msg": _why(outcome)}}
            handle({"event": "runner_on_unreachable", "event_data": data})
        handle({"event": "playbook_on_stats", "event_data": {"dark": dict.fromkeys(hosts, 1)}})
        outcome.status, outcome.rc = Status.FAILED, 4  # ansible-playbook's rc for unreachable hosts


def _why(outcome: SliceOutcome) -> str:
    """What went wrong with a job that did not run: ssh's own words when it said something."""
    said = outcome.ssh_stderr or outcome.explanation or outcome.status
    if "ansible-runner: not found" in said or "No such file" in said:
        said += (
            f" (is it an execution node? `provision.py executors --setup {outcome.executor.url}`)"
        )
    return f"execution node {outcome.executor.url}: the job did not run: {said}"


def _node_env(node_dir: str) -> dict[str, str]:
    """What ansible_env() is for a local run, with the node's paths: its copy of the project's
    ansible.cfg, and of mitogen's strategy plugins (execution_node role)."""
    return ansible_env(
        config=f"{node_dir}/project/ansible.cfg",
        strategy_plugins=node_paths()["strategy_plugins"],
    )


def _vault_id(request: RunRequest, node_dir: str) -> list[str]:
    """The vault id with the password file's path on the node (the job carries the file)."""
    if not request.payload.password_file:
        return []
    carried = f"{node_dir}/project/{request.payload.password_file}"
    return ["--vault-id", f"{request.env}@{carried}"]


def job_kwargs(
    request: RunRequest, index: int, hosts: tuple[str, ...], job: Path, node_dir: str
) -> dict[str, Any]:
    extravars: dict[str, Any] = {**request.extravars, **request.payload.extravars}
    if index > 0:  # run_once tasks belong to the first slice (see slices())
        extravars["provisioner_run_once_here"] = False
    return {
        "playbook": request.playbook.relative_to(paths.REPO).as_posix(),
        "inventory": str(job / "project" / "inventories" / request.env),
        "envvars": _node_env(node_dir),
        "cmdline": request.remote_cmdline(_vault_id(request, node_dir)) or None,
        "limit": ",".join(hosts) if hosts else request.limit,
        "forks": request.forks,
        "extravars": extravars or None,
        "verbosity": request.verbosity or None,
        "suppress_env_files": True,
    }


@dataclass(frozen=True)
class _Shared:
    """What every slice of one run shares."""

    request: RunRequest
    artifacts: Path
    handle: Handle
    cancel: Cancel | None
    run_id: str


def _run_slice(shared: _Shared, index: int, hosts: tuple[str, ...], outcome: SliceOutcome) -> None:
    request, artifacts, handle, cancel = (
        shared.request,
        shared.artifacts,
        shared.handle,
        shared.cancel,
    )
    node = node_paths()
    job_id = f"{shared.run_id}-{index}"
    node_dir = f"{node['jobs']}/{job_id}"
    worker = (
        f"PATH={shlex.quote(node['venv'])}/bin:/usr/local/bin:/usr/bin:/bin exec ansible-runner "
        f"worker --private-data-dir {shlex.quote(node_dir)} --delete"
    )
    job = Path(tempfile.mkdtemp(dir=paths.state_dir("runs", request.env), prefix="job-"))
    stopped = threading.Event()
    try:
        try:
            _pack(request, job)
        except OSError as exc:  # a file vanished since payload() looked, or the disk is full
            outcome.status, outcome.explanation = "error", f"packing the job: {exc}"
            return
        ssh = subprocess.Popen(
            ssh_command(outcome.executor, worker),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        stdin, stdout, stderr = ssh.stdin, ssh.stdout, ssh.stderr
        if stdin is None or stdout is None or stderr is None:  # pragma: no cover - PIPE given
            raise HostError("ssh started without pipes")
        errors: list[bytes] = []
        reader = threading.Thread(target=lambda: errors.append(stderr.read()), daemon=True)
        reader.start()
        sender = threading.Thread(
            target=_transmit,
            args=(stdin, job, job_kwargs(request, index, hosts, job, node_dir)),
            daemon=True,
        )
        sender.start()
        watcher = threading.Thread(
            target=_watch, args=(ssh, cancel, stopped), name=f"cancel-{index}", daemon=True
        )
        watcher.start()

        def status(data: dict[str, Any], runner_config: Any = None) -> None:
            if data.get("job_explanation"):
                outcome.explanation = str(data["job_explanation"]).strip()

        processor = _runner().run(
            streamer="process",
            _input=stdout,
            private_data_dir=str(job),
            artifact_dir=str(artifacts / f"slice-{index}"),
            event_handler=handle,
            status_handler=status,
            cancel_callback=lambda: False,  # canceling is the watcher's: it ends the ssh
            quiet=True,
        )
        stopped.set()
        sender.join(timeout=30)
        ssh.wait()
        reader.join(timeout=5)
        outcome.ssh_stderr = b"".join(errors).decode(errors="replace").strip()[-500:]
        outcome.status = str(processor.status)
        outcome.rc = _read_rc(artifacts / f"slice-{index}")
        if cancel is not None and cancel():
            outcome.status = Status.CANCELED
        if outcome.status not in (Status.SUCCESSFUL, Status.FAILED):
            _clean_node(outcome.executor, node_dir)
    finally:
        stopped.set()
        shutil.rmtree(job, ignore_errors=True)


def _runner() -> Any:
    """ansible_runner, imported when a job runs: a tenth of a second that an apply which runs
    no playbook (every host unchanged) does not pay."""
    import ansible_runner  # noqa: PLC0415 - see the docstring

    return ansible_runner


def _transmit(stream: IO[bytes], job: Path, kwargs: dict[str, Any]) -> None:
    try:
        _runner().run(streamer="transmit", _output=stream, private_data_dir=str(job), **kwargs)
    except BrokenPipeError:  # ssh ended early: the processor reports why
        pass
    finally:
        with contextlib.suppress(BrokenPipeError):
            stream.close()


def _watch(ssh: subprocess.Popen[bytes], cancel: Cancel | None, stopped: threading.Event) -> None:
    """End the ssh (and with it the worker and its playbook) when the run is canceled."""
    while not stopped.wait(0.5):
        if cancel is not None and cancel():
            ssh.terminate()
            return


def _read_rc(artifact_dir: Path) -> int:
    try:
        return int((artifact_dir / "rc").read_text().strip())
    except (OSError, ValueError):
        return -1


def _clean_node(executor: Executor, node_dir: str) -> None:
    """A job that did not end normally may have left processes and its directory (and secrets)
    on the node: the worker's playbook can outlive the ssh that started it, and the worker
    deletes the directory only when it exits cleanly. Stop every process whose command line
    names the job's directory (the pattern's [/] keeps it from matching this very command),
    wait up to 5 s for them, then remove the directory. Best effort."""
    pattern = shlex.quote(f"[{node_dir[0]}]{node_dir[1:]}")
    script = (
        f"pkill -TERM -f {pattern}; "
        f"for _ in $(seq 25); do pgrep -f {pattern} >/dev/null || break; sleep 0.2; done; "
        f"pkill -KILL -f {pattern}; rm -rf {shlex.quote(node_dir)}"
    )
    subprocess.run(ssh_command(executor, script), capture_output=True, timeout=60, check=False)
