"""The load plan of a gate run from the declared peak (provisioner/deploy/loadplan.py): pure data,
not yet wired into the gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner import paths
from provisioner.deploy.loadplan import DEFAULT_STEPS, load_plan, peak_environment
from provisioner.errors import InputError
from provisioner.source.model import LoadedSource, load_source


@pytest.fixture(scope="module")
def shipped() -> LoadedSource:
    return load_source(paths.DEFAULT_SOURCE)


def test_staging_is_offered_prods_peak_with_headroom_scaled_by_its_app_workers(
    shipped: LoadedSource,
) -> None:
    plan = load_plan(shipped, "staging")
    # prod: 40/s x 1.5 headroom; staging has 2 hosts x 2 workers, prod 2 x 4
    assert (plan.peak_env, plan.peak_rate, plan.headroom) == ("prod", 40, 1.5)
    assert (plan.workers, plan.peak_workers, plan.scale) == (4, 8, 0.5)
    assert plan.target_rate == 30
    assert [step.share for step in plan.steps] == list(DEFAULT_STEPS)
    assert [step.rate for step in plan.steps] == [7.5, 15, 22.5, 30, 37.5]
    assert not plan.read_only
    assert plan.mix == {
        "GET /tickets": 0.5,
        "GET /tickets/[id]": 0.2,
        "POST /answer": 0.2,
        "POST /tickets": 0.1,
    }
    full = plan.steps[3]
    assert full.requests["POST /tickets"] == pytest.approx(3)
    assert sum(full.requests.values()) == pytest.approx(30)
    assert plan.explain().startswith(
        "staging: target 30 requests/s = prod's peak 40/s x headroom 1.5 x 4 app workers / 8"
    )


def test_the_environment_whose_peak_it_is_gets_a_read_only_plan(shipped: LoadedSource) -> None:
    plan = load_plan(shipped, "prod")
    assert plan.read_only
    assert plan.target_rate == 60
    assert set(plan.mix) == {"GET /tickets", "GET /tickets/[id]"}
    assert sum(plan.mix.values()) == pytest.approx(1)
    assert plan.mix["GET /tickets"] == pytest.approx(0.5 / 0.7)
    assert plan.as_dict()["steps"][0]["rate"] == 15


def test_an_environment_promoted_to_nothing_scales_the_only_declared_peak(
    shipped: LoadedSource,
) -> None:
    plan = load_plan(shipped, "qa")  # 1 app host x 2 workers
    assert (plan.peak_env, plan.workers, plan.target_rate) == ("prod", 2, 15)


def test_the_steps_are_configurable_and_checked(shipped: LoadedSource) -> None:
    plan = load_plan(shipped, "staging", steps=(0.5, 1.0, 1.5, 2.0))
    assert [step.rate for step in plan.steps] == [15, 30, 45, 60]
    for bad in ((), (0.5, 0.25), (0.0, 1.0), (1.0, 1.0), (True,)):
        with pytest.raises(InputError):
            load_plan(shipped, "staging", steps=bad)


def test_without_a_peak_there_is_no_plan(tmp_path: Path, shipped: LoadedSource) -> None:
    text = paths.DEFAULT_SOURCE.read_text(encoding="utf-8")
    start = text.index("    peak:\n")
    end = text.index("    hosts:\n", start)
    source = tmp_path / "environments.yml"
    source.write_text(text[:start] + text[end:], encoding="utf-8")
    with pytest.raises(InputError, match="no environment declares one"):
        peak_environment(load_source(source), "staging")
    with pytest.raises(InputError, match="unknown environment 'nowhere'"):
        load_plan(shipped, "nowhere")
