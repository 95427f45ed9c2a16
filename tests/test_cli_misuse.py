"""Command-line mistakes: exit code 2, one clear message, nothing started, nothing written.

An unknown environment is refused after reading the source and before anything else happens,
so even `apply` is safe to test here: the guard below fails the test if hosts, playbooks or
inventory writes were reached.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import InventoriesGuard, assert_one_error, run_cli, snapshot

from provisioner import paths
from provisioner.deploy import verify, workflow
from provisioner.errors import EXIT_FAILED, EXIT_INPUT
from provisioner.hosts import localhosts
from provisioner.source import inventory

KNOWN = "qa, staging, prod"


@pytest.fixture
def nothing_may_start(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace everything with an effect by a stub that records the call and fails."""
    calls: list[str] = []

    def refuse(name: str) -> Any:
        def stub(*args: object, **kwargs: object) -> None:
            calls.append(name)
            raise AssertionError(f"{name} must not be reached")

        return stub

    monkeypatch.setattr(localhosts, "up", refuse("localhosts.up"))
    monkeypatch.setattr(localhosts, "down", refuse("localhosts.down"))
    monkeypatch.setattr(localhosts, "ensure_image", refuse("localhosts.ensure_image"))
    monkeypatch.setattr(workflow, "run_playbook", refuse("run_playbook"))
    monkeypatch.setattr(verify, "run", refuse("verify.run"))
    monkeypatch.setattr(inventory, "write", refuse("inventory.write"))
    return calls


@pytest.mark.parametrize(
    "argv",
    [
        ["apply", "nosuch"],
        ["nosuch"],  # short for `apply nosuch`
        ["apply", "nosuch", "--check"],
        ["inventory", "nosuch"],
        ["inventory", "--check", "nosuch"],
        ["verify", "nosuch"],
        ["up", "nosuch"],
        ["down", "nosuch"],
        ["apply", "Staging"],  # names are case-sensitive
    ],
)
def test_unknown_environment_is_refused_before_anything_starts(
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
    inventories_guard: InventoriesGuard,
    nothing_may_start: list[str],
) -> None:
    env = next(arg for arg in argv if arg in ("nosuch", "Staging"))
    result = run_cli(argv, capsys)
    line = assert_one_error(result, "error: ", f"unknown environment {env!r}")
    assert f"{paths.DEFAULT_SOURCE} defines: {KNOWN}" in line  # and says which ones exist
    assert nothing_may_start == []
    inventories_guard.assert_unchanged()


@pytest.mark.parametrize("command", ["apply", "plan", "drift"])
@pytest.mark.parametrize(
    "url", ["ssh://-oProxyCommand=touch${IFS}x", "ssh://root@-oProxyCommand=x", "ssh://-x@node"]
)
def test_an_executor_starting_with_a_dash_is_refused_before_anything_starts(
    command: str,
    url: str,
    capsys: pytest.CaptureFixture[str],
    inventories_guard: InventoriesGuard,
    nothing_may_start: list[str],
) -> None:
    """ssh would read such a host or user as an option (-oProxyCommand runs a command here)."""
    result = run_cli([command, "staging", "--executor", url], capsys)
    assert_one_error(result, "error: ", f"executor {url!r}: expected ssh://[user@]host[:port]")
    assert nothing_may_start == []
    inventories_guard.assert_unchanged()


@pytest.mark.parametrize("limit", ["99999999999999999999", "0", "-1", "x"])
def test_a_history_limit_out_of_range_is_a_usage_error(
    limit: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bare int let 99999999999999999999 through to SQLite: OverflowError, a traceback."""
    result = run_cli(["history", "--limit", limit], capsys)
    assert result.code == EXIT_INPUT
    assert "Traceback" not in result.err
    [error] = [line for line in result.err.splitlines() if "error:" in line]
    assert "argument --limit:" in error
    assert "not between 1 and 10000" in error or "not a whole number" in error


def test_one_unknown_environment_among_known_ones_writes_none_of_them(
    capsys: pytest.CaptureFixture[str], empty_inventories: Path
) -> None:
    result = run_cli(["inventory", "qa", "staging", "nosuch"], capsys)
    assert_one_error(result, "error: ", "unknown environment 'nosuch'")
    assert list(empty_inventories.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["inventory", "--bogus"], "unrecognized arguments: --bogus"),
        (["apply", "staging", "--bogus"], "unrecognized arguments: --bogus"),
        (["--bogus"], "the following arguments are required: COMMAND"),
        ([], "the following arguments are required: COMMAND"),
        (["apply"], "the following arguments are required: env"),
        (["verify"], "the following arguments are required: env"),
        (["up"], "the following arguments are required: env"),
        (["down"], "the following arguments are required: env"),
        (["inventory", "--source"], "argument --source: expected one argument"),
        (["apply", "staging", "--limit"], "argument --limit: expected one argument"),
        (["verify", "staging", "--junit-xml"], "argument --junit-xml: expected one argument"),
        (["image", "extra"], "unrecognized arguments: extra"),
    ],
)
def test_usage_mistake_exits_2_with_usage_and_one_error(
    argv: list[str],
    says: str,
    capsys: pytest.CaptureFixture[str],
    inventories_guard: InventoriesGuard,
    nothing_may_start: list[str],
) -> None:
    result = run_cli(argv, capsys)
    assert result.code == EXIT_INPUT
    assert result.out == ""
    assert "Traceback" not in result.err
    errors = [line for line in result.err.splitlines() if "error:" in line]
    assert len(errors) == 1, result.err
    assert says in errors[0]
    assert result.err.startswith("usage: provision.py")
    assert nothing_may_start == []
    inventories_guard.assert_unchanged()


@pytest.mark.parametrize("command", ["inventory", "apply staging"])
def test_source_that_is_not_there_is_named_in_the_error(
    command: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    inventories_guard: InventoriesGuard,
    nothing_may_start: list[str],
) -> None:
    missing = tmp_path / "nowhere.yml"
    result = run_cli([*command.split(), "--source", str(missing)], capsys)
    assert_one_error(result, f"error: {missing}: ", "file not found")
    assert nothing_may_start == []
    inventories_guard.assert_unchanged()


def test_source_that_is_a_directory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], inventories_guard: InventoriesGuard
) -> None:
    result = run_cli(["inventory", "--source", str(tmp_path)], capsys)
    assert_one_error(result, f"error: {tmp_path}: ", "cannot read")
    inventories_guard.assert_unchanged()


def _group_vars_a_directory(inventories: Path) -> Path:
    link = inventories / "staging" / "group_vars"
    link.unlink()
    link.mkdir()
    (link / "all.yml").write_text("---\nmine: 1\n")  # someone's own file: must survive
    return link


def _environment_a_file(inventories: Path) -> Path:
    directory = inventories / "qa"
    shutil.rmtree(directory)
    directory.write_text("not a directory\n")
    return directory


def _hosts_file_a_directory(inventories: Path) -> Path:
    hosts = inventories / "prod" / "hosts.yml"
    hosts.unlink()
    hosts.mkdir()
    return hosts


IN_THE_WAY = {
    "group_vars a directory": (_group_vars_a_directory, "must be a link to ../../group_vars"),
    "environment a file": (_environment_a_file, "not a directory; remove it"),
    "hosts.yml a directory": (_hosts_file_a_directory, "not a regular file; remove it"),
}


@pytest.mark.parametrize("case", sorted(IN_THE_WAY))
def test_something_in_the_way_of_a_generated_inventory_is_named_and_left_alone(
    case: str, inventories_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, says = IN_THE_WAY[case]
    in_the_way = make(inventories_copy)
    before = snapshot(inventories_copy)
    result = run_cli(["inventory"], capsys)
    assert_one_error(result, f"error: {in_the_way}: ", says)
    assert snapshot(inventories_copy) == before  # nothing written, nothing removed
    checked = run_cli(["inventory", "--check"], capsys)
    assert checked.code == EXIT_FAILED, checked
    assert "Traceback" not in checked.out + checked.err
    unwrapped = "".join(checked.out.split())  # rich wraps long lines, even inside a path
    assert "".join(f"{in_the_way}: {says}".split()) in unwrapped
