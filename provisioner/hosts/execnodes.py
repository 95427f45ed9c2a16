"""Execution nodes: hosts that run Ansible jobs for the controller (`ansible-runner worker`).

`setup` makes any host an execution node by running playbooks/execution-node.yml on it: a venv
with the controller's own pins of ansible-core, ansible, ansible-runner and mitogen (read from
requirements.txt), installed from a wheelhouse this machine downloads, so the node needs no
package index. `up` starts local ones for tests: Debian 13 containers (ansible-core needs
Python >= 3.12) on a local environment's network, at addresses its hosts never get.

Library code: knows nothing of the terminal. Host keys of every node set up from here are kept in
KNOWN_HOSTS, and connections to nodes check them strictly.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner import paths
from provisioner.errors import HostError, InputError, ProvisionerError
from provisioner.hosts import localhosts
from provisioner.hosts.localhosts import Say, _quiet  # said once, for both kinds of machine
from provisioner.run.request import EventCallback, RunRequest, RunResult
from provisioner.run.runner import run_playbook
from provisioner.source import hostkeys
from provisioner.source.executor import SSH_PORT, Executor
from provisioner.source.model import Environment, LocalProvider

PLAYBOOK = paths.PLAYBOOKS / "execution-node.yml"
REQUIREMENTS = paths.REPO / "requirements.txt"
# What the node runs a job with: the same versions as this controller.
NODE_PACKAGES = ("ansible-core", "ansible", "ansible-runner", "mitogen")
KNOWN_HOSTS = paths.EXECUTOR_KNOWN_HOSTS
WHEELHOUSE = paths.STATE / "wheels" / "execution-node"
# Wheels for the Pythons a node may have (ansible-core needs >= 3.12; Debian 13 has 3.13) on
# x86_64 glibc; other nodes install from their own index (execution_node_install_from: index).
NODE_PYTHONS = ("3.12", "3.13")
NODE_PLATFORMS = (
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux_2_28_x86_64",
    "manylinux_2_34_x86_64",
)
EXEC_IMAGE = localhosts.Image(
    repo="localhost/provisioner-exec",
    kind="exec",
    suite="trixie",
    packages=("python3-venv", "python3-packaging", "openssh-client"),
)
TOP_OFFSET = 250  # local nodes get .250, .249, ...: hosts count up from .10
MAX_COUNT = 20

# name[extras]==version, optionally followed by an environment marker (`; python_version ...`)
PIN = re.compile(
    r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*(?P<version>[^\s;]+)\s*(?:;.*)?"
)


def _canonical(name: str) -> str:
    """PEP 503: ansible_core, Ansible-Core and ansible.core are one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def node_requirements(text: str | None = None) -> list[str]:
    """The controller's pins of what a node needs, e.g. ["ansible-core==2.21.5", ...]."""
    source = REQUIREMENTS.read_text() if text is None else text
    pins: dict[str, str] = {}
    for raw in source.splitlines():
        line = raw.split("#", 1)[0].strip()
        match = PIN.fullmatch(line)
        if match:
            pins[_canonical(match["name"])] = match["version"]
    missing = [name for name in NODE_PACKAGES if name not in pins]
    if missing:
        raise ProvisionerError(
            f"{paths.display(REQUIREMENTS)} pins no version (name==version) of: "
            f"{', '.join(missing)}; execution nodes must run the controller's versions"
        )
    return [f"{name}=={pins[name]}" for name in NODE_PACKAGES]


def node_names(env_name: str, count: int) -> list[str]:
    return [f"{env_name}-exec-{n}" for n in range(1, count + 1)]


def node_addresses(env: Environment, count: int) -> list[str]:
    """Fixed addresses for `count` local nodes: from .250 down, never one a host of the source
    uses (hosts count up from .10), never the subnet's broadcast address."""
    if not isinstance(env.provider, LocalProvider):
        raise InputError("local execution nodes need a local environment")
    if not 0 < count <= MAX_COUNT:
        raise InputError(f"--count {count}: expected 1 to {MAX_COUNT} execution nodes")
    subnet = env.provider.subnet
    used = {ipaddress.IPv4Address(a) for a in env.addresses().values()}
    top = min(TOP_OFFSET, subnet.num_addresses - 2)
    lowest = max(used, default=subnet.network_address + 1)
    found: list[str] = []
    for offset in range(top, 1, -1):
        address = subnet.network_address + offset
        if address <= lowest:
            break
        found.append(str(address))
        if len(found) == count:
            return found
    raise InputError(
        f"subnet {subnet} has no room for {count} execution nodes above its {len(used)} hosts"
    )


def up(env_name: str, env: Environment, count: int = 2, say: Say = _quiet) -> list[Executor]:
    """Make `count` local execution nodes exist, run and answer SSH on the environment's
    network; idempotent. Nodes beyond `count` are removed. Records their host keys."""
    if not isinstance(env.provider, LocalProvider):
        raise InputError(f"{env_name} runs on real servers: it has no local execution nodes")
    addresses = node_addresses(env, count)  # validates before anything changes
    localhosts.ensure_network(env_name, env.provider, say)
    localhosts.ensure_containers(
        env_name,
        dict(zip(node_names(env_name, count), addresses, strict=True)),
        say,
        gone="more execution nodes than asked for",
        image=EXEC_IMAGE,
        label=localhosts.EXECUTOR_LABEL,
    )
    nodes = [Executor(host=address, user="root") for address in addresses]
    record_host_keys(nodes, replace=True)
    return nodes


def known_hosts_name(node: Executor) -> str:
    """How known_hosts (and ssh-keyscan) names a node: host, or [host]:port."""
    host = node.address
    return host if node.port == SSH_PORT else f"[{host}]:{node.port}"


def record_host_keys(nodes: Iterable[Executor], *, replace: bool) -> list[Executor]:
    """Scan the nodes' SSH host keys into KNOWN_HOSTS (atomically). replace=False keeps the keys
    of nodes already recorded (real nodes: a changed key must fail, not be trusted); returns the
    nodes whose keys were newly recorded."""
    current = KNOWN_HOSTS.read_text().splitlines() if KNOWN_HOSTS.exists() else []
    recorded = {line.split(" ", 1)[0] for line in current if line and not line.startswith("#")}
    scanned: list[Executor] = []
    lines = list(current)
    for node in nodes:
        name = known_hosts_name(node)
        if name in recorded and not replace:
            continue
        keys = hostkeys.keyscan(node.address, node.port, node.url)
        lines = [line for line in lines if line.split(" ", 1)[0] != name] + keys
        recorded.add(name)
        scanned.append(node)
    if lines != current or not KNOWN_HOSTS.exists():
        paths.state_dir("executors")
        tmp = KNOWN_HOSTS.with_suffix(".tmp")
        tmp.write_text("".join(f"{line}\n" for line in sorted(set(lines))))
        tmp.replace(KNOWN_HOSTS)
    return scanned


def fingerprints(nodes: Iterable[Executor]) -> list[str]:
    """The recorded keys' fingerprints of these nodes, one line each (to compare by hand)."""
    lines: list[str] = []
    for node in nodes:
        found = subprocess.run(
            ["ssh-keygen", "-l", "-F", known_hosts_name(node), "-f", str(KNOWN_HOSTS)],
            capture_output=True,
            text=True,
            check=False,
        )
        lines += [line for line in found.stdout.splitlines() if line and not line.startswith("#")]
    return lines


def _wheelhouse_stamp(requirements: list[str]) -> str:
    wanted = {"requirements": requirements, "pythons": NODE_PYTHONS, "platforms": NODE_PLATFORMS}
    return hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()


def ensure_wheelhouse(requirements: list[str], say: Say = _quiet) -> Path:
    """Download the wheels a node installs (binary only, for NODE_PYTHONS on x86_64) into
    WHEELHOUSE; done again only when the pins change."""
    stamp_file = WHEELHOUSE.with_suffix(".stamp")
    stamp = _wheelhouse_stamp(requirements)
    if WHEELHOUSE.is_dir() and stamp_file.exists() and stamp_file.read_text().strip() == stamp:
        return WHEELHOUSE
    say(f"downloading wheels for execution nodes into {paths.display(WHEELHOUSE)}")
    staging = paths.state_dir("wheels") / "execution-node.new"
    shutil.rmtree(staging, ignore_errors=True)
    for python in NODE_PYTHONS:
        platforms = [arg for platform in NODE_PLATFORMS for arg in ("--platform", platform)]
        result = subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(staging)),
                *("--only-binary=:all:", "--implementation", "cp", "--python-version", python),
                *platforms,
                *requirements,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ProvisionerError(
                f"downloading wheels for execution nodes (Python {python}) failed: "
                f"{result.stderr.strip().splitlines()[-1:] or result.returncode}"
            )
    for wheel in staging.iterdir():
        wheel.chmod(0o644)
    shutil.rmtree(WHEELHOUSE, ignore_errors=True)
    staging.rename(WHEELHOUSE)
    stamp_file.write_text(stamp + "\n")
    return WHEELHOUSE


def ssh_user(node: Executor) -> str:
    """The user ssh logs in as: the URL's, else what ssh's own configuration says."""
    if node.user:
        return node.user
    found = subprocess.run(
        ["ssh", "-G", "-p", str(node.port), "--", node.address],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in found.stdout.splitlines():
        key, _, value = line.partition(" ")
        if key == "user" and value:
            return value
    raise HostError(f"{node.url}: cannot tell which user ssh logs in as; name it in the URL")


def node_inventory(nodes: list[Executor], *, local_key: bool) -> dict[str, Any]:
    """An ad-hoc inventory of the nodes, named by their URLs' host[:port]."""
    hosts: dict[str, dict[str, Any]] = {}
    for node in nodes:
        user = ssh_user(node)
        name = node.address + (f"_{node.port}" if node.port != SSH_PORT else "")
        hosts[name] = {
            "ansible_host": node.address,
            "ansible_port": node.port,
            "ansible_user": user,
            "ansible_become": user != "root",
            "execution_node_user": user,
        }
    common_args = f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile={KNOWN_HOSTS}"
    variables: dict[str, Any] = {"ansible_ssh_common_args": common_args}
    if local_key:
        variables["ansible_ssh_private_key_file"] = str(paths.SSH_KEY)
    return {"all": {"hosts": hosts, "vars": variables}}


@dataclass(frozen=True)
class SetupRequest:
    nodes: list[Executor]
    local: bool = False  # our containers: connect with the local hosts' key
    install_from: str = "wheelhouse"  # or "index": the node's own package index


def setup(
    request: SetupRequest,
    say: Say = _quiet,
    on_event: EventCallback | None = None,
) -> RunResult:
    """Run playbooks/execution-node.yml on the nodes (their host keys must be in KNOWN_HOSTS)."""
    if not request.nodes:
        raise InputError("no execution nodes to set up")
    requirements = node_requirements()
    extravars: dict[str, Any] = {
        "execution_node_requirements": requirements,
        "execution_node_install_from": request.install_from,
    }
    if request.install_from == "wheelhouse":
        extravars["execution_node_wheelhouse"] = str(ensure_wheelhouse(requirements, say))
    say(f"setting up {len(request.nodes)} execution nodes: {', '.join(requirements)}")
    return run_playbook(
        RunRequest(
            env="executors",  # its artifacts go to .state/runs/executors
            playbook=PLAYBOOK,
            inventory=node_inventory(request.nodes, local_key=request.local),
            extravars=extravars,
        ),
        on_event=on_event,
    )
