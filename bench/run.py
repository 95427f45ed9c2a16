"""Side-by-side benchmark: stock Ansible versus `provision.py`, on N local hosts running the stack.

    .venv/bin/python -m bench.run [--hosts 1,5,20] [--out bench/results]

For each host count N, on an environment `bench` of N local hosts (one db, a web host per ten,
the rest app; N = 1 puts all three tiers on one host), in one run:

  (a) stock     `ansible-playbook` with a stock ansible.cfg (nothing but where the roles are),
                the same playbook, inventory and vault
  (b) provision `python provision.py bench`, the project's configuration and everything the
                tool does around the playbook (source validation, inventory generation, local
                hosts check, ledger, lock, pre-flight, the post-deploy gate after a change)
  (c) project   `ansible-playbook` with the project's ansible.cfg and the same environment as
                (b): what (b) costs on top of Ansible itself

each as a cold converge (fresh containers) and a no-op re-run; wall time and controller CPU
(user + system of every process the run waited for). Then, at the largest host count:

  (d) remote    `python provision.py bench --executors NODE,NODE` no-op: the same run sliced over
                --executors local execution nodes (ansible-runner worker over SSH), against (b)
                alternated with it; the controller's CPU per host-task in each

Ratios (a)/(b) and (b)/(c) are printed,
with the machine it ran on; a CSV and a PNG chart are written to --out. Also timed: generating,
validating and parity-checking a 3 x 2,000-host source (the pure parts).

Not a test: nothing here asserts. A run that failed, or reported fewer hosts than it was given,
is never turned into a ratio: its cell says FAILED, a red line names it, and the exit code is 1.
Run it on an otherwise idle machine; it takes about 25 minutes
for 1, 5 and 20 hosts (the cold converges install packages from Debian's mirrors).
"""

from __future__ import annotations

import argparse
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
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from bench.bigsource import write_big_source
from provisioner import paths
from provisioner.run import strategy
from provisioner.run.ansible_env import ansible_env
from provisioner.source import inventory, secrets
from provisioner.source.model import load_source

ENV = "bench"
SUBNET = "198.18.64.0/24"  # inside 198.18.0.0/15, apart from every shipped environment's
VARIANTS = ("stock", "provision", "project")
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

    @property
    def problem(self) -> str | None:
        """Why this sample must not be turned into a ratio, if it must not."""
        if self.exit_code != 0:
            return f"exit {self.exit_code}"
        if self.hosts_seen != self.hosts:
            return f"reported {self.hosts_seen} of {self.hosts} hosts"
        return None


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
    return {
        "groups": base["groups"],
        "environments": {
            ENV: {
                "description": f"benchmark, {hosts} hosts",
                "provider": {"kind": "local", "subnet": SUBNET},
                "hosts": {name: {"groups": groups} for name, groups in layout.items()},
                "vars": base["environments"]["staging"]["vars"],
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


def last_run(since: float) -> tuple[int, int]:
    """(task results over every host, hosts) of provision.py's last run, if it was written
    after `since` (epoch seconds): a run that ended before writing it measured nothing."""
    path = paths.RUNS / ENV / "last-run.json"
    try:
        if path.stat().st_mtime < since:
            return 0, 0
        run = json.loads(path.read_text())
    except (OSError, ValueError):
        return 0, 0
    hosts = run["hosts"].values()
    return sum(h["ok"] + h["skipped"] + h["failed"] + h["unreachable"] for h in hosts), len(hosts)


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
            f"  {sample.hosts:>3} hosts  {sample.variant:<9} {sample.phase:<5} "
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
        argv = [sys.executable, str(paths.REPO / "provision.py"), ENV, "--source", str(source)]
        started = time.time()
        wall, cpu, output, code = timed(
            [*argv, *extra], {**os.environ, strategy.SWITCH: self.strategy}
        )
        found = re.search(r"(\d+) tasks changed", output)
        changed = int(found.group(1)) if found else -1
        tasks, seen = last_run(started)
        self.record(Sample(hosts, variant, phase, wall, cpu, changed, code, tasks, seen), output)

    def remote(self, hosts: int, source: Path, count: int) -> None:
        """(d): the no-op sliced over `count` local execution nodes, alternated with (b)."""
        made = self.provision(source, "executors", ENV, "--count", str(count))
        urls = re.findall(r"ssh://\S+", made.stdout)
        if made.returncode != 0 or len(urls) != count:
            raise SystemExit(f"bench: provision.py executors failed:\n{made.stdout}{made.stderr}")
        self.console.print(f"  execution nodes: {', '.join(urls)}")
        for _ in range(self.repeat):
            self.tool(hosts, "noop", source, "remote", "--executors", ",".join(urls))
            self.tool(hosts, "noop", source)

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
        self.tool(hosts, "cold", source)
        # (b) and (c) differ by a few percent: alternate them, and compare medians.
        for _ in range(self.repeat):
            self.tool(hosts, "noop", source)
            self.playbook(hosts, "project", "noop", vault)

    def cleanup(self) -> None:
        source = self.work / "bench-1.yml"
        source.write_text(yaml.safe_dump(bench_source(1), sort_keys=False))
        self.provision(source, "down", ENV)
        shutil.rmtree(paths.INVENTORIES / ENV, ignore_errors=True)


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
LABELS["remote"] = "(d) remote"


def failures(samples: list[Sample], labels: dict[str, str] = LABELS) -> list[str]:
    """Every sample that measured a failed run or not every host, said plainly."""
    return [
        f"{s.hosts} hosts: {labels[s.variant]} {s.phase} {s.problem}: no ratio from it"
        for s in samples
        if s.problem is not None
    ]


def ratio(
    samples: list[Sample], hosts: int, phase: str, *, top: str, bottom: str, what: str
) -> str:
    """Median of `top` over median of `bottom`; FAILED when any run of either side failed or
    missed a host (a ratio from the runs that happened to pass would flatter a broken side)."""

    def runs(variant: str) -> list[Sample]:
        return [s for s in samples if (s.hosts, s.variant, s.phase) == (hosts, variant, phase)]

    a, b = runs(top), runs(bottom)
    if not a or not b:
        return "-"  # not measured
    if any(s.problem for s in a + b):
        return "FAILED"
    bottom_value = statistics.median(float(getattr(s, what)) for s in b)
    top_value = statistics.median(float(getattr(s, what)) for s in a)
    return f"{top_value / bottom_value:.2f}x" if bottom_value else "-"


def report(console: Console, samples: list[Sample], hosts_list: list[int]) -> None:
    table = Table(
        title="medians: stock (a) / provision.py (b); provision.py (b) / project playbook (c)"
    )
    for column in (
        "hosts",
        "cold wall a/b",
        "cold CPU a/b",
        "no-op wall a/b",
        "no-op CPU a/b",
        "no-op wall b/c",
    ):
        table.add_column(column, justify="right")
    for n in hosts_list:
        table.add_row(
            str(n),
            ratio(samples, n, "cold", top="stock", bottom="provision", what="wall_s"),
            ratio(samples, n, "cold", top="stock", bottom="provision", what="cpu_s"),
            ratio(samples, n, "noop", top="stock", bottom="provision", what="wall_s"),
            ratio(samples, n, "noop", top="stock", bottom="provision", what="cpu_s"),
            ratio(samples, n, "noop", top="provision", bottom="project", what="wall_s"),
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


def write_chart(path: Path, samples: list[Sample], hosts_list: list[int], title: str) -> None:
    import matplotlib  # noqa: PLC0415 - only the benchmark needs it, and it is slow to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 - after choosing the headless backend

    figure, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    width = 0.27
    for ax, phase in zip(axes, PHASES, strict=True):
        for i, variant in enumerate(VARIANTS):
            heights = [
                statistics.median(
                    [
                        s.wall_s
                        for s in samples
                        if (s.hosts, s.variant, s.phase) == (n, variant, phase)
                    ]
                    or [0.0]
                )
                for n in hosts_list
            ]
            ax.bar(
                [x + (i - 1) * width for x in range(len(hosts_list))], heights, width, label=variant
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
        "--repeat", type=int, default=3, help="no-op runs of (b) and (c), alternated (default 3)"
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
    failed = failures(bench.samples)
    for line in failed:
        console.print(f"[bold red]bench: FAILED: {line}[/]")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
