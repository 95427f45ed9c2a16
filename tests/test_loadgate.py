"""The load gate: judging (pure), locust's CSV, and real locust runs against a loopback server.

Nothing of locust is mocked: run() starts the real locust on the real locustfile, against a
small server in this process that speaks the app's endpoints and records every request, so the
tests can also check what the locustfile sends (and that it never writes).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from provisioner import paths
from provisioner.deploy import loadgate
from provisioner.deploy.loadgate import LoadResult, Thresholds, judge, parse_stats
from provisioner.errors import InputError, ProvisionerError

URL = "http://127.0.0.1:8080"
LOOSE = Thresholds(users=1, spawn_rate=1, duration_s=1, p95_ms=300, max_error_rate=0.01)

# --- judge -----------------------------------------------------------------------------------


def judged(**measured: float) -> LoadResult:
    values: dict[str, float] = {"requests": 1000, "failures": 0, "p95_ms": 120, "median_ms": 40}
    values.update(measured)
    return judge(
        URL,
        LOOSE,
        requests=int(values["requests"]),
        failures=int(values["failures"]),
        p95_ms=values["p95_ms"],
        median_ms=values["median_ms"],
        rps=50.0,
    )


def test_judge_passes_within_thresholds_and_at_them() -> None:
    result = judged(p95_ms=300, failures=10)  # both exactly at the limit
    assert result.passed
    assert result.problems == ()
    assert result.error_rate == pytest.approx(0.01)


def test_judge_fails_on_p95() -> None:
    result = judged(p95_ms=412)
    assert not result.passed
    assert result.problems == ("p95 412 ms > 300 ms",)


def test_judge_fails_on_error_rate() -> None:
    result = judged(failures=25)
    assert result.problems == ("error rate 2.50% > 1.00%",)
    assert result.error_rate == pytest.approx(0.025)


def test_judge_reports_both_problems() -> None:
    assert len(judged(p95_ms=301, failures=11).problems) == 2


def test_judge_fails_when_no_request_completed() -> None:
    generous = Thresholds(users=1, spawn_rate=1, duration_s=1, p95_ms=1e9, max_error_rate=1.0)
    result = judge(URL, generous, requests=0, failures=0, p95_ms=0, median_ms=0, rps=0)
    assert not result.passed
    assert result.error_rate == 1.0
    assert result.problems == ("no request completed",)


def test_as_dict_is_plain_json_with_thresholds_and_verdict() -> None:
    record = json.loads(json.dumps(judged(p95_ms=412).as_dict()))
    assert record["passed"] is False
    assert record["problems"] == ["p95 412 ms > 300 ms"]
    assert record["thresholds"] == {
        "users": 1,
        "spawn_rate": 1,
        "duration_s": 1,
        "p95_ms": 300,
        "max_error_rate": 0.01,
    }
    assert record["url"] == URL
    assert record["requests"] == 1000


def test_thresholds_refuse_nonsense() -> None:
    with pytest.raises(InputError, match=r"users must be >= 1.*max_error_rate must be within"):
        Thresholds(users=0, spawn_rate=1, duration_s=1, p95_ms=100, max_error_rate=5)


# --- parse_stats: the file exactly as locust 2.47 writes it (CRLF, empty Type on the total) ----

HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
    "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
)
STATS_CSV = (
    HEADER + "\r\n"
    "POST,/answer,25,0,2,1.90,1.05,3.97,15.0,14.45,0.0,2,2,2,2,3,3,4,4,4,4,4\r\n"
    "GET,/tickets,28,3,2,2.15,1.51,4.74,35.0,16.19,1.2,2,2,2,2,4,5,5,5,5,5,5\r\n"
    ",Aggregated,53,3,2,2.05,1.05,4.74,21.36,43.37,1.2,2,2,2,2,3,4,5,5,5,5,5\r\n"
)
EMPTY_CSV = HEADER + "\r\n,Aggregated,0,0,0,0.0,0,0,0,0.0,0.0" + ",N/A" * 11 + "\r\n"


def test_parse_stats_reads_the_aggregated_row(tmp_path: Path) -> None:
    path = tmp_path / "load_stats.csv"
    path.write_bytes(STATS_CSV.encode())
    assert parse_stats(path) == {
        "requests": 53,
        "failures": 3,
        "p95_ms": 4,
        "median_ms": 2,
        "rps": pytest.approx(43.37),
    }


def test_parse_stats_reads_na_percentiles_as_zero(tmp_path: Path) -> None:
    path = tmp_path / "load_stats.csv"
    path.write_bytes(EMPTY_CSV.encode())
    assert parse_stats(path) == {
        "requests": 0,
        "failures": 0,
        "p95_ms": 0,
        "median_ms": 0,
        "rps": 0,
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (HEADER + "\r\nGET,/tickets,28,3,2,2,1,4,35,16,1.2" + ",5" * 11 + "\r\n", "no Aggregated"),
        ("Type,Name,Request Count\r\n,Aggregated,5\r\n", "'Failure Count' is None"),
        (EMPTY_CSV.replace(",0,0,0,0.0,", ",lots,0,0,0.0,"), "'Request Count' is 'lots'"),
    ],
)
def test_parse_stats_refuses_other_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "load_stats.csv"
    path.write_text(content)
    with pytest.raises(ProvisionerError, match=message):
        parse_stats(path)


def test_parse_stats_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProvisionerError, match=r"cannot read locust's statistics .*load_stats"):
        parse_stats(tmp_path / "load_stats.csv")


# --- run(): real locust against a loopback server ---------------------------------------------

TICKET_IDS = (101, 102, 103)


@dataclass
class AppBehaviour:
    delay_s: float = 0.0
    list_status: int = 200  # what GET /tickets answers
    seen: list[tuple[str, str, bytes]] = field(default_factory=list)  # method, path, body
    lock: threading.Lock = field(default_factory=threading.Lock)


def handler_for(app: AppBehaviour) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as nginx does

        def do_GET(self) -> None:
            self.answer(self.get_status())

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            self.answer(self.post_status(body), body)

        def get_status(self) -> tuple[int, object]:
            path = self.path.partition("?")[0]
            if path == "/health":
                return 200, {"status": "ok"}
            if path == "/tickets":
                return app.list_status, {"tickets": [{"id": i} for i in TICKET_IDS]}
            ticket = path.removeprefix("/tickets/")
            if ticket.isdigit() and int(ticket) in TICKET_IDS:
                return 200, {"id": int(ticket)}
            return 404, {"error": "no such ticket"}

        def post_status(self, body: bytes) -> tuple[int, object]:
            if self.path != "/answer":
                return 405, {"error": "read-only test server"}
            try:
                query = json.loads(body).get("query")
            except ValueError:
                query = None
            if not isinstance(query, str) or not query:
                return 400, {"error": "missing: query"}
            return 200, {"answer": "we open at nine", "handoff": False}

        def answer(self, reply: tuple[int, object], body: bytes = b"") -> None:
            with app.lock:
                app.seen.append((self.command, self.path, body))
            time.sleep(app.delay_s)
            status, document = reply
            data = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep the test output clean

    return Handler


Serve = Callable[[AppBehaviour], str]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start the app's stand-in on 127.0.0.1 (free port) in a thread; returns its URL."""
    servers: list[ThreadingHTTPServer] = []

    def start(app: AppBehaviour) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(app))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def load(url: str, out_dir: Path, p95_ms: float, max_error_rate: float = 0.01) -> LoadResult:
    thresholds = Thresholds(
        users=4, spawn_rate=4, duration_s=2, p95_ms=p95_ms, max_error_rate=max_error_rate
    )
    return loadgate.run(url, thresholds, out_dir)


def test_healthy_app_passes_and_every_request_is_counted(serve: Serve, tmp_path: Path) -> None:
    app = AppBehaviour()
    url = serve(app)
    result = load(url + "/", tmp_path, p95_ms=1000)  # a trailing slash is fine
    assert result.passed, result.problems
    assert result.failures == 0  # so 404s for unknown tickets were not counted as failures
    # Every request the server saw is in the numbers: the last second of the run included.
    assert result.requests == len(app.seen) > 20
    assert 0 < result.median_ms <= result.p95_ms < 1000
    assert result.rps > 0
    assert (tmp_path / "locust.log").read_text().count("Aggregated") == 2  # the summary tables

    seen = {(method, path.partition("?")[0]) for method, path, _ in app.seen}
    assert {("GET", "/health"), ("GET", "/tickets"), ("POST", "/answer")} <= seen
    assert ("GET", "/tickets?limit=20") in {(m, p) for m, p, _ in app.seen}
    singles = {p for m, p in seen if m == "GET" and p.startswith("/tickets/")}
    assert singles, "no single ticket was fetched"
    # Ids come from the list; id 1 only before a user's first list.
    assert singles <= {f"/tickets/{i}" for i in (*TICKET_IDS, 1)}
    assert {m for m, _ in seen} == {"GET", "POST"}
    assert {p for m, p in seen if m == "POST"} == {"/answer"}  # never POST /tickets


def test_slow_app_fails_on_p95(serve: Serve, tmp_path: Path) -> None:
    url = serve(AppBehaviour(delay_s=0.05))
    result = load(url, tmp_path, p95_ms=5)
    assert not result.passed
    assert result.failures == 0
    assert result.p95_ms >= 50
    assert len(result.problems) == 1
    assert result.problems[0].startswith("p95 ")
    assert result.problems[0].endswith(" ms > 5 ms")


def test_failing_app_fails_on_error_rate(serve: Serve, tmp_path: Path) -> None:
    url = serve(AppBehaviour(list_status=500))
    result = load(url, tmp_path, p95_ms=1000)
    assert not result.passed
    assert 0 < result.failures < result.requests  # only the list fails
    assert result.error_rate == pytest.approx(result.failures / result.requests)
    assert len(result.problems) == 1
    assert result.problems[0].startswith("error rate ")
    assert result.problems[0].endswith("% > 1.00%")


def test_a_stale_stats_file_is_not_read_as_this_runs(tmp_path: Path) -> None:
    # Nothing listens on this port: every request fails, and the old passing file is gone.
    (tmp_path / "load_stats.csv").write_bytes(STATS_CSV.encode())
    thresholds = Thresholds(users=1, spawn_rate=1, duration_s=1, p95_ms=1000, max_error_rate=0)
    result = loadgate.run(f"http://127.0.0.1:{free_port()}", thresholds, tmp_path)
    assert not result.passed
    assert result.failures == result.requests


def test_locust_failing_to_start_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "locustfile.py"
    broken.write_text('raise RuntimeError("the locustfile is broken")\n')
    monkeypatch.setattr(paths, "LOCUSTFILE", broken)
    with pytest.raises(ProvisionerError) as caught:
        load(URL, tmp_path / "out", p95_ms=1000)
    message = str(caught.value)
    assert message.startswith("locust exited with code 1: ")
    assert "RuntimeError: the locustfile is broken" in message
    assert "\n" not in message


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://127.0.0.1/", "http://"])
def test_run_refuses_a_url_locust_cannot_use(url: str, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="load test URL must look like"):
        load(url, tmp_path, p95_ms=1000)
    assert not tmp_path.joinpath("locust.log").exists()


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
