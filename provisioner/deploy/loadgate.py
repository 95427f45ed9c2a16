"""The load half of the post-deploy gate: locust against the deployed app, judged by thresholds.

Locust runs as a subprocess, never imported: importing it monkey-patches the standard library
with gevent, which the tool's own process (ansible-runner, threads, psycopg) must not get. The
numbers come from the CSV locust writes (--csv), not from its terminal output, which is for
people. The fixed-users test (run) only reads, so it may run against prod. run_plan offers a
stepped plan from the declared peak (loadplan.py): its writes are in the plan only outside the
environment whose peak it is, and the locustfile refuses them in a read-only plan too.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from provisioner import paths
from provisioner.errors import InputError, ProvisionerError

STOP_TIMEOUT_S = 2  # users finish the request they are in, then locust exits
EXIT_MARGIN_S = 60  # locust's start and exit on a busy controller, on top of the run itself
STDERR_LINES = 3  # how much of locust's stderr a failure message quotes

# Columns of the Aggregated row of <prefix>_stats.csv (locust 2.x), by the keys we return.
PLAN_VAR = "PROVISIONER_LOAD_PLAN"  # the locustfile's: where the plan's JSON is

STATS_COLUMNS = {
    "requests": "Request Count",
    "failures": "Failure Count",
    "p95_ms": "95%",
    "median_ms": "50%",
    "rps": "Requests/s",
}


@dataclass(frozen=True)
class Thresholds:
    users: int  # concurrent simulated users
    spawn_rate: float  # users started per second
    duration_s: int  # seconds of load
    p95_ms: float  # the 95th percentile of response time must be <= this
    max_error_rate: float  # failed requests / all requests must be <= this (0..1)

    def __post_init__(self) -> None:
        wrong = []
        if self.users < 1:
            wrong.append(f"users must be >= 1, not {self.users}")
        if self.spawn_rate <= 0:
            wrong.append(f"spawn_rate must be > 0, not {self.spawn_rate:g}")
        if self.duration_s < 1:
            wrong.append(f"duration_s must be >= 1, not {self.duration_s}")
        if self.p95_ms <= 0:
            wrong.append(f"p95_ms must be > 0, not {self.p95_ms:g}")
        if not 0 <= self.max_error_rate <= 1:
            wrong.append(f"max_error_rate must be within 0..1, not {self.max_error_rate:g}")
        if wrong:
            raise InputError("load thresholds: " + "; ".join(wrong))


@dataclass(frozen=True)
class LoadResult:
    url: str
    thresholds: Thresholds
    requests: int
    failures: int
    error_rate: float
    p95_ms: float
    median_ms: float
    rps: float
    problems: tuple[str, ...]  # human reasons the gate failed, empty when passed

    @property
    def passed(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values, for the run ledger."""
        return {
            "url": self.url,
            "passed": self.passed,
            "thresholds": asdict(self.thresholds),
            "requests": self.requests,
            "failures": self.failures,
            "error_rate": self.error_rate,
            "p95_ms": self.p95_ms,
            "median_ms": self.median_ms,
            "rps": self.rps,
            "problems": list(self.problems),
        }


def judge(
    url: str,
    thresholds: Thresholds,
    *,
    requests: int,
    failures: int,
    p95_ms: float,
    median_ms: float,
    rps: float,
) -> LoadResult:
    """Measurements against thresholds. No request at all fails the gate whatever the limits:
    an app that answered nothing has not shown it bears the load."""
    problems = []
    if requests == 0:
        error_rate = 1.0
        problems.append("no request completed")
    else:
        error_rate = failures / requests
        if p95_ms > thresholds.p95_ms:
            problems.append(f"p95 {p95_ms:g} ms > {thresholds.p95_ms:g} ms")
        if error_rate > thresholds.max_error_rate:
            problems.append(f"error rate {error_rate:.2%} > {thresholds.max_error_rate:.2%}")
    return LoadResult(
        url=url,
        thresholds=thresholds,
        requests=requests,
        failures=failures,
        error_rate=error_rate,
        p95_ms=p95_ms,
        median_ms=median_ms,
        rps=rps,
        problems=tuple(problems),
    )


def parse_stats(csv_path: Path) -> dict[str, float]:
    """The Aggregated row of locust's <prefix>_stats.csv, keyed as STATS_COLUMNS. Locust writes
    "N/A" percentiles when nothing completed; they read as 0 (judge fails that run anyway)."""
    try:
        with csv_path.open(newline="") as stats:
            rows = list(csv.DictReader(stats))
    except OSError as exc:
        raise ProvisionerError(
            f"cannot read locust's statistics {paths.display(csv_path)}: {exc.strerror}"
        ) from None
    total = next((r for r in rows if not r.get("Type") and r.get("Name") == "Aggregated"), None)
    if total is None:
        raise ProvisionerError(f"no Aggregated row in locust's {paths.display(csv_path)}")
    values: dict[str, float] = {}
    for key, column in STATS_COLUMNS.items():
        text = total.get(column)
        try:
            values[key] = 0.0 if text == "N/A" else float(text or "")
        except ValueError:
            raise ProvisionerError(
                f"{paths.display(csv_path)}: Aggregated {column!r} is {text!r}, not a number"
            ) from None
    return values


def run(url: str, thresholds: Thresholds, out_dir: Path) -> LoadResult:
    """Run the locustfile against `url` for thresholds.duration_s and judge the result. Locust's
    CSV files and its stderr (locust.log: the summary tables) are left in out_dir."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"load test URL must look like http://HOST[:PORT], not {url!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = out_dir / "load"
    stats_csv = out_dir / "load_stats.csv"
    stats_csv.unlink(missing_ok=True)  # a previous run's numbers must not pass for this one's
    command = [
        *_locust(),
        "-f", str(paths.LOCUSTFILE),
        "--headless",
        "--users", str(thresholds.users),
        "--spawn-rate", f"{thresholds.spawn_rate:g}",
        "--run-time", f"{thresholds.duration_s}s",
        "--stop-timeout", str(STOP_TIMEOUT_S),
        "--host", url.rstrip("/"),  # locust appends paths as they are: no "//health"
        "--csv", str(prefix),
        "--only-summary",
        "--loglevel", "WARNING",
        "--exit-code-on-error", "0",  # failed requests are ours to judge, not an error
    ]  # fmt: skip
    timeout = thresholds.duration_s + STOP_TIMEOUT_S + EXIT_MARGIN_S
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=paths.REPO,
            env=_environ(),
            check=False,
        )
    except OSError as exc:
        raise ProvisionerError(f"cannot start locust ({command[0]}): {exc.strerror}") from None
    except subprocess.TimeoutExpired as exc:
        raise ProvisionerError(
            f"locust did not finish within {timeout} s{_tail(exc.stderr)}"
        ) from None
    (out_dir / "locust.log").write_text(done.stderr)
    if done.returncode != 0:
        raise ProvisionerError(f"locust exited with code {done.returncode}{_tail(done.stderr)}")
    if not stats_csv.is_file():
        raise ProvisionerError(
            f"locust wrote no statistics to {paths.display(stats_csv)}{_tail(done.stderr)}"
        )
    stats = parse_stats(stats_csv)
    return judge(
        url,
        thresholds,
        requests=int(stats["requests"]),
        failures=int(stats["failures"]),
        p95_ms=stats["p95_ms"],
        median_ms=stats["median_ms"],
        rps=stats["rps"],
    )


def run_plan(url: str, plan: dict[str, Any], step_duration: int, out_dir: Path) -> Path:
    """Offer `plan` (LoadPlan.as_dict()) against `url`, each step for step_duration seconds;
    returns the file of per-request samples the locustfile wrote (stepload.parse reads it).

    One locust run for all steps, not one per step: a run's start costs seconds of a 3 s step,
    and users would start cold at every step. The per-step figures come from the locustfile's
    own per-request lines, not from --csv-full-history, whose rows are cumulative and written
    once a second (a 3 s step would be two rows of differences, percentiles not subtractable)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"load test URL must look like http://HOST[:PORT], not {url!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    samples = out_dir / "load_samples.txt"
    samples.unlink(missing_ok=True)  # a previous run's requests must not pass for this one's
    plan_file = out_dir / "load_plan.json"
    plan_file.write_text(
        json.dumps({**plan, "step_duration": step_duration, "samples": str(samples)}, indent=1)
    )
    command = [
        *_locust(),
        "-f", str(paths.LOCUSTFILE),
        "--headless",
        "--stop-timeout", str(STOP_TIMEOUT_S),
        "--host", url.rstrip("/"),
        "--csv", str(out_dir / "load"),
        "--only-summary",
        "--loglevel", "WARNING",
        "--exit-code-on-error", "0",
    ]  # fmt: skip
    timeout = len(plan["steps"]) * step_duration + STOP_TIMEOUT_S + EXIT_MARGIN_S
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=paths.REPO,
            env={**_environ(), PLAN_VAR: str(plan_file)},
            check=False,
        )
    except OSError as exc:
        raise ProvisionerError(f"cannot start locust ({command[0]}): {exc.strerror}") from None
    except subprocess.TimeoutExpired as exc:
        raise ProvisionerError(
            f"locust did not finish within {timeout} s{_tail(exc.stderr)}"
        ) from None
    (out_dir / "locust.log").write_text(done.stderr)
    if done.returncode != 0:
        raise ProvisionerError(f"locust exited with code {done.returncode}{_tail(done.stderr)}")
    samples.touch()  # no request at all is a result (every step fails), not a missing file
    return samples


def _locust() -> list[str]:
    """The venv's locust script; not resolved, since the venv's python is a symlink out of it."""
    script = Path(sys.executable).parent / "locust"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "locust"]


def _environ() -> dict[str, str]:
    """Our environment without LOCUST_* settings, which would override the gate's options, nor
    a plan of ours (the fixed-users test must not become a plan's)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("LOCUST_") and k != PLAN_VAR}


def _tail(stderr: str | bytes | None) -> str:
    """The last lines of locust's stderr as one line (": a | b | c"), or "" when it said nothing."""
    if isinstance(stderr, bytes):  # TimeoutExpired holds bytes whatever text= said
        stderr = stderr.decode(errors="replace")
    lines = [" ".join(line.split()) for line in (stderr or "").splitlines() if line.strip()]
    return ": " + " | ".join(lines[-STDERR_LINES:]) if lines else ""
