"""What a person sees after a run ends, or asks to see: every table and report (rich)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from provisioner.deploy.fingerprint import HostPrint, LiveDifference
from provisioner.ledger.records import RunDetail, RunSummary
from provisioner.run.changes import Change
from provisioner.run.request import RunResult
from provisioner.run.status import Status
from provisioner.source.parity import Difference

SHA256_HEX = 64  # length of a file hash in a fingerprint


def summary_table(result: RunResult) -> Table:
    table = Table(title=f"{result.env}: {result.status} in {result.seconds:.1f}s")
    for column in ("host", "ok", "changed", "failed", "unreachable", "skipped"):
        table.add_column(column, justify="left" if column == "host" else "right")
    for host, stats in result.hosts.items():
        style = "" if stats.succeeded else "red"
        table.add_row(
            host,
            str(stats.ok),
            str(stats.changed),
            str(stats.failed),
            str(stats.unreachable),
            str(stats.skipped),
            style=style,
        )
    return table


def diff_table(envs: list[str], differences: list[Difference]) -> Table:
    table = Table(title=f"{envs[0]} vs {envs[1]}")
    table.add_column("group")
    table.add_column("variable")
    for env in envs:
        table.add_column(env)
    table.add_column("verdict")
    for diff in differences:
        cells = []
        for env in envs:
            value = diff.values[env]
            cells.append(
                Text("(unset)", style="dim")
                if value is None
                else Text.assemble(repr(value.value), ("\n" + value.origin, "dim"))
            )
        verdict = (
            Text("allowed", style="green")
            if diff.allowed
            else Text(f"NOT ALLOWED: {diff.reason}", style="bold red")
        )
        table.add_row(diff.group, diff.name, *cells, verdict)
    return table


def print_changes(console: Console, changes: list[Change]) -> None:
    """Every changed task, grouped by host, with its diff."""
    for host in sorted({c.host for c in changes}):
        console.rule(Text(host, style="bold"))
        for change in (c for c in changes if c.host == host):
            console.print(Text(f"~ {change.task}", style="yellow"))
            if change.diff:
                console.print(Text(change.diff.rstrip("\n"), style="dim"))


def fingerprint_table(env: str, prints: dict[str, HostPrint]) -> Table:
    hosts = list(prints)
    table = Table(title=f"{env}: what the roles manage, as found on the hosts")
    table.add_column("kind")
    table.add_column("name")
    for host in hosts:
        table.add_column(host)
    keys = sorted({key for p in prints.values() for key in p.items()})
    for kind, name in keys:
        cells = [_short(prints[h].items().get((kind, name), "-")) for h in hosts]
        table.add_row(kind, name, *cells)
    return table


def live_diff_table(envs: list[str], differences: list[LiveDifference]) -> Table:
    table = Table(title=f"{envs[0]} vs {envs[1]}, live")
    for column in ("group", "kind", "name", *envs, "verdict"):
        table.add_column(column)
    for diff in differences:
        cells = [", ".join(_short(v) for v in diff.values[env]) for env in envs]
        verdict = (
            Text(f"explained: {diff.reason}", style="green")
            if diff.explained
            else Text(f"UNEXPLAINED: {diff.reason}", style="bold red")
        )
        table.add_row(diff.group, diff.kind, diff.name, *cells, verdict)
    return table


def _short(value: object) -> str:
    """Hashes are long; twelve characters tell them apart."""
    text = "absent" if value is None else str(value)
    return text[:12] if len(text) == SHA256_HEX else text


def gate_table(env: str, gate: dict[str, Any]) -> Table:
    """A post-deploy gate's checks (as recorded in the ledger) and its load-test figures."""
    verdict = "passed" if gate.get("passed") else "failed"
    table = Table(title=f"{env}: post-deploy gate {verdict}")
    for column in ("check", "result", "detail"):
        table.add_column(column)
    marks = {True: ("pass", "green"), False: ("FAIL", "bold red"), None: ("-", "dim")}
    for check in gate.get("checks", []):
        word, style = marks[check.get("passed")]
        table.add_row(str(check.get("name")), Text(word, style=style), str(check.get("detail")))
    return table


def history_table(runs: list[RunSummary]) -> Table:
    table = Table(title="runs, newest first")
    for column in ("run", "kind", "env", "status", "who", "started (UTC)", "commit"):
        table.add_column(column)
    styles: dict[str, str] = {
        Status.SUCCESSFUL: "green",
        Status.FAILED: "red",
        Status.REFUSED: "red",
        Status.CANCELED: "yellow",
        Status.ROLLED_BACK: "yellow",
        Status.GATE_FAILED: "red",
    }
    for run in runs:
        table.add_row(
            run.run_id,
            run.kind,
            run.env,
            Text(run.status, style=styles.get(run.status, "")),
            run.identity,
            run.started_at[:19].replace("T", " "),
            (run.commit or "")[:12],
        )
    return table


def run_detail(detail: RunDetail) -> Group:
    run = detail.summary
    head = Table.grid(padding=(0, 2))
    for label, value in (
        ("run", run.run_id),
        ("kind", run.kind),
        ("environment", run.env),
        ("status", run.status),
        ("who", run.identity),
        ("command", run.command),
        ("commit", run.commit or ""),
        ("started", run.started_at),
        ("finished", run.finished_at or "-"),
    ):
        head.add_row(Text(label, style="bold"), value)
    parts: list[Any] = [head]
    stats = detail.host_stats
    if stats:
        table = Table(title="hosts")
        for column in ("host", "ok", "changed", "failed", "unreachable", "skipped"):
            table.add_column(column)
        for host, counts in sorted(stats.items()):
            table.add_row(
                host,
                *(
                    str(counts.get(k, 0))
                    for k in ("ok", "changed", "failed", "unreachable", "skipped")
                ),
            )
        parts.append(table)
    for entry in detail.entries:
        if entry.kind == "gate":
            parts.append(gate_table(run.env, entry.payload))
            if entry.payload.get("load"):
                load = entry.payload["load"]
                figures = ", ".join(
                    f"{key} {load[key]}"
                    for key in ("requests", "failures", "error_rate", "p95_ms", "median_ms", "rps")
                    if key in load
                )
                parts.append(Text(f"load figures: {figures}", style="cyan"))
        elif entry.kind not in {"run-started", "run-finished"}:
            parts.append(
                Text(f"{entry.kind} (entry {entry.id}): {json.dumps(entry.payload)}", style="cyan")
            )
    finished = detail.finished
    if finished and finished.payload.get("extra"):
        parts.append(Text(f"notes: {json.dumps(finished.payload['extra'])}", style="dim"))
    for change in detail.changes:
        parts.append(Text(f"~ {change['host']}: {change['task']}", style="yellow"))
        if change.get("diff"):
            parts.append(Text(str(change["diff"]).rstrip("\n"), style="dim"))
    return Group(*parts)
