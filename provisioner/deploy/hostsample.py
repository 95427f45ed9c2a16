"""Watching the hosts while the gate's load runs: CPU, memory and load of every app and db host,
PostgreSQL's connections, waiting locks and transactions on the db hosts.

One ssh connection per host for the whole load test, with the generated inventory's connection
settings (inventory.ssh_command, as the incremental apply reads hosts), so it works the same for
local containers and real servers (`provider: ssh`). On the host, a shell loop prints one block
per second from /proc (and one psql query on a db host); the controller stamps each block with
its own clock when it arrives, the clock locust's request times are taken with, so samples and
steps line up without trusting the hosts' clocks. Per-step figures are differences between
samples (CPU jiffies, transactions), so one sample more or less changes little.

CPU is the host's control group's (cgroup v2 `cpu.stat`, or v1 `cpuacct.usage`), over the
host's uptime and CPU count: on a real server that is the root group, the whole machine; in a
local container it is the container's own, where /proc/stat would be the controller's (the load
generator and every other container included). /proc/stat is the fallback where neither is
readable. Memory and load average come from /proc: on a container they are the machine's, shown
for reading, never judged.

Parsing is pure and tested on real outputs (tests/test_hostsample.py).
"""

from __future__ import annotations

import contextlib
import shlex
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from provisioner import paths
from provisioner.source import inventory
from provisioner.source.model import Environment

INTERVAL_S = 1  # between samples on a host
MAX_SAMPLES = 3600  # a loop's own end, when nothing else ends it (Sampler passes the run's)
MARGIN_S = 120  # on top of the load's seconds: ssh's start, locust's start and stop
DB_GROUP, APP_GROUP = "db", "app"
MARK = "@sample"
PG_MARK = "@pg"
CG_MARK = "@cg"  # the control group's CPU time (microseconds), uptime (seconds), CPUs
# The first readable of: cgroup v2 (usage_usec), v1 (nanoseconds); empty when neither is.
CG_USAGE = (
    "if [ -r /sys/fs/cgroup/cpu.stat ]; then"
    " u=$(sed -n 's/^usage_usec //p' /sys/fs/cgroup/cpu.stat);"
    " elif [ -r /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then"
    " u=$(( $(cat /sys/fs/cgroup/cpuacct/cpuacct.usage) / 1000 )); else u=; fi; "
)
# Client backends other than this query's own: the app's pools and the tool's connections.
# waiting: lock requests not granted; xacts: commits and rollbacks of every database so far.
PG_QUERY = (
    "SELECT"
    " count(*) FILTER (WHERE state = 'active'),"
    " count(*),"
    " current_setting('max_connections')::int,"
    " (SELECT count(*) FROM pg_locks WHERE NOT granted),"
    " (SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database)"
    " FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
)
PSQL = ["psql", "-XAtq", "-F", " ", "-d", "postgres", "-c", PG_QUERY]
CPU_FIELDS = 9  # "cpu" and user nice system idle iowait irq softirq steal
LOADAVG_FIELDS = 5  # 1, 5, 15 minutes, running/total, last pid
PG_FIELDS = 5  # PG_QUERY's columns
SSH_OPTIONS = ("-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR")


@dataclass(frozen=True)
class PgReading:
    active: int
    total: int
    max_connections: int
    waiting_locks: int
    xacts: int  # transactions so far (a counter)


@dataclass(frozen=True)
class Sample:
    at: float  # the controller's time.time() when the block arrived
    cpu_busy: int  # jiffies of user, nice, system, irq, softirq and steal since boot
    cpu_total: int  # the same plus idle and iowait
    load1: float
    memory_used: float  # 1 - MemAvailable / MemTotal
    pg: PgReading | None = None
    pg_error: str | None = None  # what psql said instead of a reading
    cg_cpu_us: int | None = None  # the host's control group's CPU time so far
    uptime: float | None = None  # the host's own clock for it (seconds since boot)
    cpus: int | None = None


def remote_script(db: bool, user: str, samples: int = MAX_SAMPLES) -> str:
    """The shell loop the host runs; a db host's also asks PostgreSQL, as its superuser. It
    stops by itself after `samples`: the loop ends with its ssh session (the next echo meets a
    closed pipe), and the count makes sure, so nothing of the gate stays running on a host."""
    psql = ""
    if db:
        as_postgres = ["runuser", "-u", "postgres", "--"] if user == "root" else [
            "sudo", "-n", "-u", "postgres",
        ]  # fmt: skip
        # cd /: psql started in a directory postgres may not enter (root's home) says so on
        # stderr first, and that line would be taken for the reading
        psql = f'echo "{PG_MARK} $(cd / && {shlex.join([*as_postgres, *PSQL])} 2>&1 | head -n 1)"; '
    return (
        f"n=$(nproc); i=0; while [ $i -lt {int(samples)} ]; do i=$((i + 1)); echo {MARK}; "
        f'head -n 1 /proc/stat; cat /proc/loadavg; {CG_USAGE}echo "{CG_MARK} $u $(cut -d " " '
        '-f 1 /proc/uptime) $n"; '
        f"grep -E '^(MemTotal|MemAvailable):' /proc/meminfo; {psql}sleep {INTERVAL_S}; done"
    )


# --- parsing (pure) ---------------------------------------------------------------------------


def parse_cpu(line: str) -> tuple[int, int]:
    """(busy, total) jiffies from /proc/stat's first line. guest time is already in user."""
    fields = line.split()
    if len(fields) < CPU_FIELDS or fields[0] != "cpu":
        raise ValueError(f"not /proc/stat's cpu line: {line!r}")
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in fields[1:CPU_FIELDS])
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


def parse_loadavg(line: str) -> float:
    fields = line.split()
    if len(fields) < LOADAVG_FIELDS or "/" not in fields[3]:
        raise ValueError(f"not /proc/loadavg: {line!r}")
    return float(fields[0])


def parse_memory(lines: list[str]) -> float:
    values = {}
    for line in lines:
        key, _, rest = line.partition(":")
        values[key.strip()] = int(rest.split()[0])
    if not values.get("MemTotal") or "MemAvailable" not in values:
        raise ValueError(f"no MemTotal/MemAvailable in {lines!r}")
    return 1 - values["MemAvailable"] / values["MemTotal"]


def parse_pg(text: str) -> PgReading:
    """PG_QUERY's row as psql -At -F ' ' prints it: five integers."""
    fields = text.split()
    if len(fields) != PG_FIELDS or not all(field.isdigit() for field in fields):
        raise ValueError(f"psql said {text.strip()!r}")
    active, total, most, waiting, xacts = (int(v) for v in fields)
    return PgReading(active, total, most, waiting, xacts)


def parse_cgroup(text: str) -> tuple[int, float, int] | None:
    """(CPU microseconds, uptime seconds, CPUs) from CG_MARK's line; None when the host has
    no readable control group (the usage is empty)."""
    fields = text.split()
    if len(fields) != 3:  # noqa: PLR2004 - the line's three values
        return None
    try:
        return int(fields[0]), float(fields[1]), int(fields[2])
    except ValueError:
        return None


def parse_block(at: float, lines: list[str]) -> Sample:
    """One block of remote_script's output (after its MARK line)."""
    cpu = next((line for line in lines if line.startswith("cpu ")), None)
    memory = [line for line in lines if line.startswith(("MemTotal:", "MemAvailable:"))]
    load = next(
        (line for line in lines if line.count("/") == 1 and len(line.split()) == LOADAVG_FIELDS),
        None,
    )
    if cpu is None or load is None:
        raise ValueError(f"incomplete sample: {lines!r}")
    busy, total = parse_cpu(cpu)
    pg: PgReading | None = None
    pg_error = None
    pg_line = next((line for line in lines if line.startswith(PG_MARK)), None)
    if pg_line is not None:
        try:
            pg = parse_pg(pg_line[len(PG_MARK) :])
        except ValueError as exc:
            pg_error = str(exc)
    cg_line = next((line for line in lines if line.startswith(CG_MARK)), None)
    cg = parse_cgroup(cg_line[len(CG_MARK) :]) if cg_line is not None else None
    return Sample(
        at,
        busy,
        total,
        parse_loadavg(load),
        parse_memory(memory),
        pg,
        pg_error,
        *(cg if cg is not None else (None, None, None)),
    )


def parse_stream(lines: list[tuple[float, str]]) -> list[Sample]:
    """Stamped lines of one host's stream -> its samples; a cut-off last block is dropped."""
    samples: list[Sample] = []
    block: list[str] | None = None
    stamp = 0.0
    for at, line in [*lines, (0.0, MARK)]:
        if line == MARK:
            if block is not None:
                with contextlib.suppress(ValueError):  # the block the stop cut short
                    samples.append(parse_block(stamp, block))
            block, stamp = [], at
        elif block is not None:
            block.append(line)
    return samples


# --- per step (pure) --------------------------------------------------------------------------


@dataclass(frozen=True)
class HostFigures:
    """One host in one step: None where the samples do not tell (too few, no db)."""

    cpu: float | None  # share of the CPUs busy, 0..1
    memory: float | None
    load1: float | None
    db_active: int | None = None
    db_total: int | None = None
    db_max: int | None = None
    waiting_locks: int | None = None
    tps: float | None = None
    pg_error: str | None = None

    @property
    def db_share(self) -> float | None:
        if self.db_total is None or not self.db_max:
            return None
        return self.db_total / self.db_max

    def as_dict(self) -> dict[str, Any]:
        return {
            key: value
            for key, value in {**vars(self), "db_share": self.db_share}.items()
            if value is not None
        }


def figures(samples: list[Sample], start: float, end: float) -> HostFigures:
    """A host's figures over [start, end]: CPU and transactions from the last sample before the
    window to the last one in it; memory, load, connections and locks at their highest."""
    before = [s for s in samples if s.at < start]
    inside = [s for s in samples if start <= s.at <= end]
    if not inside:
        return HostFigures(None, None, None)
    first = before[-1] if before else inside[0]
    last = inside[-1]
    cpu = _cpu(first, last)
    readings = [s.pg for s in inside if s.pg is not None]
    errors = [s.pg_error for s in inside if s.pg_error]
    memory = max(s.memory_used for s in inside)
    load1 = max(s.load1 for s in inside)
    if not readings:
        return HostFigures(cpu, memory, load1, pg_error=errors[-1] if errors else None)
    pg_first = first.pg if first.pg is not None else readings[0]
    pg_last = readings[-1]
    pg_span = last.at - first.at
    return HostFigures(
        cpu,
        memory,
        load1,
        db_active=max(r.active for r in readings),
        db_total=max(r.total for r in readings),
        db_max=pg_last.max_connections,
        waiting_locks=max(r.waiting_locks for r in readings),
        tps=(pg_last.xacts - pg_first.xacts) / pg_span if pg_span > 0 else None,
    )


def _cpu(first: Sample, last: Sample) -> float | None:
    """The share of the host's CPUs busy between two samples: its control group's, else
    /proc/stat's."""
    if (
        first.cg_cpu_us is not None
        and last.cg_cpu_us is not None
        and first.uptime is not None
        and last.uptime is not None
        and last.cpus
        and last.uptime > first.uptime
    ):
        used = (last.cg_cpu_us - first.cg_cpu_us) / 1e6
        return max(0.0, used / ((last.uptime - first.uptime) * last.cpus))
    span = last.cpu_total - first.cpu_total
    return (last.cpu_busy - first.cpu_busy) / span if span > 0 else None


# --- the sampler (ssh) ------------------------------------------------------------------------


@dataclass
class _Stream:
    process: subprocess.Popen[str]
    lines: list[tuple[float, str]] = field(default_factory=list)
    thread: threading.Thread | None = None


def watched_hosts(env: Environment) -> dict[str, bool]:
    """host -> whether it is a db host: every app and db host."""
    return {
        host: host in env.hosts_in(DB_GROUP)
        for host in sorted({*env.hosts_in(APP_GROUP), *env.hosts_in(DB_GROUP)})
    }


class Sampler:
    """Samples every app and db host from start() to stop(); a context manager."""

    def __init__(
        self,
        env_name: str,
        env: Environment,
        clock: Callable[[], float] = time.time,
        command: Callable[[str, bool], list[str]] | None = None,
        seconds: int = MAX_SAMPLES,
    ) -> None:
        self.env_name, self.env, self.clock = env_name, env, clock
        self.samples_at_most = (seconds + MARGIN_S) // INTERVAL_S
        self._command = command or self._ssh
        self._streams: dict[str, _Stream] = {}
        self.errors: dict[str, str] = {}

    def _ssh(self, host: str, db: bool) -> list[str]:
        ssh, user = inventory.ssh_command(self.env_name, self.env, host)
        return [*ssh[:1], *SSH_OPTIONS, *ssh[1:], remote_script(db, user, self.samples_at_most)]

    def __enter__(self) -> Sampler:
        for host, db in watched_hosts(self.env).items():
            try:
                process = subprocess.Popen(
                    self._command(host, db),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    cwd=paths.REPO,  # the inventory's key and known_hosts paths are relative to it
                )
            except OSError as exc:
                self.errors[host] = f"cannot start ssh: {exc.strerror}"
                continue
            stream = _Stream(process)
            stream.thread = threading.Thread(
                target=self._read, args=(process.stdout, stream.lines), daemon=True
            )
            stream.thread.start()
            self._streams[host] = stream
        return self

    def _read(self, out: IO[str] | None, into: list[tuple[float, str]]) -> None:
        for line in out or ():
            into.append((self.clock(), line.rstrip("\n")))

    def __exit__(self, *_: object) -> None:
        for host, stream in self._streams.items():
            if stream.process.poll() is not None:  # ended by itself: ssh failed
                said = (stream.process.stderr.read() if stream.process.stderr else "").split("\n")
                last = next((line.strip() for line in reversed(said) if line.strip()), "")
                self.errors[host] = f"ssh exited {stream.process.returncode}" + (
                    f": {last}" if last else ""
                )
            stream.process.terminate()
        for stream in self._streams.values():
            try:
                stream.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                stream.process.kill()
                stream.process.wait()
            if stream.thread is not None:
                stream.thread.join(timeout=5)

    def samples(self) -> dict[str, list[Sample]]:
        return {host: parse_stream(stream.lines) for host, stream in self._streams.items()} | {
            host: [] for host in self.errors if host not in self._streams
        }
