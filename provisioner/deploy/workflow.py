"""The deploy workflow: apply (behind the promotion and approval gates, then the post-deploy gate
and, if it fails, a rollback), its dry run, plan, drift, verify, the gate and rollback by hand, and
promote. Each takes a DeployRequest and an Observer (observer.py) and returns the exit code;
outcome.py decides how each run ends.

Every run is prepared first (prepare): bad input or an unreachable ledger stops it with the hosts
untouched. Then it goes into the ledger under its Recorded, which takes the lock when it changes
the environment.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from provisioner import paths
from provisioner.deploy import (
    approval,
    gate,
    loadplan,
    promotion,
    quarantine,
    releases,
    stepgate,
    verify,
)
from provisioner.deploy.observer import Observer, escaped
from provisioner.deploy.outcome import (
    CHANGED,
    WOULD_CHANGE,
    Next,
    Outcome,
    drift_ending,
    gate_ending,
)
from provisioner.errors import EXIT_OK, InputError, ProvisionerError
from provisioner.hosts import localhosts
from provisioner.incremental import record as host_state
from provisioner.ledger.ledger import Ledger, open_ledger
from provisioner.ledger.recording import Recorded
from provisioner.live import gate as live_gate
from provisioner.live import hostprint, record
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
from provisioner.trust import approvals as trust_approvals
from provisioner.trust import binding, statements
from provisioner.trust.signers import APPLY, namespace, signing_key
from provisioner.trust.signers import PLAN as PLAN_ACTION
from provisioner.trust.signers import for_env as signers_for

DB_NAME_VAR = "csapp_db_name"
LOCAL = "local"  # --executor local: run here even when the source names executors
RELEASE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
APPLY_SIGNED = "apply-signed"  # the applier's signed statement of an approval_required apply


@dataclass(frozen=True)
class DeployRequest:
    """What a run of an environment is asked to do (the command line's options, typed)."""

    env: str
    source: Path = paths.DEFAULT_SOURCE
    check: bool = False  # a dry run with diffs: changes nothing
    limit: str | None = None  # only these hosts or groups (Ansible pattern)
    tags: str | None = None  # only tasks with these tags
    full: bool = False  # run every host, also those the incremental apply would skip
    verbosity: int = 0  # > 0: Ansible's output too
    executors: str | None = None  # execution node URLs, comma-separated; LOCAL; None: the source's
    # Apply although the approved plan found unexplained live differences (recorded, with why).
    accept_live_differences: str | None = None
    key: Path | None = None  # the signing key (trust/signers.py); None: the default one

    def full_apply(self) -> DeployRequest:
        """Exactly a full apply: no dry run, no narrowing (what a promotion runs)."""
        return replace(self, check=False, tags=None, limit=None)


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
    # The stepped load of the environment's gate, from the peak that applies to it (None: no
    # load test, or no peak declared anywhere: the fixed-users test).
    plan: loadplan.LoadPlan | None = None

    def recorded(self, kind: str, env: str, *, lock: bool, identity: str | None = None) -> Recorded:
        return Recorded(
            self.ledger,
            kind,
            env,
            self.bundle,
            lock=lock,
            extra={"promotable": self.promotable},
            identity=identity,
        )


def prepare(request: DeployRequest, observer: Observer) -> Context:
    loaded = load_source(request.source)
    env = loaded.environment(request.env)
    _executors(request, env)  # a bad --executor is refused before anything is written or started
    # Only this environment's inventory: another one's may be in use by a run of it right now.
    inventory.generate(loaded, [request.env], observer.note)
    hostkeys.require(request.env, env)
    ledger = open_ledger()
    vault = secrets.vault_for(request.env, env)
    ledger.add_secrets(secrets.values(vault))
    bundle = bundle_of(request.env)
    app = (
        parity.Layers(loaded).effective(request.env, "app") if "app" in loaded.source.groups else {}
    )
    release = app["app_release"].value if "app_release" in app else ""
    return Context(
        loaded,
        env,
        ledger,
        vault,
        bundle,
        promotion.promotable(bundle, str(release)),
        _load_plan(loaded, request.env, env),
    )


def _load_plan(loaded: LoadedSource, env_name: str, env: Environment) -> loadplan.LoadPlan | None:
    """Made before anything changes, so that a peak the tool cannot scale (no app workers, two
    peaks and no promotion path) is bad input with the hosts untouched, not a gate error after
    an apply."""
    if env.load_gate is None or not any(e.peak for e in loaded.source.environments.values()):
        return None
    return loadplan.load_plan(loaded, env_name, steps=loadplan.DEFAULT_STEPS)


def _said(observer: Observer, step: Next) -> Next:
    for line in step.lines:
        observer.say(line)
    return step


def _canceled(run: Recorded) -> int | None:
    """The exit code of the signal that asked the run to stop, if one did."""
    return run.exit_code if run.cancel_requested() else None


def run_site(
    request: DeployRequest,
    observer: Observer,
    ctx: Context,
    run: Recorded,
    *,
    check: bool,
    start_hosts: bool,
    skipped: dict[str, str] | None = None,
) -> RunResult:
    """(Start local hosts,) run site.yml with live progress and show the summary. The caller
    records the outcome (run.finish), after whatever it does next. `skipped`: hosts the
    incremental apply leaves out (host -> why); when that is every host, no playbook runs."""
    if start_hosts:
        _start_hosts(request, ctx, observer)
    skipped = skipped or {}
    if skipped and set(skipped) >= set(ctx.env.hosts):
        result = RunResult(request.env, Status.SUCCESSFUL, 0, skipped=dict(skipped))
        observer.summary(result)
        result.write_summary(paths.state_dir("runs", request.env) / "last-run.json")
        return result
    executors = _executors(request, ctx.env)
    limit = request.limit
    if skipped:  # request.limit is None: the incremental apply runs only whole environments
        limit = ",".join(sorted(set(ctx.env.hosts) - set(skipped)))
    playbook = RunRequest(
        env=request.env,
        limit=limit,
        tags=request.tags,
        check=check,
        verbosity=request.verbosity,
        hosts=len(ctx.env.hosts),
        vault_args=tuple(ctx.vault.cmdline()),
        executors=tuple(executors),
        slices=_slices(ctx.env, len(executors), request.limit),
        payload=remote.payload(request.env, ctx.env, ctx.vault) if executors else Payload(),
    )
    where = ", ".join(e.url for e in executors) if executors else "this machine"
    observer.note(f"strategy {strategy.name()}, {playbook.hosts} hosts, on {where}")
    with observer.live(request.env, len(ctx.env.hosts), verbose=playbook.verbosity > 0) as on_event:
        result = run_playbook(playbook, on_event=on_event, cancel=run.cancel_requested)
    result.skipped = dict(skipped)
    observer.summary(result)
    result.write_summary(paths.state_dir("runs", request.env) / "last-run.json")
    return result


def _start_hosts(request: DeployRequest, ctx: Context, observer: Observer) -> None:
    if isinstance(ctx.env.provider, LocalProvider):
        localhosts.up(request.env, ctx.env, observer.note)


def _executors(request: DeployRequest, env: Environment) -> list[Executor]:
    """Where Ansible runs: --executor/--executors, else the source's `executor`, else here."""
    if request.executors == LOCAL:
        return []
    if request.executors:
        return [parse_executor(url) for url in request.executors.split(",") if url.strip()]
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


def apply(request: DeployRequest, observer: Observer) -> int:
    """An apply (or, with request.check, its dry run)."""
    ctx = prepare(request, observer)
    if request.check:
        with ctx.recorded("check", request.env, lock=False) as run:
            result = run_site(request, observer, ctx, run, check=True, start_hosts=True)
            run.finish(result)
        observer.changes(result.changes)
        outcome = Outcome(request.env, run.run_id, verb=WOULD_CHANGE, deploy=False)
        _said(observer, outcome.played(result, canceled=_canceled(run)))
        return outcome.code
    signer = _signer(request, ctx, APPLY, observer) if ctx.env.approval_required else None
    identity = signer.principal if signer is not None else None
    with ctx.recorded("apply", request.env, lock=True, identity=identity) as run:
        _bundle_gates(request.env, ctx, observer, run)
        granted = None
        if signer is not None:
            # The applier proves who they are by signing this run: the gate compares principals.
            fields = trust_approvals.apply_fields(request.env, run.run_id, ctx.bundle.as_dict())
            run.attach(APPLY_SIGNED, signer.sign(fields))
            granted = _approval_gate(request.env, ctx, signer.principal)
            run.plan_id = granted.plan_id
            why = f": {escaped(granted.reason)}" if granted.reason else ""
            observer.say(
                f"• plan {escaped(granted.plan_id)}, approved by {escaped(granted.approver)}{why}"
            )
            accepted = live_gate.check(request.env, granted.plan, request.accept_live_differences)
            if accepted:
                run.attach(
                    live_gate.OVERRIDE,
                    {
                        "plan_id": granted.plan_id,
                        "reason": request.accept_live_differences,
                        "differences": accepted,
                    },
                )
                observer.say(
                    f"[yellow]• {len(accepted)} unexplained live difference(s) accepted: "
                    f"{escaped(request.accept_live_differences)}[/]"
                )
        _start_hosts(request, ctx, observer)
        choice = _choose_hosts(request, ctx, run, observer)
        skipped = choice.skip if choice is not None else {}
        result = run_site(
            request, observer, ctx, run, check=False, start_hosts=False, skipped=skipped
        )
        if granted is not None and result.succeeded:
            run.attach(approval.PLAN_APPLIED, {"plan_id": granted.plan_id})
        outcome = Outcome(
            request.env, run.run_id, verb=CHANGED, deploy=True, tags=bool(request.tags)
        )
        step = _said(observer, outcome.played(result, canceled=_canceled(run)))
        # Went through: the gate passed, or nothing changed (the hosts are as the last good
        # apply left them) and nothing stopped the run.
        went_through = step.gate is False and step.roll_back is None and outcome.code == EXIT_OK
        if step.gate:
            verdict = _run_gate(request.env, observer, ctx, run, bundle=ctx.promotable, expected={})
            step = _said(observer, outcome.gated(verdict))
            went_through = verdict.passed
        if went_through and result.fingerprints:  # (none when every host was skipped)
            _keep_fingerprints(run, ctx, result)
        if went_through and choice is not None:
            left_out = host_state.keep(run, ctx.env, ctx.vault, choice, result.manifests)
            for host, why in left_out.items():
                observer.note(f"{host} is not in this run's record ({why}): the next apply runs it")
        if step.roll_back is not None:
            done = _roll_back(
                request.env, observer, ctx, run, hosts=outcome.switched, reason=step.roll_back
            )
            _said(observer, outcome.rolled_back(done.result.succeeded))
        extra = {}
        if choice is not None:
            extra = {"incremental": {"ran": choice.run, "skipped": choice.skip}}
        run.finish(result, extra=extra, status=outcome.status)
    return outcome.code


def _choose_hosts(
    request: DeployRequest, ctx: Context, run: Recorded, observer: Observer
) -> host_state.Choice | None:
    """Which hosts this apply runs: those whose inputs or managed state differ from the last
    good apply's record (incremental/record.py); every host with --full. None, for a run that
    skips nothing and records nothing: a narrowed one (--limit, --tags), and one on execution
    nodes (the controller may not reach the hosts to read them: that is why nodes exist)."""
    if request.limit or request.tags:
        return None
    if _executors(request, ctx.env):
        observer.note("every host runs (on execution nodes: no incremental apply)")
        return None
    if request.full:
        observer.note("every host runs (--full)")
        return host_state.everything(request.env, ctx.vault, sorted(ctx.env.hosts))
    choice = host_state.choose(ctx.ledger, request.env, ctx.env, ctx.vault, run.run_id)
    if not choice.skip:
        reasons = sorted(set(choice.run.values()))
        observer.note(f"every host runs: {reasons[0]}" if len(reasons) == 1 else "every host runs")
        if len(reasons) > 1:
            for host, why in choice.run.items():
                observer.note(f"  {host}: {why}")
        return choice
    since = next(iter(choice.skip.values()))
    observer.say(
        f"• incremental: {len(choice.skip)} of {len(ctx.env.hosts)} host(s) {since}, skipped "
        f"(--full runs them too); {len(choice.run) or 'none'} to run"
    )
    for host, why in choice.run.items():
        observer.say(f"  {host}: {escaped(why)}")
    return choice


def _keep_fingerprints(run: Recorded, ctx: Context, result: RunResult) -> None:
    """What the hosts are after a good apply (its gate passed, or it changed nothing): `diff
    ENV --since-last-apply`'s past. Hosts the incremental apply skipped are as the last kept
    reading has them."""
    prints = dict(result.fingerprints)
    missing = set(ctx.env.hosts) - set(prints)
    if missing and missing <= set(result.skipped):
        try:
            _, before = record.last_kept(ctx.ledger, run.env)
        except ProvisionerError:  # none kept yet, or not on this machine: no complete reading
            return
        prints |= {host: before[host] for host in missing if host in before}
    if set(prints) == set(ctx.env.hosts):
        record.keep(run, dict(sorted(prints.items())))


def _run_gate(
    env_name: str,
    observer: Observer,
    ctx: Context,
    run: Recorded,
    *,
    bundle: dict[str, Any] | None,
    expected: dict[str, str],
) -> gate.GateResult:
    observer.say(f"• post-deploy gate on {env_name}")
    out_dir = paths.state_dir("runs", env_name, "gate")
    stepped = None
    if ctx.plan is not None:
        observer.say(f"• load plan: {escaped(ctx.plan.explain())}")
        stepped = gate.Stepped(
            plan=ctx.plan,
            baseline=_baseline(ctx, env_name),
            chart=out_dir / f"gate-{run.run_id}.png",
            db_name=_db_name(ctx, env_name),
        )
    with observer.live(env_name, len(ctx.env.hosts)) as on_event:
        verdict = gate.run(
            env_name,
            ctx.env,
            vault_args=tuple(ctx.vault.cmdline()),
            out_dir=out_dir,
            expected_releases=expected,
            on_event=on_event,
            stepped=stepped,
        )
    run.attach(gate.GATE, {**verdict.as_dict(), "bundle": bundle})
    observer.gate(env_name, verdict.as_dict())
    return verdict


def _baseline(ctx: Context, env_name: str) -> dict[str, Any] | None:
    """The steps of the last gate that passed on this environment (the last good release)."""
    gates = [
        {**e.payload, "run": e.run_id}
        for e in ctx.ledger.entries(env=env_name)
        if e.kind == gate.GATE
    ]
    return stepgate.baseline_of(gates)


def _db_name(ctx: Context, env_name: str) -> str:
    """The app's database, as the hosts get it (group_vars' csapp_db_name, or its override)."""
    found = parity.Layers(ctx.loaded).effective(env_name, "db").get(DB_NAME_VAR)
    if found is None or not isinstance(found.value, str):
        raise InputError(f"{env_name}: no {DB_NAME_VAR} to remove the load test's tickets from")
    return found.value


def _roll_back(
    env_name: str,
    observer: Observer,
    ctx: Context,
    run: Recorded,
    *,
    hosts: list[str] | None,
    reason: str,
    to: str | None = None,
) -> releases.RolledBack:
    observer.say(
        f"[yellow]• rolling back {', '.join(hosts or ['every app host'])}: {escaped(reason)}[/]"
    )
    with observer.live(env_name, len(hosts or ctx.env.hosts_in("app"))) as on_event:
        done = releases.roll_back(
            env_name,
            vault_args=tuple(ctx.vault.cmdline()),
            hosts=hosts,
            to=to,
            on_event=on_event,
            cancel=run.cancel_requested,
        )
    run.attach(releases.ROLLBACK, {"reason": reason, **done.as_dict()})
    now = ", ".join(f"{host} {escaped(release)}" for host, release in done.releases.items())
    if done.result.succeeded:
        observer.say(f"[yellow]• rolled back, healthy again: {now}[/]")
    else:
        observer.say(f"[red]• the rollback failed ({done.result.status}): {now or 'no host'}[/]")
    return done


def run_gate(request: DeployRequest, observer: Observer) -> int:
    """The post-deploy gate by hand, on whatever the hosts run now."""
    ctx = prepare(request, observer)
    now = releases.deployed(ctx.ledger, request.env)
    with ctx.recorded("gate", request.env, lock=True) as run:
        verdict = _run_gate(
            request.env, observer, ctx, run, bundle=now.bundle, expected=now.releases
        )
        ending = gate_ending(request.env, run.run_id, verdict)
        run.finish_plain(ending.status, {"reason": verdict.reason})
    if now.bundle is None:
        observer.say(f"• not a promotion source: {escaped(now.reason)}")
    for line in ending.lines:
        observer.say(line)
    return ending.code


def roll_back(request: DeployRequest, observer: Observer, *, to: str | None = None) -> int:
    """Every app host back to its previous release, or to release `to`, by hand."""
    if to is not None and not RELEASE_NAME.fullmatch(to):
        raise InputError(f"--to {to!r}: a release name is letters, digits, '.', '_' or '-'")
    ctx = prepare(request, observer)
    with ctx.recorded(releases.ROLLBACK, request.env, lock=True) as run:
        done = _roll_back(request.env, observer, ctx, run, hosts=None, reason="by hand", to=to)
        run.finish(done.result)
    observer.summary(done.result)
    outcome = Outcome(request.env, run.run_id, verb=CHANGED, deploy=False)
    _said(observer, outcome.played(done.result, canceled=_canceled(run)))
    return outcome.code


def promote(request: DeployRequest, observer: Observer, *, source_env: str) -> int:
    """A full apply of request.env with what passed apply and gate on `source_env`."""
    loaded = load_source(request.source)
    env = loaded.environment(request.env)
    loaded.environment(source_env)
    if env.promoted_from != source_env:
        declared = env.promoted_from or "nothing"
        raise InputError(
            f"{request.env} is promoted from {declared}, not {source_env} "
            f"(promoted_from in {paths.display(request.source)})"
        )
    return apply(request.full_apply(), observer)


def _bundle_gates(env_name: str, ctx: Context, observer: Observer, run: Recorded) -> None:
    """May this bundle go to this environment at all: not held since a rollback here, and
    passed on the environment it is promoted from."""
    _quarantine_gate(env_name, ctx, observer)
    _promotion_gate(env_name, ctx, observer, run)


def _quarantine_gate(env_name: str, ctx: Context, observer: Observer) -> None:
    """A bundle the gate rolled back on this environment is refused until a new commit changes
    it or someone lifts the quarantine (quarantine.py); a lifted one is said, with why."""
    found = quarantine.check(ctx.ledger, env_name, ctx.promotable)
    if found is not None and found.lifted is not None:
        why = escaped(str(found.lifted.payload.get("reason", "")))
        observer.say(
            f"[yellow]• this bundle was rolled back by run {found.run_id}; the quarantine was "
            f"lifted in run {found.lifted.run_id}: {why}[/]"
        )


def quarantine_status(request: DeployRequest, observer: Observer, *, lift: str | None) -> int:
    """Whether the environment's current bundle is quarantined; with `lift` (a reason), record
    that it may be applied again."""
    ctx = prepare(request, observer)
    found = quarantine.held(ctx.ledger, request.env, ctx.promotable)
    if found is None:
        if lift is not None:
            raise InputError(
                f"{request.env}: the current bundle is not quarantined: nothing to lift"
            )
        observer.say(f"{request.env}: the current bundle is not quarantined")
        return EXIT_OK
    if lift is None:
        if found.lifted is None:
            observer.say(f"[red]{escaped(found.refusal())}[/]")
        else:
            why = escaped(str(found.lifted.payload.get("reason", "")))
            observer.say(
                f"{request.env}: rolled back by run {found.run_id}, lifted in run "
                f"{found.lifted.run_id}: {why}"
            )
        return EXIT_OK
    try:
        payload = quarantine.override_payload(found, lift)
    except ValueError as exc:
        raise InputError(f"--reason: {exc}") from None
    with ctx.recorded("quarantine", request.env, lock=False) as run:
        run.attach(quarantine.OVERRIDE, payload)
        run.finish_plain(Status.SUCCESSFUL, {})
    observer.say(
        f"{request.env}: the quarantine of run {found.run_id}'s bundle is lifted (run "
        f"{run.run_id}, by {escaped(run.identity)}): the next apply may deploy it again"
    )
    return EXIT_OK


def _promotion_gate(env_name: str, ctx: Context, observer: Observer, run: Recorded) -> None:
    source = ctx.env.promoted_from
    if source is None:
        return
    gates = [e for e in ctx.ledger.entries(env=source) if e.kind == gate.GATE]
    passed = promotion.check(env_name, source, ctx.promotable, gates)
    observer.say(
        f"• promoted from {source}: release {escaped(ctx.promotable['app_release'])} at "
        f"{ctx.promotable['commit'][:12]} passed {source}'s gate in run {passed.run_id}"
    )
    workers = (
        loadplan.total_workers(ctx.loaded, env_name, parity.Layers(ctx.loaded))
        if ctx.env.peak is not None
        else 0
    )
    capacity = promotion.check_capacity(env_name, source, passed, ctx.env.peak, workers)
    if capacity is not None:
        run.attach(promotion.CAPACITY, {"gate_run": passed.run_id, **capacity.as_dict()})
        observer.say(f"• capacity: {escaped(capacity.explain())}")


def _signer(
    request: DeployRequest, ctx: Context, action: str, observer: Observer
) -> statements.Signer:
    """Who signs this run of an approval_required environment: their key, the principal the
    signers file gives it, through the ledger the source names (checked first)."""
    note = binding.check(request.env, ctx.env, ctx.ledger.name)
    if note:
        observer.note(note)
    signers = signers_for(request.env, ctx.env)
    signer = statements.signer(signing_key(request.key), signers, namespace(action, request.env))
    observer.say(f"• signed by {escaped(signer.principal)} (signers: {escaped(str(signers))})")
    return signer


def _approval_gate(env_name: str, ctx: Context, applier: str) -> approval.Granted:
    return approval_gate(env_name, ctx.env, ctx.ledger, ctx.bundle, applier)


def approval_gate(
    env_name: str, env: Environment, ledger: Ledger, bundle: Bundle, applier: str
) -> approval.Granted:
    """The gate over the ledger's approvals of `env_name`, each verified against the signers
    file first (`applier`: the principal the applier's key proved)."""
    entries = ledger.entries(env=env_name)
    plans = {str(e.run_id): e for e in entries if e.kind == approval.PLAN}
    verified = trust_approvals.verify(
        env_name,
        [e for e in entries if e.kind == approval.APPROVAL],
        plans,
        signers_for(env_name, env),
    )
    return approval.check(
        env_name,
        applier=applier,
        now=datetime.now(UTC),
        max_age=timedelta(hours=env.approval_max_age_hours),
        bundle=bundle,
        approvals=verified.approvals,
        plans=plans,
        applied_plans={
            str(e.payload["plan_id"]) for e in entries if e.kind == approval.PLAN_APPLIED
        },
        rejected=verified.rejected,
    )


def plan(request: DeployRequest, observer: Observer) -> int:
    """Check mode with diffs, saved as a plan that can be approved."""
    ctx = prepare(request, observer)
    # Signed before it runs, so a missing or unlisted key stops it with nothing started.
    signer = _signer(request, ctx, PLAN_ACTION, observer) if ctx.env.approval_required else None
    identity = signer.principal if signer is not None else None
    with ctx.recorded("plan", request.env, lock=False, identity=identity) as run:
        result = run_site(request, observer, ctx, run, check=True, start_hosts=True)
        run.finish(result)
        if result.succeeded:
            planned: dict[str, Any] = {
                "plan_id": run.run_id,
                "planner": run.identity,
                "bundle": ctx.bundle.as_dict(),
                "changes": [c.as_dict() for c in result.changes],
            }
            if signer is not None:  # the planner, proved: approve refuses them as approver
                fields = trust_approvals.plan_fields(request.env, run.run_id, planned["bundle"])
                planned |= signer.sign(fields)
            if ctx.env.promoted_from is not None:
                planned[live_gate.PLAN_KEY] = _live_parity(ctx, request.env, result, observer)
            run.attach(approval.PLAN, planned)
    observer.changes(result.changes)
    outcome = Outcome(request.env, run.run_id, verb=WOULD_CHANGE, deploy=False)
    _said(observer, outcome.played(result, canceled=_canceled(run)))
    if outcome.code == EXIT_OK:
        # For pipelines: the plan a later job approves and applies.
        (paths.state_dir("runs", request.env) / "last-plan.json").write_text(
            json.dumps({"env": request.env, "plan_id": run.run_id, "bundle": ctx.bundle.as_dict()})
            + "\n"
        )
        observer.say(
            f"plan [bold]{run.run_id}[/]: {result.changed} change(s) on "
            f"{len({c.host for c in result.changes})} host(s). To approve it (someone else): "
            f"provision.py approve {request.env} {run.run_id}"
        )
    return outcome.code


def _live_parity(
    ctx: Context, env_name: str, result: RunResult, observer: Observer
) -> dict[str, Any]:
    """The plan's live comparison with the environment it is promoted from (the plan's own run
    read this environment's hosts; the source's are read now)."""
    source = str(ctx.env.promoted_from)
    source_env = ctx.loaded.environment(source)
    observer.say(f"• live parity: reading {source}'s hosts to compare")
    with observer.live(source, len(source_env.hosts)) as on_event:
        theirs = hostprint.collect(
            source,
            sorted(source_env.hosts),
            tuple(secrets.vault_for(source, source_env).cmdline()),
            on_event=on_event,
        )
    found = live_gate.for_plan(
        ctx.loaded,
        env_name,
        source,
        {source: theirs, env_name: result.fingerprints},
        result.changes,
    )
    style = "red" if found["unexplained"] else "green"
    observer.say(
        f"[{style}]• live parity with {source}: {len(found['unexplained'])} unexplained, "
        f"{len(found['excused'])} on hosts this plan changes, {found['allowed']} allowed[/]"
    )
    for difference in found["unexplained"]:
        observer.say(
            f"[red]  UNEXPLAINED {difference['group']} {difference['kind']} "
            f"{escaped(difference['name'])} on {escaped(', '.join(difference['hosts']))}[/]"
        )
    return found


def drift(request: DeployRequest, observer: Observer) -> int:
    """Check mode with diffs against the live hosts: exit 3 when anything would change."""
    ctx = prepare(request, observer)
    with ctx.recorded("drift", request.env, lock=False) as run:
        result = run_site(request, observer, ctx, run, check=True, start_hosts=False)
        run.finish(result)
    observer.changes(result.changes)
    ending = drift_ending(request.env, result, canceled=_canceled(run))
    for line in ending.lines:
        observer.say(line)
    return ending.code


def run_verify(request: DeployRequest, observer: Observer, *, junit_xml: Path | None) -> int:
    """The verification suite against the hosts, recorded; pytest's exit code."""
    ctx = prepare(request, observer)
    expected = releases.deployed(ctx.ledger, request.env).releases
    with ctx.recorded("verify", request.env, lock=False) as run:
        code = verify.run(request.env, ctx.env, junit_xml=junit_xml, expected_releases=expected)
        status = Status.SUCCESSFUL if code == 0 else Status.FAILED
        run.finish_plain(status, {"pytest_exit_code": code})
    return code
