"""The package cache for local hosts: one apt-cacher-ng on this machine, so that a Debian package
every local host installs (environments, molecule instances, the image build itself) comes from
the mirror once and from this machine after that.

Where the setting lives, once: the local host images (hosts/build-image.sh, given `URL` by
localhosts.Image) carry an apt Proxy-Auto-Detect script that answers `URL` while the cache
listens there and DIRECT when it does not, so a host that cannot reach the cache falls back to
the mirror by itself. The roles and the generated inventories know nothing of the cache: a local
host's apt sources are exactly what the roles write, as on a real server, and `provider: ssh`
environments never see it.

The cache listens only on `ADDRESS`, an address of its own on this machine's loopback interface
inside the range the source of truth reserves for the controller (model.CONTROLLER_RANGE, which
no environment may use): every local host reaches it through its network's gateway, and nothing
outside this machine can. Its files live in `.state/apt-cache/` (`PROVISION_PACKAGE_CACHE` names
another directory, e.g. one that fresh clones on the same machine share). It is started on
demand, by `up`/apply of a local environment, `image`, and molecule's dependency step
(`provision.py cache`), and keeps running after the command that started it.
"""

from __future__ import annotations

import fcntl
import http.client
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from provisioner import paths
from provisioner.errors import ProvisionerError
from provisioner.source.model import CONTROLLER_RANGE

ADDRESS = str(CONTROLLER_RANGE.network_address + 1)
PORT = 3143  # not apt-cacher-ng's own 3142: Debian's system service may hold that one
URL = f"http://{ADDRESS}:{PORT}"
REPORT_PAGE = "/acng-report.html"
SERVER = b"Apt-Cacher NG"  # in its report page: how we know the port holds a cache
START_TIMEOUT = 10.0
INDEX_MAX_AGE = 86400  # seconds an index signature is served before it is fetched again
SIGNATURES = ("InRelease", "Release", "Release.gpg")
BINARY = "apt-cacher-ng"
SUPPORT_DIR = Path("/usr/lib/apt-cacher-ng")  # Debian's package ships its helper files here

Say = Callable[[str], None]


class CacheUnavailable(ProvisionerError):
    """The cache cannot be started or reached; hosts then fetch from the mirror."""


def directory() -> Path:
    given = os.environ.get("PROVISION_PACKAGE_CACHE")
    return Path(given).expanduser() if given else paths.STATE / "apt-cache"


_warned = False  # "the tool says so once": one line per process, however many callers ask


def ensure(say: Say) -> bool:
    """The cache running at URL (started if need be); False, said once, when it cannot be."""
    global _warned  # noqa: PLW0603 - one warning per process is the point of this flag
    try:
        start()
    except CacheUnavailable as exc:
        if not _warned:
            say(f"package cache unavailable ({exc}): local hosts fetch packages from the mirror")
            _warned = True
        return False
    return True


def start() -> None:
    """Start the cache unless it already answers; raises CacheUnavailable saying why not."""
    root = directory()
    if _answers() and _healthy(root):
        _drop_signatures(root, older_than=INDEX_MAX_AGE)
        return
    binary = shutil.which(BINARY) or shutil.which(f"/usr/sbin/{BINARY}")
    if binary is None:
        raise CacheUnavailable(f"{BINARY} is not installed; `make setup` installs it")
    for part in ("", "cache", "log", "conf"):
        (root / part).mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(root / "start.lock", "w") as lock:  # one starter at a time; the next finds it up
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _answers() and _healthy(root):
            return
        # Ours, but not answering or with its files gone (apt-cacher-ng keeps running when it
        # cannot bind, and serves errors when its directory is removed): start it afresh.
        for pid in _processes(root):
            _stop(pid)
        if _answers():  # another checkout's cache holds the address: it serves us as well
            return
        _ensure_address()
        (root / "conf" / "acng.conf").write_text(_config(root))
        _run(binary, root)


def answers() -> bool:
    """Whether a package cache (ours or another checkout's) answers at URL."""
    return _answers()


def stop(root: Path | None = None) -> None:
    """Stop the cache that runs on `root` (default: this checkout's directory); the next
    ensure() starts one again. A cache on another directory is left alone."""
    for pid in _processes(root or directory()):
        _stop(pid)


def _drop_signatures(root: Path, older_than: float | None = None) -> None:
    """Remove cached index signatures fetched more than `older_than` seconds ago (all of them
    when None), so that the next host to ask fetches them from the mirror (see _config). One
    walk of the cache: this runs on every local run that finds the cache up."""
    names = {f"{name}{suffix}" for name in SIGNATURES for suffix in ("", ".head")}
    cutoff = None if older_than is None else time.time() - older_than
    for path in (root / "cache").rglob("*Release*"):
        if path.name not in names:
            continue
        try:
            if cutoff is None or path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            pass  # removed meanwhile (another run, or the cache itself)


def _run(binary: str, root: Path) -> None:
    _drop_signatures(root)  # fetched afresh after each start
    # In the foreground of a session of its own, so that we know its pid and exit status, and
    # Ctrl-C in the terminal that started it does not stop it.
    with open(root / "log" / "daemon.log", "ab") as log:
        process = subprocess.Popen(
            [binary, "-c", str(root / "conf"), "ForeGround=1"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while not _answers():
        code = process.poll()
        if code is not None:
            said = (root / "log" / "daemon.log").read_text(errors="replace")
            raise CacheUnavailable(f"{BINARY} exited with {code}: {_last_line(said)}")
        if time.monotonic() > deadline:
            _stop(process.pid)
            raise CacheUnavailable(f"{BINARY} started but does not answer at {URL}")
        time.sleep(0.2)


def _processes(root: Path) -> list[int]:
    """The apt-cacher-ng processes running with this directory's configuration."""
    conf = str(root / "conf").encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        if argv[0].endswith(BINARY.encode()) and conf in argv:
            found.append(int(proc.name))
    return found


def _healthy(root: Path) -> bool:
    """Ours is running, with its cache directory still there and the configuration this
    version writes (one started by an older version is restarted with the new one)."""
    try:
        current = (root / "conf" / "acng.conf").read_text() == _config(root)
    except OSError:
        current = False
    return current and bool(_processes(root)) and (root / "cache").is_dir()


def _stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it ended


def _config(root: Path) -> str:
    # No Remap rules: apt-cacher-ng then works as a plain proxy for the mirror URLs the hosts'
    # own sources name, and files are kept under that host name (cache/deb.debian.org/...).
    return "\n".join(
        [
            "# written by provisioner/hosts/pkgcache.py on every start: edits are lost",
            f"CacheDir: {root / 'cache'}",
            f"LogDir: {root / 'log'}",
            f"SupportDir: {SUPPORT_DIR}",
            f"Port: {PORT}",
            f"BindAddress: {ADDRESS}",
            f"ReportPage: {REPORT_PAGE.lstrip('/')}",
            "UnbufferLogs: 1",  # the transfer log is read by tests and `provision.py cache`
            "ExThreshold: 4",
            # apt-cacher-ng 3.7 treats index signatures (InRelease) as volatile and fetches them
            # from the mirror on *every* request (FreshIndexMaxAge does not stop that). Two hosts
            # asking in the same second make it fail to move the old copy aside ("File exists"),
            # the host gets a truncated reply, and its apt waits forever on a closed connection
            # (seen twice in fresh-clone runs, once with three qa hosts converging at once). So
            # they are "special solid" files here: fetched once, then served from the cache like
            # a package, every host seeing the same one; freshness is ours to keep: each start
            # drops them (_run), and every later start() drops those older than INDEX_MAX_AGE.
            # The Packages lists they name are fetched by hash, so they are solid already.
            "SPfilePatternEx: (^|/)(In)?Release(\\.gpg)?$",
            "",
        ]
    )


def _ensure_address() -> None:
    if _address_is_local():
        return
    added = subprocess.run(
        ["ip", "addr", "add", f"{ADDRESS}/32", "dev", "lo"],
        capture_output=True,
        text=True,
        check=False,
    )
    if added.returncode != 0:
        raise CacheUnavailable(f"cannot add {ADDRESS} to lo: {_last_line(added.stderr)}")


def _address_is_local() -> bool:
    """Whether ADDRESS is this machine's (binding to it works only then). Asked before any
    connection to it: were it not, the packet would leave this machine by the default route."""
    with socket.socket() as probe:
        try:
            probe.bind((ADDRESS, 0))
        except OSError:
            return False
    return True


def _answers() -> bool:
    """Whether an apt-cacher-ng answers at URL (something else on that port does not count)."""
    if not _address_is_local():
        return False
    conn = http.client.HTTPConnection(ADDRESS, PORT, timeout=1)
    try:
        conn.request("GET", REPORT_PAGE)
        return SERVER in conn.getresponse().read(65536)
    except OSError:
        return False
    finally:
        conn.close()


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


@dataclass(frozen=True)
class Transfer:
    """One line of apt-cacher-ng's transfer log: `I` bytes came from the mirror, `O` bytes went
    to a host."""

    direction: str
    size: int
    client: str
    path: str


def transfers(log: Path | None = None) -> Iterator[Transfer]:
    """The transfer log (`TIME|I or O|BYTES|CLIENT|PATH` a line), oldest first."""
    log = log or directory() / "log" / "apt-cacher.log"
    if not log.exists():
        return
    for line in log.read_text(errors="replace").splitlines():
        fields = line.split("|", 4)
        if len(fields) == 5 and fields[1] in ("I", "O") and fields[2].isdigit():  # noqa: PLR2004
            yield Transfer(fields[1], int(fields[2]), fields[3], fields[4])


@dataclass(frozen=True)
class Usage:
    from_mirror: int  # bytes
    to_hosts: int  # bytes
    hosts: int  # distinct clients


def usage(log: Path | None = None) -> Usage:
    seen = list(transfers(log))
    return Usage(
        from_mirror=sum(t.size for t in seen if t.direction == "I"),
        to_hosts=sum(t.size for t in seen if t.direction == "O"),
        hosts=len({t.client for t in seen if t.direction == "O"}),
    )


def size_on_disk() -> int:
    root = directory() / "cache"
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.exists() else 0
