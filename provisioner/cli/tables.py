"""What a person sees after a run ends, or asks to see: every table and report (rich)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from provisioner.deploy.observer import escaped, printable
from provisioner.incremental.record import HOST_STATE
from provisioner.ledger.records import RunDetail, RunSummary
from provisioner.live.compare import LiveDifference
from provisioner.live.hostprint import HostPrint
from provisioner.report.commits import CodeChanges
from provisioner.run.changes import Change
from provisioner.run.request import RunResult
from provisioner.run.status import Status
from provisioner.source.parity import Difference

STEPPED = "load_plan"  # a gate entry's stepped load test (provisioner.deploy.stepgate.RECORD)
DIFF_LINES = 60  # of one difference, in the terminal (all of it in --json)
DIFF_LINES_ALLOWED = 0  # an allowed difference is one line: what and why


def summary_table(result: RunResult) -> Table:
    table = Table(title=f"{result.env}: {result.status} in {result.seconds:.1f}s")
    for column in ("host", "ok", "changed", "failed", "unreachable", "skipped"):
        table.add_column(column, justify="left" if column == "host" else "right")
    for host, stats in result.hosts.items():
        style = "" if stats.succeeded else "red"
        table.add_row(
            escaped(host),
            str(stats.ok),
            str(stats.changed),
            str(stats.failed),
            str(stats.unreachable),
            str(stats.skipped),
            style=style,
        )
    for host in result.skipped:  # the incremental apply did not run them
        table.add_row(f"{escaped(host)} (unchanged, skipped)", *["-"] * 5, style="dim")
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
            else Text(f"NOT ALLOWED: {printable(diff.reason)}", style="bold red")
        )
        table.add_row(diff.group, diff.name, *cells, verdict)
    return table


def print_changes(console: Console, changes: list[Change]) -> None:
    """Every changed task, grouped by host, with its diff."""
    for host in sorted({c.host for c in changes}):
        console.rule(Text(host, style="bold"))
        for change in (c for c in changes if c.host == host):
            console.print(Text(printable(f"~ {change.task}"), style="yellow"))
            if change.diff:
                console.print(Text(printable(change.diff.rstrip("\n"), lines=True), style="dim"))


def fingerprint_table(env: str, prints: dict[str, HostPrint]) -> Table:
    """How much each host's fingerprint holds, kind by kind (--json prints all of it)."""
    hosts = list(prints)
    table = Table(title=f"{env}: the hosts as read (entries per kind; --json for every value)")
    table.add_column("kind")
    for host in hosts:
        table.add_column(host, justify="right")
    for kind in sorted({kind for printed in prints.values() for kind in printed}):
        table.add_row(escaped(kind), *(str(len(prints[h].get(kind, {}))) for h in hosts))
    system = sorted({name for printed in prints.values() for name in printed.get("system", {})})
    for name in system:
        table.add_row(
            Text(printable(f"system {name}"), style="dim"),
            *(escaped(prints[h].get("system", {}).get(name, "-")) for h in hosts),
        )
    return table


def live_report(console: Console, differences: list[LiveDifference]) -> None:
    """Unexplained differences first, each with its hosts and its line diff; then the allowed."""
    for diff in sorted(differences, key=lambda d: d.allowed):
        where = f"on {', '.join(diff.hosts)} (reference: {', '.join(diff.reference) or '-'})"
        head = Text.assemble(
            (
                "allowed " if diff.allowed else "UNEXPLAINED ",
                "green" if diff.allowed else "bold red",
            ),
            printable(f"{diff.group} {diff.kind} {diff.name} {where}: {diff.reason}"),
        )
        console.print(head)
        shown = diff.diff if not diff.allowed else diff.diff[:DIFF_LINES_ALLOWED]
        for line in shown[:DIFF_LINES]:
            style = "red" if line.startswith("-") else "green" if line.startswith("+") else "dim"
            console.print(Text("    " + printable(line), style=style))
        if len(shown) > DIFF_LINES:
            console.print(
                Text(f"    ... {len(shown) - DIFF_LINES} more lines (--json)", style="dim")
            )


def gate_table(env: str, gate: dict[str, Any]) -> Table:
    """A post-deploy gate's checks (as recorded in the ledger) and its load-test figures."""
    verdict = "passed" if gate.get("passed") else "failed"
    table = Table(title=f"{env}: post-deploy gate {verdict}")
    for column in ("check", "result", "detail"):
        table.add_column(column)
    marks = {True: ("pass", "green"), False: ("FAIL", "bold red"), None: ("-", "dim")}
    for check in gate.get("checks", []):
        word, style = marks[check.get("passed")]
        table.add_row(
            escaped(check.get("name")), Text(word, style=style), escaped(check.get("detail"))
        )
    return table


def _percent(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.0f}%"


def step_table(env: str, record: dict[str, Any]) -> Table:
    """A stepped load test's steps (stepgate's ledger record): what was offered, what latency and
    errors it met, each app and db host's CPU, each db host's connections / max_connections,
    waiting locks and transactions/s, and the last good release's median for the same step.
    A step above 100% of the target probes the limit: its misses do not fail the gate."""
    steps = record.get("steps") or []
    hosts = sorted({host for step in steps for host in step.get("hosts", {})})
    db_hosts = [h for h in hosts if any("db_max" in s.get("hosts", {}).get(h, {}) for s in steps)]
    table = Table(title=f"{env}: load steps ({record.get('step_duration')}s each)")
    for column in ("step", "offered/s", "done/s", "p50 ms", "p95 ms", "errors"):
        table.add_column(column, justify="right")
    for host in hosts:
        table.add_column(f"{escaped(host)} CPU", justify="right")
    for host in db_hosts:
        table.add_column(f"{escaped(host)} conns", justify="right")
        table.add_column("locks", justify="right")
        table.add_column("tx/s", justify="right")
    table.add_column("vs last good")
    table.add_column("verdict")
    for step in steps:
        figures = step.get("hosts", {})
        compared = step.get("compared")
        versus = (
            f"{compared['p50_ms']:g} ms ({compared['slower']:+.0%}, p={compared['p']:.2g})"
            if isinstance(compared, dict)
            else "-"
        )
        problems = list(step.get("problems", []))
        if step.get("regression"):
            problems.append(f"latency regressed: {step['regression']}")
        if not problems:
            verdict = Text("ok", style="green")
        else:
            style = "bold red" if step.get("gated") else "yellow"
            verdict = Text(printable("; ".join(problems)), style=style)
        db_cells = []
        for host in db_hosts:
            got = figures.get(host, {})
            conns = (
                f"{got['db_total']}/{got['db_max']} ({_percent(got.get('db_share'))})"
                if "db_total" in got
                else "-"
            )
            tps = got.get("tps")
            db_cells += [
                conns,
                str(got.get("waiting_locks", "-")),
                "-" if tps is None else f"{tps:.0f}",
            ]
        table.add_row(
            f"{step.get('step')} ({float(step.get('share', 0)):.0%})",
            f"{float(step.get('offered', 0)):.4g}",
            f"{float(step.get('achieved', 0)):.4g}",
            f"{float(step.get('p50_ms', 0)):g}",
            f"{float(step.get('p95_ms', 0)):g}",
            f"{float(step.get('error_rate', 0)):.2%}",
            *(_percent(figures.get(host, {}).get("cpu")) for host in hosts),
            *db_cells,
            escaped(versus),
            verdict,
        )
    return table


def stepped_parts(env: str, record: dict[str, Any]) -> list[Any]:
    """The step table, then what it means: the sustainable rate and the peak environment's
    implied capacity, what it was compared with, the test's tickets, and the chart's path."""
    parts: list[Any] = [step_table(env, record)]
    capacity = record.get("capacity") or {}
    if capacity:
        line = (
            f"sustainable: {capacity.get('sustained'):g}/s on {capacity.get('env')}, implying "
            f"{float(capacity.get('implied', 0)):.4g}/s for {capacity.get('peak_env')} "
            f"(its peak x headroom: {float(capacity.get('needed', 0)):.4g}/s"
            + (
                f", short by {float(capacity['short_by']):.4g}/s)"
                if capacity.get("short_by")
                else ")"
            )
        )
        parts.append(Text(printable(line), style="cyan"))
    baseline = record.get("baseline_run")
    parts.append(
        Text(
            printable(
                f"compared with the last passed gate, run {baseline}"
                if baseline
                else "no baseline (no earlier passed gate with steps): thresholds alone"
            ),
            style="cyan",
        )
    )
    if record.get("cleanup"):
        parts.append(Text(printable(f"tickets: {record['cleanup']}"), style="cyan"))
    if record.get("chart"):
        parts.append(Text(printable(f"chart: {record['chart']}"), style="cyan"))
    elif record.get("chart_error"):
        parts.append(Text(printable(str(record["chart_error"])), style="yellow"))
    return parts


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
        table.add_row(  # every cell is the ledger's: shown, never read as markup
            escaped(run.run_id),
            escaped(run.kind),
            escaped(run.env),
            Text(printable(run.status), style=styles.get(run.status, "")),
            escaped(run.identity),
            escaped(run.started_at[:19].replace("T", " ")),
            escaped((run.commit or "")[:12]),
        )
    return table


def _gate_parts(env: str, payload: dict[str, Any]) -> list[Any]:
    """A gate entry in `show`: its checks, then the load test's figures or steps."""
    parts: list[Any] = [gate_table(env, payload)]
    if payload.get("load"):
        load = payload["load"]
        figures = ", ".join(
            f"{key} {load[key]}"
            for key in ("requests", "failures", "error_rate", "p95_ms", "median_ms", "rps")
            if key in load
        )
        parts.append(Text(printable(f"load figures: {figures}"), style="cyan"))
    if isinstance(payload.get(STEPPED), dict):
        parts += stepped_parts(env, payload[STEPPED])
    return parts


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
        head.add_row(Text(label, style="bold"), escaped(value))
    parts: list[Any] = [head]
    stats = detail.host_stats
    if stats:
        table = Table(title="hosts")
        for column in ("host", "ok", "changed", "failed", "unreachable", "skipped"):
            table.add_column(column)
        for host, counts in sorted(stats.items()):
            table.add_row(
                escaped(host),
                *(
                    str(counts.get(k, 0))
                    for k in ("ok", "changed", "failed", "unreachable", "skipped")
                ),
            )
        parts.append(table)
    for entry in detail.entries:
        if entry.kind == "gate":
            parts += _gate_parts(run.env, entry.payload)
        elif entry.kind == HOST_STATE:  # digests and manifests: what matters is whom it holds
            held = sorted(entry.payload.get("hosts") or {})
            parts.append(
                Text(
                    printable(
                        f"{entry.kind} (entry {entry.id}): the incremental apply's record of "
                        f"{len(held)} host(s): {', '.join(held)}"
                    ),
                    style="cyan",
                )
            )
        elif entry.kind not in {"run-started", "run-finished"}:
            parts.append(
                Text(
                    printable(f"{entry.kind} (entry {entry.id}): {json.dumps(entry.payload)}"),
                    style="cyan",
                )
            )
    finished = detail.finished
    if finished and finished.payload.get("extra"):
        parts.append(
            Text(printable(f"notes: {json.dumps(finished.payload['extra'])}"), style="dim")
        )
    for change in detail.changes:
        parts.append(Text(printable(f"~ {change['host']}: {change['task']}"), style="yellow"))
        if change.get("diff"):
            diff = printable(str(change["diff"]).rstrip("\n"), lines=True)
            parts.append(Text(diff, style="dim"))
    return Group(*parts)


def code_changes(changes: CodeChanges) -> Group:
    """The commits between the previous successful apply's bundle and this run's, with the files
    they touched under roles/, playbooks/, group_vars/ and environments.yml (as the report)."""
    since = (changes.since or "")[:12] or "(no earlier apply)"
    run = f" (run {changes.since_run})" if changes.since_run else ""
    head = Text.assemble(
        ("code changes since the previous apply: ", "bold"),
        f"{since}{run} -> {(changes.until or '')[:12]}",
        (f": {changes.note}" if changes.note else "", "dim"),
    )
    parts: list[Any] = [head]
    for commit in changes.commits:
        parts.append(
            Text.assemble(
                (commit.sha[:12], "yellow"),
                f" {commit.date[:19].replace('T', ' ')} {commit.author}: {commit.message}",
            )
        )
        if commit.files:
            parts.append(Text("    " + ", ".join(commit.files), style="dim"))
    return Group(*parts)
