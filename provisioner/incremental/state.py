"""The reading of what the roles manage (onhost.py), taken over plain ssh from every host at
once: the same connection settings as the generated inventory (inventory.ssh_command), no
Ansible, one short session per host.

A host that cannot be read gets the reason instead of a reading; the caller runs it.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner import paths
from provisioner.source import inventory
from provisioner.source.model import Environment

PROGRAM = Path(__file__).with_name("onhost.py")
PYTHON = "/usr/bin/python3"  # ansible.cfg's interpreter_python: what every host has
TIMEOUT = 60  # seconds for one host's whole reading (its probes allow 30 each)
# The classic elliptic-curve key exchange first: about a tenth of the CPU of OpenSSH 9's default
# post-quantum hybrid on both ends, which matters when every host is read at once on a small
# controller. `^` puts it first and keeps the defaults after it.
OPTIONS: tuple[str, ...] = ("-o", "KexAlgorithms=^curve25519-sha256")
OPTIONS += ("-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR")


@dataclass(frozen=True)
class Read:
    """One host's reading (item -> state), or why there is none."""

    items: dict[str, str] | None
    problem: str = ""


def program(manifest: dict[str, Any]) -> str:
    """The text `python3 -` runs on the host: onhost.py, then its main with the manifest."""
    call = f"\nmain({json.dumps(json.dumps(manifest, sort_keys=True))})\n"
    return PROGRAM.read_text() + call


def _read_one(argv: list[str], text: str) -> Read:
    try:
        done = subprocess.run(
            argv,
            input=text,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
            cwd=paths.REPO,  # the inventory's key and known_hosts paths are relative to it
        )
    except subprocess.TimeoutExpired:
        return Read(None, f"no answer in {TIMEOUT}s")
    except OSError as exc:
        return Read(None, f"ssh: {exc.strerror}")
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        return Read(None, f"ssh exit {done.returncode}: {said[-1] if said else 'no message'}")
    try:
        items = json.loads(done.stdout)
    except ValueError:
        return Read(None, "the reading is not JSON")
    if not isinstance(items, dict):
        return Read(None, "the reading is not a mapping")
    return Read({str(k): str(v) for k, v in items.items()})


def read(env_name: str, env: Environment, manifests: dict[str, dict[str, Any]]) -> dict[str, Read]:
    """host -> its reading, every host of `manifests` at once."""
    if not manifests:
        return {}
    jobs = {}
    for host, manifest in manifests.items():
        ssh, user = inventory.ssh_command(env_name, env, host)
        remote = [PYTHON, "-"] if user == "root" else ["sudo", "-n", PYTHON, "-"]
        argv = [*ssh[:1], *OPTIONS, *ssh[1:], shlex.join(remote)]
        jobs[host] = (argv, program(manifest))
    with ThreadPoolExecutor(max_workers=min(len(jobs), 32)) as pool:
        futures = {host: pool.submit(_read_one, *job) for host, job in jobs.items()}
        return {host: future.result() for host, future in sorted(futures.items())}
