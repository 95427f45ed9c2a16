"""The load plan of a gate run, from the declared peak (issue 18, item 3): pure data.

The target rate of the tested environment is the peak environment's
`peak.requests_per_second x peak.headroom`, scaled by the tested environment's capacity
relative to the peak environment's, measured in total app workers (app hosts x `app_workers`,
effective values): staging with half of prod's workers is offered half of prod's peak. The
target is offered in steps (25, 50, 75, 100 and 125% of it by default), so that a run shows
where latency bends rather than one point. Each step splits its rate over the peak's mix. The
environment whose peak it is serves users: its plan is read-only (the writes are left out of
the mix and the other shares scaled up to 1).

Nothing here runs a load or reads a host: the gate offers the plan (deploy/stepgate.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.errors import InputError
from provisioner.source.model import LoadedSource, Peak
from provisioner.source.parity import Layers

DEFAULT_STEPS = (0.25, 0.5, 0.75, 1.0, 1.25)
MAX_STEP = 10.0  # of the target: a step beyond ten times it is a typo
APP_GROUP = "app"
WORKERS_VAR = "app_workers"
READS = ("GET", "HEAD")


@dataclass(frozen=True)
class Step:
    share: float  # of the target rate
    rate: float  # requests per second offered in this step
    requests: dict[str, float]  # the rate of each request of the mix

    def as_dict(self) -> dict[str, Any]:
        return {"share": self.share, "rate": self.rate, "requests": dict(self.requests)}


@dataclass(frozen=True)
class LoadPlan:
    env: str  # the tested environment
    peak_env: str  # whose declared peak it is
    peak_rate: float
    headroom: float
    workers: int  # the tested environment's total app workers
    peak_workers: int  # the peak environment's
    target_rate: float  # peak_rate x headroom x workers / peak_workers
    read_only: bool  # writes left out (the environment serves users)
    mix: dict[str, float]  # shares of the requests offered, together 1
    steps: list[Step]

    @property
    def scale(self) -> float:
        return self.workers / self.peak_workers

    def explain(self) -> str:
        return (
            f"{self.env}: target {self.target_rate:g} requests/s = {self.peak_env}'s peak "
            f"{self.peak_rate:g}/s x headroom {self.headroom:g} x {self.workers} app workers / "
            f"{self.peak_workers} in {self.peak_env}; steps "
            + ", ".join(f"{step.share:.0%} {step.rate:g}/s" for step in self.steps)
            + ("; read-only" if self.read_only else "")
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "peak_env": self.peak_env,
            "peak_rate": self.peak_rate,
            "headroom": self.headroom,
            "workers": self.workers,
            "peak_workers": self.peak_workers,
            "target_rate": self.target_rate,
            "read_only": self.read_only,
            "mix": dict(self.mix),
            "steps": [step.as_dict() for step in self.steps],
        }


def load_plan(
    loaded: LoadedSource,
    env_name: str,
    steps: tuple[float, ...] = DEFAULT_STEPS,
    layers: Layers | None = None,
) -> LoadPlan:
    """The plan of a gate run on `env_name` from the peak that applies to it: its own, else that
    of the environment its bundles are promoted to (staging -> prod), else the only one
    declared."""
    loaded.environment(env_name)
    _check_steps(steps)
    peak_env = peak_environment(loaded, env_name)
    peak = loaded.source.environments[peak_env].peak
    if peak is None:  # peak_environment returns one that has a peak
        raise InputError(f"{peak_env} declares no peak")
    layers = layers or Layers(loaded)
    workers, peak_workers = (
        total_workers(loaded, env_name, layers),
        total_workers(loaded, peak_env, layers),
    )
    read_only = env_name == peak_env
    mix = _mix(peak, read_only)
    target = peak.requests_per_second * peak.headroom * workers / peak_workers
    return LoadPlan(
        env=env_name,
        peak_env=peak_env,
        peak_rate=peak.requests_per_second,
        headroom=peak.headroom,
        workers=workers,
        peak_workers=peak_workers,
        target_rate=target,
        read_only=read_only,
        mix=mix,
        steps=[
            Step(share, target * share, {name: target * share * part for name, part in mix.items()})
            for share in steps
        ],
    )


def peak_environment(loaded: LoadedSource, env_name: str) -> str:
    environments = loaded.source.environments
    if environments[env_name].peak is not None:
        return env_name
    downstream = {env.promoted_from: name for name, env in environments.items()}
    seen = {env_name}
    current = downstream.get(env_name)
    while current is not None and current not in seen:  # model.py refuses loops; be sure
        if environments[current].peak is not None:
            return current
        seen.add(current)
        current = downstream.get(current)
    declared = [name for name, env in environments.items() if env.peak is not None]
    if len(declared) == 1:
        return declared[0]
    raise InputError(
        f"no peak applies to {env_name}: "
        + (
            f"several environments declare one ({', '.join(declared)}) and none is promoted "
            f"from {env_name}"
            if declared
            else "no environment declares one (`peak:` in the source)"
        )
    )


def total_workers(loaded: LoadedSource, env_name: str, layers: Layers) -> int:
    env = loaded.source.environments[env_name]
    hosts = env.hosts_in(APP_GROUP)
    value = layers.effective(env_name, APP_GROUP).get(WORKERS_VAR)
    workers = None if value is None else value.value
    if not hosts or isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(
            f"{env_name} has no app workers to scale the peak by "
            f"({len(hosts)} {APP_GROUP} hosts, {WORKERS_VAR} {workers!r})"
        )
    return len(hosts) * workers


def _check_steps(steps: tuple[float, ...]) -> None:
    if not steps:
        raise InputError("a load plan needs at least one step")
    for share in steps:
        if (
            isinstance(share, bool)
            or not isinstance(share, int | float)
            or not 0 < share <= MAX_STEP
        ):
            raise InputError(
                f"a step is a share of the target above 0 and at most {MAX_STEP:g}: {share!r}"
            )
    if list(steps) != sorted(set(steps)):
        raise InputError(f"steps rise: {list(steps)}")


def _mix(peak: Peak, read_only: bool) -> dict[str, float]:
    if not read_only:
        return dict(peak.mix)
    reads = {name: share for name, share in peak.mix.items() if name.startswith(READS)}
    if not reads:
        raise InputError("the peak's mix has no reads: a read-only plan has nothing to offer")
    total = sum(reads.values())
    return {name: share / total for name, share in reads.items()}
