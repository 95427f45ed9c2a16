"""Shared helpers: run the command line in-process, and prove inventories/ was not touched."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import lanes
import pytest
from ledger_server import PostgresServer
from signing import Keys, make_keys

from provisioner import paths
from provisioner.cli import main
from provisioner.errors import EXIT_INPUT
from provisioner.source import inventory

if TYPE_CHECKING:  # playwright is imported only by the tests that open a browser
    from browsing import Visit
    from playwright.sync_api import Browser

TESTS = Path(__file__).resolve().parent
FIXTURE_SOURCE = TESTS / "fixtures" / "source.yml"
REPO_INVENTORIES = paths.REPO / "inventories"  # the real one, whatever a test patches
TIMELINE_MADE = pytest.StashKey[Path]()  # the host tests' timeline file this process made


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> Result:
    """`provision.py ARGV` in this process; argparse's SystemExit becomes an exit code."""
    capsys.readouterr()  # start from nothing
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def assert_one_error(result: Result, starts: str, contains: str) -> str:
    """Exit code 2 and exactly one message on stderr, `error: ...`: no traceback, no noise."""
    assert "Traceback" not in result.out + result.err
    assert result.code == EXIT_INPUT, result
    assert result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.err}"
    assert lines[0].startswith(starts), lines[0]
    assert contains in lines[0], lines[0]
    return lines[0]


def snapshot(directory: Path) -> dict[str, str]:
    """Every file's sha256, every link's target and every directory under `directory`."""
    found: dict[str, str] = {}
    for root, dirs, files in os.walk(directory):  # does not follow the group_vars links
        for name in dirs + files:
            path = Path(root) / name
            rel = str(path.relative_to(directory))
            if path.is_symlink():
                found[rel] = f"link -> {os.readlink(path)}"
            elif path.is_dir():
                found[rel] = "directory"
            else:
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


class InventoriesGuard:
    """The repo's inventories/ as it was when the test started."""

    def __init__(self, backup: Path) -> None:
        self.before = snapshot(REPO_INVENTORIES)
        self.backup = backup
        shutil.copytree(REPO_INVENTORIES, backup, symlinks=True)

    def changed(self) -> bool:
        return snapshot(REPO_INVENTORIES) != self.before

    def assert_unchanged(self) -> None:
        assert self.before, "inventories/ should hold the committed inventories"
        assert snapshot(REPO_INVENTORIES) == self.before, "inventories/ was modified"


@pytest.fixture
def inventories_guard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InventoriesGuard]:
    """Lets a test assert the real inventories/ is byte-for-byte unchanged; should a broken
    tool have written there anyway, puts it back so that one failure does not spread."""
    guard = InventoriesGuard(tmp_path_factory.mktemp("inventories-backup") / "inventories")
    yield guard
    if guard.changed():
        shutil.rmtree(REPO_INVENTORIES)
        shutil.copytree(guard.backup, REPO_INVENTORIES, symlinks=True)


@pytest.fixture
def inventories_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the committed inventories/ that the code under test reads and writes instead.
    (source.inventory reaches the directory as paths.INVENTORIES: one module, one patch.)"""
    assert vars(inventory)["paths"] is paths
    copy = tmp_path / "inventories"
    shutil.copytree(paths.INVENTORIES, copy, symlinks=True)
    monkeypatch.setattr(paths, "INVENTORIES", copy)
    return copy


@pytest.fixture
def empty_inventories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty stand-in for inventories/, for commands that generate from another source."""
    directory = tmp_path / "inventories"
    directory.mkdir()
    monkeypatch.setattr(paths, "INVENTORIES", directory)
    return directory


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server for ledgers (tests/ledger_server.py), one per session."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless chromium (tests/browsing.py), one per test module."""
    import browsing  # noqa: PLC0415 - only the browser tests pay for playwright's import

    with browsing.launched() as launched:
        yield launched


@pytest.fixture
def visit(browser: Browser, tmp_path: Path) -> Iterator[Visit]:
    """A laptop-sized page that records console errors; screenshots under the test's tmp dir."""
    import browsing  # noqa: PLC0415 - as above

    shots = tmp_path / "screenshots"
    shots.mkdir()
    opened = browsing.Visit(browser, shots)
    yield opened
    opened.page.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        lanes.check(item)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """`--dist loadscope`: the host tests' lanes are the scopes (tests/lanes.py)."""
    if config.getvalue("dist") == "loadscope":
        return lanes.LaneScheduling(config, log)
    return None


@pytest.fixture(scope="module", autouse=True)
def environments_held(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """A host test module holds the environments it names while it runs (tests/lanes.py)."""
    marker = request.node.get_closest_marker("hosts")
    if marker is None:
        yield
        return
    directory = lanes.lock_directory(tmp_path_factory)
    with lanes.holding(tuple(marker.args), directory, request.node.nodeid):
        yield


def pytest_configure(config: pytest.Config) -> None:
    """The controller (or a run without workers) makes the lanes' timeline file; the workers
    inherit its name (tests/lanes.py)."""
    if hasattr(config, "workerinput") or lanes.TIMELINE_ENV in os.environ:
        return
    handle, name = tempfile.mkstemp(prefix="host-timeline-", suffix=".jsonl")
    os.close(handle)
    os.environ[lanes.TIMELINE_ENV] = name
    config.stash[TIMELINE_MADE] = Path(name)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    made = config.stash.get(TIMELINE_MADE, None)
    if made is None:
        return
    lines = lanes.timeline_table(made)
    if lines:
        terminalreporter.write_sep(
            "=", "host test modules: when they ran, and what they waited for"
        )
        for line in lines:
            terminalreporter.write_line(line)


def pytest_unconfigure(config: pytest.Config) -> None:
    made = config.stash.get(TIMELINE_MADE, None)
    if made is not None:
        made.unlink(missing_ok=True)
        os.environ.pop(lanes.TIMELINE_ENV, None)


@pytest.fixture(scope="session")
def signing_keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    """Throwaway keys of alice and bob, listed for prod and the ledger (tests/signing.py): the
    host tests that plan, approve and apply prod sign with them (keys.env(WHO))."""
    return make_keys(tmp_path_factory.mktemp("signing"))
