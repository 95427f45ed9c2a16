"""The stepped load gate's capacity checks on real local hosts (issue 18, item 8), in a copy of
the repo (its own environments `pk`, promoted to `pkprod`, which declares the
  peak; pkprod's hosts are never started): an environment whose database is sized so that the
  app tier's connections exceed the declared share of max_connections fails the gate on that
  figure, naming the db host, and the release is rolled back; a promotion whose measured
  capacity cannot carry the target's peak is refused (exit 4) with the numbers.

(tests/test_peak_gate.py: staging with the shipped source.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from checkouts import Checkout, copy_repo
from gating import assert_png, chart_of, marked_tickets

pytestmark = pytest.mark.hosts("pk", "pkprod")

EXIT_REFUSED, EXIT_GATE = 4, 5
SEEN: dict[str, Any] = {}  # what one test leaves for the next (they run in file order)

# pk's database: max_connections 10 = 2 app hosts x 4 workers x pool 1 + 1 reserved for
# superusers + 1 for the tool (the capacity rule holds exactly). Every worker that serves a
# request keeps one connection open, so under load the app tier holds from 2 (one worker per
# host) to 8 of the 10: above 15% as soon as both hosts serve, whatever gunicorn's spread.
SOURCE = """\
groups:
  db: {}
  app: {}
  web: {}
environments:
  pk:
    provider: {kind: local, subnet: 198.18.12.0/24}
    capacity:
      all: {cpus: 1, memory_mb: 256, disk_free_mb: 512}
    load_gate:
      users: 4
      spawn_rate: 4
      duration: 3
      p95_ms: 5000
      max_error_rate: 0.05
      step_duration: 2
      max_cpu: 1.0
      max_db_connections_share: SHARE
      max_regression: 10
    hosts:
      pk-app-1: {groups: [app]}
      pk-app-2: {groups: [app]}
      pk-db-1: {groups: [db]}
      pk-web-1: {groups: [web]}
    vars: &vars
      db: {postgresql_shared_buffers: 128MB}
      app: {app_workers: 4, app_db_pool_size: 1, app_log_level: info}
  pkprod:
    promoted_from: pk
    provider: {kind: local, subnet: 198.18.13.0/24}
    peak:
      requests_per_second: RATE
      mix:
        GET /tickets: 0.5
        GET /tickets/[id]: 0.2
        POST /answer: 0.2
        POST /tickets: 0.1
      headroom: 1.5
      latency_ms: 250
    hosts:
      pkprod-app-1: {groups: [app]}
      pkprod-app-2: {groups: [app]}
      pkprod-db-1: {groups: [db]}
      pkprod-web-1: {groups: [web]}
    vars: *vars
"""
LOOSE, TIGHT = "1.0", "0.15"
SMALL_PEAK, BIG_PEAK = "20", "200"  # pk's target: 30/s (steps 7.5 .. 37.5/s); 200 x 1.5 = 300/s


def source(share: str, rate: str) -> str:
    return SOURCE.replace("SHARE", share).replace("RATE", rate)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Checkout]:
    repo = copy_repo(tmp_path_factory, "peak")
    repo.write("environments.yml", source(LOOSE, SMALL_PEAK))
    repo.edit(
        "group_vars/db.yml",
        "postgresql_max_connections: 100",
        "postgresql_max_connections: 10\npostgresql_superuser_reserved_connections: 1",
    )
    repo.commit("release 1.1.0, a database of 10 connections")
    yield repo
    repo.run("down", "pk")


def test_small_database_within_a_loose_threshold_passes_and_records_capacity(
    checkout: Checkout,
) -> None:
    result = checkout.run("pk")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "post-deploy gate passed" in result.stdout
    assert "pk: load steps (2s each)" in result.stdout
    assert marked_tickets("pk-db-1") == 0
    run = checkout.ledger.runs(env="pk")[0]
    gate = next(e for e in checkout.ledger.show(run.run_id).entries if e.kind == "gate")
    record = gate.payload["load_plan"]
    assert record["capacity"]["sustained"] > 0
    assert record["baseline_run"] is None  # pk's first gate: thresholds alone
    connections = [s["hosts"]["pk-db-1"]["db_total"] for s in record["steps"]]
    assert max(connections) >= 2, connections  # both app hosts hold one at least
    SEEN["passed_run"] = run.run_id


def test_promotion_short_of_the_targets_peak_is_refused_with_the_numbers(
    checkout: Checkout, tmp_path: Path
) -> None:
    """The bundle passed pk's gate; pkprod's peak, raised in a source tried with --source (the
    bundle stays the same), needs 300/s that pk's sustained rate cannot imply."""
    bigger = tmp_path / "environments.yml"
    bigger.write_text(source(LOOSE, BIG_PEAK))
    result = checkout.run("promote", "pk", "pkprod", "--source", str(bigger))
    said = result.stdout + result.stderr
    assert result.returncode == EXIT_REFUSED, said
    assert f"whose gate in run {SEEN['passed_run']} does not show the capacity" in said
    assert re.search(r"pk sustained [\d.]+/s, implying [\d.]+/s for pkprod", said), said
    assert "pkprod's peak 200/s x 1.5 = 300/s; short by" in said
    assert "creating" not in result.stdout  # refused before any pkprod host was started


def test_db_connections_over_the_threshold_fail_the_gate_and_roll_back(checkout: Checkout) -> None:
    checkout.write("environments.yml", source(TIGHT, SMALL_PEAK))
    checkout.edit("group_vars/all.yml", 'app_release: "1.1.0"', 'app_release: "1.2.0"')
    checkout.commit("release 1.2.0, the db-connection share tightened to 15%")
    result = checkout.run("pk")
    out = " ".join(result.stdout.split())  # rich wraps long cells
    assert result.returncode == EXIT_GATE, result.stdout + result.stderr
    assert re.search(r"step \d \(\d+%, [\d.]+/s\): pk-db-1 db connections \d+/10 = \d+% > 15%", out)
    assert "gate failed, release rolled back" in out
    assert marked_tickets("pk-db-1") == 0
    run = checkout.ledger.runs(env="pk")[0]
    assert run.status == "rolled-back"
    shown = checkout.run("show", run.run_id)
    assert "pk: load steps" in shown.stdout
    assert_png(chart_of(shown.stdout, checkout.root))
