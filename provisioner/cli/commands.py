"""What each command does: glue between the parsed arguments, the library and the console."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from provisioner import paths
from provisioner.cli.progress import LiveProgress
from provisioner.cli.tables import (
    diff_table,
    fingerprint_table,
    gate_table,
    history_table,
    live_diff_table,
    print_changes,
    run_detail,
    summary_table,
)
from provisioner.deploy import approval, fingerprint, gate, promotion, releases, tasks, verify
from provisioner.errors import (
    EXIT_DRIFT,
    EXIT_FAILED,
    EXIT_GATE,
    EXIT_OK,
    EXIT_PREFLIGHT,
    InputError,
)
from provisioner.hosts import execnodes, localhosts, pkgcache
from provisioner.ledger.identity import current_identity
from provisioner.ledger.ledger import Ledger, open_ledger
from provisioner.ledger.recording import Recorded
from provisioner.run import remote, strategy
from provisioner.run.request import Payload, RunRequest, RunResult
from provisioner.run.runner import run_playbook
from provisioner.run.slicing import slices
from provisioner.run.status import Status
from provisioner.source import hostkeys, inventory, parity, secrets
from provisioner.source.bundle import Bundle
from provisioner.source.bundle import current as bundle_of
from provisioner.source.executor import Executor, parse_executor
from provisioner.source.model import Environment, LoadedSource, LocalProvider, load_source

LOCAL = "local"  # --executor local: run here even when the source names executors
RELEASE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def run(args: argparse.Namespace, console: Console) -> int:
    handler: Callable[[argparse.Namespace, Console], int] = HANDLERS[args.command]
    return handler(args, console)


def _say(console: Console) -> Callable[[str], None]:
    return lambda line: console.print(Text(f"• {line}", style="dim"))


def _generate(loaded: LoadedSource, envs: list[str] | None, console: Console) -> None:
    generated = inventory.render_all(loaded, envs)
    for path in inventory.write(generated):
        console.print(Text(f"• wrote {paths.display(path)}", style="dim"))


def cmd_inventory(args: argparse.Namespace, console: Console) -> int:
    loaded = load_source(args.source)
    if args.check:
        problems = inventory.check(inventory.render_all(loaded, args.envs or None))
        for problem in problems:
            console.print(Text(problem, style="red"))
        if problems:
            console.print("inventories are stale: run `python provision.py inventory`")
            return EXIT_FAILED
        console.print("inventories are current")
        return EXIT_OK
    _generate(loaded, args.envs or None, console)
    return EXIT_OK


@dataclass
class Context:
    """What every run needs, prepared before anything changes (so bad input or an unreachable
    ledger stops us with the hosts untouched)."""

    loaded: LoadedSource
    env: Environment
    ledger: Ledger
    vault: secrets.Vault
    bundle: Bundle
    promotable: dict[str, str]  # what promotion compares: commit, roles hash, app release

    def recorded(self, kind: str, env: str, *, lock: bool) -> Recorded:
        return Recorded(
            self.ledger, kind, env, self.bundle, lock=lock, extra={"promotable": self.promotable}
        )


def _prepare(args: argparse.Namespace, console: Console) -> Context:
    loaded = load_source(args.source)
    env = loaded.environment(args.env)
    _generate(loaded, None, console)
    hostkeys.require(args.env, env)
    ledger = open_ledger()
    vault = secrets.vault_for(args.env, env)
    ledger.add_secrets(secrets.values(vault))
    bundle = bundle_of(args.env)
    app = parity.Layers(loaded).effective(args.env, "app") if "app" in loaded.source.groups else {}
    release = app["app_release"].value if "app_release" in app else ""
    return Context(loaded, env, ledger, vault, bundle, promotion.promotable(bundle, str(release)))


def _run_site(
    args: argparse.Namespace,
    console: Console,
    ctx: Context,
    run: Recorded,
    *,
    check: bool,
    start_hosts: bool,
) -> RunResult:
    """(Start local hosts,) run site.yml with live progress and print the summary. The caller
    records the outcome (run.finish), after whatever it does next."""
    if start_hosts and isinstance(ctx.env.provider, LocalProvider):
        localhosts.up(args.env, ctx.env, _say(console))
    limit = getattr(args, "limit", None)
    executors = _executors(args, ctx.env)
    request = RunRequest(
        env=args.env,
        limit=limit,
        tags=getattr(args, "tags", None),
        check=check,
        verbosity=getattr(args, "verbose", 0),
        hosts=len(ctx.env.hosts),
        vault_args=tuple(ctx.vault.cmdline()),
        executors=tuple(executors),
        slices=_slices(ctx.env, len(executors), limit),
        payload=remote.payload(args.env, ctx.env, ctx.vault) if executors else Payload(),
    )
    where = ", ".join(e.url for e in executors) if executors else "this machine"
    console.print(
        Text(f"• strategy {strategy.name()}, {request.hosts} hosts, on {where}", style="dim")
    )
    with LiveProgress(console, args.env, len(ctx.env.hosts), verbose=request.verbosity > 0) as live:
        result = run_playbook(request, on_event=live.on_event, cancel=run.cancel_requested)
    console.print(summary_table(result))
    result.write_summary(paths.state_dir("runs", args.env) / "last-run.json")
    return result


def _executors(args: argparse.Namespace, env: Environment) -> list[Executor]:
    """Where Ansible runs: --executor/--executors, else the source's `executor`, else here."""
    given = getattr(args, "executors", None)
    if given == LOCAL:
        return []
    if given:
        return [parse_executor(url) for url in given.split(",") if url.strip()]
    return env.executors()


def _slices(env: Environment, count: int, limit: str | None) -> tuple[tuple[str, ...], ...]:
    """One slice of hosts per executor when there are several; none (every host) otherwise."""
    if count < 2:  # noqa: PLR2004 - one node runs the whole environment
        return ()
    if limit:
        raise InputError("--limit cannot be combined with several executors (they split by host)")
    groups = {g for host in env.hosts.values() for g in host.groups}
    parts = slices({g: env.hosts_in(g) for g in groups}, count)
    return tuple(tuple(part) for part in parts)


def _ended(console: Console, env: str, run: Recorded, result: RunResult, verb: str) -> int:
    if run.cancel_requested():
        console.print(
            f"[red]{env}: canceled[/] (run {run.run_id}); {result.changed} tasks had {verb}"
        )
        return run.exit_code
    if result.succeeded:
        console.print(f"[green]{env}: ok[/], {result.changed} tasks {verb} (run {run.run_id})")
        return EXIT_OK
    short = [f for f in result.failures if f.task == tasks.PREFLIGHT.name and f.message]
    if short:
        for failure in short:
            console.print(f"[red]{failure.message}[/]")
        console.print(
            f"[red]{env}: refused by the pre-flight check[/] (run {run.run_id}); nothing was "
            "changed. The minimums are the environment's `capacity` in the source of truth."
        )
        return EXIT_PREFLIGHT
    console.print(
        f"[red]{env}: {result.status}[/] (run {run.run_id}); artifacts in {result.artifacts}"
    )
    return EXIT_FAILED


def cmd_apply(args: argparse.Namespace, console: Console) -> int:
    ctx = _prepare(args, console)
    if args.check:
        with ctx.recorded("check", args.env, lock=False) as run:
            result = _run_site(args, console, ctx, run, check=True, start_hosts=True)
            run.finish(result)
        print_changes(console, result.changes)
        return _ended(console, args.env, run, result, "would change")
    with ctx.recorded("apply", args.env, lock=True) as run:
        _promotion_gate(args.env, ctx, console)
        granted = None
        if ctx.env.approval_required:
            granted = _approval_gate(args.env, ctx, run.identity)
            run.plan_id = granted.plan_id
            console.print(f"• plan {granted.plan_id}, approved by {granted.approver}")
        result = _run_site(args, console, ctx, run, check=False, start_hosts=True)
        if granted is not None and result.succeeded:
            run.attach(approval.PLAN_APPLIED, {"plan_id": granted.plan_id})
        code = _ended(console, args.env, run, result, "changed")
        if run.cancel_requested() or code == EXIT_PREFLIGHT:
            run.finish(result)
            return code
        if args.tags:  # only some roles ran: the environment is not the whole stack to gate
            console.print(
                f"• --tags: no post-deploy gate (run it with: provision.py gate {args.env})"
            )
            run.finish(result)
            return code
        code, status = _after_deploy(args.env, console, ctx, run, result)
        run.finish(result, status=status)
    return code


def _after_deploy(
    env_name: str, console: Console, ctx: Context, run: Recorded, result: RunResult
) -> tuple[int, str | None]:
    """The post-deploy gate after an apply that changed something; a rollback of the hosts whose
    release this run switched when the gate or the apply failed. Returns the exit code and the
    run's status (None: as the playbook ended)."""
    switched = releases.switched_hosts(result.changes)
    if not result.succeeded:
        if switched:
            done = _roll_back(
                env_name, console, ctx, run, hosts=switched, reason="the apply failed"
            )
            return EXIT_FAILED, Status.ROLLED_BACK if done.result.succeeded else None
        return EXIT_FAILED, None
    if result.changed == 0:
        console.print(
            f"• nothing changed, so no post-deploy gate (run it with: provision.py gate {env_name})"
        )
        return EXIT_OK, None
    verdict = _run_gate(env_name, console, ctx, run, bundle=ctx.promotable, expected={})
    if verdict.passed:
        return EXIT_OK, None
    return EXIT_GATE, _gate_failed(
        env_name, console, ctx, run, switched=switched, reason=verdict.reason
    )


def _gate_failed(
    env_name: str,
    console: Console,
    ctx: Context,
    run: Recorded,
    *,
    switched: list[str],
    reason: str,
) -> str:
    """Roll back the hosts whose release this run switched; returns the run's status."""
    if not switched:
        console.print(
            f"[red]{env_name}: gate failed[/] (run {run.run_id}); this run did not switch the "
            "release, so there is nothing to roll back to"
        )
        return Status.GATE_FAILED
    done = _roll_back(
        env_name, console, ctx, run, hosts=switched, reason=f"the gate failed: {reason}"
    )
    if done.result.succeeded:
        console.print(f"[red]{env_name}: gate failed, release rolled back[/] (run {run.run_id})")
        return Status.ROLLED_BACK
    console.print(
        f"[red]{env_name}: gate failed, and the rollback failed too[/] (run {run.run_id})"
    )
    return Status.GATE_FAILED


def _run_gate(
    env_name: str,
    console: Console,
    ctx: Context,
    run: Recorded,
    *,
    bundle: dict[str, Any] | None,
    expected: dict[str, str],
) -> gate.GateResult:
    console.print(f"• post-deploy gate on {env_name}")
    out_dir = paths.state_dir("runs", env_name, "gate")
    with LiveProgress(console, env_name, len(ctx.env.hosts)) as live:
        verdict = gate.run(
            env_name,
            ctx.env,
            vault_args=tuple(ctx.vault.cmdline()),
            out_dir=out_dir,
            expected_releases=expected,
            on_event=live.on_event,
        )
    run.attach(gate.GATE, {**verdict.as_dict(), "bundle": bundle})
    console.print(gate_table(env_name, verdict.as_dict()))
    return verdict


def _roll_back(
    env_name: str,
    console: Console,
    ctx: Context,
    run: Recorded,
    *,
    hosts: list[str] | None,
    reason: str,
    to: str | None = None,
) -> releases.RolledBack:
    console.print(f"[yellow]• rolling back {', '.join(hosts or ['every app host'])}: {reason}[/]")
    with LiveProgress(console, env_name, len(hosts or ctx.env.hosts_in("app"))) as live:
        done = releases.roll_back(
            env_name,
            vault_args=tuple(ctx.vault.cmdline()),
            hosts=hosts,
            to=to,
            on_event=live.on_event,
            cancel=run.cancel_requested,
        )
    run.attach(releases.ROLLBACK, {"reason": reason, **done.as_dict()})
    now = ", ".join(f"{host} {release}" for host, release in done.releases.items())
    if done.result.succeeded:
        console.print(f"[yellow]• rolled back, healthy again: {now}[/]")
    else:
        console.print(f"[red]• the rollback failed ({done.result.status}): {now or 'no host'}[/]")
    return done


def cmd_gate(args: argparse.Namespace, console: Console) -> int:
    """The post-deploy gate by hand, on whatever the hosts run now."""
    ctx = _prepare(args, console)
    now = releases.deployed(ctx.ledger, args.env)
    with ctx.recorded("gate", args.env, lock=True) as run:
        verdict = _run_gate(args.env, console, ctx, run, bundle=now.bundle, expected=now.releases)
        run.finish_plain(
            Status.SUCCESSFUL if verdict.passed else Status.FAILED, {"reason": verdict.reason}
        )
    if now.bundle is None:
        console.print(f"• not a promotion source: {now.reason}")
    if verdict.passed:
        console.print(f"[green]{args.env}: gate passed[/] (run {run.run_id})")
        return EXIT_OK
    console.print(f"[red]{args.env}: gate failed[/] (run {run.run_id}): {verdict.reason}")
    return EXIT_GATE


def cmd_rollback(args: argparse.Namespace, console: Console) -> int:
    if args.to is not None and not RELEASE_NAME.fullmatch(args.to):
        raise InputError(f"--to {args.to!r}: a release name is letters, digits, '.', '_' or '-'")
    ctx = _prepare(args, console)
    with ctx.recorded(releases.ROLLBACK, args.env, lock=True) as run:
        done = _roll_back(args.env, console, ctx, run, hosts=None, reason="by hand", to=args.to)
        run.finish(done.result)
    console.print(summary_table(done.result))
    return _ended(console, args.env, run, done.result, "changed")


def cmd_promote(args: argparse.Namespace, console: Console) -> int:
    loaded = load_source(args.source)
    env = loaded.environment(args.env)
    loaded.environment(args.source_env)
    if env.promoted_from != args.source_env:
        declared = env.promoted_from or "nothing"
        raise InputError(
            f"{args.env} is promoted from {declared}, not {args.source_env} "
            f"(promoted_from in {paths.display(args.source)})"
        )
    # Exactly a full apply of the target: no dry run, no narrowing.
    full = {**vars(args), "check": False, "tags": None, "limit": None}
    return cmd_apply(argparse.Namespace(**full), console)


def _promotion_gate(env_name: str, ctx: Context, console: Console) -> None:
    source = ctx.env.promoted_from
    if source is None:
        return
    gates = [e for e in ctx.ledger.entries(env=source) if e.kind == gate.GATE]
    passed = promotion.check(env_name, source, ctx.promotable, gates)
    console.print(
        f"• promoted from {source}: release {ctx.promotable['app_release']} at "
        f"{ctx.promotable['commit'][:12]} passed {source}'s gate in run {passed.run_id}"
    )


def _approval_gate(env_name: str, ctx: Context, applier: str) -> approval.Granted:
    entries = ctx.ledger.entries(env=env_name)
    return approval.check(
        env_name,
        applier=applier,
        now=datetime.now(UTC),
        max_age=timedelta(hours=ctx.env.approval_max_age_hours),
        bundle=ctx.bundle,
        approvals=[e for e in entries if e.kind == approval.APPROVAL],
        plans={str(e.run_id): e for e in entries if e.kind == approval.PLAN},
        applied_plans={
            str(e.payload["plan_id"]) for e in entries if e.kind == approval.PLAN_APPLIED
        },
    )


def cmd_plan(args: argparse.Namespace, console: Console) -> int:
    """Check mode with diffs, saved as a plan that can be approved."""
    ctx = _prepare(args, console)
    with ctx.recorded("plan", args.env, lock=False) as run:
        result = _run_site(args, console, ctx, run, check=True, start_hosts=True)
        run.finish(result)
        if result.succeeded:
            run.attach(
                approval.PLAN,
                {
                    "plan_id": run.run_id,
                    "planner": run.identity,
                    "bundle": ctx.bundle.as_dict(),
                    "changes": [c.as_dict() for c in result.changes],
                },
            )
    print_changes(console, result.changes)
    code = _ended(console, args.env, run, result, "would change")
    if code == EXIT_OK:
        # For pipelines: the plan a later job approves and applies.
        (paths.state_dir("runs", args.env) / "last-plan.json").write_text(
            json.dumps({"env": args.env, "plan_id": run.run_id, "bundle": ctx.bundle.as_dict()})
            + "\n"
        )
        console.print(
            f"plan [bold]{run.run_id}[/]: {result.changed} change(s) on "
            f"{len({c.host for c in result.changes})} host(s). To approve it (someone else): "
            f"provision.py approve {args.env} {run.run_id}"
        )
    return code


def cmd_approve(args: argparse.Namespace, console: Console) -> int:
    loaded = load_source(args.source)
    loaded.environment(args.env)
    ledger = open_ledger()
    plans = ledger.entries(kind=approval.PLAN, env=args.env, run_id=args.plan_id)
    if not plans:
        raise InputError(f"no plan {args.plan_id!r} for {args.env} in the ledger")
    approver = current_identity()
    entry = ledger.append(
        approval.APPROVAL,
        args.env,
        {"plan_id": args.plan_id, "approver": approver, "planner": plans[-1].payload["planner"]},
    )
    console.print(f"{args.env}: plan {args.plan_id} approved by {approver} (entry {entry.id})")
    return EXIT_OK


def cmd_drift(args: argparse.Namespace, console: Console) -> int:
    """Check mode with diffs against the live hosts: exit 3 when anything would change."""
    ctx = _prepare(args, console)
    with ctx.recorded("drift", args.env, lock=False) as run:
        result = _run_site(args, console, ctx, run, check=True, start_hosts=False)
        run.finish(result)
    print_changes(console, result.changes)
    if not result.succeeded or run.cancel_requested():
        console.print(f"[red]{args.env}: drift check incomplete ({result.status})[/]")
        return run.exit_code if run.cancel_requested() else EXIT_FAILED
    if result.changes:
        hosts = sorted({c.host for c in result.changes})
        console.print(
            f"[yellow]{args.env}: drift on {len(hosts)} host(s): {', '.join(hosts)}; "
            f"{len(result.changes)} task(s) would change[/]"
        )
        return EXIT_DRIFT
    console.print(f"[green]{args.env}: no drift[/]")
    return EXIT_OK


def cmd_history(args: argparse.Namespace, console: Console) -> int:
    ledger = open_ledger()
    if args.verify:
        problems = ledger.verify()
        for problem in problems:
            console.print(Text(problem, style="red"))
        if problems:
            console.print(f"[red]ledger {ledger.where}: {len(problems)} problem(s)[/]")
            return EXIT_FAILED
        console.print(f"[green]ledger {ledger.where}: intact[/], {ledger.head().count} entries")
        return EXIT_OK
    console.print(history_table(ledger.runs(env=args.env, limit=args.limit)))
    return EXIT_OK


def cmd_show(args: argparse.Namespace, console: Console) -> int:
    ledger = open_ledger()
    console.print(run_detail(ledger.show(args.run_id)))
    return EXIT_OK


def cmd_verify(args: argparse.Namespace, console: Console) -> int:
    ctx = _prepare(args, console)
    expected = releases.deployed(ctx.ledger, args.env).releases
    with ctx.recorded("verify", args.env, lock=False) as run:
        code = verify.run(args.env, ctx.env, junit_xml=args.junit_xml, expected_releases=expected)
        status = Status.SUCCESSFUL if code == 0 else Status.FAILED
        run.finish_plain(status, {"pytest_exit_code": code})
    return code


def _fingerprints(
    loaded: LoadedSource, env_name: str, console: Console
) -> dict[str, fingerprint.HostPrint]:
    env = loaded.environment(env_name)
    vault = secrets.vault_for(env_name, env)
    with LiveProgress(console, env_name, len(env.hosts)) as live:
        prints, _ = fingerprint.collect(env_name, tuple(vault.cmdline()), on_event=live.on_event)
    return prints


def cmd_fingerprint(args: argparse.Namespace, console: Console) -> int:
    loaded = load_source(args.source)
    loaded.environment(args.env)
    _generate(loaded, None, console)
    prints = _fingerprints(loaded, args.env, console)
    if args.json:
        console.print_json(json.dumps({host: asdict(p) for host, p in prints.items()}))
    else:
        console.print(fingerprint_table(args.env, prints))
    return EXIT_OK


def cmd_diff(args: argparse.Namespace, console: Console) -> int:
    loaded = load_source(args.source)
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
    _generate(loaded, None, progress)
    prints = {env: _fingerprints(loaded, env, progress) for env in envs}
    found = fingerprint.compare(loaded, envs, prints)
    bad = sum(not d.explained for d in found)
    return _report(
        console,
        args.json,
        envs=envs,
        found=found,
        table=live_diff_table(envs, found),
        summary=f"{len(found)} live differences between {envs[0]} and {envs[1]}, "
        f"{bad} not explained by the parity contract",
        bad=bad,
    )


def _report(
    console: Console,
    as_json: bool,
    *,
    envs: list[str],
    found: Sequence[parity.Difference | fingerprint.LiveDifference],
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
    _generate(loaded, None, console)
    for line in hostkeys.scan(args.env, env):
        console.print(line)
    console.print(
        f"recorded in known_hosts/{args.env}: compare these fingerprints with the servers' "
        "before you commit it"
    )
    return EXIT_OK


def cmd_up(args: argparse.Namespace, console: Console) -> int:
    loaded = load_source(args.source)
    env = loaded.environment(args.env)
    _generate(loaded, None, console)
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
    console.print(localhosts.ensure_image(_say(console)))
    console.print(localhosts.ensure_image(_say(console), execnodes.EXEC_IMAGE))
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
            console.print(line)
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
        console.print(f"[red]{failure.host}: {failure.task}: {failure.message}[/]")
    if not result.succeeded:
        console.print(f"[red]executors: {result.status}[/]; artifacts in {result.artifacts}")
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
    "approve": cmd_approve,
    "history": cmd_history,
    "show": cmd_show,
    "fingerprint": cmd_fingerprint,
    "trust": cmd_trust,
    "up": cmd_up,
    "down": cmd_down,
    "image": cmd_image,
    "cache": cmd_cache,
    "executors": cmd_executors,
}
