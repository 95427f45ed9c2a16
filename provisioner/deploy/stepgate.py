"""The gate's stepped load test: the plan from the declared peak offered step by step while the
app and db hosts are sampled, judged per step, compared with the last good release, the test's
tickets removed, a chart drawn; one record for the ledger.

Side effects are here (locust, ssh, files); the decisions are in stepload, hostsample's
figures and stepjudge, which are pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner import paths
from provisioner.deploy import cleanup, gatechart, hostsample, loadgate, stepjudge, stepload
from provisioner.deploy.loadplan import LoadPlan
from provisioner.errors import ProvisionerError
from provisioner.source.model import Environment, LoadGate

RECORD = "load_plan"  # the key of this record in the gate's ledger payload


@dataclass(frozen=True)
class SteppedResult:
    plan: LoadPlan
    step_duration: int
    results: list[stepjudge.StepResult]
    capacity: stepjudge.Capacity
    baseline_run: str | None  # the last good gate compared with, None: no baseline
    host_errors: dict[str, str]
    cleanup: str  # what removing the test's tickets did
    cleanup_failed: bool
    chart: str | None  # the PNG's path (as paths.display shows it), None if not drawn
    chart_error: str | None

    @property
    def problems(self) -> list[str]:
        found = stepjudge.failures(self.results)
        if self.cleanup_failed:
            found.append(self.cleanup)
        return found

    @property
    def passed(self) -> bool:
        return not self.problems

    def detail(self) -> str:
        figures = (
            f"{len(self.results)} steps of {self.step_duration}s up to "
            f"{self.results[-1].load.offered:.4g}/s; {self.capacity.explain()}; "
            + (
                f"compared with run {self.baseline_run}"
                if self.baseline_run
                else "no baseline (no earlier passed gate with steps): thresholds alone"
            )
        )
        return f"{'; '.join(self.problems)} - {figures}" if self.problems else figures

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan.as_dict(),
            "step_duration": self.step_duration,
            "steps": [result.as_dict() for result in self.results],
            "sustainable_rate": self.capacity.sustained,
            "capacity": self.capacity.as_dict(),
            "baseline_run": self.baseline_run,
            "host_errors": dict(self.host_errors),
            "cleanup": self.cleanup,
            "chart": self.chart,
            "chart_error": self.chart_error,
            "problems": self.problems,
            "passed": self.passed,
        }


def limits(spec: LoadGate) -> stepjudge.Limits:
    return stepjudge.Limits(
        p95_ms=spec.p95_ms,
        max_error_rate=spec.max_error_rate,
        max_cpu=spec.max_cpu,
        max_db_connections_share=spec.max_db_connections_share,
        max_regression=spec.max_regression,
        min_regression_ms=spec.min_regression_ms,
    )


def run(
    env_name: str,
    env: Environment,
    *,
    url: str,
    plan: LoadPlan,
    spec: LoadGate,
    baseline: dict[str, Any] | None,
    out_dir: Path,
    chart: Path,
    db_name: str,
) -> SteppedResult:
    plan_record = plan.as_dict()
    try:
        seconds = len(plan.steps) * spec.step_duration
        with hostsample.Sampler(env_name, env, seconds=seconds) as sampler:
            samples_file = loadgate.run_plan(url, plan_record, spec.step_duration, out_dir)
    finally:
        removed, failed = _clean(env_name, env, plan, db_name)
    loads = stepload.parse(samples_file, plan_record["steps"], spec.step_duration)
    samples = sampler.samples()
    per_step = [
        {host: hostsample.figures(found, load.start, load.end) for host, found in samples.items()}
        for load in loads
    ]
    results = stepjudge.judge(
        loads,
        per_step,
        set(env.hosts_in(hostsample.DB_GROUP)),
        limits(spec),
        sampler.errors,
        baseline,
    )
    capacity = stepjudge.Capacity(
        env=env_name,
        peak_env=plan.peak_env,
        sustained=stepjudge.sustainable(results),
        workers=plan.workers,
        peak_workers=plan.peak_workers,
        peak_rate=plan.peak_rate,
        headroom=plan.headroom,
    )
    drawn: str | None = paths.display(chart)
    chart_error = None
    try:
        gatechart.draw([result.as_dict() for result in results], chart, title=plan.explain())
    except (OSError, ValueError) as exc:  # a chart is for people; its absence fails nothing
        drawn, chart_error = None, f"no chart: {exc}"
    return SteppedResult(
        plan=plan,
        step_duration=spec.step_duration,
        results=results,
        capacity=capacity,
        baseline_run=None if baseline is None else str(baseline.get("run")),
        host_errors=dict(sampler.errors),
        cleanup=removed,
        cleanup_failed=failed,
        chart=drawn,
        chart_error=chart_error,
    )


def _clean(env_name: str, env: Environment, plan: LoadPlan, db_name: str) -> tuple[str, bool]:
    if plan.read_only:
        return "read-only: no ticket created", False
    try:
        count = cleanup.remove_load_tickets(env_name, env, db_name)
    except ProvisionerError as exc:
        return f"the load test's tickets stay: {exc}", True
    return f"{count} load-test tickets removed", False


def baseline_of(gates: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The stepped record of the newest passed gate among `gates` (gate payloads with their
    run id under "run", oldest first), or None."""
    for payload in reversed(gates):
        record = payload.get(RECORD) if payload.get("passed") else None
        if isinstance(record, dict) and record.get("steps"):
            return {"run": payload.get("run"), "steps": record["steps"]}
    return None
