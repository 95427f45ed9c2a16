"""The real-host tests in three lanes, one per pytest-xdist worker, without two modules ever
changing the same environment at once.

Every host test module names the environments it provisions, changes or reads, first the one
it is about: `pytestmark = pytest.mark.hosts("qa", "staging")`. The module runs in the lane of
its first environment (LANES), in file order after the lane's earlier modules, so that a lane
is the same sequence on every run. While it runs it holds a lock on each environment it named:
a module that also reads an environment of another lane (comparing qa with staging) waits
until the module there that uses it is done, and that one's next module waits for it.

How: `pytest -n 2 --dist loadscope` with LaneScheduling, xdist's scope scheduler whose scope
is a module's lane instead of the module: each lane is one unit of work, run by one worker in
order. (xdist's own `loadgroup` cannot do it here: it renames node ids through an attribute
pytest 9 no longer reads.) The scheduler runs in the controller, which collects nothing, so it
reads each module's marker from its source (`ast`), not by importing it.

What a lock does not cover: a module that changes what every environment reads (a file in
group_vars/, as tests/test_incremental.py does for a moment) runs in the lane of the modules
that would notice, those that plan and approve (staging-prod); the other lanes' runs read the
same repo and may see it, which changes nothing they check. Copies of the repo, which would
commit it, are taken under the REPO_FILES lock that the change holds (tests/checkouts.py).

Why three lanes on two cores: a host test spends much of its time waiting on containers and
SSH, so the controller's cores were a third idle with one test at a time and a quarter idle
with two (vmstat over CI runs). The lanes are balanced by the measured time of their modules:
`pytest -m hosts` ends with a timeline of when each module ran and how long it waited for its
environments (timeline_table); move an environment to another lane when one lane grows much
longer than the others.
"""

from __future__ import annotations

import ast
import fcntl
import functools
import json
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

# The lane of each environment the host tests use (a module runs in its first one's lane).
LANES = {
    "staging": "staging-prod",
    "prod": "staging-prod",
    "qa": "qa",
    "edge": "qa",
    "molecule": "qa",  # test_molecule's instances (molecule's own network), for the balance
    # Environments of their own, each used by one module (nothing else waits for them):
    "pkgcachetest": "own-environments",
    "rel": "own-environments",  # test_releases' own checkout: rel and relprod
    "relprod": "own-environments",
    "pk": "own-environments",  # test_peak_capacity's own checkout: pk and pkprod
    "pkprod": "own-environments",
    "rx": "own-environments",  # test_remote_execution's, from a source file of its own
}
MARKER = "hosts"
# Not an environment: held while a test changes a file of this checkout for a moment, and while
# a copy of the checkout is taken (tests/checkouts.py), so that no copy commits the change.
REPO_FILES = "repo-files"
# A JSON-lines file each module's hold is appended to (set by the controller, inherited by the
# workers); `pytest -m hosts` prints it as a table at the end (timeline_table).
TIMELINE_ENV = "PROVISION_TEST_TIMELINE"


def check(item: pytest.Item) -> None:
    """A host test's module names its environments, first one a literal with a lane."""
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return
    named = [str(arg) for arg in marker.args]
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
    if lane_of_file(Path(str(item.path))) != LANES[named[0]]:
        raise pytest.UsageError(
            f"{item.nodeid}: write the first environment as a literal in the module's "
            f'`pytestmark = pytest.mark.hosts("{named[0]}", ...)`: the scheduler reads it there'
        )


@functools.cache
def lane_of_file(path: Path) -> str | None:
    """The lane of a test module, from the first argument of `pytest.mark.hosts(...)` in its
    module-level `pytestmark` (None: not a host test module, or not written that way)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (OSError, SyntaxError, ValueError):
        return None  # pytest reports the module itself
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            for call in ast.walk(node.value):
                if _is_hosts_marker(call) and isinstance(call, ast.Call) and call.args:
                    first = call.args[0]
                    if isinstance(first, ast.Constant) and isinstance(first.value, str):
                        return LANES.get(first.value)
    return None


def _is_hosts_marker(node: ast.AST) -> bool:
    """`pytest.mark.hosts(...)`."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == MARKER
        and isinstance(node.func.value, ast.Attribute)
        and node.func.value.attr == "mark"
    )


class LaneScheduling(LoadScopeScheduling):
    """xdist's scope scheduling with a host test module's lane as its scope (other modules:
    the module, as `--dist loadfile`)."""

    def __init__(self, config: pytest.Config, log: object | None = None) -> None:
        super().__init__(config, log)  # type: ignore[arg-type]  # xdist's Producer
        self._root = config.rootpath

    def _split_scope(self, nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        return lane_of_file(self._root / module) or module


@contextmanager
def holding(envs: tuple[str, ...], directory: Path, module: str = "") -> Iterator[None]:
    """Exclusive locks on `envs`, taken in one order (sorted) so two modules never each hold
    one the other waits for. With a timeline file set, records how long the module waited for
    them and how long it held them."""
    directory.mkdir(parents=True, exist_ok=True)
    asked = time.time()
    with ExitStack() as stack:
        for env in sorted(set(envs)):
            handle = stack.enter_context((directory / f"{env}.lock").open("w"))
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        got = time.time()
        try:
            yield
        finally:
            _record(module, envs, asked, got)


def _record(module: str, envs: tuple[str, ...], asked: float, got: float) -> None:
    timeline = os.environ.get(TIMELINE_ENV)
    if not timeline or not module:
        return
    entry = {
        "module": module,
        "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
        "envs": list(envs),
        "asked": asked,
        "got": got,
        "done": time.time(),
    }
    with Path(timeline).open("a", encoding="utf-8") as handle:  # one short line: one write
        handle.write(json.dumps(entry) + "\n")


def timeline_table(path: Path) -> list[str]:
    """The recorded holds in the order they were asked for: when (seconds from the first),
    which worker, how long the module waited for its environments and how long it ran; then
    each worker's totals. Where the host stage's time goes, and which lane waits on which."""
    try:
        entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, ValueError):
        return []
    if not entries:
        return []
    entries.sort(key=lambda e: e["asked"])
    start = entries[0]["asked"]
    lines = [f"{'at':>6} {'worker':<7} {'waited':>7} {'ran':>7}  module (environments)"]
    totals: dict[str, list[float]] = {}
    for e in entries:
        waited, ran = e["got"] - e["asked"], e["done"] - e["got"]
        lines.append(
            f"{e['asked'] - start:6.0f} {e['worker']:<7} {waited:7.0f} {ran:7.0f}  "
            f"{e['module']} ({', '.join(e['envs'])})"
        )
        total = totals.setdefault(e["worker"], [0.0, 0.0, 0.0])
        total[0] += waited
        total[1] += ran
        total[2] = max(total[2], e["done"] - start)
    for worker, (waited, ran, ended) in sorted(totals.items()):
        lines.append(f"{worker}: waited {waited:.0f} s, ran {ran:.0f} s, done at {ended:.0f} s")
    return lines


def lock_directory(factory: pytest.TempPathFactory) -> Path:
    """One directory for the whole session: the workers' base temps share a parent (and a run
    without workers has its own base temp)."""
    base = factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "env-locks"
