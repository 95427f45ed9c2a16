"""`provision.py verify ENV`: the shared testinfra suite against an environment's real hosts.

The suite (verification/) is the same one molecule/stack runs. Here it reaches the hosts over
plain SSH (testinfra's native backend, about 25x faster than going through Ansible for each
command) and reads each host's groups and variables from the generated inventory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from provisioner import paths
from provisioner.source.model import Environment, LocalProvider, SshProvider

SUITE = paths.REPO / "verification"
# Below this many hosts per worker, starting pytest-xdist workers (each imports testinfra and
# reads the inventory) costs more than it saves. Measured on 2 cores, 20 hosts: 1 worker
# 16.9 s, 2 workers 9.9 s, 4 workers 11.4 s (bench/, `verify bench`).
HOSTS_PER_WORKER = 4


def workers(hosts: int) -> int:
    """pytest-xdist workers for a suite over `hosts` hosts: at most one per core."""
    return max(1, min(os.cpu_count() or 1, hosts // HOSTS_PER_WORKER))


def ssh_config(env_name: str, env: Environment) -> Path:
    """An ssh_config for testinfra: which key, and whether host keys are checked."""
    # One SSH connection per host for the whole suite, not one per command. The socket lives
    # where Ansible keeps its own (a short path: a checkout deep in the file system would make
    # it longer than a Unix socket path may be).
    sockets = Path.home() / ".ansible" / "cp"
    sockets.mkdir(mode=0o700, parents=True, exist_ok=True)
    control = sockets / "verify-%C"
    lines = [
        "Host *",
        "  BatchMode yes",
        "  ConnectTimeout 10",
        "  ControlMaster auto",
        f"  ControlPath {control}",
        "  ControlPersist 60s",
    ]
    if isinstance(env.provider, LocalProvider):
        # Same trust as Ansible has for local hosts (see inventory.LOCAL_SSH_ARGS).
        lines += [
            f"  IdentityFile {paths.SSH_KEY}",
            "  StrictHostKeyChecking no",
            "  UserKnownHostsFile /dev/null",
        ]
    elif isinstance(env.provider, SshProvider):
        lines += [f"  IdentityFile {env.provider.key}", f"  Port {env.provider.port}"]
    path = paths.state_dir("ssh") / f"verify-{env_name}.config"
    paths.write_private(path, "\n".join(lines) + "\n")
    return path


def host_specs(env: Environment) -> list[str]:
    user = env.provider.user if isinstance(env.provider, SshProvider) else "root"
    return [f"ssh://{user}@{env.address_of(host)}" for host in sorted(env.hosts)]


def run(
    env_name: str,
    env: Environment,
    junit_xml: Path | None = None,
    expected_releases: dict[str, str] | None = None,
) -> int:
    """pytest on the suite; `expected_releases` names hosts rolled back since the last deploy
    and the release each should run instead of app_release."""
    args = [
        sys.executable,
        "-m",
        "pytest",
        str(SUITE),
        "-p",
        "no:cacheprovider",
        "-q",
        "--rootdir",
        str(SUITE),
        f"--hosts={','.join(host_specs(env))}",
        f"--ssh-config={ssh_config(env_name, env)}",
    ]
    if (count := workers(len(env.hosts))) > 1:
        args += ["-n", str(count)]
    if junit_xml is not None:
        args.append(f"--junit-xml={junit_xml}")
    environ = {
        **os.environ,
        "PROVISIONER_VERIFY_INVENTORY": str(paths.INVENTORIES / env_name),
        "PROVISIONER_EXPECTED_RELEASES": json.dumps(expected_releases or {}),
    }
    return subprocess.run(args, env=environ, cwd=paths.REPO, check=False).returncode
