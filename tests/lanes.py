"""The real-host tests in two lanes, one per pytest-xdist worker, without two modules ever
changing the same environment at once.

Every host test module names the environments it provisions, changes or reads, first the one
it is about: `pytestmark = pytest.mark.hosts("qa", "staging")`. The module runs in the lane of
its first environment (LANES), in file order after the lane's earlier modules, so that a lane
is the same sequence on every run. While it runs it holds a lock on each environment it named:
a module that also reads an environment of the other lane (comparing qa with staging) waits
until the module there that uses it is done, and that one's next module waits for it.

Why two lanes: a host test spends much of its time waiting on containers and SSH, so the
controller's two cores were a third idle with one test at a time (vmstat over a CI run). The
lanes are balanced by the measured time of their modules (`make hosts` prints the slowest);
move an environment to the other lane when one lane grows much longer than the other.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

# The lane of each environment the host tests use (a module runs in its first one's lane).
LANES = {
    "staging": "staging-prod",
    "prod": "staging-prod",
    "qa": "qa-and-the-rest",
    "edge": "qa-and-the-rest",
    "pkgcachetest": "qa-and-the-rest",
    "rel": "qa-and-the-rest",  # test_releases' own checkout: rel and relprod
    "relprod": "qa-and-the-rest",
}


def environments(item: pytest.Item) -> tuple[str, ...]:
    """The environments a host test's module named on its `hosts` marker."""
    marker = item.get_closest_marker("hosts")
    assert marker is not None
    named = tuple(str(arg) for arg in marker.args)
    if not named:
        raise pytest.UsageError(
            f"{item.nodeid}: name the environments the test uses: pytest.mark.hosts(ENV, ...)"
        )
    unknown = [env for env in named if env not in LANES]
    if unknown:
        raise pytest.UsageError(
            f"{item.nodeid}: environment {unknown[0]} has no lane: add it to LANES in "
            "tests/lanes.py"
        )
    return named


def assign(items: list[pytest.Item]) -> None:
    """Put each host test in its module's lane (an xdist group: `--dist loadgroup`)."""
    for item in items:
        if item.get_closest_marker("hosts") is not None:
            item.add_marker(pytest.mark.xdist_group(LANES[environments(item)[0]]))


@contextmanager
def holding(envs: tuple[str, ...], directory: Path) -> Iterator[None]:
    """Exclusive locks on `envs`, taken in one order (sorted) so two modules never each hold
    one the other waits for."""
    directory.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        for env in sorted(set(envs)):
            handle = stack.enter_context((directory / f"{env}.lock").open("w"))
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield


def lock_directory(factory: pytest.TempPathFactory) -> Path:
    """One directory for the whole session: the workers' base temps share a parent (and a run
    without workers has its own base temp)."""
    base = factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "env-locks"
