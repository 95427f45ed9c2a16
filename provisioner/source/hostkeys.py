"""Host trust for real servers: their SSH host keys, recorded once and checked on every run.

`provision.py trust ENV` scans the keys of the environment's hosts into known_hosts/<env> and
prints their fingerprints, to be compared with what the servers' owners publish and committed.
Every connection then runs with StrictHostKeyChecking=yes against that file (see inventory.py):
a server whose key changed is unreachable, with a message saying why. Local containers are
recreated at will, so their keys are not checked.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from provisioner import paths
from provisioner.errors import HostError, InputError
from provisioner.source.model import Environment, SshProvider

KNOWN_HOSTS = paths.REPO / "known_hosts"
CHANGED = "Host key verification failed"


def known_hosts(env_name: str) -> Path:
    return KNOWN_HOSTS / env_name


def require(env_name: str, env: Environment) -> None:
    """Refuse to connect to real servers whose keys were never recorded."""
    if isinstance(env.provider, SshProvider) and not known_hosts(env_name).exists():
        raise InputError(
            f"no recorded host keys for {env_name}: run `provision.py trust {env_name}`, compare "
            f"the fingerprints it prints with the servers', and commit known_hosts/{env_name}"
        )


def keyscan(address: str, port: int, name: str) -> list[str]:
    """The SSH host keys `address` offers, as known_hosts lines; `name` says who in an error."""
    found = subprocess.run(
        ["ssh-keyscan", "-T", "10", "-p", str(port), "-t", "ed25519,ecdsa,rsa", "--", address],
        capture_output=True,
        text=True,
        check=False,
    )
    keys = [line for line in found.stdout.splitlines() if line and not line.startswith("#")]
    if not keys:
        raise HostError(f"{name} ({address}:{port}) gave no SSH host key: {found.stderr.strip()}")
    return keys


def scan(env_name: str, env: Environment) -> list[str]:
    """Record the hosts' current keys; returns their fingerprints, one line each."""
    if not isinstance(env.provider, SshProvider):
        raise InputError(f"{env_name} runs on local containers; their host keys are not checked")
    port = env.provider.port
    lines: list[str] = []
    for host in sorted(env.hosts):
        lines += keyscan(env.address_of(host), port, host)
    target = known_hosts(env_name)
    target.parent.mkdir(exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text("\n".join(sorted(lines)) + "\n")
    tmp.chmod(0o644)
    tmp.replace(target)
    prints = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(target)], capture_output=True, text=True, check=True
    )
    return prints.stdout.splitlines()
