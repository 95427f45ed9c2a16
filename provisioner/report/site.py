"""What the report's pages show, collected from the ledger and the source of truth into plain
dataclasses: the templates (render.py) only lay them out.

The ledger is read in two queries (every run's summary, every entry), so 10,000 runs cost one
pass; per-run questions (the code changes since the previous apply, a plan's approvals) are
answered from those, never by asking the ledger again. What the ledger holds is already redacted.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from provisioner import paths
from provisioner.deploy import approval, gate, releases
from provisioner.errors import InputError, Location
from provisioner.ledger.ledger import Ledger
from provisioner.ledger.records import RUN_FINISHED, RUN_STARTED, Entry, LockInfo, RunSummary
from provisioner.ledger.store import display_url
from provisioner.live import gate as live_gate
from provisioner.report import commits
from provisioner.run.changes import Change
from provisioner.run.status import Status
from provisioner.source import bundle, parity
from provisioner.source.model import LoadedSource
from provisioner.trust import approvals as trust_approvals
from provisioner.trust.signers import for_env as signers_for

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
RECENT = 50  # runs listed on an environment's page
DRIFT_COLUMNS = 30  # drift checks in a host's timeline
GOOD = frozenset({Status.SUCCESSFUL})
BAD = frozenset({Status.FAILED, Status.REFUSED, Status.GATE_FAILED, Status.ABANDONED})


def page_name(name: str) -> str:
    """A file name for a run id or an environment: itself when it is a plain name, else a digest
    (the ledger may hold anything; a file name must not climb out of the site)."""
    if SAFE_NAME.fullmatch(name) and ".." not in name:
        return name
    return "x-" + hashlib.sha256(name.encode()).hexdigest()[:16]


def age(at: str | None, now: datetime) -> str:
    """'5 min ago', '3 h ago', '2 d ago' for an ISO time; '' when there is none."""
    if not at:
        return ""
    try:
        seconds = (now - datetime.fromisoformat(at)).total_seconds()
    except (TypeError, ValueError):
        return at
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


def provenance(where: Location, source: Path) -> tuple[str, str]:
    """(short, full) file:line of a value: the short one relative to the repo when the file is in
    it, else to the source file's directory when it is there, else the whole path; the full one
    absolute (for a title attribute)."""
    file = Path(os.path.realpath(where.file))
    line = f":{where.line}" if where.line else ""
    for base in (paths.REPO, Path(os.path.realpath(source)).parent):
        try:
            return f"{file.relative_to(base)}{line}", f"{file}{line}"
        except ValueError:
            continue
    return f"{file}{line}", f"{file}{line}"


def ledger_label(where: str) -> tuple[str, str]:
    """(short, full) names of the ledger for a page, never with a password: a URL loses it again
    here whatever the store said (in the user part or the query), and its short form is the
    scheme, user, host and database; a file is named by its path in the repo, else by its name."""
    if "://" in where or where.lower().startswith(("postgres", "sqlite:")):
        full = display_url(where)
        parts = urlsplit(full)
        if not parts.scheme:
            return full, full
        user = f"{parts.username}@" if parts.username else ""
        host = parts.netloc.rpartition("@")[2]
        return f"{parts.scheme} {user}{host}{parts.path}", full
    path = Path(where)
    return (path.name if path.is_absolute() else where), where


def tone(status: str) -> str:
    """The colour class of a status: good, bad, warn (canceled, rolled back, running) or ''."""
    if status in GOOD:
        return "good"
    if status in BAD:
        return "bad"
    return "warn" if status else ""


def by_host(changes: tuple[Change, ...]) -> dict[str, list[Change]]:
    """Changed tasks grouped by host, hosts in name order (as the pages list them)."""
    grouped: dict[str, list[Change]] = defaultdict(list)
    for change in changes:
        grouped[change.host].append(change)
    return dict(sorted(grouped.items()))


@dataclass(frozen=True)
class Run:
    summary: RunSummary
    page: str  # file name under runs/, without .html
    host_stats: dict[str, dict[str, Any]]
    changes: tuple[Change, ...]
    gate: dict[str, Any] | None
    rollback: dict[str, Any] | None
    notes: dict[str, Any]  # the finished entry's extra (reason, incremental...)
    entries: tuple[Entry, ...]  # every entry of the run, with its hash
    plan_id: str | None
    code: commits.CodeChanges | None  # applies and plans: what changed since the last apply
    release: str  # the app release the run deployed (its promotable bundle), "" if unrecorded

    @property
    def tone(self) -> str:
        return tone(self.summary.status)

    def by_host(self) -> dict[str, list[Change]]:
        return by_host(self.changes)


REFUSED = "refused"  # an approval whose signature does not verify: the gate ignores it


@dataclass(frozen=True)
class Approval:
    entry: Entry  # as signed: its time is the signed statement's when the signature verified
    approver: str  # the principal the signature proved (else what the row claims)
    state: str  # approval.VALID, EXPIRED, STALE, APPLIED, or REFUSED
    why: str
    reason: str = ""  # the approver's, signed with the approval
    signature: str = ""  # "verified", or why not


@dataclass(frozen=True)
class Plan:
    plan_id: str
    env: str
    entry: Entry
    run: Run | None
    planner: str
    bundle: dict[str, Any]
    changes: tuple[Change, ...]
    approvals: tuple[Approval, ...]
    state: str  # applied, stale, approved, awaiting approval
    live: dict[str, Any] | None  # the plan's live comparison with its promotion source

    def by_host(self) -> dict[str, list[Change]]:
        return by_host(self.changes)


@dataclass(frozen=True)
class DriftItem:
    host: str
    task: str
    diff: str
    new: bool  # not reported by the check before
    touched_by: Run | None  # the newest earlier run that changed the same task on the host


@dataclass(frozen=True)
class DriftCheck:
    run: Run
    state: str  # clean, drifted, failed
    items: tuple[DriftItem, ...]
    fixed_by: Run | None  # the first successful apply after a drifted check

    def hosts(self) -> set[str]:
        return {item.host for item in self.items}


@dataclass(frozen=True)
class EnvDrift:
    env: str
    hosts: list[str]
    checks: list[DriftCheck]  # newest first

    def timeline(self) -> list[DriftCheck]:
        """The columns of the host timeline: the newest checks, oldest on the left."""
        return list(reversed(self.checks[:DRIFT_COLUMNS]))


UNKNOWN = "unknown"


@dataclass(frozen=True)
class Deployed:
    """The release each of an environment's app hosts runs, as the newest run that says so
    for the host recorded it."""

    hosts: dict[str, str]  # app host -> release, UNKNOWN when no run says
    by: dict[str, Run]  # app host -> the run that says

    @property
    def release(self) -> str | None:
        """The one release every app host runs; None when they differ (or there is no host)."""
        found = set(self.hosts.values())
        return found.pop() if len(found) == 1 else None

    @property
    def run(self) -> Run | None:
        """The newest run behind what is shown."""
        return max(self.by.values(), key=lambda r: r.summary.started_at, default=None)


def deployed(app_hosts: list[str], runs: list[Run]) -> Deployed:
    """Per app host, the newest record of its release (runs: one environment's, newest first):
    a rollback's report of what each host runs now, else the release of an apply that switched
    the host's release link, or of a successful apply (which leaves every host on its release).
    Refused runs changed nothing."""
    found: dict[str, tuple[str, Run]] = {}
    for run in runs:
        if len(found) == len(app_hosts):
            break
        kind, status = run.summary.kind, run.summary.status
        if kind not in ("apply", releases.ROLLBACK) or status == Status.REFUSED:
            continue
        if run.rollback is not None:  # after the switch within a run: it decides first
            for host, release in _dict(run.rollback.get("releases")).items():
                if host in app_hosts:
                    found.setdefault(host, (str(release), run))
        if kind != "apply":
            continue
        if status == Status.SUCCESSFUL:
            settled = app_hosts
        else:
            settled = releases.switched_hosts(list(run.changes))
        for host in settled:
            if host in app_hosts:
                found.setdefault(host, (run.release or UNKNOWN, run))
    return Deployed(
        {host: found[host][0] if host in found else UNKNOWN for host in app_hosts},
        {host: found[host][1] for host in found},
    )


@dataclass(frozen=True)
class EnvCard:
    name: str
    page: str
    description: str
    release: str  # what the source of truth says
    deployed: Deployed  # what the ledger says the app hosts run
    approval_required: bool
    promoted_from: str | None
    hosts: list[str]
    last_apply: Run | None
    lock: LockInfo | None
    lock_since: str
    last_drift: DriftCheck | None
    drift_age: str
    waiting: list[Plan]  # plans not applied, not stale
    runs: list[Run]  # newest first, at most RECENT


@dataclass(frozen=True)
class Cell:
    value: str
    origin: str  # file:line, relative to the repo (or the source's directory) when inside it
    full: str  # the same with the absolute path


@dataclass(frozen=True)
class MatrixRow:
    group: str
    name: str
    cells: list[Cell | None]  # one per environment, None: not set
    verdict: str  # same, allowed, not allowed
    reason: str


@dataclass(frozen=True)
class LiveSet:
    """The newest live comparison the ledger holds for an environment (in a plan)."""

    env: str
    source: str
    plan: Plan
    unexplained: list[dict[str, Any]]
    excused: list[dict[str, Any]]
    allowed: int


@dataclass(frozen=True)
class Evidence:
    run: Run
    page: str
    plan: Plan | None
    parity: list[MatrixRow]  # between the environment and the one it is promoted from
    parity_envs: list[str]
    accepted: list[dict[str, Any]]  # live differences accepted by --accept-live-differences
    hashes: list[Entry]  # every ledger entry the evidence rests on


@dataclass
class Site:
    generated_at: str
    now: datetime
    ledger: str  # where it lives, short, never with a password (ledger_label)
    ledger_full: str  # the same whole, for a title
    head_count: int
    chain_problems: list[str]
    envs: list[EnvCard]
    runs: list[Run]  # newest first
    plans: list[Plan]  # newest first
    drift: list[EnvDrift]
    matrix_envs: list[str]
    matrix: list[MatrixRow]
    live: list[LiveSet]
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def chain_ok(self) -> bool:
        return not self.chain_problems


def _changes(raw: Any) -> tuple[Change, ...]:
    found = []
    for item in raw or []:
        if isinstance(item, dict):
            found.append(
                Change(
                    host=str(item.get("host", "")),
                    task=str(item.get("task", "")),
                    role=str(item.get("role", "")),
                    action=str(item.get("action", "")),
                    diff=str(item.get("diff", "") or ""),
                )
            )
    return tuple(found)


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _run(summary: RunSummary, entries: list[Entry]) -> Run:
    finished = next((e for e in entries if e.kind == RUN_FINISHED), None)
    started = next((e for e in entries if e.kind == RUN_STARTED), None)
    payload = finished.payload if finished else {}
    gates = [e.payload for e in entries if e.kind == gate.GATE]
    rollbacks = [e.payload for e in entries if e.kind == releases.ROLLBACK]
    applied = [e for e in entries if e.kind == approval.PLAN_APPLIED]
    plan_id = started.payload.get("plan_hash") if started else None
    if applied:
        plan_id = applied[-1].payload.get("plan_id")
    return Run(
        summary=summary,
        page=page_name(summary.run_id),
        host_stats={
            str(host): _dict(stats)
            for host, stats in sorted(_dict(payload.get("host_stats")).items())
        },
        changes=_changes(payload.get("changes")),
        gate=gates[-1] if gates else None,
        rollback=rollbacks[-1] if rollbacks else None,
        notes=_dict(payload.get("extra")),
        entries=tuple(entries),
        plan_id=str(plan_id) if plan_id else None,
        code=None,
        release=str(
            _dict(_dict(started.payload.get("extra") if started else None).get("promotable")).get(
                "app_release"
            )
            or ""
        ),
    )


def _with_code(runs: list[Run]) -> list[Run]:
    """Each apply and plan with the code changes since its environment's previous successful
    apply (runs: oldest first)."""
    last: dict[str, Run] = {}
    done = []
    for plain in runs:
        summary = plain.summary
        run = plain
        if summary.kind in ("apply", "plan"):
            before = last.get(summary.env)
            code = (
                commits.between(before.summary.commit, summary.commit, before.summary.run_id)
                if before is not None
                else commits.between(None, summary.commit)
            )
            run = replace(plain, code=code)
        if summary.kind == "apply" and summary.status == Status.SUCCESSFUL:
            last[summary.env] = run
        done.append(run)
    return done


def collect(ledger: Ledger, loaded: LoadedSource, now: datetime | None = None) -> Site:
    """Everything the pages show."""
    now = now or datetime.now(UTC)
    summaries = ledger.runs(limit=10**9)  # newest first
    entries = ledger.entries()
    by_run: dict[str, list[Entry]] = defaultdict(list)
    loose: list[Entry] = []  # approvals: entries of no run
    for entry in entries:
        if entry.run_id:
            by_run[entry.run_id].append(entry)
        else:
            loose.append(entry)
    oldest_first = _with_code([_run(s, by_run.get(s.run_id, [])) for s in reversed(summaries)])
    runs = list(reversed(oldest_first))
    plans = _plans(loaded, runs, by_run, loose, now)
    drift = _drift(loaded, oldest_first)
    matrix_envs = list(loaded.source.environments)
    site = Site(
        generated_at=now.strftime("%Y-%m-%d %H:%M UTC"),
        now=now,
        ledger=ledger_label(ledger.where)[0],
        ledger_full=ledger_label(ledger.where)[1],
        head_count=len(entries),
        chain_problems=ledger.verify(),
        envs=[],
        runs=runs,
        plans=plans,
        drift=drift,
        matrix_envs=matrix_envs,
        matrix=matrix(loaded, matrix_envs),
        live=_live(plans),
    )
    site.envs = [_card(ledger, loaded, name, site) for name in loaded.source.environments]
    site.evidence = _evidence(loaded, site)
    return site


def _plans(
    loaded: LoadedSource,
    runs: list[Run],
    by_run: dict[str, list[Entry]],
    loose: list[Entry],
    now: datetime,
) -> list[Plan]:
    """Every plan, newest first, with its approvals and their standing."""
    run_of = {run.summary.run_id: run for run in runs}
    everything = [e for entries in by_run.values() for e in entries] + loose
    applied = {str(e.payload.get("plan_id")) for e in everything if e.kind == approval.PLAN_APPLIED}
    approvals: dict[str, list[Entry]] = defaultdict(list)
    for entry in loose:
        if entry.kind == approval.APPROVAL:
            approvals[str(entry.payload.get("plan_id"))].append(entry)
    bundles: dict[str, bundle.Bundle] = {}
    found = []
    for entry in sorted(
        (e for e in everything if e.kind == approval.PLAN), key=lambda e: e.id, reverse=True
    ):
        env = loaded.source.environments.get(entry.env)
        plan_id = str(entry.payload.get("plan_id") or entry.run_id)
        if env is not None and entry.env not in bundles:
            bundles[entry.env] = bundle.current(entry.env)
        max_age = timedelta(hours=env.approval_max_age_hours if env else 24.0)
        standing = []
        believed, rejected = _verified(loaded, entry.env, approvals.get(plan_id, []), entry)
        for given in believed:
            if given.id in rejected:
                why = rejected[given.id]
                standing.append(
                    Approval(given, str(given.payload.get("approver", "")), REFUSED, why, "", why)
                )
                continue
            if entry.env in bundles:
                state, why = approval.standing(
                    given,
                    entry,
                    now=now,
                    max_age=max_age,
                    bundle=bundles[entry.env],
                    applied_plans=applied,
                )
            else:
                state, why = approval.STALE, f"{entry.env} is not in the source of truth"
            standing.append(
                Approval(
                    given,
                    str(given.payload.get("approver", "")),
                    state,
                    why,
                    reason=str(given.payload.get("reason", "")),
                    signature="verified",
                )
            )
        found.append(
            Plan(
                plan_id=plan_id,
                env=entry.env,
                entry=entry,
                run=run_of.get(str(entry.run_id)),
                planner=str(entry.payload.get("planner", "")),
                bundle=_dict(entry.payload.get("bundle")),
                changes=_changes(entry.payload.get("changes")),
                approvals=tuple(standing),
                state=_plan_state(plan_id, entry, bundles.get(entry.env), standing, applied),
                live=_dict(entry.payload.get(live_gate.PLAN_KEY)) or None,
            )
        )
    return found


def _verified(
    loaded: LoadedSource, env_name: str, given: list[Entry], plan: Entry
) -> tuple[list[Entry], dict[int, str]]:
    """The approvals of one plan as the gate believes them (trust/approvals.py), and why each
    of the others does not verify; never raises: the report shows what it could not check."""
    env = loaded.source.environments.get(env_name)
    if env is None:
        return given, {e.id: f"{env_name} is not in the source of truth" for e in given}
    try:
        signers = signers_for(env_name, env)
    except InputError as exc:  # the rehearsal signers file, for real servers
        return given, {e.id: f"not verified: {exc}" for e in given}
    verified = trust_approvals.verify(env_name, given, {str(plan.run_id): plan}, signers)
    return verified.approvals, verified.rejected


def _plan_state(
    plan_id: str,
    entry: Entry,
    now: bundle.Bundle | None,
    standing: list[Approval],
    applied: set[str],
) -> str:
    if plan_id in applied:
        return "applied"
    try:
        stale = now is None or bool(now.differences(approval.planned_bundle(entry)))
    except (KeyError, TypeError):  # a plan entry without a whole bundle: nothing can apply it
        stale = True
    if stale:
        return "stale"
    if any(a.state == approval.VALID for a in standing):
        return "approved"
    return "awaiting approval"


def _drift(loaded: LoadedSource, oldest_first: list[Run]) -> list[EnvDrift]:
    """Per environment, its drift checks (newest first), each item classed as new or seen
    before and linked to the last run that changed the same task on the host."""
    found = []
    for name, env in loaded.source.environments.items():
        checks: list[DriftCheck] = []
        touched: dict[tuple[str, str], Run] = {}  # (host, task) -> the last run changing it
        previous: set[tuple[str, str]] = set()
        pending: list[int] = []  # indexes of drifted checks no apply has fixed yet
        for run in (r for r in oldest_first if r.summary.env == name):
            kind, status = run.summary.kind, run.summary.status
            if kind == "drift":
                items = tuple(
                    DriftItem(
                        c.host,
                        c.task,
                        c.diff,
                        new=(c.host, c.task) not in previous,
                        touched_by=touched.get((c.host, c.task)),
                    )
                    for c in run.changes
                )
                state = "drifted" if items else "clean" if status in GOOD else "failed"
                checks.append(DriftCheck(run, state, items, None))
                previous = {(c.host, c.task) for c in run.changes}
                if items:
                    pending.append(len(checks) - 1)
            elif kind in ("apply", releases.ROLLBACK) and status not in {Status.REFUSED}:
                for change in run.changes:
                    touched[(change.host, change.task)] = run
                if kind == "apply" and status in GOOD:
                    for index in pending:
                        checks[index] = replace(checks[index], fixed_by=run)
                    pending = []
        # A host a check found drifted keeps its row when the source no longer names it.
        hosts = set(env.hosts) | {item.host for check in checks for item in check.items}
        found.append(EnvDrift(name, sorted(hosts), list(reversed(checks))))
    return found


def _live(plans: list[Plan]) -> list[LiveSet]:
    """Per environment, the live comparison of its newest plan that made one."""
    seen: set[str] = set()
    found = []
    for plan in plans:  # newest first
        if plan.live is None or plan.env in seen:
            continue
        seen.add(plan.env)
        found.append(
            LiveSet(
                env=plan.env,
                source=str(plan.live.get("source", "")),
                plan=plan,
                unexplained=list(plan.live.get("unexplained") or []),
                excused=list(plan.live.get("excused") or []),
                allowed=int(plan.live.get("allowed") or 0),
            )
        )
    return found


def matrix(loaded: LoadedSource, envs: list[str]) -> list[MatrixRow]:
    """Every variable each group gets in `envs`, with where it comes from and the parity
    verdict (parity.differences judges; the rows it does not name are the same everywhere)."""
    layers = parity.Layers(loaded)
    judged = {(d.group, d.name): d for d in parity.differences(loaded, envs, layers)}
    rows = []
    for group in sorted(loaded.source.groups):
        per_env = [layers.effective(env, group) for env in envs]
        for name in sorted(set().union(*per_env)):
            if name.startswith(parity.INHERENT):
                continue
            cells = [
                Cell(repr(values[name].value), *provenance(values[name].where, loaded.path))
                if name in values
                else None
                for values in per_env
            ]
            difference = judged.get((group, name))
            if difference is None:
                rows.append(MatrixRow(group, name, cells, "same", ""))
            else:
                verdict = "allowed" if difference.allowed else "not allowed"
                rows.append(MatrixRow(group, name, cells, verdict, difference.reason))
    return rows


def _card(ledger: Ledger, loaded: LoadedSource, name: str, site: Site) -> EnvCard:
    env = loaded.source.environments[name]
    mine = [run for run in site.runs if run.summary.env == name]
    applies = [run for run in mine if run.summary.kind == "apply"]
    app = parity.Layers(loaded).effective(name, "app") if "app" in loaded.source.groups else {}
    release = str(app["app_release"].value) if "app_release" in app else "-"
    lock = ledger.holder(name)
    drift = next((d for d in site.drift if d.env == name), None)
    last_drift = drift.checks[0] if drift and drift.checks else None
    return EnvCard(
        name=name,
        page=page_name(name),
        description=env.description,
        release=release,
        deployed=deployed(env.hosts_in("app"), mine),
        approval_required=env.approval_required,
        promoted_from=env.promoted_from,
        hosts=sorted(env.hosts),
        last_apply=applies[0] if applies else None,
        lock=lock,
        lock_since=age(lock.since, site.now) if lock else "",
        last_drift=last_drift,
        drift_age=age(last_drift.run.summary.started_at, site.now) if last_drift else "",
        waiting=[
            p for p in site.plans if p.env == name and p.state in ("awaiting approval", "approved")
        ],
        runs=mine[:RECENT],
    )


def _evidence(loaded: LoadedSource, site: Site) -> list[Evidence]:
    """One record per apply of an environment that needs approval."""
    plans = {plan.plan_id: plan for plan in site.plans}
    compared: dict[tuple[str, ...], list[MatrixRow]] = {}  # the same pair for every apply
    found = []
    for run in site.runs:
        env = loaded.source.environments.get(run.summary.env)
        if run.summary.kind != "apply" or env is None or not env.approval_required:
            continue
        plan = plans.get(run.plan_id or "")
        envs = [e for e in (env.promoted_from, run.summary.env) if e]
        if tuple(envs) not in compared:
            rows = matrix(loaded, envs) if len(envs) > 1 else []
            compared[tuple(envs)] = [row for row in rows if row.verdict != "same"]
        accepted = [
            item
            for entry in run.entries
            if entry.kind == live_gate.OVERRIDE
            for item in entry.payload.get("differences") or []
        ]
        hashes = list(run.entries)
        if plan is not None:
            hashes += [plan.entry, *(a.entry for a in plan.approvals)]
        found.append(
            Evidence(
                run=run,
                page=run.page,
                plan=plan,
                parity=compared[tuple(envs)],
                parity_envs=envs,
                accepted=accepted,
                hashes=sorted(hashes, key=lambda e: e.id),
            )
        )
    return found
