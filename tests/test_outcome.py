"""How a run ends (deploy/outcome.py), without hosts: each combination of what happened gives the
status the ledger records, the exit code (errors.py, README "Commands") and what is said."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pytest
from rich.console import Console

from provisioner.deploy.gate import Check, GateResult
from provisioner.deploy.observer import escaped, plain, printable
from provisioner.deploy.outcome import (
    CHANGED,
    WOULD_CHANGE,
    Outcome,
    drift_ending,
    gate_ending,
)
from provisioner.errors import (
    EXIT_DRIFT,
    EXIT_FAILED,
    EXIT_GATE,
    EXIT_OK,
    EXIT_PREFLIGHT,
)
from provisioner.run import tasks
from provisioner.run.changes import Change
from provisioner.run.request import Failure, HostStats, RunResult
from provisioner.run.status import Status

SIGINT_EXIT = 130
SIGTERM_EXIT = 143
PASSED = GateResult((Check("health", True, "2 hosts answer /health"),), None)
FAILED = GateResult((Check("health", False, "no answer from qa-app-1 (failed)"),), None)


def played(
    *,
    succeeded: bool = True,
    changed: int = 2,
    switched: bool = True,
    preflight: bool = False,
) -> RunResult:
    changes = [Change("qa-app-1", tasks.RELEASE_SWITCH.name, "app", "file", "")] if switched else []
    failures = [Failure("qa-db-1", tasks.PREFLIGHT.name, "qa-db-1 is short")] if preflight else []
    stats = HostStats(ok=5, changed=changed, failed=0 if succeeded else 1)
    return RunResult(
        env="qa",
        status=Status.SUCCESSFUL if succeeded else Status.FAILED,
        rc=0 if succeeded else 2,
        hosts={"qa-app-1": stats},
        changes=changes,
        failures=failures,
    )


@dataclass
class Story:
    """What the workflow would do with the outcome's answers, and what came of it."""

    status: str | None
    code: int
    lines: list[str]
    gated: bool = False
    rolled_back: list[str] = field(default_factory=list)


def run_through(
    outcome: Outcome,
    result: RunResult,
    *,
    canceled: int | None = None,
    gate: GateResult | None = None,
    rollback_ok: bool = True,
) -> Story:
    """Step through an outcome as workflow.apply does: played, then gated, then rolled back."""
    lines: list[str] = []
    story = Story(None, 0, lines)
    step = outcome.played(result, canceled=canceled)
    lines += step.lines
    if step.gate:
        assert gate is not None, "the gate was asked for"
        story.gated = True
        step = outcome.gated(gate)
        lines += step.lines
    if step.roll_back is not None:
        story.rolled_back = [*outcome.switched, step.roll_back]
        lines += outcome.rolled_back(rollback_ok).lines
    story.status, story.code = outcome.status, outcome.code
    story.lines = [plain(line) for line in lines]
    return story


def apply_outcome(*, tags: bool = False) -> Outcome:
    return Outcome("qa", "r1", verb=CHANGED, deploy=True, tags=tags)


@pytest.mark.parametrize("verb", [WOULD_CHANGE, CHANGED])
def test_a_run_without_a_gate_ends_as_its_playbook(verb: str) -> None:
    """check, plan and a rollback by hand: the playbook's end is the run's."""
    ok = run_through(Outcome("qa", "r1", verb=verb, deploy=False), played())
    assert (ok.status, ok.code, ok.gated, ok.rolled_back) == (None, EXIT_OK, False, [])
    assert ok.lines == [f"qa: ok, 2 tasks {verb} (run r1)"]
    failed = run_through(Outcome("qa", "r1", verb=verb, deploy=False), played(succeeded=False))
    assert (failed.status, failed.code, failed.rolled_back) == (None, EXIT_FAILED, [])
    assert failed.lines == ["qa: failed (run r1); artifacts in None"]


def test_a_canceled_run_exits_as_its_signal_and_goes_no_further() -> None:
    for outcome in (apply_outcome(), Outcome("qa", "r1", verb=WOULD_CHANGE, deploy=False)):
        story = run_through(outcome, played(succeeded=False), canceled=SIGTERM_EXIT)
        assert (story.status, story.code, story.gated, story.rolled_back) == (
            None,
            SIGTERM_EXIT,
            False,
            [],
        )
        assert story.lines == [f"qa: canceled (run r1); 2 tasks had {outcome.verb}"]
    interrupted = run_through(apply_outcome(), played(), canceled=SIGINT_EXIT)
    assert (interrupted.code, interrupted.gated) == (SIGINT_EXIT, False)


def test_a_preflight_refusal_exits_6_and_names_each_shortfall() -> None:
    story = run_through(apply_outcome(), played(succeeded=False, switched=False, preflight=True))
    assert (story.status, story.code, story.gated, story.rolled_back) == (
        None,
        EXIT_PREFLIGHT,
        False,
        [],
    )
    assert story.lines[0] == "qa-db-1 is short"
    assert story.lines[1].startswith("qa: refused by the pre-flight check (run r1); nothing was")


def test_with_tags_there_is_no_gate_and_no_rollback() -> None:
    ok = run_through(apply_outcome(tags=True), played())
    assert (ok.status, ok.code, ok.gated) == (None, EXIT_OK, False)
    assert ok.lines[-1] == "• --tags: no post-deploy gate (run it with: provision.py gate qa)"
    failed = run_through(apply_outcome(tags=True), played(succeeded=False))
    assert (failed.status, failed.code, failed.rolled_back) == (None, EXIT_FAILED, [])


def test_a_failed_apply_rolls_back_what_it_switched() -> None:
    done = run_through(apply_outcome(), played(succeeded=False))
    assert (done.status, done.code, done.gated) == (Status.ROLLED_BACK, EXIT_FAILED, False)
    assert done.rolled_back == ["qa-app-1", "the apply failed"]
    undone = run_through(apply_outcome(), played(succeeded=False), rollback_ok=False)
    assert (undone.status, undone.code) == (None, EXIT_FAILED)
    unswitched = run_through(apply_outcome(), played(succeeded=False, switched=False))
    assert (unswitched.status, unswitched.code, unswitched.rolled_back) == (None, EXIT_FAILED, [])


def test_an_apply_that_changed_nothing_is_not_gated() -> None:
    story = run_through(apply_outcome(), played(changed=0, switched=False))
    assert (story.status, story.code, story.gated) == (None, EXIT_OK, False)
    assert story.lines == [
        "qa: ok, 0 tasks changed (run r1)",
        "• nothing changed, so no post-deploy gate (run it with: provision.py gate qa)",
    ]


def test_a_passed_gate_keeps_the_deploy() -> None:
    story = run_through(apply_outcome(), played(), gate=PASSED)
    assert (story.status, story.code, story.gated, story.rolled_back) == (None, EXIT_OK, True, [])
    assert story.lines == ["qa: ok, 2 tasks changed (run r1)"]


def test_a_failed_gate_rolls_back_the_switched_release() -> None:
    story = run_through(apply_outcome(), played(), gate=FAILED)
    assert (story.status, story.code) == (Status.ROLLED_BACK, EXIT_GATE)
    assert story.rolled_back == [
        "qa-app-1",
        "the gate failed: health: no answer from qa-app-1 (failed)",
    ]
    assert story.lines[-1] == "qa: gate failed, release rolled back (run r1)"


def test_a_failed_gate_whose_rollback_fails_too() -> None:
    story = run_through(apply_outcome(), played(), gate=FAILED, rollback_ok=False)
    assert (story.status, story.code) == (Status.GATE_FAILED, EXIT_GATE)
    assert story.lines[-1] == "qa: gate failed, and the rollback failed too (run r1)"


def test_a_failed_gate_with_nothing_switched_has_nothing_to_roll_back() -> None:
    story = run_through(apply_outcome(), played(switched=False), gate=FAILED)
    assert (story.status, story.code, story.rolled_back) == (Status.GATE_FAILED, EXIT_GATE, [])
    assert story.lines[-1] == (
        "qa: gate failed (run r1); this run did not switch the release, so there is nothing to "
        "roll back to"
    )


def test_drift() -> None:
    assert drift_ending("qa", played(switched=False), canceled=None).code == EXIT_OK
    drifted = drift_ending("qa", played(), canceled=None)
    assert drifted.code == EXIT_DRIFT
    assert [plain(line) for line in drifted.lines] == [
        "qa: drift on 1 host(s): qa-app-1; 1 task(s) would change"
    ]
    assert drift_ending("qa", played(succeeded=False), canceled=None).code == EXIT_FAILED
    assert drift_ending("qa", played(), canceled=SIGINT_EXIT).code == SIGINT_EXIT


def test_the_gate_by_hand() -> None:
    passed = gate_ending("qa", "r1", PASSED)
    assert (passed.status, passed.code) == (Status.SUCCESSFUL, EXIT_OK)
    failed = gate_ending("qa", "r1", FAILED)
    assert (failed.status, failed.code) == (Status.FAILED, EXIT_GATE)
    assert (
        plain(failed.lines[0])
        == "qa: gate failed (run r1): health: no answer from qa-app-1 (failed)"
    )


def test_plain_drops_only_the_workflows_markup() -> None:
    assert plain("[red]qa: x[/] at [fe80::1] [bold]y[/]") == "qa: x at [fe80::1] y"


def test_a_value_in_a_say_line_is_shown_not_read_as_markup_or_a_terminal_control() -> None:
    value = "[/] [red]x[/] \x1b[2J\r"
    line = f"[red]who: {escaped(value)}[/]"
    assert plain(line) == "who: [/] [red]x[/] \\x1b[2J\\x0d"
    Console(file=io.StringIO()).print(line)  # rich reads it without a MarkupError
    assert printable("a\n\tb\x9b") == "a\\x0a\\x09b\\x9b"
    assert printable("a\n\tb", lines=True) == "a\n\tb"
