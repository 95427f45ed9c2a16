"""The tool's documented errors and exit codes.

Every mistake in what a user gives us (source file, command line) becomes an InputError, which
the CLI prints as one message and turns into EXIT_INPUT; nothing else is printed for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from provisioner.paths import display

EXIT_OK = 0
EXIT_FAILED = 1  # a host failed or was unreachable, or a check found a difference
EXIT_INPUT = 2  # bad input or usage: nothing was changed
EXIT_DRIFT = 3  # `drift`: the hosts differ from what the roles would make them
EXIT_REFUSED = 4  # the approval or promotion gate refused to change the environment
EXIT_GATE = 5  # the post-deploy gate failed (the release was rolled back if it had changed)
EXIT_PREFLIGHT = 6  # a host is short of the capacity the source asks for; nothing was changed
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report it


@dataclass(frozen=True)
class Location:
    """Where in a file a value came from (1-based line)."""

    file: Path
    line: int | None = None

    def __str__(self) -> str:
        name = display(self.file)
        return f"{name}:{self.line}" if self.line else name


class ProvisionerError(Exception):
    """Base of the tool's own errors; carries the exit code the CLI uses."""

    exit_code = EXIT_FAILED


class InputError(ProvisionerError):
    """A mistake in the user's input: file, line and key path say where."""

    exit_code = EXIT_INPUT

    def __init__(self, message: str, where: Location | None = None, key: str | None = None):
        self.message = message
        self.where = where
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = []
        if self.where is not None:
            parts.append(str(self.where))
        if self.key:
            parts.append(self.key)
        prefix = ": ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


class HostError(ProvisionerError):
    """Local hosts (podman) could not be brought up or taken down, or execution nodes ran
    nothing (remote.py)."""


class LedgerError(ProvisionerError):
    """The run ledger cannot be reached or written. Raised before anything is changed, so a
    run that cannot be recorded does not happen. Messages name the ledger without a password."""

    exit_code = EXIT_FAILED


class LockedError(ProvisionerError):
    """Another run holds the environment's lock; the message names who, where and since when."""

    exit_code = EXIT_FAILED


class ApprovalError(ProvisionerError):
    """The approval gate refused: no approval, self-approval, expired or stale plan."""

    exit_code = EXIT_REFUSED


class QuarantinedError(ApprovalError):
    """The bundle was rolled back by the post-deploy gate on this environment and nobody has
    lifted that (deploy/quarantine.py): refused like an apply without approval."""
