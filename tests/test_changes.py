"""What a run records as changed, from ansible-runner's events."""

from __future__ import annotations

from typing import Any

from provisioner.run.changes import from_event

CENSORED = "the output has been hidden due to the fact that 'no_log: true' was specified"


def event(res: dict[str, Any], stdout: str = "", kind: str = "runner_on_ok") -> dict[str, Any]:
    data = {"host": "h1", "task": "T", "role": "r", "task_action": "a", "res": res}
    return {"event": kind, "event_data": data, "stdout": stdout}


def test_a_changed_file_carries_a_unified_diff() -> None:
    change = from_event(
        event(
            {
                "changed": True,
                "diff": [
                    {
                        "before": "a\nb\n",
                        "after": "a\nc\n",
                        "before_header": "/etc/x",
                        "after_header": "new",
                    }
                ],
            }
        )
    )
    assert change is not None
    assert change.host == "h1"
    assert "--- /etc/x" in change.diff
    assert "-b\n" in change.diff
    assert "+c\n" in change.diff


def test_unchanged_results_and_other_events_are_not_changes() -> None:
    assert from_event(event({"changed": False})) is None
    assert from_event(event({"changed": True}, kind="runner_on_failed")) is None


def test_a_hidden_result_counts_by_its_display_line_and_keeps_no_diff() -> None:
    changed = from_event(event({"censored": CENSORED}, "\x1b[0;33mchanged: [h1] => \x1b[0m"))
    assert changed is not None
    assert changed.diff == "(hidden: no_log)"
    assert from_event(event({"censored": CENSORED}, "\x1b[0;32mok: [h1] => \x1b[0m")) is None
