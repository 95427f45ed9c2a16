"""The benchmark's ratios: a failed run, or one that measured fewer hosts than it was given,
never becomes a ratio (pure logic; the benchmark itself runs by `make bench`)."""

from __future__ import annotations

from rich.console import Console

from bench.fingerprint import PHASE
from bench.fingerprint import report as fingerprint_report
from bench.run import Sample, failures, hosts_in_recap, ratio


def sample(variant: str, wall: float, *, code: int = 0, seen: int = 5) -> Sample:
    return Sample(5, variant, "noop", wall, wall / 2, 0, code, 0, seen)


def test_a_ratio_of_medians_when_every_run_passed() -> None:
    runs = [sample("stock", 30.0), sample("provision", 10.0), sample("provision", 12.0)]
    assert ratio(runs, 5, "noop", top="stock", bottom="provision", what="wall_s") == "2.73x"
    assert failures(runs) == []


def test_one_failed_run_makes_the_ratio_failed_and_is_named() -> None:
    runs = [sample("stock", 30.0, code=2), sample("stock", 31.0), sample("provision", 10.0)]
    assert ratio(runs, 5, "noop", top="stock", bottom="provision", what="wall_s") == "FAILED"
    assert failures(runs) == ["5 hosts: (a) stock noop exit 2: no ratio from it"]


def test_a_run_that_saw_no_host_is_not_a_measurement() -> None:
    runs = [sample("stock", 30.0), sample("provision", 0.5, seen=0)]
    assert ratio(runs, 5, "noop", top="stock", bottom="provision", what="wall_s") == "FAILED"
    assert failures(runs) == [
        "5 hosts: (b) provision.py noop reported 0 of 5 hosts: no ratio from it"
    ]


def test_a_variant_not_measured_has_no_ratio() -> None:
    runs = [sample("stock", 30.0)]
    assert ratio(runs, 5, "noop", top="stock", bottom="provision", what="wall_s") == "-"


def test_hosts_are_counted_from_the_play_recap() -> None:
    recap = (
        "PLAY RECAP *****\n"
        "bench-app-1 : ok=20 changed=0 unreachable=0 failed=0 skipped=3\n"
        "bench-db-1  : ok=12 changed=1 unreachable=0 failed=0 skipped=1\n"
    )
    assert hosts_in_recap(recap) == 2
    assert hosts_in_recap("ERROR! the playbook could not be found") == 0


def fingerprint_runs(*, after_code: int = 0, converge_code: int = 0) -> list[Sample]:
    return [
        Sample(5, "provision", "cold", 60.0, 30.0, 90, converge_code, 400, 5),
        Sample(5, "before", PHASE, 8.0, 4.0, 0, 0, 0, 5),
        Sample(5, "after", PHASE, 4.0, 2.0, 0, after_code, 0, 5),
        Sample(5, "before", PHASE, 10.0, 4.0, 0, 0, 0, 5),
        Sample(5, "after", PHASE, 5.0, 4.0, 0, 0, 0, 5),
        Sample(5, "command", PHASE, 6.0, 3.0, 0, 0, 0, 5),
    ]


def test_the_fingerprint_bench_prints_before_over_after() -> None:
    console = Console(record=True, width=120)
    assert fingerprint_report(console, fingerprint_runs(), 5, 2048) == []
    text = console.export_text()
    assert "2.00x" in text  # wall: median 9.0 / 4.5
    assert "1.33x" in text  # CPU: 4.0 / 3.0
    assert "2 KiB" in text


def test_the_fingerprint_bench_gives_no_ratio_when_a_read_or_the_converge_failed() -> None:
    for runs, named in (
        (fingerprint_runs(after_code=2), "(after) full fingerprint fingerprint exit 2"),
        (fingerprint_runs(converge_code=2), "provision.py converge cold exit 2"),
    ):
        console = Console(record=True, width=120)
        assert fingerprint_report(console, runs, 5, 2048) == [f"5 hosts: {named}: no ratio from it"]
        text = console.export_text()
        assert "x" not in text.split("before/after")[1].split("\n")[0]
        assert "FAILED" in text
