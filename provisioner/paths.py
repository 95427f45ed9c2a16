"""Where things live: one place for every path the tool reads or writes."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO / "environments.yml"
INVENTORIES = REPO / "inventories"
GROUP_VARS = REPO / "group_vars"
PLAYBOOKS = REPO / "playbooks"
SITE_PLAYBOOK = PLAYBOOKS / "site.yml"
ANSIBLE_CFG = REPO / "ansible.cfg"
HOSTS_DIR = REPO / "hosts"
CONTAINERS_CONF = HOSTS_DIR / "containers.conf"
TESTS_DIR = REPO / "tests"
LOCUSTFILE = REPO / "loadtest" / "locustfile.py"
# Whose SSH keys may plan, approve and apply which environment, and sign the ledger's
# checkpoints (OpenSSH allowed-signers format; committed, changed by review: trust/signers.py).
ALLOWED_SIGNERS = REPO / "security" / "allowed_signers"

# Runtime state (SSH key for local hosts, run artifacts): git-ignored, readable by us alone.
STATE = REPO / ".state"
SSH_KEY = STATE / "ssh" / "id_ed25519"
RUNS = STATE / "runs"
REPORT = STATE / "report"  # the web report's default place (provision.py report)
# Host keys of execution nodes started here (`provision.py executors`), checked on every job.
EXECUTOR_KNOWN_HOSTS = STATE / "executors" / "known_hosts"
# The newest signed checkpoint of each ledger, outside the ledger (ledger/checkpoints.py).
WITNESS = ("witness",)  # state_dir(*WITNESS)


class UnsafePathError(PermissionError):
    """A private path of the tool's that is a symbolic link, not what it should be, or not
    ours: refused, never followed (a link would make us write secrets, or chmod, elsewhere)."""


_log = logging.getLogger("provisioner")


def state_dir(*parts: str) -> Path:
    """A directory under .state, created with mode 0700 (secrets and artifacts live there).
    Each level must be a real directory of ours: a symbolic link is refused, and a mode open to
    others is said (a warning) before it is made private again."""
    path = STATE
    _private_dir(path)
    for part in parts:
        path = path / part
        _private_dir(path)
    return path


def _private_dir(path: Path) -> None:
    with contextlib.suppress(FileExistsError):  # checked below, whatever it is
        path.mkdir(mode=0o700)
    try:
        # O_NOFOLLOW: the directory itself, never what a link there points at
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        kind = "a symbolic link" if path.is_symlink() else "not a directory"
        raise UnsafePathError(
            exc.errno,
            f"{display(path)} is {kind}; the tool keeps its private state only in "
            "a directory of its own: remove it and run again",
        ) from None
    try:
        owned_and_private(fd, path, 0o700)
    finally:
        os.close(fd)


def owned_and_private(fd: int | None, path: Path, mode: int, *, ours: bool = True) -> None:
    """`fd` (open on `path`; None: `path` itself, never opened) is ours (`ours`: else refused);
    a mode open to others is warned about, then closed, if we can."""
    info = os.fstat(fd) if fd is not None else os.stat(path)
    if info.st_uid != os.getuid() and not ours:
        return  # someone else's, by the user's choice (a shared ledger file): theirs to keep
    if info.st_uid != os.getuid():
        raise UnsafePathError(
            f"{display(path)} belongs to uid {info.st_uid}, not to this user ({os.getuid()})"
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        _log.warning(
            "warning: %s was mode %s, open to others; made %s",
            display(path),
            oct(stat.S_IMODE(info.st_mode)),
            oct(mode),
        )
        if fd is not None:
            os.fchmod(fd, mode)
        else:
            os.chmod(path, mode)


def write_private(path: Path, content: str, *, new: bool = False) -> None:
    """Write `path` readable by us alone, never through a symbolic link (O_NOFOLLOW); `new`:
    it must not exist yet (O_EXCL: not even as a dangling link)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    flags |= os.O_EXCL if new else os.O_TRUNC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError:
        if not (path.is_symlink() or (new and path.exists())):
            raise
        raise UnsafePathError(
            f"{display(path)} is a symbolic link or already there; remove it"
        ) from None
    with os.fdopen(fd, "w") as handle:
        os.fchmod(fd, 0o600)  # whatever the umask or an existing file's mode was
        handle.write(content)


def check_private_file(path: Path) -> None:
    """A private file of the tool's (a vault password it made): no symbolic link, ours, and
    closed to others (warned about, then closed)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        if not path.is_symlink():
            raise
        raise UnsafePathError(
            f"{display(path)} is a symbolic link; the tool's own file must not be one"
        ) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafePathError(f"{display(path)} is not a regular file")
        owned_and_private(fd, path, 0o600)
    finally:
        os.close(fd)


def display(path: Path) -> str:
    """A path as the user should read it: relative to the repo when inside it."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)
