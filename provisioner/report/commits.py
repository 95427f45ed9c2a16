"""What changed in the code between two bundles: the commits (author, date, message) and the
files they touched under what decides a run (roles/, playbooks/, group_vars/, environments.yml),
from `git log` in this repository. Shown on a run's and a plan's page and by `show RUN_ID`.

A commit the repository does not know (another clone's, "unknown" outside git) gives an empty list
and a note saying so, never an error: the report is read long after the runs.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from provisioner import paths
from provisioner.ledger.ledger import Ledger
from provisioner.ledger.records import RunSummary
from provisioner.run.status import Status

WATCHED = ("roles", "playbooks", "group_vars", "environments.yml")
SHA = re.compile(r"[0-9a-f]{7,64}")
RECORD, FIELD = "\x1e", "\x1f"  # git log separators no message or name holds
SHOWN = 200  # commits listed between two bundles at most


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    date: str  # ISO 8601, the author's
    message: str  # the subject line
    files: tuple[str, ...]  # under WATCHED only


@dataclass(frozen=True)
class CodeChanges:
    since: str | None  # the earlier bundle's commit (None: no earlier apply)
    until: str | None
    since_run: str | None  # the run that deployed `since`
    commits: tuple[Commit, ...]
    note: str  # why the list is empty, or "" when it is the whole story


def _plain(commit: str | None) -> str | None:
    """The commit id a bundle recorded, without its '+dirty' mark; None when it names none."""
    if not commit:
        return None
    sha = commit.removesuffix("+dirty")
    return sha if SHA.fullmatch(sha) else None


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=paths.REPO, capture_output=True, text=True, check=False, timeout=60
    )


@lru_cache(maxsize=4096)
def _known(sha: str) -> bool:
    return _git("cat-file", "-e", f"{sha}^{{commit}}").returncode == 0


@lru_cache(maxsize=4096)
def _log(since: str, until: str) -> tuple[tuple[Commit, ...], bool]:
    """The commits in since..until touching WATCHED (newest first), and whether git answered."""
    done = _git(
        "log",
        f"--max-count={SHOWN}",
        f"--format={RECORD}%H{FIELD}%an{FIELD}%aI{FIELD}%s",
        "--name-only",
        f"{since}..{until}",
        "--",
        *WATCHED,
    )
    if done.returncode != 0:
        return (), False
    found = []
    for record in done.stdout.split(RECORD)[1:]:
        head, _, rest = record.partition("\n")
        sha, author, date, message = [*head.split(FIELD), "", "", ""][:4]
        files = tuple(line for line in rest.splitlines() if line.strip())
        found.append(Commit(sha, author, date, message, files))
    return tuple(found), True


def between(since: str | None, until: str | None, since_run: str | None = None) -> CodeChanges:
    """The code changes from the bundle at `since` to the one at `until`."""
    old, new = _plain(since), _plain(until)
    note = ""
    commits: tuple[Commit, ...] = ()
    if since is None:
        note = "no earlier successful apply to compare with"
    elif new is None or old is None:
        note = f"commit {(until if new is None else since) or 'unknown'} names no git commit"
    elif old == new:
        note = "the same commit as the previous apply"
    elif not _known(old) or not _known(new):
        missing = old if not _known(old) else new
        note = f"commit {missing[:12]} is not in this repository (another clone's?)"
    else:
        commits, answered = _log(old, new)
        if not answered:
            note = "git log failed in this repository"
        elif not commits:
            note = f"no commit touched {', '.join(WATCHED)}"
        elif len(commits) == SHOWN:
            note = f"the newest {SHOWN} commits"
    return CodeChanges(since, until, since_run, commits, note)


def previous_apply(runs: list[RunSummary], before: RunSummary) -> RunSummary | None:
    """The newest successful apply of `before`'s environment started before it (runs: newest
    first, as Ledger.runs gives them)."""
    for run in runs:
        if (
            run.env == before.env
            and run.kind == "apply"
            and run.status == Status.SUCCESSFUL
            and run.started_at < before.started_at
            and run.run_id != before.run_id
        ):
            return run
    return None


def since_previous_apply(ledger: Ledger, run: RunSummary) -> CodeChanges:
    """`show RUN_ID`'s list: the code changes from the environment's previous successful apply
    to this run's bundle."""
    previous = previous_apply(ledger.runs(env=run.env, limit=10_000), run)
    if previous is None:
        return between(None, run.commit)
    return between(previous.commit, run.commit, previous.run_id)
