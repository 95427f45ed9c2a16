"""What the deploy workflow tells whoever runs it, and how: the Observer a front end implements.

The workflow (workflow.py) never prints. It calls its observer: `note` for a step on the way,
`say` for a line that matters (the run's end, a rollback, a gate's verdict), `live` while a
playbook runs, and `summary`, `changes` and `gate` for what a run produced. The command line
implements it with a console (cli/progress.py, cli/tables.py); CI or a test can implement it
with print() or a list.

Lines given to `say` may carry console markup around some of their words: `[red]...[/]`,
`[green]...[/]`, `[yellow]...[/]`, `[bold]...[/]`. A front end without colour drops the tags
(`plain`). Text given to `note` has no markup: it carries names and URLs (an IPv6 address in
brackets) that must not be read as tags.

Values in a line (an identity, a host's message, anything from the ledger, the source or a host)
go through `escaped` in a `say` line or a console's table cell, and `printable` in plain text:
a value is shown, never obeyed, whether it looks like markup (`[/]`, which made rich raise) or
a terminal's escape sequence (ESC [2J clears the screen).
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from typing import Any, Protocol

from rich.markup import escape

from provisioner.run.changes import Change
from provisioner.run.request import EventCallback, RunResult

# The tags the workflow's lines use (and only those: a bracket in a host's message stays;
# one escaped by `escaped`, with a backslash before it, is a value's).
MARKUP = re.compile(r"(?<!\\)\[/?(?:red|green|yellow|bold)?\]")
# C0 and C1 control characters and DEL, shown as \xNN: none reaches a terminal as itself.
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_LINE_BREAKS = {ord("\n"): "\n", ord("\t"): "\t"}


class Observer(Protocol):
    def note(self, text: str) -> None:
        """A step on the way (`• ` and dim on a console): plain text, no markup."""

    def say(self, line: str) -> None:
        """A line of the run's story, in the markup above."""

    def live(
        self, env: str, hosts: int, *, verbose: bool = False
    ) -> AbstractContextManager[EventCallback]:
        """While a playbook runs on `hosts` hosts: the callback takes each of Ansible's events
        (verbose: with Ansible's own output too)."""

    def summary(self, result: RunResult) -> None:
        """A playbook run's per-host counts, when it has ended."""

    def changes(self, changes: list[Change]) -> None:
        """Every task that changed (or would change), per host, with its diff."""

    def gate(self, env: str, verdict: dict[str, Any]) -> None:
        """A post-deploy gate's checks (GateResult.as_dict(), as the ledger keeps them)."""


def plain(line: str) -> str:
    """A `say` line without its markup (and a value's escaped brackets as they were)."""
    return MARKUP.sub("", line).replace("\\[", "[")


def printable(value: object, *, lines: bool = False) -> str:
    """`value` as text with its control characters shown as \\xNN (newlines and tabs kept if
    `lines`, for a diff or a message of several lines)."""
    return str(value).translate(_CONTROL | _LINE_BREAKS if lines else _CONTROL)


def escaped(value: object) -> str:
    """`value` inside console markup: printable, its brackets never read as tags."""
    return escape(printable(value))
