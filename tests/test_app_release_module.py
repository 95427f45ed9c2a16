"""The app role's release-switch module (roles/app/library/app_release.py), run as Ansible runs
it: the module file executed by a Python with the module's arguments in a JSON file. Its
releases are directories under a temporary base; tests/test_releases.py covers it on hosts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from provisioner import paths

MODULE = paths.REPO / "roles" / "app" / "library" / "app_release.py"


def run(base: Path, *, check: bool = False, **params: Any) -> dict[str, Any]:
    args = base.parent / "args.json"
    module_args = {"base_dir": str(base), **params, "_ansible_check_mode": check}
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": module_args}))
    done = subprocess.run(
        [sys.executable, str(MODULE), str(args)], capture_output=True, text=True, check=False
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def release(base: Path, name: str, age: int) -> Path:
    """A release directory as the role copies it, `age` seconds old."""
    path = base / "releases" / name
    (path / "csapp").mkdir(parents=True)
    stamp = 1_700_000_000 - age
    os.utime(path, (stamp, stamp))
    return path


def links(base: Path) -> tuple[str, str]:
    def target(name: str) -> str:
        link = base / name
        return Path(os.readlink(link)).name if link.is_symlink() else ""

    return target("current"), target("previous")


@pytest.fixture
def base(tmp_path: Path) -> Path:
    path = tmp_path / "opt"
    path.mkdir()
    return path


def test_first_switch_sets_current_only(base: Path) -> None:
    release(base, "1.0", age=0)
    result = run(base, release="1.0")
    assert result["changed"] is True
    assert (result["current"], result["previous"]) == ("1.0", "")
    assert links(base) == ("1.0", "")
    assert run(base, release="1.0")["changed"] is False


def test_a_switch_keeps_the_release_left_as_previous_and_prunes(base: Path) -> None:
    for age, name in enumerate(["4.0", "3.0", "2.0", "1.0"]):
        release(base, name, age=age * 100)
    run(base, release="1.0")
    run(base, release="2.0")
    release_3 = run(base, release="3.0", keep=3)
    assert links(base) == ("3.0", "2.0")
    # current and previous, and the newest of the others (4.0): 1.0 goes
    assert release_3["removed"] == [str(base / "releases" / "1.0")]
    assert sorted(p.name for p in (base / "releases").iterdir()) == ["2.0", "3.0", "4.0"]
    release_4 = run(base, release="4.0", keep=3)
    assert links(base) == ("4.0", "3.0")
    assert release_4["removed"] == []
    assert run(base, release="4.0", keep=2)["removed"] == []  # no switch: nothing removed


def test_an_empty_release_rolls_back_to_previous(base: Path) -> None:
    release(base, "1.0", age=100)
    release(base, "2.0", age=0)
    run(base, release="1.0")
    run(base, release="2.0")
    back = run(base)
    assert back["changed"] is True
    assert back["current"] == "1.0"
    assert links(base) == ("1.0", "2.0")


def test_check_mode_reports_the_switch_and_changes_nothing(base: Path) -> None:
    release(base, "1.0", age=100)
    release(base, "2.0", age=0)
    run(base, release="1.0")
    result = run(base, release="2.0", check=True, keep=2)
    assert result["changed"] is True
    assert "current -> " in result["diff"]["after"]
    assert links(base) == ("1.0", "")


def test_a_release_not_on_the_host_is_refused_unless_not_required(base: Path) -> None:
    release(base, "1.0", age=0)
    refused = run(base, release="9.9.9")
    assert refused["failed"] is True
    assert f"9.9.9 is not in {base / 'releases'}" in refused["msg"]
    assert links(base) == ("", "")
    assert run(base, release="9.9.9", require=False, check=True)["changed"] is True


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "no previous release recorded"),
        ({"release": "1.0", "keep": 1}, "keep is 1: at least 2"),
    ],
)
def test_impossible_requests_fail_with_a_reason(
    base: Path, params: dict[str, Any], message: str
) -> None:
    release(base, "1.0", age=0)
    result = run(base, **params)
    assert result["failed"] is True
    assert message in result["msg"]
