"""Whatever a source file holds, reading it either works or fails with one InputError.

Property-based: hypothesis writes arbitrary text, bytes, YAML structures, and small mutations
of the valid test source, and reads each as the command line would (load, validate, render).
Nothing but InputError may escape, its message is one line naming the file, and whatever loads
also renders.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import FIXTURE_SOURCE
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from provisioner import paths
from provisioner.errors import InputError
from provisioner.source import inventory
from provisioner.source.model import load_source

SETTINGS = settings(
    max_examples=200,
    deadline=None,  # file I/O and pydantic: timing is not the property
    database=None,  # leave no .hypothesis/ directory in the repo
    suppress_health_check=[HealthCheck.too_slow],
)
FIXTURE_TEXT = FIXTURE_SOURCE.read_text(encoding="utf-8")
FIXTURE_DATA = yaml.safe_load(FIXTURE_TEXT)

# Characters that mean something to YAML, so random text often gets past the first byte.
YAML_ISH = st.text(
    alphabet=st.sampled_from(list("{}[]:-,&*!|>'\"#%@`?<= \n\t.~") + list("abqa01_")),
    max_size=200,
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["local", "ssh", "198.18.1.0/24", "db", "app", "qa", "22", "all"]),
)
KEYS = st.one_of(
    st.text(alphabet=string.ascii_lowercase + "_-", min_size=1, max_size=12),
    st.text(max_size=6),  # anything at all, newlines and control characters included
    st.sampled_from(["groups", "environments", "hosts", "provider", "kind", "vars", "address"]),
)
STRUCTURES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=30,
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hypothesis")


def read_like_the_cli(path: Path) -> None:
    """Load and render, as `provision.py inventory` does: only InputError may come out."""
    error: InputError | None = None
    try:
        for generated in inventory.render_all(load_source(path)):
            assert generated.files["hosts.yml"].startswith("# generated from ")
    except InputError as exc:
        error = exc
    if error is not None:  # the one message the user would see
        message = str(error)
        assert message.startswith(paths.display(path)), message
        assert "\n" not in message, message
        assert error.message, message


def write_text(directory: Path, text: str) -> Path:
    path = directory / "source.yml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


def paths_in(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into `value`, shortest first."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths_in(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += paths_in(item, (*prefix, i))
    return found


FIXTURE_PATHS = paths_in(FIXTURE_DATA)[1:]


def mutated(data: Any, where: tuple[Any, ...], action: str, key: str, value: Any) -> Any:
    """A deep copy of `data` with the value at `where` replaced, removed, renamed to `key`, or
    given a sibling `key`."""
    copy = yaml.safe_load(yaml.safe_dump(data))
    *parents, last = where
    container = copy
    for parent in parents:
        container = container[parent]
    if action == "replace":
        container[last] = value
    elif action == "delete":
        del container[last]
    elif action == "rename" and isinstance(container, dict):
        container[key] = container.pop(last)
    elif isinstance(container, dict):
        container[key] = value
    else:
        container.append(value)
    return copy


@SETTINGS
@given(text=st.one_of(st.text(max_size=300), YAML_ISH))
@example(text="a: !!timestamp 2001-13-45\n")
@example(text="a: !!bool maybe\n")
@example(text="[" * 3000 + "]" * 3000)
@example(text='"a\\nb": 1\n')
def test_arbitrary_text(workdir: Path, text: str) -> None:
    read_like_the_cli(write_text(workdir, text))


@SETTINGS
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes(workdir: Path, raw: bytes) -> None:
    path = workdir / "source.yml"
    path.write_bytes(raw)
    read_like_the_cli(path)


@SETTINGS
@given(data=STRUCTURES)
def test_arbitrary_yaml_structures(workdir: Path, data: Any) -> None:
    read_like_the_cli(write_text(workdir, yaml.safe_dump(data)))


@SETTINGS
@given(
    where=st.sampled_from(FIXTURE_PATHS),
    action=st.sampled_from(["replace", "delete", "rename", "add"]),
    key=KEYS,
    value=STRUCTURES,
)
@example(where=("environments", "qa"), action="rename", key="q\na", value=None)
def test_one_change_to_a_valid_source(
    workdir: Path, where: Any, action: str, key: str, value: Any
) -> None:
    changed = mutated(FIXTURE_DATA, where, action, key, value)
    read_like_the_cli(write_text(workdir, yaml.safe_dump(changed)))


@SETTINGS
@given(
    position=st.integers(min_value=0, max_value=len(FIXTURE_TEXT)),
    removed=st.integers(min_value=0, max_value=8),
    inserted=YAML_ISH.map(lambda s: s[:8]),
)
def test_one_edit_to_the_text_of_a_valid_source(
    workdir: Path, position: int, removed: int, inserted: str
) -> None:
    text = FIXTURE_TEXT[:position] + inserted + FIXTURE_TEXT[position + removed :]
    read_like_the_cli(write_text(workdir, text))
