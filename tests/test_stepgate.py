"""The stepped load gate: per-step figures from the locustfile's lines, judging (thresholds,
which step, host and figure), the sustainable rate and what it implies, the comparison with the
last good release, the chart; and the real locust offering a plan to a loopback server, with
and without writes, end to end through stepgate.run (hosts sampled by the real script run by
sh here instead of over ssh)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import struct
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from provisioner import paths
from provisioner.cli import main
from provisioner.deploy import (
    cleanup,
    gatechart,
    hostsample,
    loadgate,
    loadplan,
    stepgate,
    stepjudge,
    stepload,
)
from provisioner.deploy.hostsample import HostFigures
from provisioner.deploy.stepjudge import Limits
from provisioner.deploy.stepload import StepLoad
from provisioner.errors import ProvisionerError
from provisioner.ledger.ledger import open_ledger
from provisioner.source.model import load_source

LIMITS = Limits(
    p95_ms=500, max_error_rate=0.01, max_cpu=0.9, max_db_connections_share=0.8, max_regression=0.25
)
CALM = HostFigures(cpu=0.3, memory=0.5, load1=0.4)
CALM_DB = HostFigures(
    cpu=0.3, memory=0.5, load1=0.4, db_active=2, db_total=10, db_max=100, waiting_locks=0, tps=50
)


def load(index: int, share: float, *, p50: float = 10, p95: float = 40, **kw: Any) -> StepLoad:
    values: dict[str, Any] = {
        "index": index,
        "share": share,
        "offered": 100 * share,
        "requests": int(300 * share),
        "failures": 0,
        "p50_ms": p50,
        "p95_ms": p95,
        "achieved": 100 * share,
        "start": float(index),
        "end": index + 0.9,
        "sample": tuple(float(p50 + i % 7) for i in range(60)),
    }
    values.update(kw)
    return StepLoad(**values)


def hosts(**over: HostFigures) -> dict[str, HostFigures]:
    return {"s-app-1": CALM, "s-db-1": CALM_DB, **over}


SHARES = (0.25, 0.5, 0.75, 1.0, 1.25)


def judged(
    loads: list[StepLoad] | None = None,
    figures: list[dict[str, HostFigures]] | None = None,
    baseline: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> list[stepjudge.StepResult]:
    loads = loads or [load(i, s) for i, s in enumerate(SHARES)]
    figures = figures or [hosts() for _ in loads]
    return stepjudge.judge(loads, figures, {"s-db-1"}, LIMITS, errors or {}, baseline)


# --- stepload ----------------------------------------------------------------------------------


def test_stepload_parses_the_locustfile_lines_per_step(tmp_path: Path) -> None:
    lines = [f"{100 + i / 10:.3f} 0 1 {i % 10 + 1}.00 GET /tickets" for i in range(40)]
    lines += [f"{110 + i / 10:.3f} 1 {0 if i < 3 else 1} 20.5 POST /tickets" for i in range(60)]
    path = tmp_path / "samples.txt"
    path.write_text("\n".join(lines) + "\n")
    steps = [{"share": 0.5, "rate": 20}, {"share": 1.0, "rate": 40}, {"share": 1.25, "rate": 50}]
    first, second, empty = stepload.parse(path, steps, step_duration=2)
    assert (first.requests, first.failures, first.achieved) == (40, 0, 20)
    assert first.p50_ms == 5
    assert first.p95_ms == 10
    assert (first.start, first.end) == (100.0, 103.9)
    assert (second.requests, second.failures, second.error_rate) == (60, 3, 0.05)
    assert second.offered == 40
    assert second.share == 1.0
    assert (empty.requests, empty.error_rate, empty.sample) == (0, 1.0, ())


def test_stepload_refuses_a_line_it_cannot_read(tmp_path: Path) -> None:
    path = tmp_path / "samples.txt"
    path.write_text("100.0 0 1 5.0 GET /x\nnot a line\n")
    with pytest.raises(ProvisionerError, match=r"samples.txt:2: not a request's line"):
        stepload.parse(path, [{"share": 1, "rate": 1}], 1)


def test_compact_sample_keeps_evenly_spaced_order_statistics() -> None:
    ordered = [float(v) for v in range(1000)]
    kept = stepload.compact(ordered, size=11)
    # indices round(i * 999 / 10): the minimum, the maximum and nine evenly between
    assert kept == (0, 100, 200, 300, 400, 500, 599, 699, 799, 899, 999)
    assert stepload.compact([3.0, 1.0], size=11) == (3.0, 1.0)


# --- stepjudge ---------------------------------------------------------------------------------


def test_every_step_within_thresholds_sustains_the_highest() -> None:
    results = judged()
    assert all(r.ok for r in results)
    assert stepjudge.failures(results) == []
    assert stepjudge.sustainable(results) == 125


def test_db_connections_over_the_share_name_step_host_and_figure() -> None:
    full = HostFigures(0.3, 0.5, 0.4, db_active=9, db_total=90, db_max=100, waiting_locks=1)
    figures = [hosts(), hosts(), hosts(**{"s-db-1": full}), hosts(), hosts()]
    results = judged(figures=figures)
    assert stepjudge.failures(results) == [
        "step 3 (75%, 75/s): s-db-1 db connections 90/100 = 90% > 80%"
    ]
    assert stepjudge.sustainable(results) == 50  # a pass above a failed step is no capacity


def test_cpu_latency_errors_and_carried_rate_each_said() -> None:
    hot = HostFigures(cpu=0.97, memory=0.5, load1=3.0)
    loads = [load(i, s) for i, s in enumerate(SHARES)]
    loads[3] = load(3, 1.0, p95=612, failures=9, achieved=60)
    figures = [hosts(), hosts(), hosts(), hosts(**{"s-app-1": hot}), hosts()]
    (problem,) = [r for r in judged(loads, figures) if not r.ok]
    assert problem.problems == (
        "carried 60/s of the 100/s offered (< 80%)",
        "p95 612 ms > 500 ms",
        "errors 3.00% > 1.00%",
        "s-app-1 CPU 97% > 90%",
    )


def test_steps_above_the_target_probe_without_failing_the_gate() -> None:
    loads = [load(i, s) for i, s in enumerate(SHARES)]
    loads[4] = load(4, 1.25, p95=900)
    results = judged(loads)
    assert stepjudge.failures(results) == []
    assert not results[4].ok
    assert stepjudge.sustainable(results) == 100


def test_hosts_not_sampled_and_missing_postgresql_readings_fail() -> None:
    blind = HostFigures(None, None, None)
    no_pg = HostFigures(0.2, 0.5, 0.3, pg_error="psql said 'permission denied'")
    figures = [hosts(**{"s-db-1": no_pg}), hosts(**{"s-app-1": blind})] + [hosts()] * 3
    results = judged(figures=figures, errors={"s-app-2": "ssh exited 255"})
    assert results[0].problems == ("s-db-1 no PostgreSQL reading (psql said 'permission denied')",)
    assert results[1].problems == ("s-app-1 not sampled during the step",)
    figures = [{**hosts(), "s-app-2": CALM}] * 5
    results = judged(figures=figures, errors={"s-app-2": "ssh exited 255"})
    assert results[0].problems == ("s-app-2 not sampled (ssh exited 255)",)


def baseline_of(p50: float) -> dict[str, Any]:
    return {
        "run": "17",
        "steps": [
            {"share": s, "sample": [p50 + i % 7 for i in range(60)]} for s in (0.25, 0.5, 0.75, 1.0)
        ],
    }


def test_a_significant_slowdown_beyond_the_margin_fails_naming_step_and_figures() -> None:
    loads = [load(i, s) for i, s in enumerate(SHARES)]
    loads[1] = load(1, 0.5, p50=20)  # twice the baseline's median, every value above it
    results = judged(loads, baseline=baseline_of(10))
    (failure,) = stepjudge.failures(results)
    assert failure.startswith("step 2 (50%, 50/s): latency regressed: p50 23 ms vs 13 ms in run 17")
    assert "Mann-Whitney p=" in failure
    assert results[0].compared is not None
    assert results[0].compared["run"] == "17"
    assert results[4].compared is None  # no 125% step in the baseline


def test_a_slowdown_within_the_margin_or_not_significant_passes() -> None:
    loads = [load(i, s, p50=11) for i, s in enumerate(SHARES)]  # median 14 ms vs 13: +8%
    assert stepjudge.failures(judged(loads, baseline=baseline_of(10))) == []
    few = [load(i, s, sample=(30.0, 10.0)) for i, s in enumerate(SHARES)]
    assert stepjudge.failures(judged(few, baseline=baseline_of(10))) == []  # p too large
    assert all(r.compared is None for r in judged())  # no baseline: thresholds alone


def test_a_slowdown_of_a_few_milliseconds_is_no_regression_however_large_its_share() -> None:
    loads = [load(i, s, p50=7) for i, s in enumerate(SHARES)]  # median 10 ms vs 6 ms: +67%
    quick = {"run": "17", "steps": [{"share": 0.5, "sample": [3 + i % 7 for i in range(60)]}]}
    floor = dataclasses.replace(LIMITS, min_regression_ms=5)
    found = stepjudge.judge(loads, [hosts() for _ in loads], {"s-db-1"}, floor, {}, quick)
    assert stepjudge.failures(found) == []  # +4 ms is within the 5 ms floor
    assert found[1].compared is not None
    assert found[1].compared["slower"] > floor.max_regression
    floor = dataclasses.replace(LIMITS, min_regression_ms=3)
    found = stepjudge.judge(loads, [hosts() for _ in loads], {"s-db-1"}, floor, {}, quick)
    (failure,) = stepjudge.failures(found)
    assert "and +4 ms > 3 ms" in failure


def test_implied_capacity_and_shortfall_read_the_plan_backwards() -> None:
    capacity = stepjudge.Capacity("staging", "prod", 67.5, 4, 8, 120, 1.5)
    assert capacity.implied == 135
    assert capacity.needed == 180
    assert capacity.short_by == 45
    assert capacity.explain() == (
        "staging sustained 67.5/s, implying 135/s for prod (8 app workers / 4); prod's peak "
        "120/s x 1.5 = 180/s; short by 45/s"
    )
    assert stepjudge.Capacity("staging", "prod", 112.5, 4, 8, 120, 1.5).short_by == 0


def test_baseline_is_the_newest_passed_gate_with_steps() -> None:
    steps = [{"share": 1.0, "sample": [1.0]}]
    gates = [
        {"run": "1", "passed": True, stepgate.RECORD: {"steps": steps}},
        {"run": "2", "passed": True, stepgate.RECORD: None},  # a fixed-users gate
        {"run": "3", "passed": False, stepgate.RECORD: {"steps": steps}},
    ]
    assert stepgate.baseline_of(gates) == {"run": "1", "steps": steps}
    assert stepgate.baseline_of(gates[1:]) is None


# --- the chart ---------------------------------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_chart_of_a_recorded_gate_result_is_a_png_of_the_expected_size(tmp_path: Path) -> None:
    full = HostFigures(0.5, 0.5, 0.4, db_active=9, db_total=90, db_max=100, waiting_locks=1)
    figures = [hosts(), hosts(), hosts(**{"s-db-1": full}), hosts(), hosts()]
    recorded = json.loads(json.dumps([r.as_dict() for r in judged(figures=figures)]))
    out = gatechart.draw(recorded, tmp_path / "gate-42.png", title="staging: target 100/s")
    assert out.stat().st_size > 10_000
    assert png_size(out) == (
        gatechart.WIDTH_IN * gatechart.DPI,
        gatechart.HEIGHT_IN * gatechart.DPI,
    )
    assert not list(tmp_path.glob("*.partial"))
    with pytest.raises(ValueError, match="no step"):
        gatechart.draw([], tmp_path / "none.png", title="")


# --- real locust against a loopback server -----------------------------------------------------


class App:
    def __init__(self) -> None:
        self.seen: list[tuple[float, str, str, bytes]] = []
        self.tickets: dict[int, dict[str, Any]] = {}
        self.ids = itertools.count(1)
        self.lock = threading.Lock()


@pytest.fixture
def app() -> Iterator[tuple[App, str]]:
    state = App()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            path = self.path.partition("?")[0]
            if path == "/tickets":
                with state.lock:
                    listed = [{"id": i} for i in list(state.tickets)[-20:]]
                self.reply(200, {"tickets": listed})
            elif path.removeprefix("/tickets/").isdigit():
                found = state.tickets.get(int(path.removeprefix("/tickets/")))
                self.reply(200 if found else 404, found or {"error": "no such ticket"})
            else:
                self.reply(200, {"status": "ok"})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.path == "/tickets":
                with state.lock:
                    ticket_id = next(state.ids)
                    state.tickets[ticket_id] = {"id": ticket_id, **json.loads(body)}
                self.reply(201, {"id": ticket_id}, body)
            else:
                self.reply(200, {"answer": "we open at nine"}, body)

        def reply(self, status: int, document: object, body: bytes = b"") -> None:
            with state.lock:
                state.seen.append((time.time(), self.command, self.path, body))
            data = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # a step's users connect at once (the default 5 drops SYNs)

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def small_plan(read_only: bool) -> loadplan.LoadPlan:
    loaded = load_source(paths.DEFAULT_SOURCE)
    env = "prod" if read_only else "staging"
    full = loadplan.load_plan(loaded, env, steps=(0.25, 0.5))
    # The shipped mix and shares at rates a unit test affords: 8 and 16 requests/s.
    steps = [
        loadplan.Step(s.share, 32 * s.share, {n: 32 * s.share * p for n, p in full.mix.items()})
        for s in full.steps
    ]
    return loadplan.LoadPlan(**{**vars(full), "steps": steps})


def test_locust_offers_each_step_at_its_rate_with_marked_writes(
    app: tuple[App, str], tmp_path: Path
) -> None:
    state, url = app
    plan = small_plan(read_only=False)
    samples = loadgate.run_plan(url, plan.as_dict(), step_duration=3, out_dir=tmp_path)
    first, second = stepload.parse(samples, plan.as_dict()["steps"], 3)
    assert first.requests == pytest.approx(8 * 3, rel=0.3)
    assert second.requests == pytest.approx(16 * 3, rel=0.3)
    assert first.end <= second.start
    assert first.failures == second.failures == 0
    methods = [f"{method} {path.partition('?')[0]}" for _, method, path, _ in state.seen]
    writes = [
        body for _, method, path, body in state.seen if (method, path) == ("POST", "/tickets")
    ]
    assert writes, methods  # 10% of about 72 requests
    for body in writes:
        ticket = json.loads(body)
        assert ticket["customer"] == cleanup.MARK_CUSTOMER
        assert ticket["subject"].startswith(cleanup.MARK_SUBJECT)
    assert {"GET /tickets", "POST /answer"} <= set(methods)


def test_a_read_only_plan_never_writes(app: tuple[App, str], tmp_path: Path) -> None:
    state, url = app
    plan = small_plan(read_only=True)
    assert plan.read_only
    plan_record = {**plan.as_dict()}
    # The locustfile refuses writes in a read-only plan even if the mix named one.
    plan_record["steps"] = [
        {**s, "requests": {**s["requests"], "POST /tickets": s["rate"]}}
        for s in plan_record["steps"]
    ]
    loadgate.run_plan(url, plan_record, step_duration=2, out_dir=tmp_path)
    assert state.seen
    assert all(method != "POST" or path == "/answer" for _, method, path, _ in state.seen)


def test_locustfile_and_cleanup_mark_tickets_alike() -> None:
    text = paths.LOCUSTFILE.read_text()
    assert f'MARK_CUSTOMER = "{cleanup.MARK_CUSTOMER}"' in text
    assert f'MARK_SUBJECT = "{cleanup.MARK_SUBJECT}"' in text
    found = re.search(r"customer = '([^']*)' AND subject LIKE '([^']*)%'", cleanup.SQL)
    assert found is not None
    assert found.groups() == (cleanup.MARK_CUSTOMER, cleanup.MARK_SUBJECT)
    assert "runuser -u postgres -- psql" in cleanup.command("root", "csapp")
    assert "sudo -n -u postgres psql" in cleanup.command("deploy", "csapp")


def test_stepgate_end_to_end_with_hosts_sampled_and_tickets_cleaned(
    app: tuple[App, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stepgate.run as the gate calls it: the real locust, the real sampling script (run by sh
    on this machine instead of over ssh), the real chart; the cleanup's ssh replaced by a
    removal from the loopback app, so the test sees the tickets go."""
    state, url = app
    loaded = load_source(paths.DEFAULT_SOURCE)
    env = loaded.environment("staging")

    def local(self: hostsample.Sampler, host: str, db: bool) -> list[str]:
        return ["sh", "-c", hostsample.remote_script(False, "root")]

    removed: list[str] = []

    def remove(env_name: str, env: object, db_name: str) -> int:
        removed.append(db_name)
        with state.lock:
            marked = [i for i, t in state.tickets.items() if t["customer"] == cleanup.MARK_CUSTOMER]
            for ticket_id in marked:
                del state.tickets[ticket_id]
        return len(marked)

    monkeypatch.setattr(hostsample.Sampler, "_ssh", local)
    monkeypatch.setattr(cleanup, "remove_load_tickets", remove)
    spec = env.load_gate
    assert spec is not None
    spec = spec.model_copy(update={"step_duration": 3, "max_cpu": 1.0})
    result = stepgate.run(
        "staging",
        env,
        url=url,
        plan=small_plan(read_only=False),
        spec=spec,
        baseline=None,
        out_dir=tmp_path,
        chart=tmp_path / "gate-7.png",
        db_name="csapp",
    )
    record = json.loads(json.dumps(result.as_dict()))
    assert removed == ["csapp"]
    assert state.tickets == {}
    assert record["cleanup"].endswith("load-test tickets removed")
    assert len(record["steps"]) == 2
    # No PostgreSQL on this machine's sh: the db host is said to have no reading, on every
    # step; nothing else is wrong (the loopback app is fast, every step carried its rate).
    assert len(record["problems"]) == 2
    assert all("staging-db-1 no PostgreSQL reading" in p for p in record["problems"])
    for step in record["steps"]:
        assert set(step["hosts"]) == {"staging-app-1", "staging-app-2", "staging-db-1"}
        assert 0 <= step["hosts"]["staging-app-1"]["cpu"] <= 1
    assert record["baseline_run"] is None
    assert "no baseline" in result.detail()
    assert png_size(tmp_path / "gate-7.png") == (1000, 700)
    assert record["capacity"]["env"] == "staging"
    assert record["capacity"]["peak_env"] == "prod"


# --- show RUN_ID: the step table from the ledger ---------------------------------------------


def test_show_prints_the_step_table_capacity_baseline_and_chart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    full = HostFigures(0.5, 0.5, 0.4, db_active=9, db_total=90, db_max=100, waiting_locks=1, tps=42)
    figures = [hosts(), hosts(), hosts(**{"s-db-1": full}), hosts(), hosts()]
    loads = [load(i, s) for i, s in enumerate(SHARES)]
    loads[1] = load(1, 0.5, p50=20)
    results = judged(loads, figures, baseline=baseline_of(10))
    capacity = stepjudge.Capacity("staging", "prod", stepjudge.sustainable(results), 4, 8, 120, 1.5)
    record = {
        "step_duration": 3,
        "steps": [r.as_dict() for r in results],
        "capacity": capacity.as_dict(),
        "baseline_run": "17",
        "cleanup": "12 load-test tickets removed",
        "chart": ".state/runs/staging/gate/gate-R.png",
    }
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    monkeypatch.setenv("PROVISION_LEDGER_URL", url)
    monkeypatch.setenv("COLUMNS", "250")
    with open_ledger(url) as book:
        run = book.start_run(
            "gate", "staging", command="provision.py gate staging", identity="alice",
            commit="c0ffee", inventory_hash="i",
        )  # fmt: skip
        checks = [{"name": "load test", "passed": False, "detail": "see the steps"}]
        book.append(
            "gate", "staging", {"passed": False, "checks": checks, "load_plan": record}, run
        )
        book.finish_run(run, "gate-failed", {}, [])
    assert main(["show", run]) == 0
    out = capsys.readouterr().out
    assert "staging: load steps (3s each)" in out
    assert "s-db-1 conns" in out
    assert "90/100 (90%)" in out  # step 3's connections
    assert "s-db-1 db connections 90/100 = 90% > 80%" in " ".join(out.split())
    assert "latency regressed" in " ".join(out.split())
    # step 3 misses its connections: 50/s sustained (a regression is no capacity limit)
    assert "sustainable: 50/s on staging, implying 100/s for prod" in out
    assert "short by 80/s" in out
    assert "compared with the last passed gate, run 17" in out
    assert "chart: .state/runs/staging/gate/gate-R.png" in out
    assert "12 load-test tickets removed" in out
