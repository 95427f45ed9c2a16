"""Host sampling during the gate's load: the parsers on real outputs (this machine's /proc, the
PostgreSQL query on a real server), the per-step figures, and the sampler's stream end to end
(its remote script run here by sh instead of over ssh)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from ledger_server import PostgresServer

from provisioner.deploy import cleanup, hostsample
from provisioner.deploy.hostsample import PgReading, Sample, figures, parse_block, parse_stream
from provisioner.source.model import load_source

# Captured on the development machine (Debian 12, 2 cores), as the script's commands print them.
PROC_STAT = "cpu  965707 5068 288204 2208957 19195 0 11061 1899 0 0"
LOADAVG = "2.52 1.83 1.27 7/325 28984"
MEMINFO = ["MemTotal:       24683664 kB", "MemAvailable:   22815404 kB"]


def test_parsers_on_captured_proc_output() -> None:
    busy, total = hostsample.parse_cpu(PROC_STAT)
    assert busy == 965707 + 5068 + 288204 + 0 + 11061 + 1899
    assert total == busy + 2208957 + 19195
    assert hostsample.parse_loadavg(LOADAVG) == 2.52
    assert hostsample.parse_memory(MEMINFO) == pytest.approx(1 - 22815404 / 24683664)


def test_parsers_on_this_machines_proc_now() -> None:
    lines = [
        Path("/proc/stat").read_text().splitlines()[0],
        Path("/proc/loadavg").read_text().strip(),
        *[
            line
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith(("MemTotal:", "MemAvailable:"))
        ],
    ]
    sample = parse_block(1.0, lines)
    assert 0 < sample.cpu_busy < sample.cpu_total
    assert 0 < sample.memory_used < 1
    assert sample.load1 >= 0
    assert sample.pg is None


@pytest.mark.parametrize(
    "line",
    ["intr 1 2 3", "cpu 1 2 3", "", "cpu0 1 2 3 4 5 6 7 8"],
)
def test_cpu_parser_refuses_other_lines(line: str) -> None:
    with pytest.raises(ValueError, match="cpu line"):
        hostsample.parse_cpu(line)


def test_pg_parser_and_its_errors() -> None:
    assert hostsample.parse_pg(" 3 12 100 0 123456\n") == PgReading(3, 12, 100, 0, 123456)
    for said in ("psql: error: connection to server failed", "3 12 100 0", "3 12 x 0 1", ""):
        with pytest.raises(ValueError, match="psql said"):
            hostsample.parse_pg(said)


def test_the_query_on_a_real_postgresql(postgres: PostgresServer) -> None:
    """PG_QUERY is valid SQL and psql prints it as parse_pg reads it; an idle connection of a
    client counts in total and not in active, this query's own connection in neither."""
    command = [hostsample.PSQL[0], "-h", str(postgres.root), "-p", str(postgres.port), "-U",
               "postgres", *hostsample.PSQL[1:]]  # fmt: skip
    if os.geteuid() == 0:  # the test server's superuser is the postgres OS user's
        command = ["runuser", "-u", "postgres", "--", *command]
    alone = hostsample.parse_pg(_run(command))
    assert alone.max_connections >= 1
    assert alone.waiting_locks == 0
    assert alone.xacts > 0
    idle = subprocess.Popen(
        [*command[: command.index("-c")], "-c", "SELECT pg_sleep(5)"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1)
        busy = hostsample.parse_pg(_run(command))
    finally:
        idle.kill()
        idle.wait()
    assert busy.total == alone.total + 1
    assert busy.active == alone.active + 1


def _run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=30)
    return done.stdout


def sample(at: float, busy: int, jiffies: int, **pg: int) -> Sample:
    reading = PgReading(**pg) if pg else None
    return Sample(at, busy, jiffies, load1=at / 10, memory_used=0.5 + at / 100, pg=reading)


def test_figures_of_a_step_from_the_samples_around_it() -> None:
    samples = [
        sample(0.0, 100, 1000),
        sample(1.0, 200, 1200),  # last before the step: the CPU's starting point
        sample(2.0, 300, 1400),
        sample(3.0, 460, 1600),
        sample(4.0, 900, 1800),  # after the step
    ]
    got = figures(samples, start=1.5, end=3.5)
    assert got.cpu == pytest.approx((460 - 200) / (1600 - 1200))
    assert got.load1 == pytest.approx(0.3)
    assert got.memory == pytest.approx(0.53)
    assert got.db_share is None
    assert figures(samples, start=10, end=11).cpu is None


def test_cpu_is_the_control_groups_where_the_host_has_one() -> None:
    """A local container's /proc/stat is the whole machine's (the load generator's CPU too):
    its control group's time over the host's uptime and CPUs is its own."""
    cg = [(0.0, 5_000_000, 100.0), (1.0, 5_500_000, 101.0), (2.0, 6_300_000, 102.0)]
    samples = [
        Sample(at, 0, int(at * 1000) + 1000, 0.1, 0.5, cg_cpu_us=used, uptime=up, cpus=2)
        for at, used, up in cg
    ]
    # 1.3 s of CPU over 2 s of two CPUs; /proc/stat's jiffies (all idle here) are not used
    assert figures(samples, start=0.5, end=2.5).cpu == pytest.approx(1.3 / 4)
    without = [Sample(s.at, s.cpu_busy, s.cpu_total, 0.1, 0.5) for s in samples]
    assert figures(without, start=0.5, end=2.5).cpu == pytest.approx(0.0)


def test_the_remote_script_reads_this_machines_control_group() -> None:
    """The script's @cg line on this machine (cgroup v1 here, v2 elsewhere): a CPU time that
    grows, the uptime and the CPU count."""
    out = _run(["sh", "-c", hostsample.remote_script(False, "root", samples=2)])
    samples = parse_stream([(float(n), line) for n, line in enumerate(out.splitlines())])
    assert [s.cpus for s in samples] == [os.cpu_count()] * 2
    blocks = [line for line in out.splitlines() if line.startswith(hostsample.CG_MARK)]
    readings = [hostsample.parse_cgroup(line[len(hostsample.CG_MARK) :]) for line in blocks]
    assert len(readings) == 2
    assert all(r is not None for r in readings), blocks
    (used0, up0, cpus), (used1, up1, _) = readings  # type: ignore[misc]
    assert used1 >= used0 > 0
    assert up1 > up0
    assert cpus == os.cpu_count()


def test_a_host_without_a_readable_control_group_falls_back_to_proc_stat() -> None:
    assert hostsample.parse_cgroup(" 123.45 2") is None  # the usage empty
    assert hostsample.parse_cgroup("x 1 2") is None
    assert hostsample.parse_cgroup("10 1.5 2") == (10, 1.5, 2)


def test_db_figures_connections_at_their_highest_and_transactions_per_second() -> None:
    pg = {"max_connections": 100, "waiting_locks": 0}
    samples = [
        sample(0.0, 0, 10, active=1, total=5, xacts=1000, **pg),
        sample(1.0, 5, 20, active=4, total=18, xacts=1150, **pg),
        sample(2.0, 9, 30, active=2, total=12, xacts=1400, **{**pg, "waiting_locks": 2}),
    ]
    got = figures(samples, start=0.5, end=2.5)
    assert (got.db_active, got.db_total, got.db_max, got.waiting_locks) == (4, 18, 100, 2)
    assert got.db_share == pytest.approx(0.18)
    assert got.tps == pytest.approx((1400 - 1000) / 2.0)
    assert got.as_dict()["db_share"] == pytest.approx(0.18)


def test_stream_parsing_drops_a_cut_block_and_keeps_psql_errors() -> None:
    lines = [
        (1.0, hostsample.MARK),
        (1.0, PROC_STAT),
        (1.0, LOADAVG),
        *((1.0, line) for line in MEMINFO),
        (1.0, f"{hostsample.PG_MARK} psql: error: could not connect"),
        (2.0, hostsample.MARK),
        (2.0, PROC_STAT),  # cut off by the stop
    ]
    (only,) = parse_stream(lines)
    assert only.at == 1.0
    assert only.pg is None
    assert only.pg_error is not None
    assert "could not connect" in only.pg_error


def test_sampler_runs_the_remote_script_and_reads_its_stream() -> None:
    """The real script, run by sh here instead of on a host: two app hosts and a db host of the
    fixture source, each sampled; the db host's psql has no server here, said not raised."""
    loaded = load_source(Path(__file__).parent / "fixtures" / "source.yml")
    env = loaded.environment("qa")

    def local(host: str, db: bool) -> list[str]:
        return ["sh", "-c", hostsample.remote_script(db, "nobody-but-root")]

    with hostsample.Sampler("qa", env, command=local) as sampler:
        time.sleep(2.5)
    got = sampler.samples()
    assert set(got) == {"qa-app-1", "qa-app-2", "qa-db-1"}
    for host, samples in got.items():
        assert len(samples) >= 2, host
        assert samples[0].at < samples[-1].at
    assert all(s.pg is None and s.pg_error for s in got["qa-db-1"])
    assert sampler.errors == {}


def test_sampler_says_which_host_it_could_not_reach() -> None:
    loaded = load_source(Path(__file__).parent / "fixtures" / "source.yml")
    env = loaded.environment("qa")

    def failing(host: str, db: bool) -> list[str]:
        if host == "qa-db-1":
            return ["sh", "-c", "echo 'ssh: connect to host 198.18.1.10: No route' >&2; exit 255"]
        return ["sh", "-c", hostsample.remote_script(db, "root")]

    with hostsample.Sampler("qa", env, command=failing) as sampler:
        time.sleep(1.5)
    assert set(sampler.errors) == {"qa-db-1"}
    assert sampler.errors["qa-db-1"] == "ssh exited 255: ssh: connect to host 198.18.1.10: No route"


def test_remote_script_ends_by_itself_after_its_samples() -> None:
    done = subprocess.run(
        ["sh", "-c", hostsample.remote_script(False, "root", samples=2)],
        capture_output=True, text=True, timeout=10, check=True,
    )  # fmt: skip
    assert done.stdout.count(hostsample.MARK) == 2


def test_remote_script_asks_postgresql_as_its_superuser() -> None:
    assert "runuser -u postgres --" in hostsample.remote_script(True, "root")
    assert "sudo -n -u postgres" in hostsample.remote_script(True, "deploy")
    assert "psql" not in hostsample.remote_script(False, "root")


def as_postgres_env(postgres: PostgresServer) -> dict[str, str]:
    """The scripts' psql reaches the test server through libpq's variables (runuser keeps
    them), as on a db host it reaches the local cluster by default."""
    return {**os.environ, "PGHOST": str(postgres.root), "PGPORT": str(postgres.port)}


@pytest.mark.skipif(os.geteuid() != 0, reason="the script runs psql through runuser, as root")
def test_the_db_hosts_script_as_shipped_reads_a_real_postgresql(postgres: PostgresServer) -> None:
    """remote_script exactly as ssh would hand it to a db host's shell: its quoting, the query
    and psql's output, parsed into a reading. In root's home, as an ssh session starts: psql
    as postgres may not enter it, and says so first (that line was taken for the reading)."""
    process = subprocess.Popen(
        ["sh", "-c", hostsample.remote_script(True, "root")],
        stdout=subprocess.PIPE,
        text=True,
        env=as_postgres_env(postgres),
        cwd="/root",
    )
    lines: list[tuple[float, str]] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append((time.time(), line.rstrip("\n")))
            if sum(1 for _, text in lines if text == hostsample.MARK) == 3:
                break
    finally:
        process.kill()
        process.wait()
    samples = parse_stream(lines)
    assert len(samples) == 2
    for found in samples:
        assert found.pg_error is None, found
        assert found.pg is not None
        assert found.pg.max_connections >= 1
    assert samples[1].pg is not None
    assert samples[0].pg is not None
    assert samples[1].pg.xacts > samples[0].pg.xacts  # each reading is a transaction itself


@pytest.mark.skipif(os.geteuid() != 0, reason="the command runs psql through runuser, as root")
def test_cleanup_removes_only_the_marked_tickets_on_a_real_postgresql(
    postgres: PostgresServer,
) -> None:
    migration = Path(__file__).parent.parent / "roles/app/files/csapp/csapp/migrations"
    env = as_postgres_env(postgres)
    psql = ["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-v", "ON_ERROR_STOP=1"]
    subprocess.run([*psql, "-c", "CREATE DATABASE csapp"], env=env, check=True)
    for sql in sorted(migration.glob("*.sql")):
        subprocess.run([*psql, "-d", "csapp", "-f", str(sql)], env=env, check=True)
    subprocess.run(
        [*psql, "-d", "csapp", "-c",
         "INSERT INTO tickets (customer, subject) VALUES"
         " ('provisioner-load-test', '[load test] step 1'),"
         " ('provisioner-load-test', '[load test] step 5'),"
         " ('provisioner-load-test', 'a real question from a customer of that name'),"
         " ('ann', '[load test] pasted by a customer')"],
        env=env, check=True,
    )  # fmt: skip
    done = subprocess.run(
        ["sh", "-c", cleanup.command("root", "csapp")],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd="/root",  # where an ssh session starts
    )
    assert done.stdout.strip() == "2"
    assert "Permission denied" not in done.stderr
    left = subprocess.run(
        [*psql, "-d", "csapp", "-c", "SELECT customer, subject FROM tickets ORDER BY id"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.splitlines()
    assert left == [
        "provisioner-load-test|a real question from a customer of that name",
        "ann|[load test] pasted by a customer",
    ]
