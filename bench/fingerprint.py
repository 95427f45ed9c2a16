"""Fingerprint benchmark: the full host fingerprint against the one it replaced, side by side.

    .venv/bin/python -m bench.fingerprint [--hosts 20] [--repeat 3]

On an environment `bench` of N local hosts (the shape of bench/run.py's), converged once by
`provision.py`, alternated `--repeat` times:

  (before) `ansible-playbook bench/baseline/fingerprint-before.yml`: the playbook the tool used
           until issue 17 (what the roles manage: package versions, file hashes, service states,
           the roles' sysctl keys), kept only as this baseline
  (after)  `ansible-playbook playbooks/site.yml --tags fingerprint --skip-tags always`: what
           `provision.py fingerprint` runs (one module per host: every package, unit, socket,
           sysctl, user and group, the content of the roles' files and of /etc that dpkg does
           not vouch for, the roles' probes)

both with the project's Ansible settings, as provision.py gives them. Also timed once per round:
`provision.py fingerprint bench --json` (the command a user types: source, inventory, ansible-
runner and the shaping around the same play), and the size of what it read.

Prints the medians and the ratio before/after (above 1.00x: the new fingerprint is faster).
A run that failed or reported fewer hosts than it was given is never turned into a ratio: it
is named in red and the exit code is 1.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from bench.run import (
    ENV,
    MAX_HOSTS,
    Bench,
    Sample,
    bench_source,
    failures,
    hosts_in_recap,
    machine,
    ratio,
    timed,
)
from provisioner import paths
from provisioner.run import strategy
from provisioner.run.ansible_env import ansible_env
from provisioner.source import inventory, secrets
from provisioner.source.model import load_source

BEFORE = paths.REPO / "bench" / "baseline" / "fingerprint-before.yml"
VARIANTS = {
    "before": [str(BEFORE)],
    "after": [str(paths.SITE_PLAYBOOK), "--tags", "fingerprint", "--skip-tags", "always"],
}
PHASE = "fingerprint"


class FingerprintBench(Bench):
    def playbook_variant(self, hosts: int, variant: str, vault: list[str]) -> None:
        plain = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        argv = [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(paths.INVENTORIES / ENV),
            *vault,
            *VARIANTS[variant],
        ]
        wall, cpu, output, code = timed(argv, {**plain, **ansible_env(self.strategy)})
        seen = hosts_in_recap(output)
        self.record(Sample(hosts, variant, PHASE, wall, cpu, 0, code, 0, seen), output)

    def command(self, hosts: int, source: Path) -> int:
        """`provision.py fingerprint bench --json`, timed; returns the bytes it read (gzip)."""
        argv = [sys.executable, str(paths.REPO / "provision.py"), "fingerprint", ENV, "--json"]
        wall, cpu, output, code = timed(
            [*argv, "--source", str(source)], {**os.environ, strategy.SWITCH: self.strategy}
        )
        # stdout (the JSON: host -> fingerprint) comes first in `output`, stderr's progress after.
        try:
            found, _ = json.JSONDecoder().raw_decode(output) if code == 0 else ({}, 0)
        except ValueError:
            found = {}
        hosts_seen = len(found) if isinstance(found, dict) else 0
        self.record(Sample(hosts, "command", PHASE, wall, cpu, 0, code, 0, hosts_seen), output)
        return len(gzip.compress(json.dumps(found, sort_keys=True).encode()))

    def measure(self, hosts: int) -> int:
        self.console.rule(f"{hosts} host(s)")
        source = self.work / f"bench-{hosts}.yml"
        source.write_text(yaml.safe_dump(bench_source(hosts), sort_keys=False))
        loaded = load_source(source)
        inventory.write(inventory.render_all(loaded, [ENV]))
        vault = secrets.vault_for(ENV, loaded.environment(ENV)).cmdline()
        self.fresh_hosts(source)
        self.tool(hosts, "cold", source)  # converged once: both read the same, full stack
        size = 0
        for _ in range(self.repeat):
            for variant in VARIANTS:
                self.playbook_variant(hosts, variant, vault)
            size = self.command(hosts, source)
        return size


LABELS = {
    "provision": "provision.py converge",
    "before": "(before) old playbook",
    "after": "(after) full fingerprint",
    "command": "provision.py fingerprint",
}


def report(console: Console, samples: list[Sample], hosts: int, size: int) -> list[str]:
    """The table; returns what failed (no ratio is made from it)."""
    table = Table(title=f"fingerprint of {hosts} hosts, medians of alternated runs")
    for column in ("", "wall", "controller CPU"):
        table.add_column(column, justify="right")
    for variant in ("before", "after", "command"):
        runs = [s for s in samples if s.variant == variant]
        if not runs or any(s.problem for s in runs):
            table.add_row(LABELS[variant], "FAILED", "FAILED")
            continue
        wall, cpu = (statistics.median(getattr(s, w) for s in runs) for w in ("wall_s", "cpu_s"))
        table.add_row(LABELS[variant], f"{wall:.1f} s", f"{cpu:.1f} s")
    # The converge both read is a precondition: when it failed, neither measured the stack.
    failed = failures(samples, LABELS)
    ratios = [
        "FAILED" if failed else ratio(samples, hosts, PHASE, top="before", bottom="after", what=w)
        for w in ("wall_s", "cpu_s")
    ]
    table.add_row("before/after", *ratios)
    console.print(table)
    if not failed:
        console.print(f"full fingerprint of {hosts} hosts: {size / 1024:.0f} KiB gzipped JSON")
    return failed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fingerprint", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--hosts", type=int, default=20, help="local hosts (default 20)")
    parser.add_argument("--repeat", type=int, default=3, help="alternated rounds (default 3)")
    parser.add_argument(
        "--out", type=Path, default=paths.REPO / "bench" / "results", help="logs of failed runs"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.hosts <= MAX_HOSTS:
        parser.error(f"--hosts: between 1 and {MAX_HOSTS}")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    os.umask(0o077)
    console = Console(highlight=False)
    console.print(f"machine: {machine()}")
    started = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    # Kept after the run: a failed variant's output is written here, and named.
    work = Path(tempfile.mkdtemp(prefix="fingerprint-", dir=args.out))
    bench = FingerprintBench(console, work, max(1, args.repeat), strategy.DEFAULT)
    size = 0
    try:
        size = bench.measure(args.hosts)
    finally:
        bench.cleanup()
    console.print(f"machine after: {machine()} ({time.monotonic() - started:.0f} s in all)")
    failed = report(console, bench.samples, args.hosts, size)
    for line in failed:
        console.print(f"[bold red]bench: FAILED: {line}[/]")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
