"""A broken source of truth is refused with one message that names file, line and mistake.

Every case in tests/bad_sources/ goes through the real command line (`provision.py inventory
--source FILE`): exit code 2, exactly one `error: FILE:LINE: ...` line on stderr saying what is
wrong (tests/bad_sources/expected.yml has the line and the words), no traceback, and the repo's
inventories/ byte-for-byte as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from conftest import FIXTURE_SOURCE, InventoriesGuard, Result, assert_one_error, run_cli
from hostrun import provision

from provisioner import paths
from provisioner.source import yamlfile

BAD_SOURCES = Path(__file__).resolve().parent / "bad_sources"
EXPECTED: dict[str, dict[str, object]] = yaml.safe_load(
    (BAD_SOURCES / "expected.yml").read_text(encoding="utf-8")
)


def expected_prefix(path: Path, line: object) -> str:
    name = paths.display(path)  # files in the repo are shown relative to it
    return f"error: {name}:{line}: " if line is not None else f"error: {name}: "


def test_every_bad_source_has_an_expectation_and_there_are_at_least_40() -> None:
    files = {p.name for p in BAD_SOURCES.iterdir() if p.name != "expected.yml"}
    assert files == set(EXPECTED)
    assert len(files) >= 40
    for name, expect in EXPECTED.items():
        assert set(expect) == {"line", "message"}, name
        assert expect["line"] is None or isinstance(expect["line"], int), name
        assert isinstance(expect["message"], str), name
        assert expect["message"], name


def test_the_valid_source_the_cases_are_derived_from_is_accepted(
    capsys: pytest.CaptureFixture[str], empty_inventories: Path
) -> None:
    """Each case is this file plus one mistake: the mistake is what gets refused."""
    result = run_cli(["inventory", "--check", "--source", str(FIXTURE_SOURCE)], capsys)
    # --check on an empty inventories/ reports the files as missing: the source itself is fine
    assert result.code == 1, result
    assert "error" not in result.err
    assert "missing" in result.out


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_source_is_refused_with_one_message_naming_file_line_and_mistake(
    name: str, capsys: pytest.CaptureFixture[str], inventories_guard: InventoriesGuard
) -> None:
    path = BAD_SOURCES / name
    expect = EXPECTED[name]
    result = run_cli(["inventory", "--source", str(path)], capsys)
    assert_one_error(result, expected_prefix(path, expect["line"]), str(expect["message"]))
    inventories_guard.assert_unchanged()


def _too_large(directory: Path) -> Path:
    """The valid source padded with comments past the 1 MiB limit."""
    path = directory / "too_large.yml"
    padding = ("# " + "x" * 98 + "\n") * (yamlfile.MAX_BYTES // 100 + 1)
    path.write_text(FIXTURE_SOURCE.read_text(encoding="utf-8") + padding, encoding="utf-8")
    assert path.stat().st_size > yamlfile.MAX_BYTES
    return path


def _nested_too_deeply(directory: Path) -> Path:
    """A value nested 5000 lists deep: PyYAML would recurse until Python gives up."""
    path = directory / "nested_too_deeply.yml"
    text = FIXTURE_SOURCE.read_text(encoding="utf-8")
    deep = "[" * 5000 + "]" * 5000
    path.write_text(text.replace("app_workers: 2", f"app_workers: {deep}"), encoding="utf-8")
    return path


GENERATED: dict[str, tuple[Callable[[Path], Path], str]] = {
    "too_large": (_too_large, f"bytes; the limit is {yamlfile.MAX_BYTES}"),
    "nested_too_deeply": (_nested_too_deeply, "values are nested too deeply"),
}


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_bad_source_is_refused_as_a_whole_file(
    name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    inventories_guard: InventoriesGuard,
) -> None:
    """Too big to commit, so written here; the message is about the file, not one line."""
    make, message = GENERATED[name]
    path = make(tmp_path)
    result = run_cli(["inventory", "--source", str(path)], capsys)
    assert_one_error(result, expected_prefix(path, None), message)
    inventories_guard.assert_unchanged()


def _fifo(directory: Path) -> Path:
    """A named pipe nobody writes to: reading it would wait forever."""
    path = directory / "source.yml"
    os.mkfifo(path)
    return path


def _link_to_dev_zero(directory: Path) -> Path:
    """/dev/zero under a YAML name: reading it to the end would never end."""
    path = directory / "source.yml"
    path.symlink_to("/dev/zero")
    return path


NOT_FILES: dict[str, Callable[[Path], Path]] = {
    "fifo": _fifo,
    "dev_zero": lambda _: Path("/dev/zero"),
    "link_to_dev_zero": _link_to_dev_zero,
}


@pytest.mark.parametrize("name", sorted(NOT_FILES))
def test_a_source_that_is_not_a_regular_file_is_refused_before_it_is_read(
    name: str, tmp_path: Path, inventories_guard: InventoriesGuard
) -> None:
    """Through a real process with a timeout: a hang or a memory blow-up fails the test rather
    than the suite."""
    path = NOT_FILES[name](tmp_path)
    process = provision("inventory", "--source", str(path), timeout=60)
    result = Result(process.returncode, process.stdout, process.stderr)
    assert_one_error(result, expected_prefix(path, None), "cannot read: not a regular file")
    inventories_guard.assert_unchanged()


@pytest.mark.parametrize(
    "name",
    ["syntax_unclosed_quote.yml.bad", "not_utf8.yml.bad", "host_in_two_environments.yml.bad"],
)
def test_a_user_running_the_script_sees_one_message_and_no_traceback(
    name: str, inventories_guard: InventoriesGuard
) -> None:
    """The same, through a real process: what a user at a terminal or CI log gets."""
    path = BAD_SOURCES / name
    process = provision("inventory", "--source", str(path), timeout=120)
    result = Result(process.returncode, process.stdout, process.stderr)
    expect = EXPECTED[name]
    assert_one_error(result, expected_prefix(path, expect["line"]), str(expect["message"]))
    inventories_guard.assert_unchanged()
