"""Every playbook task the Python recognizes by name (provisioner.run.tasks) exists, under
that name, in the file it is said to be in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioner import paths
from provisioner.run import tasks

NESTED = ("tasks", "pre_tasks", "post_tasks", "handlers", "block", "rescue", "always")


def task_names(node: Any) -> set[str]:
    """The names of every task in a playbook or task file, in blocks and plays too."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= task_names(item)
    elif isinstance(node, dict):
        if isinstance(node.get("name"), str) and "hosts" not in node:  # a play is no task
            found.add(node["name"])
        for key in NESTED:
            found |= task_names(node.get(key))
    return found


@pytest.mark.parametrize("task", tasks.KEYED, ids=lambda task: task.name)
def test_the_task_is_in_its_file(task: tasks.PlaybookTask) -> None:
    assert task.file.is_file(), task.file
    names = task_names(yaml.safe_load(Path(task.file).read_text()))
    assert task.name in names, f"{task.name!r} not in {paths.display(task.file)}"
