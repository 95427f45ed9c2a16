"""What a person sees while a run goes: the live status line, and failures as they happen."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from provisioner.deploy.observer import printable
from provisioner.run.events import DONE_EVENTS, failure_message, is_failure

# What ssh says on a host key mismatch, and what mitogen's connection says instead.
CHANGED_HOST_KEY = ("Host key verification failed", "mismatching host key")


class LiveProgress:
    """A status line: current play and task, hosts done/failed in this task, elapsed time.

    Failures are printed above it as they happen, with the task, the host and Ansible's message,
    so nobody waits for the end of a long run to learn what broke.
    """

    def __init__(self, console: Console, env: str, hosts: int, verbose: bool = False) -> None:
        self.console = console
        self.env = env
        self.hosts = hosts
        self.verbose = verbose
        self.play = ""
        self.task = ""
        self.done: set[str] = set()
        self.failed: set[str] = set()
        self.started = time.monotonic()
        self.live = Live(self._render(), console=console, refresh_per_second=4, transient=True)

    def __enter__(self) -> LiveProgress:
        self.live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.live.__exit__(exc_type, exc, tb)

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event", "")
        data = event.get("event_data", {})
        if kind == "playbook_on_play_start":
            self.play = data.get("play", "")
        elif kind == "playbook_on_task_start":
            # A sliced run (remote.py) starts each task once per slice: one count for all.
            if data.get("task", "") != self.task:
                self.done.clear()
            self.task = data.get("task", "")
        elif kind in DONE_EVENTS:
            host = data.get("host", "?")
            self.done.add(host)
            if is_failure(event):
                self.failed.add(host)
                self.console.print(
                    Text(
                        f"{kind.removeprefix('runner_on_').upper()}: "
                        + printable(
                            f"{host}: {data.get('task', '')}: {_shown(failure_message(data))}"
                        ),
                        style="bold red",
                    )
                )
        if self.verbose and event.get("stdout"):
            self.console.print(Text.from_ansi(event["stdout"]))
        self.live.update(self._render())

    def _render(self) -> Group:
        elapsed = time.monotonic() - self.started
        line = Text.assemble(
            (f"{self.env} ", "bold"),
            (f"{self.play} ", "cyan"),
            ("> ", "dim"),
            (f"{self.task or 'starting'}  ", ""),
            (f"{len(self.done)}/{self.hosts} hosts  ", "green"),
            (f"{len(self.failed)} failed  " if self.failed else "", "red"),
            (f"{elapsed:5.1f}s", "dim"),
        )
        return Group(line)


def _shown(text: str) -> str:
    """A failed task's message (events.failure_message) on one line, or what it means."""
    if any(said in text for said in CHANGED_HOST_KEY):
        return (
            "its SSH host key does not match the recorded one (known_hosts/): if the server was "
            "rebuilt on purpose, run `provision.py trust ENV` and review the new fingerprint"
        )
    return text.strip().splitlines()[0] if text.strip() else "(no message)"
