"""How a run ends: its status in the ledger, its exit code, and what it says about it. Decided
here and nowhere else, from what happened, in the order it happens.

A playbook run (apply, check, plan, rollback) ends when its playbook does, unless it was a full
apply that went through: then the post-deploy gate decides, and a failed apply or gate rolls back
the hosts whose release the run switched. The workflow tells an Outcome each step's result
(played, gated, rolled_back); each answer is what to say now and what to do next, so the lines
come out in the order things happen. Outcome.status and Outcome.code are the run's, once it
ended. The exit codes are errors.py's (README "Commands").

drift and the gate by hand end in one step: drift_ending and gate_ending.
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.deploy import releases
from provisioner.deploy.gate import GateResult
from provisioner.deploy.observer import escaped
from provisioner.errors import EXIT_DRIFT, EXIT_FAILED, EXIT_GATE, EXIT_OK, EXIT_PREFLIGHT
from provisioner.run import tasks
from provisioner.run.request import RunResult
from provisioner.run.status import Status

CHANGED = "changed"  # what a run's tasks did: "5 tasks changed"
WOULD_CHANGE = "would change"  # ... in check mode: "5 tasks would change"


@dataclass(frozen=True)
class Next:
    """What to say now (the observer's `say` lines), and what the run does next."""

    lines: tuple[str, ...] = ()
    gate: bool = False  # run the post-deploy gate
    roll_back: str | None = None  # roll back Outcome.switched, for this reason


@dataclass(frozen=True)
class Ending:
    """A one-step run's exit code and what it says."""

    code: int
    lines: tuple[str, ...]


@dataclass(frozen=True)
class GateEnding(Ending):
    status: str  # a gate run is not a playbook: its status in the ledger is said here


class Outcome:
    """One playbook run's end, decided step by step (see the module's docstring)."""

    def __init__(self, env: str, run_id: str, *, verb: str, deploy: bool, tags: bool = False):
        self.env = env
        self.run_id = run_id
        self.verb = verb
        self.deploy = deploy  # an apply: the gate and the rollback follow the playbook
        self.tags = tags  # only some roles ran: the environment is not the whole stack to gate
        self.status: str | None = None  # None: as the playbook ended (Recorded.finish)
        self.code = EXIT_OK
        self.switched: list[str] = []  # the hosts whose release this run switched
        self.gate_failed = False

    def played(self, result: RunResult, *, canceled: int | None) -> Next:
        """The playbook ended (`canceled`: the exit code of the signal that stopped it)."""
        ended = self._ended(result, canceled)
        if not self.deploy or canceled is not None or self.code == EXIT_PREFLIGHT:
            return Next(ended)
        env = self.env
        if self.tags:
            return Next(
                (*ended, f"• --tags: no post-deploy gate (run it with: provision.py gate {env})")
            )
        self.switched = releases.switched_hosts(result.changes)
        if not result.succeeded:
            return Next(ended, roll_back="the apply failed" if self.switched else None)
        if result.changed == 0:
            return Next(
                (
                    *ended,
                    "• nothing changed, so no post-deploy gate (run it with: provision.py gate "
                    f"{env})",
                )
            )
        return Next(ended, gate=True)

    def _ended(self, result: RunResult, canceled: int | None) -> tuple[str, ...]:
        """How the playbook ended: the exit code so far, and the lines that say it."""
        env, run_id = self.env, self.run_id
        if canceled is not None:
            self.code = canceled
            return (
                f"[red]{env}: canceled[/] (run {run_id}); {result.changed} tasks had {self.verb}",
            )
        if result.succeeded:
            self.code = EXIT_OK
            return (f"[green]{env}: ok[/], {result.changed} tasks {self.verb} (run {run_id})",)
        short = [f for f in result.failures if f.task == tasks.PREFLIGHT.name and f.message]
        if short:
            self.code = EXIT_PREFLIGHT
            return (
                *(f"[red]{escaped(failure.message)}[/]" for failure in short),
                f"[red]{env}: refused by the pre-flight check[/] (run {run_id}); nothing "
                "was changed. The minimums are the environment's `capacity` in the source "
                "of truth.",
            )
        self.code = EXIT_FAILED
        return (
            f"[red]{env}: {result.status}[/] (run {run_id}); "
            f"artifacts in {escaped(result.artifacts)}",
        )

    def gated(self, verdict: GateResult) -> Next:
        """The post-deploy gate ended."""
        if verdict.passed:
            return Next()
        self.code = EXIT_GATE
        self.status = Status.GATE_FAILED
        self.gate_failed = True
        if not self.switched:
            return Next(
                (
                    f"[red]{self.env}: gate failed[/] (run {self.run_id}); this run did not switch "
                    "the release, so there is nothing to roll back to",
                )
            )
        return Next(roll_back=f"the gate failed: {verdict.reason}")

    def rolled_back(self, succeeded: bool) -> Next:
        """The rollback of the switched hosts ended."""
        if not self.gate_failed:  # the apply failed: its exit code stands
            self.status = Status.ROLLED_BACK if succeeded else None
            return Next()
        if succeeded:
            self.status = Status.ROLLED_BACK
            return Next(
                (f"[red]{self.env}: gate failed, release rolled back[/] (run {self.run_id})",)
            )
        self.status = Status.GATE_FAILED
        return Next(
            (f"[red]{self.env}: gate failed, and the rollback failed too[/] (run {self.run_id})",)
        )


def drift_ending(env: str, result: RunResult, *, canceled: int | None) -> Ending:
    """A drift check: exit 3 when anything would change (its status is the playbook's)."""
    if not result.succeeded or canceled is not None:
        return Ending(
            EXIT_FAILED if canceled is None else canceled,
            (f"[red]{env}: drift check incomplete ({result.status})[/]",),
        )
    if result.changes:
        hosts = sorted({c.host for c in result.changes})
        return Ending(
            EXIT_DRIFT,
            (
                f"[yellow]{env}: drift on {len(hosts)} host(s): {', '.join(hosts)}; "
                f"{len(result.changes)} task(s) would change[/]",
            ),
        )
    return Ending(EXIT_OK, (f"[green]{env}: no drift[/]",))


def gate_ending(env: str, run_id: str, verdict: GateResult) -> GateEnding:
    """The post-deploy gate by hand."""
    if verdict.passed:
        return GateEnding(
            EXIT_OK, (f"[green]{env}: gate passed[/] (run {run_id})",), Status.SUCCESSFUL
        )
    return GateEnding(
        EXIT_GATE,
        (f"[red]{env}: gate failed[/] (run {run_id}): {escaped(verdict.reason)}",),
        Status.FAILED,
    )
