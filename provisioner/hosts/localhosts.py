"""The embedded default: an environment's hosts as podman containers on this machine.

Each `provider: local` environment gets its own podman network (its subnet from the source, in
198.18.0.0/15) and one systemd container per host, named after the host, so hosts reach each
other by name. Ansible reaches them over real SSH at their fixed addresses, exactly as it would
reach real servers. Everything we create carries the label io.provisioner.env=<env>, which is how
stale containers and networks left by an earlier run are found, restarted or removed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner import paths
from provisioner.errors import HostError
from provisioner.hosts import pkgcache
from provisioner.source.model import Environment, LocalProvider

LABEL = "io.provisioner.env"
# Containers accept the SSH key of the checkout that made them (mounted from its .state/). Another
# checkout on the same machine (CI's fresh clone) has its own key: it must recreate them.
KEY_LABEL = "io.provisioner.key"
# Local execution nodes (provisioner/hosts/execnodes.py) carry their own label,
# io.provisioner.executor=<env>: `up` leaves them alone (they are not in the source), `down`
# removes them with the rest.
EXECUTOR_LABEL = "io.provisioner.executor"
IMAGE_REPO = "localhost/provisioner-host"
LATEST = f"{IMAGE_REPO}:latest"
BOOT_TIMEOUT = 90.0
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(paths.CONTAINERS_CONF)}


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            ["podman", *args], env=podman_env(), capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise HostError("podman is not installed; run `make setup` (scripts/setup.sh)") from None
    if check and result.returncode != 0:
        raise HostError(f"podman {' '.join(args[:2])} failed: {result.stderr.strip()}")
    return result


REMOVE_ATTEMPTS = 3


def remove(name: str) -> None:
    """Remove a container, stopping it first (5 s for its processes to end).

    Retried: on a busy machine podman may give up waiting for the container's exit file
    ("timed out waiting for file /run/libpod/exits/...: internal libpod error") although the
    container did stop; the next attempt finds it stopped and removes it. Done when it is gone,
    whatever the attempt said."""
    for attempt in range(1, REMOVE_ATTEMPTS + 1):
        removed = podman("rm", "-f", "-t", "5", name, check=False)
        if podman("container", "exists", name, check=False).returncode == 1:  # 1: no such one
            return
        if attempt == REMOVE_ATTEMPTS:
            raise HostError(f"podman rm {name} failed: {removed.stderr.strip()}")
        time.sleep(attempt)


@dataclass(frozen=True)
class Image:
    """What hosts/build-image.sh makes an image of (given as SUITE, EXTRA_PACKAGES, KIND)."""

    repo: str
    kind: str  # the image's io.provisioner.image label
    suite: str = "bookworm"
    packages: tuple[str, ...] = ()  # on top of the script's base set

    def build_env(self) -> dict[str, str]:
        return {
            "SUITE": self.suite,
            "EXTRA_PACKAGES": ",".join(self.packages),
            "KIND": self.kind,
            "APT_CACHE_URL": pkgcache.URL,  # where the image's apt looks for the package cache
        }


# The environments' hosts: Debian 12, what the roles are written for.
HOST_IMAGE = Image(repo=IMAGE_REPO, kind="host")


def image_tag(image: Image = HOST_IMAGE) -> str:
    """The image is named after a hash of what builds it (the script and its parameters), so a
    change to either rebuilds it."""
    digest = hashlib.sha256((paths.HOSTS_DIR / "build-image.sh").read_bytes())
    digest.update(json.dumps(image.build_env(), sort_keys=True).encode())
    return f"{image.repo}:{digest.hexdigest()[:12]}"


def ensure_image(say: Say = _quiet, image: Image = HOST_IMAGE) -> str:
    tag = image_tag(image)
    # One build of an image at a time: a second caller waits, then finds the image there.
    # Another image's build goes on meanwhile (ensure_images).
    with open(paths.state_dir() / f"image-{image.kind}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if podman("image", "exists", tag, check=False).returncode != 0:
            _build_image(tag, image, say)
        # molecule scenarios name the image by this stable tag
        podman("tag", tag, f"{image.repo}:latest")
    return tag


def ensure_images(images: Sequence[Image], say: Say = _quiet) -> list[str]:
    """Several images, built side by side when missing: a build is mostly debootstrap waiting
    on downloads and dpkg on one core, so two at once take little longer than the longer one
    (on a fresh machine, the hosts' and the execution nodes' images are minutes each)."""
    with ThreadPoolExecutor(max_workers=len(images) or 1) as pool:
        return list(pool.map(lambda image: ensure_image(say, image), images))


def _build_image(tag: str, image: Image, say: Say) -> None:
    say(f"building local {image.kind} image {tag} from Debian {image.suite} (about a minute)")
    # debootstrap fetches through the package cache too, when it runs (not part of the tag:
    # the image is the same either way)
    through = {"http_proxy": pkgcache.URL} if pkgcache.ensure(say) else {}
    result = subprocess.run(
        ["bash", str(paths.HOSTS_DIR / "build-image.sh"), tag],
        env={**podman_env(), **image.build_env(), **through},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise HostError(f"building the {image.kind} image failed:\n{result.stderr.strip()}")


def ensure_ssh_key() -> None:
    """The key Ansible uses for local hosts; made once, kept in the git-ignored state dir.
    Under a lock: the first runs in a fresh checkout are often two at once (`make hosts`' two
    lanes), and a second ssh-keygen on the same path would fail or replace the first's key under
    hosts just made to accept it."""
    public = paths.SSH_KEY.with_suffix(".pub")
    if paths.SSH_KEY.exists() and public.exists():
        return
    with open(paths.state_dir("ssh") / "key.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if paths.SSH_KEY.exists() and public.exists():
            return  # made by the run we waited for
        # Half a pair (a run killed inside ssh-keygen) is no key: make a new pair.
        paths.SSH_KEY.unlink(missing_ok=True)
        public.unlink(missing_ok=True)
        subprocess.run(
            [
                *("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "provisioner-local"),
                *("-f", str(paths.SSH_KEY)),
            ],
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,  # never a question on the terminal
        )
        # Mounted into every container as root's authorized_keys: sshd wants it world-readable
        # at most, never writable.
        public.chmod(0o644)


def key_id() -> str:
    """Names the key and where it is mounted from: both must match for a container to be ours."""
    public = paths.SSH_KEY.with_suffix(".pub")
    digest = hashlib.sha256(str(public).encode() + public.read_bytes())
    return digest.hexdigest()[:16]


def network_name(env: str) -> str:
    return f"provisioner-{env}"


@dataclass(frozen=True)
class Container:
    name: str
    running: bool
    image: str
    address: str | None
    key: str | None  # which SSH key it accepts (KEY_LABEL)
    # Listed as running, but its process is gone: podman's state outlived the processes (a
    # machine restored from a snapshot, a killed conmon). Neither exec nor start works on it.
    stale: bool = False


def is_stale(state: dict[str, Any]) -> bool:
    """Running by podman's `State`, but its main process (same pid namespace: podman runs as
    root here) no longer exists."""
    pid = int(state.get("Pid") or 0)
    return bool(state.get("Running")) and not (pid > 0 and Path(f"/proc/{pid}").exists())


def containers(env: str, label: str = LABEL) -> dict[str, Container]:
    """The environment's containers: its hosts, or (label=EXECUTOR_LABEL) its execution nodes."""
    out = podman("ps", "-aq", "--filter", f"label={label}={env}").stdout.split()
    if not out:
        return {}
    found: dict[str, Container] = {}
    for inspect in json.loads(podman("inspect", *out).stdout):  # one call for all: faster
        name = inspect["Name"].lstrip("/")
        networks = inspect["NetworkSettings"].get("Networks") or {}
        address = (networks.get(network_name(env)) or {}).get("IPAddress") or None
        found[name] = Container(
            name=name,
            running=bool(inspect["State"].get("Running")),
            stale=is_stale(inspect["State"]),
            image=inspect["ImageName"],
            address=address,
            key=(inspect["Config"].get("Labels") or {}).get(KEY_LABEL),
        )
    return found


def ensure_network(env_name: str, provider: LocalProvider, say: Say = _quiet) -> None:
    name = network_name(env_name)
    result = podman("network", "inspect", name, check=False)
    if result.returncode == 0:
        subnets = [s["subnet"] for s in json.loads(result.stdout)[0].get("subnets", [])]
        if subnets == [str(provider.subnet)]:
            return
        say(f"network {name} has subnet {subnets}, the source says {provider.subnet}: recreating")
        down(env_name, say)
    podman(
        "network",
        "create",
        "--subnet",
        str(provider.subnet),
        "--label",
        f"{LABEL}={env_name}",
        name,
    )


def up(env_name: str, env: Environment, say: Say = _quiet) -> None:
    """Make the environment's containers exist, run and answer SSH; idempotent."""
    if not isinstance(env.provider, LocalProvider):
        raise HostError(f"environment {env_name!r} is not local; its hosts are not ours to start")
    ensure_network(env_name, env.provider, say)
    ensure_containers(
        env_name,
        {host: env.address_of(host) for host in env.hosts},
        say,
        gone="no longer in the source",
    )


def ensure_containers(
    env_name: str,
    wanted: dict[str, str],
    say: Say,
    *,
    gone: str,
    image: Image = HOST_IMAGE,
    label: str = LABEL,
) -> None:
    """Exactly these containers (name -> address) carrying `label`=env_name, from `image`, on
    the environment's network, accepting this checkout's SSH key, running and answering SSH.
    Others with that label are removed (`gone` says why); idempotent."""
    tag = ensure_image(say, image)
    pkgcache.ensure(say)  # before the hosts boot: their first apt run finds it up
    ensure_forwarding(say)
    ensure_ssh_key()
    key = key_id()
    existing = containers(env_name, label)
    for name in sorted(set(existing) - set(wanted)):
        say(f"removing {name}: {gone}")
        remove(name)
    for name, address in sorted(wanted.items()):
        current = existing.get(name)
        if current and current.stale:
            say(f"recreating {name}: podman lists it as running, but its process is gone")
            remove(name)
            current = None
        if current and (
            current.image != tag or current.address not in (None, address) or current.key != key
        ):
            say(f"recreating {name}: its image, address or SSH key is not this checkout's")
            remove(name)
            current = None
        if current is None:
            say(f"creating {name} ({address})")
            podman(
                "run",
                "-d",
                "--name",
                name,
                "--hostname",
                name,
                "--network",
                network_name(env_name),
                "--ip",
                address,
                "--label",
                f"{label}={env_name}",
                "--label",
                f"{KEY_LABEL}={key}",
                "--systemd=always",
                "-v",
                f"{paths.SSH_KEY.with_suffix('.pub')}:/root/.ssh/authorized_keys:ro",
                tag,
            )
        elif not current.running:
            say(f"starting {name}")
            podman("start", name)
    wait_for_ssh(wanted)


def ensure_forwarding(say: Say = _quiet, flag: Path = IP_FORWARD) -> None:
    """IPv4 forwarding on in this machine's own network namespace before any host is created.

    A new network namespace copies the IPv4 settings of the machine's (ip_forward and, with it,
    conf.all.accept_redirects, which the kernel turns off when forwarding goes on). netavark
    turns forwarding on when it wires up the first container, after that container's namespace
    exists: on a freshly booted machine the first local host would then read ip_forward=0 and
    every later one 1, a difference `diff --live` rightly reports. Doing what netavark does,
    first, gives every host the same settings whatever order they were made in."""
    try:
        if flag.read_text().strip() == "1":
            return
        flag.write_text("1\n")
    except OSError as exc:  # not root, or a read-only /proc: podman's own behaviour stands
        say(
            f"cannot turn on IPv4 forwarding ({exc.strerror}): hosts created before the "
            "first container's network is up may differ in their IPv4 settings"
        )
        return
    say("turned on IPv4 forwarding (podman's networks need it) before creating hosts")


def wait_for_ssh(addresses: dict[str, str]) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    pending = dict(addresses)
    while pending:
        for host, address in list(pending.items()):
            if _ssh_banner(address):
                del pending[host]
        if pending and time.monotonic() > deadline:
            raise HostError(f"no SSH answer after {BOOT_TIMEOUT:.0f}s from: {', '.join(pending)}")
        if pending:
            time.sleep(0.3)


def _ssh_banner(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=1) as conn:
            conn.settimeout(2)
            return conn.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def down(env_name: str, say: Say = _quiet) -> None:
    """Remove the environment's containers (hosts and execution nodes) and network; fine when
    there are none."""
    for name in sorted({**containers(env_name), **containers(env_name, EXECUTOR_LABEL)}):
        say(f"removing {name}")
        remove(name)
    if podman("network", "exists", network_name(env_name), check=False).returncode == 0:
        podman("network", "rm", network_name(env_name))
