"""The benchmark's ratios: a failed run, or one that measured fewer hosts than it was given,
never becomes a ratio (pure logic; the benchmark itself runs by `make bench`)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from bench.bigsource import write_big_source
from bench.fingerprint import PHASE
from bench.fingerprint import report as fingerprint_report
from bench.run import (
    ENV,
    Sample,
    bar_offsets,
    bench_source,
    failures,
    hosts_in_recap,
    last_run,
    not_through_empty_cache,
    ratio,
    report,
    seconds,
)
from provisioner import paths
from provisioner.errors import InputError
from provisioner.hosts import pkgcache
from provisioner.source import inventory
from provisioner.source.model import load_source


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


def test_the_incremental_no_op_has_its_ratio_and_its_seconds() -> None:
    runs = [
        sample("stock", 30.0),
        sample("incremental", 1.0),
        sample("incremental", 1.4),
        sample("incremental", 1.2),
        sample("provision", 10.0),
    ]
    assert ratio(runs, 5, "noop", top="stock", bottom="incremental", what="wall_s") == "25.00x"
    assert ratio(runs, 5, "noop", top="stock", bottom="provision", what="wall_s") == "3.00x"
    assert seconds(runs, 5, "incremental", "noop") == "1.2 s"
    assert failures(runs) == []


@pytest.mark.parametrize(
    ("failed", "named"),
    [
        (sample("incremental", 0.4, code=1), "exit 1"),
        (sample("incremental", 0.4, seen=3), "reported 3 of 5 hosts"),
        (sample("incremental", 0.4, seen=0), "reported 0 of 5 hosts"),
    ],
)
def test_a_failed_incremental_run_gives_no_ratio_and_no_seconds(failed: Sample, named: str) -> None:
    runs = [sample("stock", 30.0), sample("incremental", 1.0), failed]
    assert ratio(runs, 5, "noop", top="stock", bottom="incremental", what="wall_s") == "FAILED"
    assert ratio(runs, 5, "noop", top="stock", bottom="incremental", what="cpu_s") == "FAILED"
    assert seconds(runs, 5, "incremental", "noop") == "FAILED"
    assert failures(runs) == [
        f"5 hosts: (b-incr) provision.py incremental noop {named}: no ratio from it"
    ]


def test_the_table_shows_each_ratio_and_names_what_failed() -> None:
    runs = [
        Sample(5, "stock", "cold", 100.0, 40.0, 90, 0, 0, 5),
        Sample(5, "provision", "cold", 40.0, 20.0, 90, 0, 0, 5),
        # served by some other cache: passed, yet not a cold-cache converge
        Sample(5, "cold-cache", "cold", 40.0, 20.0, 90, 0, 0, 5, "no package went through it"),
        sample("stock", 30.0),
        sample("incremental", 1.5),
        sample("provision", 7.5),
        sample("project", 7.0),
    ]
    console = Console(record=True, width=400)
    report(console, runs, [5])
    rows = [line for line in console.export_text().splitlines() if line.startswith("│")]
    assert len(rows) == 1  # one host count, headers in their own ┃ row
    cells = [cell.strip() for cell in rows[0].strip("│").split("│")]
    cold = ["2.50x", "2.00x", "FAILED"]  # warm cache wall and CPU, empty cache wall
    noop = ["20.00x", "20.00x", "4.00x", "4.00x", "1.07x"]  # a/b-incr, a/b --full, b/c
    assert cells == ["5", *cold, *noop, "1.5 s"]
    assert failures(runs) == [
        "5 hosts: (b) provision.py (empty package cache) cold no package went through it: "
        "no ratio from it"
    ]


def test_the_empty_cache_converge_must_have_gone_through_the_empty_cache() -> None:
    assert not_through_empty_cache(pkgcache.Usage(300, 900, 5)) == ""
    assert not_through_empty_cache(pkgcache.Usage(0, 0, 0)) == (
        "no package went through the empty cache"
    )
    assert not_through_empty_cache(pkgcache.Usage(0, 900, 5)) == (
        "the empty cache fetched nothing from the mirror"
    )


def write_last_run(runs: Path, ran: dict[str, int], skipped: list[str] | None) -> Path:
    """A last-run.json as provision.py writes it: `ran` host -> ok tasks (one skipped task each),
    and the incremental apply's skipped hosts (absent, as before that feature, when None)."""
    stats = {"changed": 0, "failed": 0, "unreachable": 0, "skipped": 1}
    summary: dict[str, object] = {"hosts": {h: {**stats, "ok": ok} for h, ok in ran.items()}}
    if skipped is not None:
        summary["skipped"] = dict.fromkeys(skipped, "unchanged since run 7")
    path = runs / ENV / "last-run.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary))
    return path


@pytest.fixture
def runs_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """last_run() reads paths.RUNS / ENV / last-run.json: here, not the real .state."""
    monkeypatch.setattr(paths, "RUNS", tmp_path)
    return tmp_path


def test_last_run_counts_skipped_hosts_only_when_asked(runs_dir: Path) -> None:
    since = time.time() - 60
    write_last_run(runs_dir, {"bench-db-1": 10, "bench-app-1": 20}, ["bench-app-2", "bench-web-1"])
    assert last_run(since, with_skipped=True) == (32, 4)  # (10 + 1) + (20 + 1) task results
    assert last_run(since) == (32, 2)  # a full run or a converge must have run every host


def test_last_run_of_an_incremental_run_that_skipped_every_host(runs_dir: Path) -> None:
    write_last_run(runs_dir, {}, [f"bench-app-{i}" for i in range(5)])
    assert last_run(time.time() - 60, with_skipped=True) == (0, 5)
    assert last_run(time.time() - 60) == (0, 0)


def test_last_run_counts_a_host_in_both_lists_once(runs_dir: Path) -> None:
    write_last_run(runs_dir, {"bench-db-1": 10}, ["bench-db-1"])
    assert last_run(time.time() - 60, with_skipped=True) == (11, 1)


def test_last_run_without_the_skipped_key_counts_the_hosts_run(runs_dir: Path) -> None:
    write_last_run(runs_dir, {"bench-db-1": 10, "bench-app-1": 20}, None)
    assert last_run(time.time() - 60, with_skipped=True) == (32, 2)


def test_a_last_run_older_than_the_run_is_no_measurement(runs_dir: Path) -> None:
    path = write_last_run(runs_dir, {"bench-db-1": 10}, ["bench-app-1", "bench-app-2"])
    old = time.time() - 3600
    os.utime(path, (old, old))
    assert last_run(time.time() - 60, with_skipped=True) == (0, 0)
    assert last_run(old - 1, with_skipped=True) == (11, 3)  # the same file, written after `since`


def test_no_last_run_is_no_measurement(runs_dir: Path) -> None:
    assert last_run(0.0, with_skipped=True) == (0, 0)


def test_bars_of_five_variants_sit_side_by_side_on_their_tick() -> None:
    width, offsets = bar_offsets(5)
    assert width == pytest.approx(0.16)
    assert offsets == pytest.approx([-0.32, -0.16, 0.0, 0.16, 0.32])
    width, offsets = bar_offsets(3)
    assert offsets == pytest.approx([-width, 0.0, width])
    assert bar_offsets(1) == (pytest.approx(0.8), [0.0])


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


def rendered(hosts: int, directory: Path) -> None:
    source = directory / f"bench-{hosts}.yml"
    source.write_text(yaml.safe_dump(bench_source(hosts), sort_keys=False))
    inventory.render_all(
        load_source(source), [ENV]
    )  # every check inventories pass, nothing written


@pytest.mark.parametrize("hosts", [1, 3, 5, 20, 45])
def test_the_bench_source_passes_the_tools_own_checks(hosts: int, tmp_path: Path) -> None:
    """The capacity rules (issue 18) refused the 20-host source: its 17 app hosts' pools did not
    fit PostgreSQL's max_connections, and `make bench` stopped with a traceback."""
    rendered(hosts, tmp_path)


@pytest.mark.parametrize(
    ("hosts", "why"), [(2, "group 'app' has no host"), (200, "capacity rule db_connections")]
)
def test_a_bench_source_the_tool_refuses_is_refused_not_measured(
    hosts: int, why: str, tmp_path: Path
) -> None:
    """(bench.run's main says so: nothing measured, exit 2.)"""
    with pytest.raises(InputError, match=why):
        rendered(hosts, tmp_path)


@pytest.mark.parametrize("hosts", [10, 300])
def test_the_scale_source_passes_the_tools_own_checks(hosts: int, tmp_path: Path) -> None:
    """bench.run's pure parts (load, validate, render, parity of 3 x 2,000 hosts) on the big
    source; its 1,500 app hosts per environment broke the capacity rules, after every other
    part of the bench had run."""
    source = write_big_source(tmp_path / "big.yml", hosts)
    loaded = load_source(source)
    assert all(len(env.hosts) >= hosts - 1 for env in loaded.source.environments.values())
    inventory.render_all(loaded)
