"""Judging a stepped gate run (pure): every step's latency, errors and host figures against the
source's thresholds, each step against the same step of the last good release, the sustainable
rate and what it implies for the environment whose peak it is.

- A step meets its thresholds when: it carried its rate (at least MIN_CARRIED of it completed),
  p95 and the error rate are within `load_gate`'s, every app and db host's CPU is within
  `max_cpu`, every db host's connections within `max_db_connections_share` of max_connections,
  and every watched host was sampled during it. Each miss names the step, the host and figure.
- The gate fails when a step up to 100% of the target misses a threshold; the steps above it
  find the limit and only lower the sustainable rate.
- The sustainable rate is the offered rate of the highest step that, with every step below it,
  met every threshold (a step that passes above a failed one is a fluke, not capacity).
- The implied capacity of the peak environment is that rate x its app workers / the tested
  environment's: loadplan's scaling read backwards.
- Regression: a step whose latency sample ranks significantly higher (Mann-Whitney, two-sided
  p < ALPHA) than the same step (same share of the target) of the last release that passed
  this environment's gate, with a median more than `max_regression` above it and at least
  `min_regression_ms` slower, fails the gate (the floor: a 5 ms median that becomes 8 ms on a
  machine busy with something else is +60% and significant, and no regression anyone feels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.deploy import mannwhitney
from provisioner.deploy.hostsample import HostFigures
from provisioner.deploy.stepload import StepLoad, percentile

ALPHA = 0.01  # significance of a latency regression
MIN_CARRIED = 0.8  # a step completed at least this share of the requests it offered
GATED_UP_TO = 1.0  # steps up to this share of the target fail the gate; above, they probe


@dataclass(frozen=True)
class Limits:
    p95_ms: float
    max_error_rate: float
    max_cpu: float
    max_db_connections_share: float
    max_regression: float
    min_regression_ms: float = 0.0


@dataclass(frozen=True)
class StepResult:
    load: StepLoad
    hosts: dict[str, HostFigures]
    problems: tuple[str, ...]  # thresholds missed
    regression: str | None  # the latency regression against the baseline, if any
    compared: dict[str, Any] | None  # the rank test's figures, when a baseline step existed

    @property
    def gated(self) -> bool:
        return self.load.share <= GATED_UP_TO

    @property
    def ok(self) -> bool:
        return not self.problems

    def label(self) -> str:
        return f"step {self.load.index + 1} ({self.load.share:.0%}, {self.load.offered:.4g}/s)"

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.load.as_dict(),
            "gated": self.gated,
            "hosts": {host: figures.as_dict() for host, figures in self.hosts.items()},
            "problems": list(self.problems),
            "regression": self.regression,
            "compared": self.compared,
        }


def step_problems(
    load: StepLoad,
    hosts: dict[str, HostFigures],
    db_hosts: set[str],
    limits: Limits,
    host_errors: dict[str, str],
) -> list[str]:
    problems = []
    if load.requests == 0:
        problems.append("no request completed")
    else:
        if load.achieved < MIN_CARRIED * load.offered:
            problems.append(
                f"carried {load.achieved:.4g}/s of the {load.offered:.4g}/s offered "
                f"(< {MIN_CARRIED:.0%})"
            )
        if load.p95_ms > limits.p95_ms:
            problems.append(f"p95 {load.p95_ms:g} ms > {limits.p95_ms:g} ms")
        if load.error_rate > limits.max_error_rate:
            problems.append(f"errors {load.error_rate:.2%} > {limits.max_error_rate:.2%}")
    for host, figures in sorted(hosts.items()):
        if host in host_errors:
            problems.append(f"{host} not sampled ({host_errors[host]})")
            continue
        if figures.cpu is None:
            problems.append(f"{host} not sampled during the step")
            continue
        if figures.cpu > limits.max_cpu:
            problems.append(f"{host} CPU {figures.cpu:.0%} > {limits.max_cpu:.0%}")
        if host not in db_hosts:
            continue
        share = figures.db_share
        if share is None:
            problems.append(
                f"{host} no PostgreSQL reading"
                + (f" ({figures.pg_error})" if figures.pg_error else "")
            )
        elif share > limits.max_db_connections_share:
            problems.append(
                f"{host} db connections {figures.db_total}/{figures.db_max} = {share:.0%} "
                f"> {limits.max_db_connections_share:.0%}"
            )
    return problems


def compare(
    load: StepLoad, baseline: dict[str, Any] | None, limits: Limits, run_id: str | None
) -> tuple[str | None, dict[str, Any] | None]:
    """(the regression, if any; the test's figures) of a step against its baseline step."""
    if baseline is None or not baseline.get("sample") or not load.sample:
        return None, None
    before = sorted(float(v) for v in baseline["sample"])
    test = mannwhitney.u_test(load.sample, before)
    # medians of the compact samples on both sides: the same estimator for then and now
    then, now = percentile(before, 0.5), percentile(sorted(load.sample), 0.5)
    slower = now / then - 1 if then > 0 else 0.0
    compared = {"run": run_id, "p50_ms": then, "p": test.p, "z": test.z, "slower": slower}
    significant = test.p < ALPHA and test.z > 0
    if significant and slower > limits.max_regression and now - then > limits.min_regression_ms:
        return (
            f"p50 {now:g} ms vs {then:g} ms in run {run_id} (+{slower:.0%} > "
            f"+{limits.max_regression:.0%} and +{now - then:.3g} ms > "
            f"{limits.min_regression_ms:g} ms, Mann-Whitney p={test.p:.2g})"
        ), compared
    return None, compared


def judge(  # noqa: PLR0917 - the parts of one judgement, each named at the one call site
    loads: list[StepLoad],
    hosts: list[dict[str, HostFigures]],
    db_hosts: set[str],
    limits: Limits,
    host_errors: dict[str, str],
    baseline: dict[str, Any] | None,
) -> list[StepResult]:
    """`hosts`: each step's figures by host; `baseline`: the last good gate's `load_plan`
    record (its `steps` and `run`), or None."""
    before = {
        float(step["share"]): step for step in (baseline or {}).get("steps", []) if "share" in step
    }
    run_id = None if baseline is None else str(baseline.get("run"))
    results = []
    for load, figures in zip(loads, hosts, strict=True):
        regression, compared = compare(load, before.get(load.share), limits, run_id)
        results.append(
            StepResult(
                load=load,
                hosts=figures,
                problems=tuple(step_problems(load, figures, db_hosts, limits, host_errors)),
                regression=regression,
                compared=compared,
            )
        )
    return results


def sustainable(results: list[StepResult]) -> float:
    """The offered rate of the highest step that, with every one below it, met its thresholds."""
    rate = 0.0
    for result in results:
        if not result.ok:
            break
        rate = result.load.offered
    return rate


def failures(results: list[StepResult]) -> list[str]:
    """Why the gate fails: each gated step's missed thresholds and regression."""
    found = []
    for result in results:
        if not result.gated:
            continue
        found += [f"{result.label()}: {problem}" for problem in result.problems]
        if result.regression:
            found.append(f"{result.label()}: latency regressed: {result.regression}")
    return found


@dataclass(frozen=True)
class Capacity:
    """What a tested environment's sustainable rate means for the environment whose peak it is."""

    env: str
    peak_env: str
    sustained: float
    workers: int
    peak_workers: int
    peak_rate: float
    headroom: float

    @property
    def implied(self) -> float:
        return self.sustained * self.peak_workers / self.workers

    @property
    def needed(self) -> float:
        return self.peak_rate * self.headroom

    @property
    def short_by(self) -> float:
        return max(0.0, self.needed - self.implied)

    def explain(self) -> str:
        return (
            f"{self.env} sustained {self.sustained:.4g}/s, implying {self.implied:.4g}/s for "
            f"{self.peak_env} ({self.peak_workers} app workers / {self.workers}); "
            f"{self.peak_env}'s peak {self.peak_rate:g}/s x {self.headroom:g} = "
            f"{self.needed:.4g}/s"
            + (f"; short by {self.short_by:.4g}/s" if self.short_by > 0 else "")
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            **vars(self),
            "implied": self.implied,
            "needed": self.needed,
            "short_by": self.short_by,
        }
