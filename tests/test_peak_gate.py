"""The stepped load gate on staging with the shipped source (issue 18, item 8): the gate
passes, prints the step table, the sustainable rate and the chart's path; the chart is a PNG;
`show` prints the table again; the tickets the test created are gone from PostgreSQL.
(tests/test_peak_capacity.py: the db-connection threshold and the capacity refusal.)"""

from __future__ import annotations

import re

import pytest
from gating import assert_png, chart_of, marked_tickets
from hostrun import Asked, provision, sqlite_url

from provisioner import paths

pytestmark = pytest.mark.hosts("staging")


def test_staging_gate_passes_with_the_shipped_source_and_prints_steps_and_chart() -> None:
    converged = provision("staging")
    assert converged.returncode == 0, converged.stdout + converged.stderr
    gated = provision("gate", "staging")
    out = " ".join(gated.stdout.split())  # rich wraps long lines
    assert gated.returncode == 0, gated.stdout + gated.stderr
    assert "load plan: staging: target 30 requests/s" in out
    assert "staging: load steps (3s each)" in out
    assert "staging-db-1 conns" in out
    assert "sustainable:" in out
    assert "implying" in out
    assert re.search(r"tickets: [1-9]\d* load-test tickets removed", out), out
    assert_png(chart_of(out, paths.REPO))
    assert marked_tickets("staging-db-1") == 0
    run = Asked(sqlite_url(paths.STATE / "ledger.sqlite3")).runs(env="staging")[0]
    shown = provision("show", run.run_id)
    assert shown.returncode == 0, shown.stderr
    assert "staging: load steps" in shown.stdout
    assert "chart: .state/runs/staging/gate/gate-" in shown.stdout
