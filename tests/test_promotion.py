"""The promotion rule (pure): prod gets only a bundle that passed staging's gate, and the
refusal says why. Also the pre-flight minimums a host inherits from its groups."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner.deploy import promotion
from provisioner.errors import ApprovalError
from provisioner.ledger.records import Entry
from provisioner.source.bundle import Bundle
from provisioner.source.model import Capacity, Environment, Host, LocalProvider, Peak

BUNDLE = promotion.promotable(Bundle("c0ffee" * 6, "inv", "roles1"), "1.1.0")


def gate_entry(run_id: str, passed: bool, bundle: dict[str, Any] | None) -> Entry:
    payload = {"passed": passed, "bundle": bundle, "reason": "" if passed else "load test: slow"}
    return Entry(0, run_id, "gate", "staging", "2026-11-27T00:00:00", payload, "", "")


def test_a_passed_gate_for_the_same_bundle_allows_promotion() -> None:
    gates = [gate_entry("r1", passed=True, bundle=BUNDLE)]
    assert promotion.check("prod", "staging", BUNDLE, gates).run_id == "r1"


def test_no_gate_at_all_is_refused() -> None:
    with pytest.raises(ApprovalError, match="staging has never passed a post-deploy gate"):
        promotion.check("prod", "staging", BUNDLE, [])


def test_a_different_bundle_is_refused_naming_what_differs() -> None:
    older = {**BUNDLE, "app_release": "1.0.0", "roles_hash": "roles0"}
    with pytest.raises(ApprovalError) as refused:
        promotion.check("prod", "staging", BUNDLE, [gate_entry("r1", passed=True, bundle=older)])
    assert "this bundle never passed staging's gate" in str(refused.value)
    assert "release (1.0.0 -> 1.1.0)" in str(refused.value)
    assert "roles/playbooks/shared values (roles0 -> roles1)" in str(refused.value)
    assert "commit" not in str(refused.value).split("in ", 1)[1]


def test_the_latest_gate_of_the_bundle_decides() -> None:
    gates = [
        gate_entry("r1", passed=True, bundle=BUNDLE),
        gate_entry("r2", passed=False, bundle=BUNDLE),
    ]
    with pytest.raises(ApprovalError, match="failed staging's gate in run r2 \\(load test: slow"):
        promotion.check("prod", "staging", BUNDLE, gates)
    gates.append(gate_entry("r3", passed=True, bundle=BUNDLE))
    assert promotion.check("prod", "staging", BUNDLE, gates).run_id == "r3"


def test_a_gate_on_rolled_back_hosts_certifies_nothing() -> None:
    gates = [gate_entry("r1", passed=True, bundle=None)]
    with pytest.raises(ApprovalError, match="never passed"):
        promotion.check("prod", "staging", BUNDLE, gates)


def test_minimums_are_the_strictest_over_a_hosts_groups() -> None:
    env = Environment(
        provider=LocalProvider(kind="local", subnet="198.18.9.0/24"),  # type: ignore[arg-type]
        hosts={"a": Host(groups=["db", "app"]), "b": Host(groups=["web"])},
        capacity={
            "all": Capacity(cpus=1, memory_mb=512),
            "db": Capacity(memory_mb=2048, disk_free_mb=100),
            "app": Capacity(cpus=2, memory_mb=1024),
        },
    )
    assert env.minimums("a") == {"cpus": 2, "memory_mb": 2048, "disk_free_mb": 100}
    assert env.minimums("b") == {"cpus": 1, "memory_mb": 512}


# --- capacity for the target's peak (issue 18, item 5) ----------------------------------------

PEAK = Peak(
    requests_per_second=120,
    mix={"GET /tickets": 0.9, "POST /tickets": 0.1},
    headroom=1.5,
    latency_ms=250,
)


def measured_gate(sustained: float, workers: int = 4) -> Entry:
    entry = gate_entry("r7", passed=True, bundle=BUNDLE)
    capacity = {"sustained": sustained, "workers": workers, "peak_workers": 8}
    entry.payload["load_plan"] = {"capacity": capacity, "steps": []}
    return entry


def test_capacity_short_of_the_peak_is_refused_with_the_numbers() -> None:
    with pytest.raises(ApprovalError) as refused:
        promotion.check_capacity("prod", "staging", measured_gate(67.5), PEAK, target_workers=8)
    said = str(refused.value)
    assert refused.value.exit_code == 4
    assert "staging, whose gate in run r7 does not show the capacity" in said
    assert (
        "staging sustained 67.5/s, implying 135/s for prod (8 app workers / 4); prod's peak "
        "120/s x 1.5 = 180/s; short by 45/s"
    ) in said


def test_capacity_at_or_above_the_peak_passes_and_scales_by_the_targets_workers_now() -> None:
    capacity = promotion.check_capacity("prod", "staging", measured_gate(90), PEAK, 8)
    assert capacity is not None
    assert (capacity.implied, capacity.needed, capacity.short_by) == (180, 180, 0)
    # prod shrunk to 6 workers since: the same staging result no longer carries its peak
    with pytest.raises(ApprovalError, match="implying 135/s for prod"):
        promotion.check_capacity("prod", "staging", measured_gate(90), PEAK, 6)


def test_no_peak_no_capacity_check_and_no_measurement_is_refused() -> None:
    assert promotion.check_capacity("prod", "staging", measured_gate(1), None, 8) is None
    unmeasured = gate_entry("r3", passed=True, bundle=BUNDLE)
    with pytest.raises(ApprovalError, match="run r3 measured no capacity"):
        promotion.check_capacity("prod", "staging", unmeasured, PEAK, 8)
