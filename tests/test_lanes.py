"""The host tests' lanes (tests/lanes.py): which lane a module runs in, read from its source the
way the scheduler reads it, and the locks that keep two modules off one environment."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import lanes
import pytest


def module(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "test_some.py"
    path.write_text(text, encoding="utf-8")
    lanes.lane_of_file.cache_clear()
    return path


@pytest.mark.parametrize(
    ("text", "lane"),
    [
        ('import pytest\npytestmark = pytest.mark.hosts("qa", "staging")\n', "qa"),
        ('pytestmark = [pytest.mark.hosts("prod"), pytest.mark.slow]\n', "staging-prod"),
        ('ENVS = ["qa"]\npytestmark = pytest.mark.hosts("staging", *ENVS)\n', "staging-prod"),
        ("pytestmark = pytest.mark.hosts(*ENVS)\n", None),  # not a literal: no lane
        ('pytestmark = pytest.mark.hosts("nowhere")\n', None),
        ("def test_x():\n    pass\n", None),  # not a host test module
        ("def broken(:\n", None),  # pytest reports the syntax error itself
    ],
)
def test_a_modules_lane_is_its_first_environments(tmp_path: Path, text: str, lane: str) -> None:
    assert lanes.lane_of_file(module(tmp_path, text)) == lane


def test_every_host_test_module_of_the_repo_has_a_lane() -> None:
    tests = Path(__file__).parent
    hosts = [
        p
        for p in sorted(tests.glob("test_*.py"))
        if "\npytestmark = pytest.mark.hosts" in p.read_text()
    ]
    assert len(hosts) > 10
    lanes.lane_of_file.cache_clear()
    assert [p.name for p in hosts if lanes.lane_of_file(p) is None] == []
    assert {lanes.lane_of_file(p) for p in hosts} == set(lanes.LANES.values())


def test_a_module_waits_for_an_environment_another_holds(tmp_path: Path) -> None:
    order: list[str] = []
    with lanes.holding(("qa",), tmp_path):

        def other() -> None:
            with lanes.holding(("staging", "qa"), tmp_path):
                order.append("other")

        waiting = threading.Thread(target=other)
        waiting.start()
        time.sleep(0.3)
        order.append("first")
    waiting.join(5)
    assert order == ["first", "other"]


def test_the_timeline_records_each_modules_wait_and_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    timeline = tmp_path / "timeline.jsonl"
    monkeypatch.setenv(lanes.TIMELINE_ENV, str(timeline))
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)  # under -n 2 too: worker "main"
    locks = tmp_path / "locks"
    with lanes.holding(("qa",), locks, "the first module"):

        def other() -> None:
            with lanes.holding(("staging", "qa"), locks, "the second module"):
                pass

        waiting = threading.Thread(target=other)
        waiting.start()
        time.sleep(1.2)
    waiting.join(5)
    with lanes.holding(("edge",), locks):  # no module named: nothing recorded
        pass
    lines = lanes.timeline_table(timeline)
    first = next(line for line in lines if "the first module (qa)" in line)
    second = next(line for line in lines if "the second module (staging, qa)" in line)
    assert lines.index(first) < lines.index(second)
    _at, _worker, waited, _ran = second.split()[:4]
    assert int(waited) >= 1, second  # it waited for qa while the first held it
    _at, _worker, _waited, ran = first.split()[:4]
    assert int(ran) >= 1, first
    assert lines[-1].startswith("main: waited "), lines
    assert len(lines) == 4  # the header, two modules, one worker's totals


def test_no_timeline_is_no_table(tmp_path: Path) -> None:
    assert lanes.timeline_table(tmp_path / "missing.jsonl") == []
