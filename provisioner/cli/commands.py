"""What each command does: glue between the parsed arguments, the library and the console. The
deploy commands (apply, plan, drift, gate, rollback, promote, verify) hand a typed request to
deploy/workflow.py, with the console as its observer (observer.py)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from provisioner import paths
from provisioner.cli import trusted
from provisioner.cli.observer import ConsoleObserver
from provisioner.cli.progress import LiveProgress
from provisioner.cli.tables import (
    code_changes,
    diff_table,
    fingerprint_table,
    live_report,
    run_detail,
    summary_table,
)
from provisioner.deploy import workflow
from provisioner.deploy.observer import escaped, printable
from provisioner.errors import EXIT_FAILED, EXIT_OK, InputError
from provisioner.hosts import execnodes, localhosts, pkgcache
from provisioner.ledger.ledger import open_ledger
from provisioner.live import compare, hostprint, record
from provisioner.report import build, commits, render, serve
from provisioner.source import hostkeys, inventory, parity, secrets
from provisioner.source.executor import parse_executor
from provisioner.source.model import LoadedSource, LocalProvider, load_source


def run(args: argparse.Namespace, console: Console) -> int:
    handler: Callable[[argparse.Namespace, Console], int] = HANDLERS[args.command]
    return handler(args, console)


def _say(console: Console) -> Callable[[str], None]:
    return ConsoleObserver(console).note


def _generate(loaded: LoadedSource, envs: list[str] | None, console: Console) -> None:
    """Regenerate the inventories of `envs` (None: all). A command about one environment
    writes only that one's: another environment's run may be reading its own right now (two
    people, or CI jobs, on one controller), and its inventory is part of what its plan approved."""
    inventory.generate(loaded, envs, _say(console))


def cmd_inventory(args: argparse.Namespace, console: Console) -> int:
    loaded = load_source(args.source)
    if args.check:
        problems = inventory.check(inventory.render_all(loaded, args.envs or None))
        for problem in problems:
            console.print(Text(printable(problem), style="red"))
        if problems:
            console.print("inventories are stale: run `python provision.py inventory`")
            return EXIT_FAILED
        console.print("inventories are current")
        return EXIT_OK
    _generate(loaded, args.envs or None, console)
    return EXIT_OK


def _request(args: argparse.Namespace) -> workflow.DeployRequest:
    """The workflow's request from a command's arguments (each command has only some)."""
    return workflow.DeployRequest(
        env=args.env,
        source=args.source,
        check=getattr(args, "check", False),
        limit=getattr(args, "limit", None),
        tags=getattr(args, "tags", None),
        full=getattr(args, "full", False),
        verbosity=getattr(args, "verbose", 0),
        executors=getattr(args, "executors", None),
        accept_live_differences=getattr(args, "accept_live_differences", None),
        key=getattr(args, "key", None),
    )


def cmd_apply(args: argparse.Namespace, console: Console) -> int:
    return workflow.apply(_request(args), ConsoleObserver(console))


def cmd_plan(args: argparse.Namespace, console: Console) -> int:
    return workflow.plan(_request(args), ConsoleObserver(console))


def cmd_drift(args: argparse.Namespace, console: Console) -> int:
    return workflow.drift(_request(args), ConsoleObserver(console))


def cmd_gate(args: argparse.Namespace, console: Console) -> int:
    return workflow.run_gate(_request(args), ConsoleObserver(console))


def cmd_rollback(args: argparse.Namespace, console: Console) -> int:
    return workflow.roll_back(_request(args), ConsoleObserver(console), to=args.to)


def cmd_quarantine(args: argparse.Namespace, console: Console) -> int:
    if args.lift and not args.reason:
        raise InputError("quarantine --lift needs --reason TEXT: why the bundle may go out again")
    if args.reason and not args.lift:
        raise InputError("quarantine --reason is the reason for --lift: add --lift")
    lift = args.reason if args.lift else None
    return workflow.quarantine_status(_request(args), ConsoleObserver(console), lift=lift)


def cmd_promote(args: argparse.Namespace, console: Console) -> int:
    return workflow.promote(_request(args), ConsoleObserver(console), source_env=args.source_env)


def cmd_verify(args: argparse.Namespace, console: Console) -> int:
    return workflow.run_verify(_request(args), ConsoleObserver(console), junit_xml=args.junit_xml)


def cmd_show(args: argparse.Namespace, console: Console) -> int:
    ledger = open_ledger()
    detail = ledger.show(args.run_id)
    console.print(run_detail(detail))
    if detail.summary.kind in ("apply", "plan"):
        console.print(code_changes(commits.since_previous_apply(ledger, detail.summary)))
    return EXIT_OK


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    if args.check:
        problems = render.check(args.out, load_source(args.source).source.environments)
        for problem in problems:  # one line each, never wrapped: CI logs are grepped
            console.print(Text(problem, style="red"), soft_wrap=True)
        if problems:
            return EXIT_FAILED
        console.print(f"report in {args.out} shows every environment", markup=False)
        return EXIT_OK
    index = build.generate(args.source, args.out)
    console.print(f"report written: {index}", markup=False)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, console: Console) -> int:
    try:
        serve.serve(
            args.source,
            args.out,
            args.port,
            lambda line: console.print(line, markup=False, soft_wrap=True),
        )
    except KeyboardInterrupt:  # how a person stops it: not an interruption of work
        console.print("stopped")
    return EXIT_OK


def _fingerprints(
    loaded: LoadedSource, env_name: str, console: Console
) -> dict[str, hostprint.HostPrint]:
    env = loaded.environment(env_name)
    vault = secrets.vault_for(env_name, env)
    with LiveProgress(console, env_name, len(env.hosts)) as live:
        return hostprint.collect(
            env_name, sorted(env.hosts), tuple(vault.cmdline()), on_event=live.on_event
        )


def cmd_fingerprint(args: argparse.Namespace, console: Console) -> int:
    loaded = load_source(args.source)
    loaded.environment(args.env)
    progress = Console(stderr=True, highlight=False) if args.json else console
    _generate(loaded, [args.env], progress)
    prints = _fingerprints(loaded, args.env, progress)
    if args.json:
        console.print_json(json.dumps(prints))
    else:
        console.print(fingerprint_table(args.env, prints))
    return EXIT_OK


def cmd_diff(args: argparse.Namespace, console: Console) -> int:
    loaded = load_source(args.source)
    if args.since_last_apply:
        if args.env_b is not None or args.live:
            raise InputError("diff ENV --since-last-apply takes one environment (and no --live)")
        loaded.environment(args.env_a)
        return _since_last_apply(args, loaded, console)
    if args.env_b is None:
        raise InputError("diff needs two environments: diff ENV_A ENV_B [--live]")
    envs = [args.env_a, args.env_b]
    for name in envs:
        loaded.environment(name)
    if args.live:
        return _live_diff(args, loaded, envs, console)
    found = parity.differences(loaded, envs)
    bad = sum(not d.allowed for d in found)
    return _report(
        console,
        args.json,
        envs=envs,
        found=found,
        table=diff_table(envs, found),
        summary=f"{len(found)} differences between {envs[0]} and {envs[1]}, "
        f"{bad} not allowed by the parity contract",
        bad=bad,
    )


def _live_diff(
    args: argparse.Namespace, loaded: LoadedSource, envs: list[str], console: Console
) -> int:
    # With --json, stdout carries the JSON alone: progress goes to stderr.
    progress = Console(stderr=True, highlight=False) if args.json else console
    _generate(loaded, envs, progress)
    readings = {env: _fingerprints(loaded, env, progress) for env in envs}
    found = compare.between(loaded, envs, readings)
    bad = sum(not d.allowed for d in found)
    return _live_report(
        console,
        args.json,
        head={"environments": envs},
        found=found,
        summary=f"{len(found)} live differences between {envs[0]} and {envs[1]}, {bad} unexplained",
        bad=bad,
    )


def _since_last_apply(args: argparse.Namespace, loaded: LoadedSource, console: Console) -> int:
    progress = Console(stderr=True, highlight=False) if args.json else console
    env = args.env_a
    run_id, then = record.last_kept(open_ledger(), env)
    _generate(loaded, [env], progress)
    found = compare.since(loaded, env, then, _fingerprints(loaded, env, progress))
    return _live_report(
        console,
        args.json,
        head={"environment": env, "since_run": run_id},
        found=found,
        summary=f"{len(found)} changes on {env}'s hosts since run {run_id} (its last gated apply)",
        bad=len(found),
    )


def _live_report(
    console: Console,
    as_json: bool,
    *,
    head: dict[str, Any],
    found: list[compare.LiveDifference],
    summary: str,
    bad: int,
) -> int:
    if as_json:
        console.print_json(json.dumps({**head, "differences": [d.as_dict() for d in found]}))
    else:
        live_report(console, found)
        console.print(printable(summary), markup=False)
    return EXIT_FAILED if bad else EXIT_OK


def _report(
    console: Console,
    as_json: bool,
    *,
    envs: list[str],
    found: Sequence[parity.Difference],
    table: Table,
    summary: str,
    bad: int,
) -> int:
    """A diff's result as JSON or as a table with a summary line; exit 1 if any is bad."""
    if as_json:
        body = {"environments": envs, "differences": [d.as_dict() for d in found]}
        console.print_json(json.dumps(body))
    else:
        console.print(table)
        console.print(summary)
    return EXIT_FAILED if bad else EXIT_OK


def cmd_trust(args: argparse.Namespace, console: Console) -> int:
    loaded = load_source(args.source)
    env = loaded.environment(args.env)
    _generate(loaded, [args.env], console)
    for line in hostkeys.scan(args.env, env):
        console.print(Text(printable(line)))  # "[host]:port" is no markup tag
    console.print(
        f"recorded in known_hosts/{args.env}: compare these fingerprints with the servers' "
        "before you commit it"
    )
    return EXIT_OK


def cmd_up(args: argparse.Namespace, console: Console) -> int:
    loaded = load_source(args.source)
    env = loaded.environment(args.env)
    _generate(loaded, [args.env], console)
    localhosts.up(args.env, env, _say(console))
    console.print(f"{args.env}: {len(env.hosts)} local hosts up")
    return EXIT_OK


def cmd_down(args: argparse.Namespace, console: Console) -> int:
    loaded = load_source(args.source)
    env = loaded.environment(args.env)
    if not isinstance(env.provider, LocalProvider):
        console.print(f"{args.env} runs on real servers: nothing local to remove")
        return EXIT_OK
    localhosts.down(args.env, _say(console))
    console.print(f"{args.env}: local hosts removed")
    return EXIT_OK


def cmd_cache(args: argparse.Namespace, console: Console) -> int:
    """The package cache for local hosts, started if need be (molecule's dependency step runs
    this), with what it holds and has served."""
    if not pkgcache.ensure(_say(console)):
        return EXIT_OK if args.optional else EXIT_FAILED
    used = pkgcache.usage()
    mib = 1 << 20
    console.print(
        f"package cache: {pkgcache.URL}, files in {paths.display(pkgcache.directory())} "
        f"({pkgcache.size_on_disk() / mib:.0f} MiB); {used.from_mirror / mib:.0f} MiB fetched "
        f"from the mirror, {used.to_hosts / mib:.0f} MiB served to {used.hosts} hosts"
    )
    return EXIT_OK


def cmd_image(args: argparse.Namespace, console: Console) -> int:
    """Both local images: the hosts' (Debian 12) and the execution nodes' (Debian 13)."""
    images = [localhosts.HOST_IMAGE, execnodes.EXEC_IMAGE]
    for tag in localhosts.ensure_images(images, _say(console)):  # built side by side
        console.print(tag)
    return EXIT_OK


def cmd_executors(args: argparse.Namespace, console: Console) -> int:
    """Local execution nodes for ENV, or --setup of real hosts as execution nodes."""
    say = _say(console)
    if args.setup:
        if args.env or args.count is not None:
            raise InputError("executors: give a local ENV [--count N], or --setup URL..., not both")
        nodes = [parse_executor(url) for url in args.setup]
        new = execnodes.record_host_keys(nodes, replace=False)
        for line in execnodes.fingerprints(new):
            console.print(Text(printable(line)))  # "[host]:port" is no markup tag
        if new:
            console.print(
                f"recorded in {paths.display(execnodes.KNOWN_HOSTS)}: compare these fingerprints "
                "with the servers'"
            )
    else:
        if not args.env:
            raise InputError("executors: name a local ENV, or --setup ssh://[user@]host[:port]")
        env = load_source(args.source).environment(args.env)
        if not isinstance(env.provider, LocalProvider):
            raise InputError(
                f"{args.env} runs on real servers: give execution nodes with --setup URL..."
            )
        nodes = execnodes.up(args.env, env, 2 if args.count is None else args.count, say)
    request = execnodes.SetupRequest(
        nodes, local=not args.setup, install_from="index" if args.index else "wheelhouse"
    )
    result = execnodes.setup(request, say)
    console.print(summary_table(result))
    for failure in result.failures:
        console.print(
            f"[red]{escaped(failure.host)}: {escaped(failure.task)}: {escaped(failure.message)}[/]"
        )
    if not result.succeeded:
        console.print(
            f"[red]executors: {result.status}[/]; artifacts in {escaped(result.artifacts)}"
        )
        return EXIT_FAILED
    console.print(f"{result.changed} tasks changed; execution nodes:")
    for node in nodes:
        console.print(node.url)
    return EXIT_OK


HANDLERS: dict[str, Callable[[argparse.Namespace, Console], int]] = {
    "apply": cmd_apply,
    "inventory": cmd_inventory,
    "verify": cmd_verify,
    "diff": cmd_diff,
    "drift": cmd_drift,
    "plan": cmd_plan,
    "gate": cmd_gate,
    "rollback": cmd_rollback,
    "promote": cmd_promote,
    "quarantine": cmd_quarantine,
    "approve": trusted.cmd_approve,
    "history": trusted.cmd_history,
    "show": cmd_show,
    "fingerprint": cmd_fingerprint,
    "trust": cmd_trust,
    "up": cmd_up,
    "down": cmd_down,
    "image": cmd_image,
    "cache": cmd_cache,
    "executors": cmd_executors,
    "report": cmd_report,
    "serve": cmd_serve,
}
