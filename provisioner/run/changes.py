"""What a run changed (or, in check mode, would change): one record per changed task and host.

Built from ansible-runner's events. Ansible already hides the results of `no_log` tasks; their
records say so and carry no diff.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass
from typing import Any

HIDDEN = "the output has been hidden"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class Change:
    host: str
    task: str
    role: str
    action: str
    diff: str  # unified diff, "" when the module gives none

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def from_event(event: dict[str, Any]) -> Change | None:
    """A Change for a changed task result, None for anything else."""
    if event.get("event") != "runner_on_ok":
        return None
    data = event.get("event_data", {})
    result = data.get("res") or {}
    changed = result.get("changed")
    if changed is None and HIDDEN in str(result.get("censored", "")):
        # A no_log result keeps no "changed" flag; only the display line says it.
        changed = ANSI.sub("", str(event.get("stdout", ""))).lstrip().startswith("changed:")
    if not changed:
        return None
    return Change(
        host=str(data.get("host", "")),
        task=str(data.get("task", "")),
        role=str(data.get("role", "")),
        action=str(data.get("task_action", "")),
        diff=render_diff(result),
    )


def render_diff(result: dict[str, Any]) -> str:
    if HIDDEN in str(result.get("censored", "")):
        return "(hidden: no_log)"
    diffs = result.get("diff") or []
    if isinstance(diffs, dict):
        diffs = [diffs]
    parts = []
    for diff in diffs:
        if "prepared" in diff:
            parts.append(str(diff["prepared"]))
            continue
        before, after = diff.get("before", ""), diff.get("after", "")
        if isinstance(before, str) and isinstance(after, str):
            parts.append(
                "".join(
                    difflib.unified_diff(
                        before.splitlines(keepends=True),
                        after.splitlines(keepends=True),
                        fromfile=str(diff.get("before_header", "before")),
                        tofile=str(diff.get("after_header", "after")),
                    )
                )
            )
        else:  # state changes (file mode, link target ...) come as dicts
            parts.append(f"- {before}\n+ {after}\n")
    return "".join(parts)
