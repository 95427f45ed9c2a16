"""The deploy workflow's observer (deploy/observer.py) on a console: its lines as they are, the
live display (progress.py) while a playbook runs, and its tables (tables.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.text import Text

from provisioner.cli.progress import LiveProgress
from provisioner.cli.tables import (
    STEPPED,
    gate_table,
    print_changes,
    stepped_parts,
    summary_table,
)
from provisioner.deploy.observer import printable
from provisioner.run.changes import Change
from provisioner.run.request import EventCallback, RunResult


class ConsoleObserver:
    def __init__(self, console: Console) -> None:
        self.console = console

    def note(self, text: str) -> None:
        # A Text, not markup: a note carries names and URLs, an IPv6 address in brackets too.
        self.console.print(Text(f"• {printable(text)}", style="dim"))

    def say(self, line: str) -> None:
        self.console.print(line)  # the workflow's markup is the console's

    @contextmanager
    def live(self, env: str, hosts: int, *, verbose: bool = False) -> Iterator[EventCallback]:
        with LiveProgress(self.console, env, hosts, verbose=verbose) as progress:
            yield progress.on_event

    def summary(self, result: RunResult) -> None:
        self.console.print(summary_table(result))

    def changes(self, changes: list[Change]) -> None:
        print_changes(self.console, changes)

    def gate(self, env: str, verdict: dict[str, Any]) -> None:
        self.console.print(gate_table(env, verdict))
        if isinstance(verdict.get(STEPPED), dict):
            for part in stepped_parts(env, verdict[STEPPED]):
                self.console.print(part)
