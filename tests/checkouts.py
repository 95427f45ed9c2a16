"""A copy of this repo with its own git history, state and ledger, for host tests that commit
changes (releases, capacity) the way a team would, without touching this checkout.

The copy is taken while holding REPO_FILES (tests/lanes.py), which a test that changes a
file of this checkout for a moment holds too (tests/test_incremental.py writes a group_vars
file): a copy never picks up another lane's passing change and commits it as its own."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import lanes
import pytest
from hostrun import Asked, provision, sqlite_url

from provisioner import paths

# Not caches, not state, not history: each copy starts its own.
SKIPPED = frozenset({".git", ".venv", ".state", "__pycache__", ".mypy_cache", ".ruff_cache"})


@dataclass(frozen=True)
class Checkout:
    root: Path

    def write(self, relative: str, text: str) -> None:
        (self.root / relative).write_text(text)

    def edit(self, relative: str, old: str, new: str) -> None:
        path = self.root / relative
        text = path.read_text()
        assert old in text, f"{old!r} not in {relative}: the fixture no longer applies"
        path.write_text(text.replace(old, new))

    def commit(self, message: str) -> None:
        for args in (["add", "-A"], ["commit", "-qm", message]):
            subprocess.run(
                ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
                cwd=self.root,
                check=True,
            )

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return provision(*args, identity="tester", repo=self.root, timeout=900)

    @property
    def ledger(self) -> Asked:
        return Asked(sqlite_url(self.root / ".state" / "ledger.sqlite3"))


def copy_repo(factory: pytest.TempPathFactory, name: str) -> Checkout:
    """This checkout's files (its working tree, uncommitted changes too) in a new repository
    with no commit yet: the test writes its source, then commits."""
    root = factory.mktemp(name) / "repo"
    with lanes.holding((lanes.REPO_FILES,), lanes.lock_directory(factory)):
        shutil.copytree(
            paths.REPO,
            root,
            ignore=lambda _dir, names: {n for n in names if n in SKIPPED},
            symlinks=True,
        )
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return Checkout(root)
