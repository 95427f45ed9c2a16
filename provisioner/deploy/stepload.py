"""The load side of each step: what the locustfile's per-request lines say (pure).

A line is `TIME STEP OK MILLISECONDS NAME` (loadtest/locustfile.py, record_latency). A step's
figures are computed from its own requests: percentiles by nearest rank, the rate achieved
over the step's length, and a compact latency sample for the ledger: SAMPLE_SIZE evenly spaced
order statistics (quantiles) of the step's latencies. The sample is what a later run's
Mann-Whitney test compares with (stepjudge.py): both sides are compacted the same way, so a
run with 3,000 requests in a step and one with 300 weigh alike, and the ledger entry stays
small (a few kB for five steps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner import paths
from provisioner.errors import ProvisionerError

SAMPLE_SIZE = 100  # order statistics kept per step
LINE_FIELDS = 5


@dataclass(frozen=True)
class StepLoad:
    index: int  # 0-based
    share: float  # of the target
    offered: float  # requests per second the plan asked for
    requests: int
    failures: int
    p50_ms: float
    p95_ms: float
    achieved: float  # requests per second completed
    start: float  # time of the first and last request (the controller's clock)
    end: float
    sample: tuple[float, ...]  # compact latency sample (ms), sorted

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.index + 1,
            "share": self.share,
            "offered": self.offered,
            "requests": self.requests,
            "failures": self.failures,
            "error_rate": self.error_rate,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "achieved": self.achieved,
            "sample": list(self.sample),
        }


def percentile(ordered: list[float], share: float) -> float:
    """Nearest rank of `ordered` (ascending); 0 for no values."""
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def compact(ordered: list[float], size: int = SAMPLE_SIZE) -> tuple[float, ...]:
    """At most `size` evenly spaced order statistics of `ordered` (all of them when fewer)."""
    if len(ordered) <= size:
        return tuple(ordered)
    return tuple(ordered[round(i * (len(ordered) - 1) / (size - 1))] for i in range(size))


def parse(path: Path, steps: list[dict[str, Any]], step_duration: int) -> list[StepLoad]:
    """One StepLoad per step of the plan (`steps`: LoadPlan.as_dict()["steps"]), also for a step
    with no request (every figure 0, its error rate 1)."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise ProvisionerError(
            f"cannot read the load test's samples {paths.display(path)}: {exc.strerror}"
        ) from None
    per_step: dict[int, list[tuple[float, bool, float]]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split(" ", LINE_FIELDS - 1)
        try:
            at, index, ok, ms = float(fields[0]), int(fields[1]), fields[2] == "1", float(fields[3])
        except (ValueError, IndexError):
            raise ProvisionerError(
                f"{paths.display(path)}:{number}: not a request's line: {line[:80]!r}"
            ) from None
        per_step.setdefault(index, []).append((at, ok, ms))
    found = []
    for index, step in enumerate(steps):
        rows = per_step.get(index, [])
        ordered = sorted(ms for _, _, ms in rows)
        times = [at for at, _, _ in rows]
        found.append(
            StepLoad(
                index=index,
                share=float(step["share"]),
                offered=float(step["rate"]),
                requests=len(rows),
                failures=sum(1 for _, ok, _ in rows if not ok),
                p50_ms=percentile(ordered, 0.5),
                p95_ms=percentile(ordered, 0.95),
                achieved=len(rows) / step_duration,
                start=min(times, default=0.0),
                end=max(times, default=0.0),
                sample=compact(ordered),
            )
        )
    return found
