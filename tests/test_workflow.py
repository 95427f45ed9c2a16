"""The CI provisioning job: .github/workflows/provision.yml and scripts/pipeline.sh.

No hosts, no network, no GitHub: the workflow is validated against GitHub's workflow schema as
vendored by check-jsonschema (offline), its wiring is checked against the stages the script
really has, and the script runs here either where it fails before touching anything or in a
copy of the repo whose `.venv/bin/python` is a stub that records each provision.py call.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from graphlib import CycleError, TopologicalSorter
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pipelinescript import PIPELINE, script_array

from provisioner.source import secrets

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / ".github" / "workflows" / "provision.yml"

# The stages every run (pull requests too) passes before anything is deployed.
PRE_DEPLOY = ["check", "molecule"]
# Which environment each deploy stage touches (for the vault password files it needs).
STAGE_ENV = {
    "staging": "staging",
    "gate-staging": "staging",
    "plan-prod": "prod",
    "approve-prod": "prod",
    "promote-prod": "prod",
}
# The stages after the deploy: they read the ledger and touch no environment.
AFTER_DEPLOY = ["report"]
# What provision.py commands each stage of the local sequence runs.
STAGE_COMMANDS = {
    "staging": ["staging"],
    "gate-staging": ["gate staging"],
    "plan-prod": ["plan prod"],
    "approve-prod": ["approve prod {plan_id}"],
    "promote-prod": ["promote staging prod"],
    "report": [
        "report --out .state/report",
        "report --out .state/report --check",
        "history --verify",
    ],
}
LEDGER_URL_EXPR = "${{ secrets.PROVISION_LEDGER_URL }}"
ONLY_MAIN_PUSH = ("github.event_name == 'push'", "github.ref == 'refs/heads/main'")


# --- reading the workflow and the script ----------------------------------------------------


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's booleans, as GitHub reads workflows: `on` is a
    string key there, while YAML 1.1 (PyYAML's default) makes it the boolean True."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_workflow(path: Path = WORKFLOW) -> dict[str, Any]:
    doc = yaml.load(path.read_text(encoding="utf-8"), Loader=Yaml12Loader)  # noqa: S506 - safe
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return load_workflow()


def case_labels() -> list[str]:
    """The stages pipeline.sh dispatches: its case labels `name) stage_name ;;`."""
    text = PIPELINE.read_text(encoding="utf-8")
    pairs = re.findall(r"^\s+([a-z][a-z-]*)\) (stage_\w+) ;;$", text, re.M)
    for label, function in pairs:
        assert function == "stage_" + label.replace("-", "_"), (label, function)
        assert re.search(rf"^{function}\(\) \{{$", text, re.M), f"{function} is not defined"
    return [label for label, _ in pairs]


def pipeline_stages_called(step: dict[str, Any]) -> list[str]:
    """The stages a step's `run:` passes to scripts/pipeline.sh, in order."""
    stages: list[str] = []
    for line in str(step.get("run", "")).splitlines():
        if "scripts/pipeline.sh" not in line:
            continue
        words = shlex.split(line, comments=True)
        if "scripts/pipeline.sh" in words:
            stages += words[words.index("scripts/pipeline.sh") + 1 :]
    return stages


def job_stages(job: dict[str, Any]) -> list[str]:
    return [stage for step in job.get("steps", []) for stage in pipeline_stages_called(step)]


def needs(job: dict[str, Any]) -> list[str]:
    value = job.get("needs", [])
    return [value] if isinstance(value, str) else list(value)


def job_order(workflow: dict[str, Any]) -> list[str]:
    """The jobs in the order `needs:` runs them; the graph must be a single chain."""
    jobs = workflow["jobs"]
    graph = {name: needs(job) for name, job in jobs.items()}
    order = list(TopologicalSorter(graph).static_order())
    for before, after in itertools.pairwise(order):
        assert graph[after] == [before], f"jobs are not one chain: {after} needs {graph[after]}"
    return order


def ancestors(workflow: dict[str, Any], name: str) -> list[str]:
    jobs = workflow["jobs"]
    seen: list[str] = []
    todo = needs(jobs[name])
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.append(current)
            todo += needs(jobs[current])
    return seen


# --- the schema -------------------------------------------------------------------------------


def vendored_schema(package: str, name: str) -> dict[str, Any]:
    """A schema check-jsonschema ships (`--builtin-schema vendor.github-workflows`)."""
    text = resources.files(f"check_jsonschema.builtin_schemas.{package}").joinpath(name)
    schema = json.loads(text.read_text(encoding="utf-8"))
    assert isinstance(schema, dict)
    return schema


@pytest.fixture(scope="module")
def schema_errors() -> Callable[[dict[str, Any]], list[str]]:
    """Validate against GitHub's workflow schema and the require-timeout schema."""
    validators = []
    for package, name in [
        ("vendor", "github-workflows.json"),
        ("custom", "github-workflows-require-timeout.json"),
    ]:
        schema = vendored_schema(package, name)
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        validators.append((name, cls(schema, format_checker=cls.FORMAT_CHECKER)))

    def errors(doc: dict[str, Any]) -> list[str]:
        return [
            f"{name}: {'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
            for name, validator in validators
            for error in validator.iter_errors(doc)
        ]

    return errors


def test_workflow_matches_githubs_schema(
    workflow: dict[str, Any], schema_errors: Callable[[dict[str, Any]], list[str]]
) -> None:
    assert schema_errors(workflow) == []


def _rename_job_key(doc: dict[str, Any]) -> None:
    doc["jobs"]["check"]["runs_on"] = doc["jobs"]["check"].pop("runs-on")


def _no_timeout(doc: dict[str, Any]) -> None:
    del doc["jobs"]["prod"]["timeout-minutes"]


def _bad_permission(doc: dict[str, Any]) -> None:
    doc["permissions"]["contents"] = "readonly"


def _step_with_two_actions(doc: dict[str, Any]) -> None:
    doc["jobs"]["check"]["steps"][0]["run"] = "true"  # a step is `uses` or `run`, not both


@pytest.mark.parametrize(
    "mutate",
    [_rename_job_key, _no_timeout, _bad_permission, _step_with_two_actions],
)
def test_schema_check_rejects_a_broken_workflow(
    workflow: dict[str, Any],
    schema_errors: Callable[[dict[str, Any]], list[str]],
    mutate: Callable[[dict[str, Any]], None],
) -> None:
    broken = copy.deepcopy(workflow)
    mutate(broken)
    assert schema_errors(broken) != []


def test_on_key_is_read_as_github_reads_it(
    workflow: dict[str, Any], schema_errors: Callable[[dict[str, Any]], list[str]]
) -> None:
    assert set(workflow["on"]) == {"push", "pull_request", "workflow_dispatch"}
    # Why Yaml12Loader: PyYAML's default (YAML 1.1) turns `on` into True, which GitHub does not.
    yaml11 = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert "on" not in yaml11
    assert True in yaml11
    assert schema_errors(yaml11) != []


# --- the wiring between the workflow and the script -------------------------------------------


def test_script_stage_list_matches_its_dispatch() -> None:
    assert case_labels() == script_array("STAGES")
    assert set(script_array("LOCAL_SEQUENCE")) <= set(script_array("STAGES"))


def test_every_pipeline_call_names_stages_that_exist(workflow: dict[str, Any]) -> None:
    stages = set(case_labels())
    calls = 0
    for name, job in workflow["jobs"].items():
        for stage in job_stages(job):
            calls += 1
            assert stage in stages, f"job {name} calls unknown stage {stage!r}"
    assert calls > 0


def test_needs_graph_is_acyclic_and_ends_with_prod(workflow: dict[str, Any]) -> None:
    jobs = workflow["jobs"]
    for name, job in jobs.items():
        for need in needs(job):
            assert need in jobs, f"job {name} needs unknown job {need}"
    graph = {name: needs(job) for name, job in jobs.items()}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        pytest.fail(f"needs: has a cycle: {exc.args[1]}")
    needed = {need for job in jobs.values() for need in needs(job)}
    assert [name for name in jobs if name not in needed] == ["prod"]
    assert order[-1] == "prod"
    assert set(ancestors(workflow, "prod")) == set(jobs) - {"prod"}


def test_needs_graph_check_catches_a_cycle(workflow: dict[str, Any]) -> None:
    broken = copy.deepcopy(workflow)
    broken["jobs"]["check"]["needs"] = "prod"
    with pytest.raises(CycleError):
        job_order(broken)


def test_prod_is_behind_the_protected_environment(workflow: dict[str, Any]) -> None:
    environment = workflow["jobs"]["prod"]["environment"]
    name = environment["name"] if isinstance(environment, dict) else environment
    assert name == "production"
    assert workflow["jobs"]["staging"]["environment"] == "staging"


def test_workflow_runs_the_local_sequence_in_the_same_order(workflow: dict[str, Any]) -> None:
    called = [stage for name in job_order(workflow) for stage in job_stages(workflow["jobs"][name])]
    assert called == PRE_DEPLOY + script_array("LOCAL_SEQUENCE")
    assert script_array("LOCAL_SEQUENCE") == [*STAGE_ENV, *AFTER_DEPLOY]


def test_deploy_jobs_share_the_ledger_and_name_the_actor(workflow: dict[str, Any]) -> None:
    for name, job in workflow["jobs"].items():
        deploys = [stage for stage in job_stages(job) if stage in STAGE_ENV]
        if not deploys:
            assert "PROVISION_LEDGER_URL" not in job.get("env", {}), name
            continue
        assert job["env"]["PROVISION_LEDGER_URL"] == LEDGER_URL_EXPR, name
        assert job["env"]["PROVISION_IDENTITY"] == "github:${{ github.triggering_actor }}", name
        assert "github.ref" in job["concurrency"]["group"], name
        assert job["concurrency"]["cancel-in-progress"] is False, name
        # Nothing is deployed from a pull request: the job or one it needs excludes them.
        conditions = [workflow["jobs"][j].get("if", "") for j in [name, *ancestors(workflow, name)]]
        assert any(
            "github.event_name != 'pull_request'" in c or "github.event_name == 'push'" in c
            for c in conditions
        ), name


def test_prod_stages_run_only_on_a_push_to_main(workflow: dict[str, Any]) -> None:
    for name, job in workflow["jobs"].items():
        if any(STAGE_ENV.get(stage) == "prod" for stage in job_stages(job)):
            for condition in ONLY_MAIN_PUSH:
                assert condition in job.get("if", ""), f"job {name}: {condition}"


def test_vault_password_files_are_the_ones_the_tool_reads(
    workflow: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, job in workflow["jobs"].items():
        wanted = {STAGE_ENV[stage] for stage in job_stages(job) if stage in STAGE_ENV}
        written: set[str] = set()
        for step in job["steps"]:
            run = str(step.get("run", ""))
            for variable in re.findall(r"(PROVISION_VAULT_PASSWORD_FILE_\w+)=", run):
                env_name = variable.removeprefix("PROVISION_VAULT_PASSWORD_FILE_").lower()
                written.add(env_name)
                secret = f"${{{{ secrets.VAULT_PASSWORD_{env_name.upper()} }}}}"
                assert step["env"]["VAULT_PASSWORD"] == secret, name
                assert run.index("umask 077") < run.index(">"), f"{name}: file made before umask"
                assert '"$RUNNER_TEMP/' in run, name
                # The name provisioner.source.secrets really reads for that environment:
                monkeypatch.setenv(variable, str(tmp_path / "pw"))
                assert secrets.password_file(env_name) == tmp_path / "pw"
        assert written == wanted, f"job {name} writes vault files for {written}, needs {wanted}"


def test_prod_approval_is_recorded_as_the_reviewer(workflow: dict[str, Any]) -> None:
    plan_job = workflow["jobs"]["plan-prod"]
    output = plan_job["outputs"]["plan_id"]
    step_id = re.fullmatch(r"\$\{\{ steps\.(\w+)\.outputs\.plan_id \}\}", output)
    assert step_id, plan_job["outputs"]
    plan_step = next(step for step in plan_job["steps"] if step.get("id") == step_id.group(1))
    assert pipeline_stages_called(plan_step) == ["plan-prod"]

    prod = workflow["jobs"]["prod"]
    assert prod["permissions"] == {"contents": "read", "actions": "read"}
    steps = prod["steps"]
    reviewer = next(i for i, step in enumerate(steps) if step.get("id") == "reviewer")
    approve = next(i for i, s in enumerate(steps) if pipeline_stages_called(s) == ["approve-prod"])
    promote = next(i for i, s in enumerate(steps) if pipeline_stages_called(s) == ["promote-prod"])
    assert reviewer < approve < promote
    assert "/actions/runs/$GITHUB_RUN_ID/approvals" in steps[reviewer]["run"]
    assert steps[reviewer]["env"]["GH_TOKEN"] == "${{ github.token }}"  # noqa: S105 - a reference
    assert steps[approve]["env"] == {
        "PLAN_ID": "${{ needs.plan-prod.outputs.plan_id }}",
        "APPROVER": "github:${{ steps.reviewer.outputs.login }}",
    }
    assert steps[promote]["env"]["PROVISION_IDENTITY"] == "github:${{ github.triggering_actor }}"


def test_no_expression_is_pasted_into_a_script(workflow: dict[str, Any]) -> None:
    """Values reach `run:` through env only, so no title or login is ever run as code."""
    for name, job in workflow["jobs"].items():
        for step in job["steps"]:
            assert "${{" not in str(step.get("run", "")), f"job {name}: {step.get('name')}"


def test_permissions_are_read_only(workflow: dict[str, Any]) -> None:
    assert workflow["permissions"] == {"contents": "read"}
    for name, job in workflow["jobs"].items():
        assert "write" not in json.dumps(job.get("permissions", {})), name


# --- the script itself ------------------------------------------------------------------------


# What the caller's environment might set that would change what the script does.
SCRIPT_INPUTS = {
    "PLAN_ID",
    "APPROVER",
    "GITHUB_OUTPUT",
    "PROVISION_IDENTITY",
    "PROVISION_LEDGER_URL",
    "PROVISION_SIGNING_KEY",
    "PROVISION_ALLOWED_SIGNERS",
    "APPROVER_SIGNING_KEY",
    "APPROVE_REASON",
}


def clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in SCRIPT_INPUTS}
    env.update(extra)
    return env


def run_script(script: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_script_syntax() -> None:
    subprocess.run(["bash", "-n", str(PIPELINE)], check=True)
    assert os.access(PIPELINE, os.X_OK)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_script_is_shellcheck_clean() -> None:
    result = subprocess.run(
        ["shellcheck", str(PIPELINE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout


@pytest.fixture
def safe_env(tmp_path: Path) -> dict[str, str]:
    """For the real script: should a check below ever let a stage through, its run goes to a
    throwaway ledger, not the repo's."""
    return clean_env(PROVISION_LEDGER_URL=f"sqlite:///{tmp_path}/ledger.sqlite3")


def test_unknown_stage_exits_2_with_the_stage_list(safe_env: dict[str, str]) -> None:
    result = run_script(PIPELINE, "bogus", env=safe_env)
    assert result.returncode == 2, result
    assert "unknown stage 'bogus'" in result.stderr
    assert "stages: " + " ".join(case_labels()) in result.stderr
    assert "== stage" not in result.stdout


def test_no_stage_exits_2(safe_env: dict[str, str]) -> None:
    result = run_script(PIPELINE, env=safe_env)
    assert result.returncode == 2
    assert "no stage given" in result.stderr


def test_approve_prod_without_plan_id_or_approver_exits_2(safe_env: dict[str, str]) -> None:
    result = run_script(PIPELINE, "approve-prod", env=safe_env)
    assert result.returncode == 2, result
    assert "approve-prod needs PLAN_ID" in result.stderr
    assert "approve-prod needs APPROVER" in result.stderr
    assert "approve-prod needs APPROVER_SIGNING_KEY" in result.stderr

    result = run_script(PIPELINE, "approve-prod", env=safe_env | {"PLAN_ID": "61a9e3fd4657"})
    assert result.returncode == 2, result
    assert "PLAN_ID" not in result.stderr.replace("needs APPROVER", "")
    assert "approve-prod needs APPROVER" in result.stderr


# A copy of the repo whose .venv/bin/python records provision.py calls instead of making them.
STUB_PYTHON = """#!/usr/bin/env bash
if [ "$1" = -c ]; then exec {real} "$@"; fi  # the script's own JSON reading
shift  # provision.py
printf '%s|%s|%s|%s|%s\\n' "$*" "${{PROVISION_IDENTITY:-}}" "$CONTAINERS_CONF" "$ANSIBLE_CONFIG" \\
  "${{PROVISION_SIGNING_KEY:-}}" >>"$STUB_LOG"
if [ "$*" = "plan prod" ]; then
  mkdir -p .state/runs/prod
  printf '%s' "$STUB_PLAN_JSON" >.state/runs/prod/last-plan.json
fi
if [ "$*" = "${{STUB_FAIL_ON:-}}" ]; then exit "$STUB_FAIL_CODE"; fi
exit 0
"""

STUB_MAKEFILE = """lint molecule:
\t@echo "make $@|||" >>"$$STUB_LOG"
"""


class StubRepo:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.log = root / "calls.log"
        self.script = root / "scripts" / "pipeline.sh"
        self.script.parent.mkdir()
        shutil.copy2(PIPELINE, self.script)
        python = root / ".venv" / "bin" / "python"
        python.parent.mkdir(parents=True)
        python.write_text(STUB_PYTHON.format(real=shlex.quote(sys.executable)), encoding="utf-8")
        python.chmod(0o755)
        (root / "Makefile").write_text(STUB_MAKEFILE, encoding="utf-8")

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        base = {"STUB_LOG": str(self.log), "STUB_PLAN_JSON": '{"plan_id": "p1an5eed"}'}
        return run_script(self.script, *args, env=clean_env(**(base | env)))

    def calls(self) -> list[tuple[str, str]]:
        """(provision.py arguments, identity) of every call, in order."""
        if not self.log.exists():
            return []
        rows = [line.split("|") for line in self.log.read_text(encoding="utf-8").splitlines()]
        for row in rows:
            if not row[0].startswith("make "):
                assert row[2:4] == [
                    str(self.root / "hosts" / "containers.conf"),
                    str(self.root / "ansible.cfg"),
                ]
        return [(row[0], row[1]) for row in rows]

    def keys(self) -> list[str]:
        """The signing key (PROVISION_SIGNING_KEY) of every provision.py call, in order."""
        rows = [line.split("|") for line in self.log.read_text(encoding="utf-8").splitlines()]
        return [row[4] for row in rows if not row[0].startswith("make ")]


@pytest.fixture
def stub(tmp_path: Path) -> StubRepo:
    return StubRepo(tmp_path)


def test_local_runs_the_deploy_stages_as_two_identities(stub: StubRepo) -> None:
    result = stub.run("local", PLAN_ID="stale-plan-from-elsewhere")
    assert result.returncode == 0, result.stderr
    sequence = script_array("LOCAL_SEQUENCE")
    assert stub.calls() == [
        (
            command.format(plan_id="p1an5eed"),
            "ci-approver" if stage == "approve-prod" else "ci-pipeline",
        )
        for stage in sequence
        for command in STAGE_COMMANDS[stage]
    ]
    headers = re.findall(r"^== stage (\S+)$", result.stdout, re.M)
    assert headers == ["local", *sequence]
    passed = re.findall(r"^== stage (\S+) passed in \d+s$", result.stdout, re.M)
    assert passed == [*sequence, "local"]


def test_local_keeps_identities_given_by_the_caller(stub: StubRepo) -> None:
    result = stub.run("local", PROVISION_IDENTITY="alice", APPROVER="bob")
    assert result.returncode == 0, result.stderr
    assert [who for _, who in stub.calls()] == ["alice", "alice", "alice", "bob", *["alice"] * 4]


def test_check_stage(stub: StubRepo) -> None:
    result = stub.run("check")
    assert result.returncode == 0, result.stderr
    assert stub.calls() == [("inventory --check", ""), ("make lint", "")]


def test_plan_prod_writes_the_plan_id_to_the_step_output(stub: StubRepo, tmp_path: Path) -> None:
    output = tmp_path / "github_output"
    output.write_text("earlier=1\n", encoding="utf-8")
    result = stub.run("plan-prod", GITHUB_OUTPUT=str(output))
    assert result.returncode == 0, result.stderr
    assert "plan id p1an5eed" in result.stdout
    assert output.read_text(encoding="utf-8") == "earlier=1\nplan_id=p1an5eed\n"


@pytest.mark.parametrize(
    ("plan_json", "message"),
    [
        ("{}", "has no plan_id"),
        ("not json", "cannot read the plan id"),
        ('{"plan_id": "a\\nplan_id=forged"}', "unexpected plan_id"),
    ],
)
def test_plan_prod_refuses_a_bad_plan_file(
    stub: StubRepo, tmp_path: Path, plan_json: str, message: str
) -> None:
    output = tmp_path / "github_output"
    result = stub.run("plan-prod", GITHUB_OUTPUT=str(output), STUB_PLAN_JSON=plan_json)
    assert result.returncode == 1
    assert message in result.stderr
    assert "== stage plan-prod failed (exit 1)" in result.stderr
    assert not output.exists()


def test_approve_prod_runs_as_the_approver(stub: StubRepo) -> None:
    key = str(stub.root / "bob.key")
    result = stub.run(
        "approve-prod", PLAN_ID="61a9e3fd4657", APPROVER="github:bob", APPROVER_SIGNING_KEY=key
    )
    assert result.returncode == 0, result.stderr
    assert stub.calls() == [("approve prod 61a9e3fd4657", "github:bob")]
    assert stub.keys() == [key]  # signed with the approver's key, whatever else is set


def test_local_signs_with_throwaway_keys_of_two_people(stub: StubRepo) -> None:
    result = stub.run("local")
    assert result.returncode == 0, result.stderr
    rehearsal = stub.root / ".state" / "rehearsal"
    pipeline, approver = str(rehearsal / "ci-pipeline"), str(rehearsal / "ci-approver")
    sequence = script_array("LOCAL_SEQUENCE")
    assert stub.keys() == [
        approver if stage == "approve-prod" else pipeline
        for stage in sequence
        for _ in STAGE_COMMANDS[stage]
    ]
    listed = (rehearsal / "allowed_signers").read_text().splitlines()
    assert [line.split()[0] for line in listed] == ["ci-pipeline", "ci-approver"]
    for line, who in zip(listed, ("ci-pipeline", "ci-approver"), strict=True):
        assert line.endswith((rehearsal / f"{who}.pub").read_text().strip())
    assert (rehearsal / "ci-pipeline").stat().st_mode & 0o077 == 0


def test_a_failed_stage_stops_the_pipeline_with_its_exit_code(stub: StubRepo) -> None:
    result = stub.run("local", STUB_FAIL_ON="promote staging prod", STUB_FAIL_CODE="4")
    assert result.returncode == 4
    assert "== stage promote-prod failed (exit 4)" in result.stderr

    stub.log.unlink()
    result = stub.run("staging", "gate-staging", STUB_FAIL_ON="staging", STUB_FAIL_CODE="1")
    assert result.returncode == 1
    assert stub.calls() == [("staging", "")]


def test_stages_are_checked_before_any_runs(stub: StubRepo) -> None:
    result = stub.run("staging", "bogus")
    assert result.returncode == 2
    assert stub.calls() == []
