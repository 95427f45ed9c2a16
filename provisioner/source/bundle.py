"""What exactly would run: the repo commit and content hashes of the inventory and the roles.

A plan records its bundle; an approval of that plan is good only while the bundle is unchanged.
Hashes cover file contents (not timestamps), so they are the same on every clone.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from provisioner import paths

# Everything that decides what a run does to the hosts, besides the inventory.
CONTENT_DIRS = ("roles", "playbooks", "group_vars")
CONTENT_FILES = ("ansible.cfg",)


@dataclass(frozen=True)
class Bundle:
    commit: str
    inventory_hash: str
    roles_hash: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def differences(self, other: Bundle) -> list[str]:
        """Human words for what changed from `other` (an earlier plan's bundle) to this one."""
        words = {
            "commit": "the repo commit",
            "inventory_hash": "the generated inventory",
            "roles_hash": "the roles, playbooks or shared values",
        }
        return [
            f"{words[key]} ({getattr(other, key)[:12]} -> {getattr(self, key)[:12]})"
            for key in words
            if getattr(self, key) != getattr(other, key)
        ]


def tree_hash(files: list[Path], root: Path = paths.REPO) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        if path.is_symlink():
            digest.update(b"link:" + str(path.readlink()).encode())
        else:
            digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def files_under(directory: Path) -> list[Path]:
    return [
        p
        for p in directory.rglob("*")
        if (p.is_file() or p.is_symlink()) and "__pycache__" not in p.parts
    ]


def roles_hash() -> str:
    files = [f for d in CONTENT_DIRS for f in files_under(paths.REPO / d)]
    files += [paths.REPO / name for name in CONTENT_FILES]
    return tree_hash(files)


def inventory_hash(env: str) -> str:
    return tree_hash(files_under(paths.INVENTORIES / env))


def commit() -> str:
    """HEAD's commit, with '+dirty' when tracked files differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=paths.REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=paths.REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}+dirty" if dirty else head


def current(env: str) -> Bundle:
    return Bundle(commit=commit(), inventory_hash=inventory_hash(env), roles_hash=roles_hash())
