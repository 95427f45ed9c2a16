"""Side-by-side benchmark: stock Ansible versus `provision.py`, on N local hosts running the stack.

    .venv/bin/python -m bench.run [--hosts 1,5,20] [--out bench/results]

For each host count N, on an environment `bench` of N local hosts (one db, a web host per ten,
the rest app; N = 1 puts all three tiers on one host), in one run:

  (a) stock     `ansible-playbook` with a stock ansible.cfg (nothing but where the roles are),
                the same playbook, inventory and vault
  (b) provision `python provision.py bench`, the project's configuration and everything the
                tool does around the playbook (source validation, inventory generation, local
                hosts check, ledger, lock, pre-flight, the post-deploy gate after a change);
                its no-op is `--full`: every host runs, as before the incremental apply
  (b-incr)      variant "incremental": `python provision.py bench` no-op without --full, the
                incremental apply (hosts unchanged since the last good apply are skipped; when
                all are, no playbook runs). It counts as having seen a host it skipped.
  (c) project   `ansible-playbook` with the project's ansible.cfg and the same environment as
                (b): what (b) costs on top of Ansible itself

Per host count, in this order: (a) cold converge (fresh containers) and no-op; fresh containers
and (b)'s cold converge with the package cache warm (what the machine's apt-cacher-ng holds,
warm after (a)'s converge); --repeat rounds of the no-ops (b-incr), (b) and (c), alternated;
then fresh containers again and, last so that it disturbs no no-op, variant "cold-cache": (b)'s
cold converge through an EMPTY package cache (PROVISION_PACKAGE_CACHE pointed at a new directory
in the bench's temp dir; the machine's cache is stopped for it, since one cache holds the one
address, and started again on its own directory after it; see Bench.cold_cache). Wall time and
controller CPU (user + system of every process the run waited for). Then, at the largest host
count:

  (d) remote    `python provision.py bench --full --executors NODE,NODE` no-op: the same run
                sliced over --executors local execution nodes (ansible-runner worker over SSH),
                against (b) (`--full`) alternated with it; the controller's CPU per host-task

Ratios are printed: (a)/(b) for the cold converge with a warm and with an empty cache,
(a)/(b-incr) and (a)/(b) for the no-op, (b)/(c), and (b-incr)'s no-op wall time in seconds;
with the machine it ran on; a CSV and a PNG chart are written to --out. Also timed: generating,
validating and parity-checking a 3 x 2,000-host source (the pure parts).

Not a test: nothing here asserts. A run that failed, or reported fewer hosts than it was given,
is never turned into a ratio: its cell says FAILED, a red line names it, and the exit code is 1.
Run it on an otherwise idle machine, with no other local hosts converging (the empty-cache run
stops the machine's package cache for its duration). It took about 25 minutes for 1, 5 and 20
hosts before (b-incr) and the empty-cache converge were added; the latter adds a converge per
host count whose packages all come from Debian's mirrors.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path

import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.bigsource import write_big_source
from provisioner import paths
from provisioner.errors import InputError
from provisioner.hosts import pkgcache
from provisioner.run import strategy
from provisioner.run.ansible_env import ansible_env
from provisioner.source import inventory, secrets
from provisioner.source.model import load_source

ENV = "bench"
SUBNET = "198.18.64.0/24"  # inside 198.18.0.0/15, apart from every shipped environment's
VARIANTS = ("stock", "provision", "incremental", "project", "cold-cache")
# Variants whose run may skip hosts on purpose (the incremental apply): a host it skipped was
# looked at and found unchanged, so it counts as seen. Any other run must have run every host.
COUNTS_SKIPPED = frozenset({"incremental"})
CACHE_SWITCH = "PROVISION_PACKAGE_CACHE"  # pkgcache.directory() reads it
PHASES = ("cold", "noop")
MAX_HOSTS = 200  # a /24 of local hosts
RECAP = re.compile(r"^\S+\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


@dataclass(frozen=True)
class Sample:
    hosts: int
    variant: str
    phase: str
    wall_s: float
    cpu_s: float
    changed: int
    exit_code: int
    host_tasks: int = 0  # task results over all hosts (provision.py runs: from last-run.json)
    hosts_seen: int = 0  # hosts the run reported on (its recap, or last-run.json)
    # Why a run that passed still did not measure what it stands for (the empty-cache converge
    # served by another cache, say); empty when it did.
    invalid: str = ""

    @property
    def problem(self) -> str | None:
        """Why this sample must not be turned into a ratio, if it must not."""
        if self.exit_code != 0:
            return f"exit {self.exit_code}"
        if self.hosts_seen != self.hosts:
            return f"reported {self.hosts_seen} of {self.hosts} hosts"
        return self.invalid or None


def bench_source(hosts: int) -> dict[str, object]:
    """The shipped source's groups and staging's values, with `hosts` hosts in one environment."""
    base = yaml.safe_load(paths.DEFAULT_SOURCE.read_text())
    if hosts == 1:
        layout = {f"{ENV}-1": ["db", "app", "web"]}
    else:
        webs = max(1, hosts // 10)
        layout = {f"{ENV}-db-1": ["db"]}
        layout |= {f"{ENV}-web-{i + 1}": ["web"] for i in range(webs)}
        layout |= {f"{ENV}-app-{i + 1}": ["app"] for i in range(hosts - 1 - webs)}
    variables = copy.deepcopy(base["environments"]["staging"]["vars"])
    # Connection pools as small as this many app hosts need to fit PostgreSQL's max_connections
    # (the capacity rule db_connections, group_vars/all.yml, refuses the source otherwise): 17
    # app hosts of staging's 2 workers x 5 connections would be 170. The margin covers the
    # rule's reserve; past about 45 app hosts even one connection per worker is refused.
    app = variables.setdefault("app", {})
    apps = sum("app" in groups for groups in layout.values())
    limit = yaml.safe_load((paths.GROUP_VARS / "db.yml").read_text())["postgresql_max_connections"]
    per_worker = (limit - 10) // max(1, apps * app.get("app_workers", 1))
    app["app_db_pool_size"] = max(1, min(app.get("app_db_pool_size", 5), per_worker))
    return {
        "groups": base["groups"],
        "environments": {
            ENV: {
                "description": f"benchmark, {hosts} hosts",
                "provider": {"kind": "local", "subnet": SUBNET},
                "hosts": {name: {"groups": groups} for name, groups in layout.items()},
                "vars": variables,
            }
        },
    }


def stock_config(directory: Path) -> Path:
    """Ansible's defaults, except where the roles are (the playbook cannot run without it)."""
    cfg = directory / "stock-ansible.cfg"
    cfg.write_text(f"[defaults]\nroles_path = {paths.REPO / 'roles'}\n")
    return cfg


def timed(argv: Sequence[str], env: dict[str, str]) -> tuple[float, float, str, int]:
    """Run to completion: wall seconds, CPU seconds of the process tree it waited for."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(
        argv, env=env, cwd=paths.REPO, capture_output=True, text=True, check=False
    )
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout + done.stderr, done.returncode


def last_run(since: float, *, with_skipped: bool = False) -> tuple[int, int]:
    """(task results over every host, hosts) of provision.py's last run, if it was written
    after `since` (epoch seconds): a run that ended before writing it measured nothing.
    `with_skipped`: the hosts the incremental apply skipped (unchanged) count among the hosts;
    they ran no task, so they add none to the task results."""
    path = paths.RUNS / ENV / "last-run.json"
    try:
        if path.stat().st_mtime < since:
            return 0, 0
        run = json.loads(path.read_text())
    except (OSError, ValueError):
        return 0, 0
    ran = run["hosts"]
    tasks = sum(h["ok"] + h["skipped"] + h["failed"] + h["unreachable"] for h in ran.values())
    # A union, not a sum: a host named in both would otherwise count twice and hide one missing.
    seen = set(ran) | set(run.get("skipped", {})) if with_skipped else set(ran)
    return tasks, len(seen)


def changed_in_recap(output: str) -> int:
    return sum(int(match.group(2)) for match in RECAP.finditer(output))


def hosts_in_recap(output: str) -> int:
    return len({match.group(0).split()[0] for match in RECAP.finditer(output)})


class Bench:
    def __init__(self, console: Console, work: Path, repeat: int, strategy: str) -> None:
        self.strategy = strategy
        self.console = console
        self.work = work
        self.repeat = repeat
        self.samples: list[Sample] = []
        self.not_measured: list[str] = []  # samples skipped because they could not be sound

    def provision(self, source: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(paths.REPO / "provision.py"), *args, "--source", str(source)],
            cwd=paths.REPO,
            capture_output=True,
            text=True,
            check=False,
        )

    def fresh_hosts(self, source: Path) -> None:
        """New containers, and no SSH connection left over from an earlier run."""
        for step in ("down", "up"):
            done = self.provision(source, step, ENV)
            if done.returncode != 0:
                raise SystemExit(f"bench: provision.py {step} failed:\n{done.stdout}{done.stderr}")
        shutil.rmtree(Path.home() / ".ansible" / "cp", ignore_errors=True)

    def record(self, sample: Sample, output: str) -> None:
        self.samples.append(sample)
        ok = "[green]ok[/]" if sample.problem is None else f"[red]{sample.problem}[/]"
        self.console.print(
            f"  {sample.hosts:>3} hosts  {sample.variant:<11} {sample.phase:<5} "
            f"{sample.wall_s:7.1f} s wall  {sample.cpu_s:7.1f} s CPU  "
            f"changed={sample.changed}  {ok}"
        )
        if sample.problem is not None:
            log = self.work / f"{sample.variant}-{sample.phase}-{sample.hosts}.log"
            log.write_text(output)
            self.console.print(f"    output: {log}")

    def playbook(self, hosts: int, variant: str, phase: str, vault: list[str]) -> None:
        # Stock: no ANSIBLE_* setting from anywhere but the stock ansible.cfg. Project: the
        # environment provision.py gives Ansible (its ansible.cfg, host key checking, strategy).
        plain = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        if variant == "stock":
            environ = {**plain, "ANSIBLE_CONFIG": str(stock_config(self.work))}
        else:
            environ = {**plain, **ansible_env(self.strategy)}
        argv = [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(paths.INVENTORIES / ENV),
            *vault,
            str(paths.SITE_PLAYBOOK),
        ]
        wall, cpu, output, code = timed(argv, environ)
        changed = changed_in_recap(output)
        sample = Sample(hosts, variant, phase, wall, cpu, changed, code, 0, hosts_in_recap(output))
        self.record(sample, output)

    def tool(
        self, hosts: int, phase: str, source: Path, variant: str = "provision", *extra: str
    ) -> None:
        self.record(*self.measure_tool(hosts, phase, source, variant, extra=extra))

    def measure_tool(
        self,
        hosts: int,
        phase: str,
        source: Path,
        variant: str,
        *,
        extra: Sequence[str] = (),
        environ: dict[str, str] | None = None,
    ) -> tuple[Sample, str]:
        """One `provision.py bench` run, timed; the sample and the run's output."""
        argv = [sys.executable, str(paths.REPO / "provision.py"), ENV, "--source", str(source)]
        started = time.time()
        wall, cpu, output, code = timed(
            [*argv, *extra], {**os.environ, strategy.SWITCH: self.strategy, **(environ or {})}
        )
        found = re.search(r"(\d+) tasks changed", output)
        changed = int(found.group(1)) if found else -1
        tasks, seen = last_run(started, with_skipped=variant in COUNTS_SKIPPED)
        sample = Sample(hosts, variant, phase, wall, cpu, changed, code, tasks, seen)
        return sample, output

    def cold_cache(self, hosts: int, source: Path) -> None:
        """(b)'s cold converge with an empty package cache, on fresh containers.

        pkgcache runs one apt-cacher-ng per machine, on one address and port, and start() with
        another directory returns as soon as anything answers there ("another checkout's cache
        serves us as well"): pointing PROVISION_PACKAGE_CACHE elsewhere alone would leave the
        warm cache serving. So the machine's cache is stopped first, and the run starts one on
        the empty directory. That one keeps running after the run, and would in turn be found
        answering by the next start() of the usual directory (serving errors once the temp dir
        is gone): it is stopped afterwards, and the usual cache started again."""
        empty = self.work / f"empty-apt-cache-{hosts}"
        usual = pkgcache.directory()
        try:
            why_not = free_cache_address(usual)
            if why_not is not None:
                self.not_measured.append(f"{hosts} hosts: cold-cache converge: {why_not}")
                self.console.print(f"  [yellow]cold-cache converge not measured: {why_not}[/]")
                return
            sample, output = self.measure_tool(
                hosts, "cold", source, "cold-cache", environ={CACHE_SWITCH: str(empty)}
            )
            used = pkgcache.usage(empty / "log" / "apt-cacher.log")
            self.console.print(
                f"    empty cache: {used.from_mirror / 2**20:.0f} MiB from the mirror, "
                f"{used.to_hosts / 2**20:.0f} MiB to {used.hosts} host(s)"
            )
            self.record(replace(sample, invalid=not_through_empty_cache(used)), output)
        finally:
            pkgcache.stop(empty)
            # Its packages: hundreds of MB that nothing reads again (the temp dir may be tmpfs).
            shutil.rmtree(empty, ignore_errors=True)
            pkgcache.ensure(self.console.print)  # the usual cache, on its own directory again

    def remote(self, hosts: int, source: Path, count: int) -> None:
        """(d): the no-op sliced over `count` local execution nodes, alternated with (b)."""
        made = self.provision(source, "executors", ENV, "--count", str(count))
        urls = re.findall(r"ssh://\S+", made.stdout)
        if made.returncode != 0 or len(urls) != count:
            raise SystemExit(f"bench: provision.py executors failed:\n{made.stdout}{made.stderr}")
        self.console.print(f"  execution nodes: {', '.join(urls)}")
        # --full on both: (b) here measures Ansible's work on every host, as (d) must (several
        # executors run every host anyway, but a skip must not depend on that rule).
        for _ in range(self.repeat):
            self.tool(hosts, "noop", source, "remote", "--full", "--executors", ",".join(urls))
            self.tool(hosts, "noop", source, "provision", "--full")

    def run(self, hosts: int) -> None:
        self.console.rule(f"{hosts} host(s)")
        source = self.work / f"bench-{hosts}.yml"
        source.write_text(yaml.safe_dump(bench_source(hosts), sort_keys=False))
        loaded = load_source(source)
        inventory.write(inventory.render_all(loaded, [ENV]))
        vault = secrets.vault_for(ENV, loaded.environment(ENV)).cmdline()

        self.fresh_hosts(source)
        for phase in PHASES:
            self.playbook(hosts, "stock", phase, vault)
        self.fresh_hosts(source)
        self.tool(hosts, "cold", source)  # the package cache warm: (a)'s converge filled it
        # (b) and (c) differ by a few percent: alternate them, and compare medians. The first
        # incremental no-op follows the cold converge, whose record lets it skip every host.
        for _ in range(self.repeat):
            self.tool(hosts, "noop", source, "incremental")
            self.tool(hosts, "noop", source, "provision", "--full")
            self.playbook(hosts, "project", "noop", vault)
        # Last: it stops the warm cache for a while, and leaves converged hosts for (d).
        self.fresh_hosts(source)
        self.cold_cache(hosts, source)

    def cleanup(self) -> None:
        source = self.work / "bench-1.yml"
        source.write_text(yaml.safe_dump(bench_source(1), sort_keys=False))
        self.provision(source, "down", ENV)
        shutil.rmtree(paths.INVENTORIES / ENV, ignore_errors=True)


def free_cache_address(usual: Path) -> str | None:
    """Stop the package cache that runs on `usual` (the machine's), so that a run with another
    directory starts its own; why that cannot be done, if it cannot."""
    if not pkgcache.answers():
        return f"no package cache answers at {pkgcache.URL}: the warm-cache converge had none"
    pkgcache.stop(usual)
    if pkgcache.answers():
        # Not ours to stop: another checkout's, or one on a directory this run was not told of.
        return f"a package cache on another directory holds {pkgcache.URL}; it was left running"
    return None


def not_through_empty_cache(used: pkgcache.Usage) -> str:
    """Why the empty-cache converge did not measure an empty cache, or "" when it did: its
    hosts fetched through it, and it fetched from the mirror."""
    if not used.to_hosts:
        return "no package went through the empty cache"
    if not used.from_mirror:
        return "the empty cache fetched nothing from the mirror"
    return ""


def pure_parts(work: Path, rounds: int = 5) -> float:
    """Median seconds to load, validate, render and parity-check 3 x 2,000 hosts."""
    source = write_big_source(work / "big.yml", 2000)
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        inventory.render_all(load_source(source))
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({model}), {memory:.0f} GiB, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, load average {load}"
    )


LABELS = {"stock": "(a) stock", "provision": "(b) provision.py", "project": "(c) project"}
LABELS["incremental"] = "(b-incr) provision.py incremental"
LABELS["cold-cache"] = "(b) provision.py (empty package cache)"
LABELS["remote"] = "(d) remote"


def failures(samples: list[Sample], labels: dict[str, str] = LABELS) -> list[str]:
    """Every sample that measured a failed run or not every host, said plainly."""
    return [
        f"{s.hosts} hosts: {labels[s.variant]} {s.phase} {s.problem}: no ratio from it"
        for s in samples
        if s.problem is not None
    ]


def runs_of(samples: list[Sample], hosts: int, variant: str, phase: str) -> list[Sample]:
    return [s for s in samples if (s.hosts, s.variant, s.phase) == (hosts, variant, phase)]


def seconds(samples: list[Sample], hosts: int, variant: str, phase: str) -> str:
    """Median wall time of one variant, by the rule ratio() keeps: FAILED when any run of it
    failed or missed a host (a fast run that did nothing is not a fast run)."""
    found = runs_of(samples, hosts, variant, phase)
    if not found:
        return "-"
    if any(s.problem for s in found):
        return "FAILED"
    return f"{statistics.median(s.wall_s for s in found):.1f} s"


def ratio(
    samples: list[Sample], hosts: int, phase: str, *, top: str, bottom: str, what: str
) -> str:
    """Median of `top` over median of `bottom`; FAILED when any run of either side failed or
    missed a host (a ratio from the runs that happened to pass would flatter a broken side)."""

    a, b = runs_of(samples, hosts, top, phase), runs_of(samples, hosts, bottom, phase)
    if not a or not b:
        return "-"  # not measured
    if any(s.problem for s in a + b):
        return "FAILED"
    bottom_value = statistics.median(float(getattr(s, what)) for s in b)
    top_value = statistics.median(float(getattr(s, what)) for s in a)
    return f"{top_value / bottom_value:.2f}x" if bottom_value else "-"


# (header, phase, top, bottom, what) of each ratio column, in the table's order; a target in the
# header is the one the ratio is read against.
RATIO_COLUMNS = (
    ("cold wall a/b, warm cache (>= 2x)", "cold", "stock", "provision", "wall_s"),
    ("cold CPU a/b, warm cache", "cold", "stock", "provision", "cpu_s"),
    ("cold wall a/b, empty cache", "cold", "stock", "cold-cache", "wall_s"),
    ("no-op wall a/b-incr (>= 25x)", "noop", "stock", "incremental", "wall_s"),
    ("no-op CPU a/b-incr", "noop", "stock", "incremental", "cpu_s"),
    ("no-op wall a/b --full (>= 3x)", "noop", "stock", "provision", "wall_s"),
    ("no-op CPU a/b --full", "noop", "stock", "provision", "cpu_s"),
    ("no-op wall b/c", "noop", "provision", "project", "wall_s"),
)


def report(console: Console, samples: list[Sample], hosts_list: list[int]) -> None:
    table = Table(
        title="medians: stock (a) / provision.py (b: --full no-op; b-incr: incremental no-op); "
        "provision.py (b) / project playbook (c)"
    )
    table.add_column("hosts", justify="right")
    for header, *_ in RATIO_COLUMNS:
        table.add_column(header, justify="right")
    table.add_column("b-incr no-op wall (target < 3 s)", justify="right")
    for n in hosts_list:
        table.add_row(
            str(n),
            *(
                ratio(samples, n, phase, top=top, bottom=bottom, what=what)
                for _, phase, top, bottom, what in RATIO_COLUMNS
            ),
            seconds(samples, n, "incremental", "noop"),
        )
    console.print(table)


def report_remote(console: Console, samples: list[Sample], hosts: int, nodes: int) -> None:
    """(b) against (d): wall time, and the controller's CPU per host-task (medians)."""

    def median(variant: str, what: str) -> float:
        found = [
            float(getattr(s, what))
            for s in samples
            if (s.hosts, s.variant, s.phase) == (hosts, variant, "noop") and s.problem is None
        ]
        return statistics.median(found) if found else 0.0

    table = Table(title=f"no-op on {hosts} hosts: here (b) / sliced over {nodes} nodes (d)")
    for column in ("", "wall", "controller CPU", "host-tasks", "CPU per host-task"):
        table.add_column(column, justify="right")
    for label, variant in (("(b) here", "provision"), (f"(d) {nodes} nodes", "remote")):
        wall, cpu, tasks = (median(variant, w) for w in ("wall_s", "cpu_s", "host_tasks"))
        per_task = f"{1000 * cpu / tasks:.1f} ms" if tasks else "-"
        table.add_row(label, f"{wall:.1f} s", f"{cpu:.1f} s", f"{tasks:.0f}", per_task)
    table.add_row(
        "b/d",
        ratio(samples, hosts, "noop", top="provision", bottom="remote", what="wall_s"),
        ratio(samples, hosts, "noop", top="provision", bottom="remote", what="cpu_s"),
        "",
        "",
    )
    console.print(table)


def write_csv(path: Path, samples: list[Sample]) -> None:
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=[f.name for f in fields(Sample)])
        writer.writeheader()
        for sample in samples:
            writer.writerow(
                {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(sample).items()}
            )


def chart_label(variant: str, phase: str) -> str:
    if variant == "provision":
        return "provision (warm cache)" if phase == "cold" else "provision --full"
    return "provision (empty cache)" if variant == "cold-cache" else variant


def bar_offsets(count: int, group: float = 0.8) -> tuple[float, list[float]]:
    """Width of a bar and each one's offset from its tick, for `count` bars side by side: the
    group `group` wide and centred on the tick, however many variants (ticks are 1 apart)."""
    width = group / max(1, count)
    return width, [(i - (count - 1) / 2) * width for i in range(count)]


def write_chart(path: Path, samples: list[Sample], hosts_list: list[int], title: str) -> None:
    import matplotlib  # noqa: PLC0415 - only the benchmark needs it, and it is slow to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 - after choosing the headless backend

    figure, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, phase in zip(axes, PHASES, strict=True):
        # Only the variants measured in this phase (no empty slots: there is no cold
        # incremental run, nor a no-op with an empty cache), centred on each tick; a variant
        # keeps its colour across both panels.
        shown = [v for v in VARIANTS if any((s.variant, s.phase) == (v, phase) for s in samples)]
        width, offsets = bar_offsets(len(shown))
        for variant, offset in zip(shown, offsets, strict=True):
            heights = [
                statistics.median([s.wall_s for s in runs_of(samples, n, variant, phase)] or [0.0])
                for n in hosts_list
            ]
            ax.bar(
                [x + offset for x in range(len(hosts_list))],
                heights,
                width,
                label=chart_label(variant, phase),
                color=f"C{VARIANTS.index(variant)}",
            )
        ax.set_xticks(range(len(hosts_list)), [f"{n} hosts" for n in hosts_list])
        ax.set_ylabel("wall seconds")
        ax.set_title("cold converge" if phase == "cold" else "no-op re-run")
        ax.legend(fontsize=8, loc="upper left")
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", default="1,5,20", help="host counts, e.g. 1,5,20 (default)")
    parser.add_argument("--out", type=Path, default=paths.REPO / "bench" / "results")
    parser.add_argument(
        "--strategy",
        choices=strategy.CHOICES,
        default=strategy.DEFAULT,
        help=f"PROVISION_STRATEGY for (b) and (c) (default {strategy.DEFAULT}, as provision.py)",
    )
    parser.add_argument(
        "--executors",
        type=int,
        default=2,
        metavar="N",
        help="(d) at the largest host count, sliced over N local execution nodes (0: skip)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="no-op runs of (b-incr), (b) and (c), alternated (default 3)",
    )
    args = parser.parse_args(argv)
    try:
        hosts_list = [int(n) for n in args.hosts.split(",")]
    except ValueError:
        parser.error(f"--hosts {args.hosts!r}: a comma-separated list of numbers")
    if any(not 1 <= n <= MAX_HOSTS for n in hosts_list):
        parser.error(f"--hosts: each count between 1 and {MAX_HOSTS}")
    # As provision.py does: the venv's tools first on PATH, and everything written private.
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    os.umask(0o077)
    console = Console(highlight=False)
    before = machine()
    console.print(f"machine: {before}")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        bench = Bench(console, Path(tmp), max(1, args.repeat), args.strategy)
        try:
            for n in hosts_list:
                bench.run(n)
            if args.executors:  # the hosts of the last count are up and converged
                bench.remote(
                    hosts_list[-1], Path(tmp) / f"bench-{hosts_list[-1]}.yml", args.executors
                )
        except InputError as exc:  # the generated source (bench_source) is refused
            console.print(f"[bold red]bench: FAILED: nothing measured: {escape(str(exc))}[/]")
            return 2
        finally:
            bench.cleanup()
        pure = pure_parts(Path(tmp))
    after = machine()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    console.print(f"machine after: {after}")
    report(console, bench.samples, hosts_list)
    if args.executors:
        report_remote(console, bench.samples, hosts_list[-1], args.executors)
    console.print(f"pure parts, 3 x 2,000 hosts (load, validate, render, parity): {pure:.2f} s")
    csv_path, png_path = args.out / f"bench-{stamp}.csv", args.out / f"bench-{stamp}.png"
    write_csv(csv_path, bench.samples)
    write_chart(png_path, bench.samples, hosts_list, f"{stamp} - {before}")
    console.print(f"wrote {paths.display(csv_path)} and {paths.display(png_path)}")
    for line in bench.not_measured:
        console.print(f"[bold yellow]bench: not measured: {line}[/]")
    failed = failures(bench.samples)
    for line in failed:
        console.print(f"[bold red]bench: FAILED: {line}[/]")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
