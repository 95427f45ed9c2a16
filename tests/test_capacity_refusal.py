"""Promotion refused for a capacity shortfall, through the command line, without hosts: in a copy
of the repo (its own ledger and environments `pk` -> `pkprod`), a passed gate of `pk` with a
measured capacity is put in the ledger for the copy's bundle, then `promote pk pkprod` runs as a
user types it. The refusal comes before any host is started (pkprod's are never created), so no
host is needed; tests/test_peak_capacity.py does the same after a real gate."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from checkouts import copy_repo
from hostrun import provision, sqlite_url
from test_peak_capacity import LOOSE, source

from provisioner import paths
from provisioner.ledger.ledger import open_ledger

EXIT_REFUSED = 4


@pytest.fixture
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = copy_repo(tmp_path_factory, "refusal")
    repo.write("environments.yml", source(LOOSE, "20"))
    repo.commit("release 1.1.0")
    return repo.root


def gate_passed(root: Path, sustained: float | None) -> str:
    """A passed gate of `pk` for the copy's bundle, as the gate records it; its run id."""
    done = subprocess.run(
        [str(paths.REPO / ".venv/bin/python"), "-c",
         "import json; from provisioner.source.bundle import current; "
         "b = current('pk'); print(json.dumps([b.commit, b.roles_hash]))"],
        cwd=root, capture_output=True, text=True, check=True,
    )  # fmt: skip
    commit, roles_hash = json.loads(done.stdout)  # the copy's own (paths.REPO is the copy's)
    bundle = {"commit": commit, "roles_hash": roles_hash, "app_release": "1.1.0"}
    record = None if sustained is None else {"capacity": {"sustained": sustained, "workers": 8}}
    with open_ledger(sqlite_url(root / ".state" / "ledger.sqlite3")) as book:
        run = book.start_run(
            "gate", "pk", command="provision.py gate pk", identity="tester", commit=commit,
            inventory_hash="i",
        )  # fmt: skip
        payload = {"passed": True, "bundle": bundle, "checks": [], "load_plan": record}
        book.append("gate", "pk", payload, run)
        book.finish_run(run, "successful", {}, [])
    return run


def test_promotion_short_of_the_peak_is_refused_with_the_numbers(copy: Path) -> None:
    (copy / ".state").mkdir(mode=0o700, exist_ok=True)
    run = gate_passed(copy, sustained=37.5)
    bigger = copy.parent / "bigger.yml"
    bigger.write_text(source(LOOSE, "200"))
    result = provision("promote", "pk", "pkprod", "--source", str(bigger), repo=copy, timeout=120)
    said = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == EXIT_REFUSED, said
    assert f"passed pk's gate in run {run}" in said
    assert (
        f"error: pkprod is promoted from pk, whose gate in run {run} does not show the capacity "
        "for pkprod's peak: pk sustained 37.5/s, implying 37.5/s for pkprod (8 app workers / 8); "
        "pkprod's peak 200/s x 1.5 = 300/s; short by 262.5/s"
    ) in said
    assert "Traceback" not in said
    assert "creating" not in result.stdout  # refused before any host was started


def test_a_gate_that_measured_no_capacity_is_refused(copy: Path) -> None:
    (copy / ".state").mkdir(mode=0o700, exist_ok=True)
    run = gate_passed(copy, sustained=None)
    result = provision("promote", "pk", "pkprod", repo=copy, timeout=120)
    said = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == EXIT_REFUSED, said
    assert f"pk's gate in run {run} measured no capacity" in said
