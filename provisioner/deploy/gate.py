"""The post-deploy gate: is the environment healthy, correct and fast enough to keep?

Three checks, in order, each only if the one before passed (a broken deploy is rolled back
sooner): every app host answers /health itself and through nginx (playbooks/health.yml), the
verification suite passes against the hosts, and a locust load test against the environment's
entry point stays within the thresholds the source of truth sets (`load_gate`). When a peak
applies to the environment (loadplan.py), the load is the stepped plan from it with the hosts
watched (stepgate.py); otherwise the fixed-users read-only test (loadgate.run).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner import paths
from provisioner.deploy import loadgate, stepgate, verify
from provisioner.deploy.loadplan import LoadPlan
from provisioner.run.request import EventCallback, RunRequest
from provisioner.run.runner import run_playbook
from provisioner.source.model import LOAD_GATE_GROUP, Environment

GATE = "gate"  # ledger entry kind
HEALTH_PLAYBOOK = paths.PLAYBOOKS / "health.yml"
NOT_RUN = "not run: an earlier check failed"


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool | None  # None: not run
    detail: str


@dataclass(frozen=True)
class Stepped:
    """What a stepped load test needs beyond the environment (prepared by the workflow)."""

    plan: LoadPlan
    baseline: dict[str, Any] | None  # stepgate.baseline_of the environment's earlier gates
    chart: Path  # where this run's PNG goes
    db_name: str  # the app's database (the test's tickets are removed there)


@dataclass(frozen=True)
class GateResult:
    checks: tuple[Check, ...]
    load: loadgate.LoadResult | None
    stepped: stepgate.SteppedResult | None = None

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def reason(self) -> str:
        return "; ".join(f"{c.name}: {c.detail}" for c in self.checks if c.passed is False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "reason": self.reason,
            "checks": [vars(check) for check in self.checks],
            "load": self.load.as_dict() if self.load is not None else None,
            stepgate.RECORD: self.stepped.as_dict() if self.stepped is not None else None,
        }


def entry_point(env: Environment) -> str:
    """Where users reach the environment: nginx on its first web host."""
    return f"http://{env.address_of(env.hosts_in(LOAD_GATE_GROUP)[0])}"


def run(
    env_name: str,
    env: Environment,
    *,
    vault_args: tuple[str, ...],
    out_dir: Path,
    expected_releases: dict[str, str] | None = None,
    on_event: EventCallback | None = None,
    stepped: Stepped | None = None,
) -> GateResult:
    checks: list[Check] = []
    load: loadgate.LoadResult | None = None
    steps: stepgate.SteppedResult | None = None

    health = run_playbook(
        RunRequest(env=env_name, playbook=HEALTH_PLAYBOOK, vault_args=vault_args),
        on_event=on_event,
    )
    sick = sorted(host for host, stats in health.hosts.items() if not stats.succeeded)
    checks.append(
        Check(
            "health",
            health.succeeded,
            f"{len(health.hosts)} hosts answer /health (app hosts directly, web hosts through "
            "nginx)"
            if health.succeeded
            else f"no answer from {', '.join(sick) or 'any host'} ({health.status})",
        )
    )

    if checks[-1].passed:
        junit = out_dir / "verify.xml"
        code = verify.run(env_name, env, junit_xml=junit, expected_releases=expected_releases)
        checks.append(Check("verification suite", code == 0, _pytest_totals(junit, code)))
    else:
        checks.append(Check("verification suite", None, NOT_RUN))

    if env.load_gate is None:
        checks.append(Check("load test", True, "none configured for this environment"))
    elif checks[-1].passed and stepped is not None:
        steps = stepgate.run(
            env_name,
            env,
            url=entry_point(env),
            plan=stepped.plan,
            spec=env.load_gate,
            baseline=stepped.baseline,
            out_dir=out_dir,
            chart=stepped.chart,
            db_name=stepped.db_name,
        )
        checks.append(Check("load test", steps.passed, steps.detail()))
    elif checks[-1].passed:
        spec = env.load_gate
        thresholds = loadgate.Thresholds(
            users=spec.users,
            spawn_rate=spec.spawn_rate,
            duration_s=spec.duration,
            p95_ms=spec.p95_ms,
            max_error_rate=spec.max_error_rate,
        )
        load = loadgate.run(entry_point(env), thresholds, out_dir)
        checks.append(Check("load test", load.passed, _load_detail(load)))
    else:
        checks.append(Check("load test", None, NOT_RUN))
    return GateResult(tuple(checks), load, steps)


def _pytest_totals(junit: Path, code: int) -> str:
    try:
        suite = ET.parse(junit).getroot()  # noqa: S314 - our own pytest's output
    except (OSError, ET.ParseError):
        return f"pytest exited {code} without a report"
    if suite.tag == "testsuites":
        suite = suite[0]
    counts = {key: int(suite.get(key, "0")) for key in ("tests", "failures", "errors", "skipped")}
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return f"{passed} passed, {counts['failures'] + counts['errors']} failed"


def _load_detail(load: loadgate.LoadResult) -> str:
    limits = load.thresholds
    figures = (
        f"{load.requests} requests from {limits.users} users in {limits.duration_s}s "
        f"({load.rps:.0f}/s): p95 {load.p95_ms:.0f} ms (max {limits.p95_ms:g}), "
        f"errors {load.error_rate:.2%} (max {limits.max_error_rate:.2%})"
    )
    return figures if load.passed else f"{'; '.join(load.problems)} - {figures}"
