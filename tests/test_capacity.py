"""Capacity rules (group_vars/all.yml `capacity_rules`, provisioner/source/capacity.py): the
expression language, the checks with effective values and at the worst the parity contract
admits, the messages, and broken rules. Each refusal is one `error: FILE:LINE: ...` line, exit 2,
and inventories/ untouched (the bad sources of tests/bad_sources/ cover the source's side)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import InventoriesGuard, assert_one_error, run_cli

from provisioner import paths
from provisioner.source import capacity, parity
from provisioner.source.capacity import Call, Name, Num, Op, RuleSyntaxError, parse
from provisioner.source.model import load_source

SHIPPED = paths.DEFAULT_SOURCE.read_text(encoding="utf-8")
RULES = "capacity_rules"


def write_source(directory: Path, text: str) -> Path:
    path = directory / "environments.yml"
    path.write_text(text, encoding="utf-8")
    return path


# The expression language -----------------------------------------------------------------------


def test_a_check_parses_with_products_before_sums() -> None:
    left, right = parse("hosts(app) * app_workers + 3 <= postgresql_max_connections / 2")
    assert left == Op("+", Op("*", Call("hosts", "app"), Name("app_workers")), Num(3))
    assert right == Op("/", Name("postgresql_max_connections"), Num(2))


def test_parentheses_and_peak_fields_parse() -> None:
    left, _ = parse("2 * (peak.requests_per_second + 1.5) <= cpus(web)")
    assert left == Op("*", Num(2), Op("+", Name("peak.requests_per_second"), Num(1.5)))


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("a * b", "expected '<=' after a * b, found the end"),
        ("a <= b <= c", "unexpected '<=' after b"),
        ("a - b <= c", "'-' is not an operator here"),
        ("a < b", "'<' is not an operator here"),
        ("(a + b <= c", "a '(' is not closed"),
        ("a * <= c", "expected a number, a variable or '(', found '<='"),
        ("a <= ", "the check ends too early"),
        ("__import__('os') <= 1", "cannot read"),
        ("open(f) <= 1", "expected '<=' after open, found '('"),
        ("a ** b <= c", "expected a number, a variable or '(', found '*'"),
        ("{{ lookup('pipe', 'id') }} <= 1", "cannot read"),
    ],
)
def test_anything_outside_the_language_is_a_syntax_error(text: str, said: str) -> None:
    with pytest.raises(RuleSyntaxError, match=re.escape(said)):
        parse(text)


# The shipped rules and source ------------------------------------------------------------------


def test_the_shipped_rules_are_read_from_group_vars() -> None:
    rules = capacity.load_rules(parity.Layers(load_source(paths.DEFAULT_SOURCE)))
    assert [rule.name for rule in rules] == ["db_connections", "nginx_connections"]
    assert str(rules[0].where).startswith("group_vars/all.yml:")
    assert rules[0].check.endswith("<= postgresql_max_connections")


def test_the_shipped_source_passes_every_rule_and_its_contract() -> None:
    capacity.check(load_source(paths.DEFAULT_SOURCE))


def test_a_rule_naming_the_peak_applies_only_where_one_is_declared() -> None:
    loaded = load_source(paths.DEFAULT_SOURCE)
    rules = {rule.name: rule for rule in capacity.load_rules(parity.Layers(loaded))}
    envs = loaded.source.environments
    assert [name for name, env in envs.items() if rules["nginx_connections"].applies_to(env)] == [
        "prod"
    ]
    assert all(rules["db_connections"].applies_to(env) for env in envs.values())


def over_committed(tmp_path: Path) -> Path:
    """The issue's example on the shipped file: prod with eight app hosts of eight workers."""
    text = SHIPPED.replace(
        "      prod-app-2: {groups: [app]}\n",
        "".join(f"      prod-app-{i}: {{groups: [app]}}\n" for i in range(2, 9)),
    )
    text = re.sub(r"(\n  prod:.*?app_workers: )4\n", r"\g<1>8\n", text, count=1, flags=re.S)
    assert text.count("prod-app-") == 8
    return write_source(tmp_path, text)


def test_the_issues_over_committed_prod_is_refused_naming_max_connections_and_the_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], inventories_guard: InventoriesGuard
) -> None:
    path = over_committed(tmp_path)
    workers_line = next(
        i for i, line in enumerate(path.read_text().splitlines(), 1) if "app_workers: 8" in line
    )
    result = run_cli(["inventory", "--source", str(path)], capsys)
    line = assert_one_error(
        result,
        f"error: {path}:{workers_line}: environments.prod.vars.app.app_workers: capacity rule "
        "db_connections (group_vars/all.yml:",
        "prod: ",
    )
    assert f"hosts(app) 8 ({path}:" in line
    assert f"x app_workers 8 ({path}:{workers_line})" in line
    assert f"x app_db_pool_size 5 ({path}:{workers_line + 1})" in line
    assert (
        "+ postgresql_superuser_reserved_connections 3 (roles/postgresql/defaults/main.yml:" in line
    )
    assert "+ csapp_db_tool_connections 1 (group_vars/all.yml:" in line
    assert line.endswith("= 324 > postgresql_max_connections 100 (group_vars/db.yml:5)")
    inventories_guard.assert_unchanged()


def test_every_generating_command_refuses_it_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], inventories_guard: InventoriesGuard
) -> None:
    """`plan` generates inventories before it runs anything: the same refusal, exit 2."""
    path = over_committed(tmp_path)
    result = run_cli(["plan", "prod", "--source", str(path)], capsys)
    assert_one_error(result, f"error: {path}:", "= 324 > postgresql_max_connections 100")
    inventories_guard.assert_unchanged()


def test_a_contract_wider_than_the_rules_allow_is_refused_naming_the_bound(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], inventories_guard: InventoriesGuard
) -> None:
    """prod's own values fit (2 x 4 x 5 + 4 = 44), but the contract lets prod run 32 workers."""
    text = SHIPPED.replace("    min: 1\n    max: 8\n", "    min: 1\n    max: 32\n", 1)
    path = write_source(tmp_path, text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row == "  app_workers:")
    result = run_cli(["inventory", "--check", "--source", str(path)], capsys)
    message = assert_one_error(
        result, f"error: {path}:{line}: parity.app_workers: capacity rule db_connections", "prod: "
    )
    assert "the parity contract admits values that break it" in message
    assert f"app_workers 1..32 admitted by the parity contract ({path}:{line}: min 1, max 32)" in (
        message
    )
    assert message.endswith("= up to 324 > postgresql_max_connections 100 (group_vars/db.yml:5)")
    inventories_guard.assert_unchanged()


def test_the_contract_bound_relative_to_prod_limits_the_worst_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """staging's app_workers is at_most prod's 4: its worst case uses 4, not the max 8."""
    loaded = load_source(paths.DEFAULT_SOURCE)
    layers = parity.Layers(loaded)
    rule = capacity.load_rules(layers)[0]
    checker = capacity._Environment(rule, "staging", layers)
    amount = checker.amount(rule.left, worst=True)
    assert (amount.lo, amount.hi) == (2 * 1 * 1 + 4, 2 * 4 * 5 + 4)
    assert "at_most prod's 4 (environments.yml:" in amount.text


def test_nginx_auto_workers_count_as_the_web_hosts_guaranteed_cpus(tmp_path: Path) -> None:
    text = SHIPPED.replace("requests_per_second: 40", "requests_per_second: 1500")
    path = write_source(tmp_path, text)
    with pytest.raises(Exception, match="nginx_worker_processes auto = cpus\\(web\\) 1") as caught:
        capacity.check(load_source(path))
    assert "= 1125 > nginx_worker_processes" in str(caught.value)
    # two CPUs guaranteed on every host: two workers, 2048 connections, enough
    capacity.check(load_source(write_source(tmp_path, text.replace("{cpus: 1,", "{cpus: 2,"))))


# Broken rules: group_vars/ is reviewed code, and a mistake there is named like one in the source


@pytest.fixture
def group_vars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of group_vars/ that the tool reads instead of the repo's."""
    copy = tmp_path / "group_vars"
    shutil.copytree(paths.GROUP_VARS, copy)
    monkeypatch.setattr(paths, "GROUP_VARS", copy)
    return copy


def break_rules(group_vars: Path, old: str, new: str) -> Path:
    path = group_vars / "all.yml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def line_of(path: Path, marker: str, occurrence: int = 0) -> int:
    found = [i for i, line in enumerate(path.read_text().splitlines(), 1) if marker in line]
    return found[occurrence]


BROKEN: dict[str, tuple[tuple[str, int], str, str, str]] = {
    "unknown variable": (
        ("    check: >-", 0),
        "hosts(app) * app_workers * app_db_pool_size",
        "hosts(app) * app_wrokers * app_db_pool_size",
        "capacity_rules[0].check: unknown variable 'app_wrokers': no role default",
    ),
    "unknown peak field": (
        ("    check: >-", 1),
        "2 * peak.requests_per_second",
        "2 * peak.requests_per_minute",
        "unknown 'peak.requests_per_minute'; a peak has requests_per_second, headroom, latency_ms",
    ),
    "syntax": (
        ("    check: >-", 0),
        "      <= postgresql_max_connections\n",
        "      < postgresql_max_connections\n",
        "capacity_rules[0].check: '<' is not an operator here: only +, *, / and one <=",
    ),
    "unknown key": (
        ("severity: high", 0),
        "  - name: db_connections\n",
        "  - name: db_connections\n    severity: high\n",
        "capacity_rules[0].severity: unknown key (a rule has auto, check, description, name)",
    ),
    "auto for a variable not in the check": (
        ("nginx_workers: cpus(web)", 0),
        "      nginx_worker_processes: cpus(web)",
        "      nginx_workers: cpus(web)",
        "capacity_rules[1].auto.nginx_workers: 'nginx_workers' is not in the check",
    ),
    "two rules of one name": (
        ("  - name: db_connections", 1),
        "  - name: nginx_connections\n",
        "  - name: db_connections\n",
        "capacity_rules[1].name: another rule is named 'db_connections'",
    ),
    "not a list": (
        ("capacity_rules: db_connections", 0),
        "capacity_rules:\n  - name: db_connections\n",
        "capacity_rules: db_connections\nunused_rules:\n  - name: db_connections\n",
        "capacity_rules: a list of rules, each with a name and a check",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_rule_is_refused_with_its_file_line_and_key(
    case: str,
    group_vars: Path,
    capsys: pytest.CaptureFixture[str],
    inventories_guard: InventoriesGuard,
) -> None:
    (marker, occurrence), old, new, said = BROKEN[case]
    path = break_rules(group_vars, old, new)
    result = run_cli(["inventory", "--source", str(paths.DEFAULT_SOURCE)], capsys)
    assert_one_error(result, f"error: {path}:{line_of(path, marker, occurrence)}: ", said)
    inventories_guard.assert_unchanged()


def test_a_variable_that_is_not_a_number_is_named_where_it_is_set(
    group_vars: Path, capsys: pytest.CaptureFixture[str], inventories_guard: InventoriesGuard
) -> None:
    """postgresql_version is "15", text: a rule cannot add it up."""
    break_rules(group_vars, "+ csapp_db_tool_connections", "+ postgresql_version")
    db = group_vars / "db.yml"
    result = run_cli(["inventory", "--source", str(paths.DEFAULT_SOURCE)], capsys)
    assert_one_error(
        result,
        f"error: {db}:{line_of(db, 'postgresql_version:')}: postgresql_version: ",
        "postgresql_version is '15': capacity rule db_connections",
    )
    inventories_guard.assert_unchanged()


def test_without_rules_nothing_is_checked(group_vars: Path) -> None:
    text = (group_vars / "all.yml").read_text(encoding="utf-8")
    (group_vars / "all.yml").write_text(text.replace("capacity_rules:", "unused_rules:"))
    assert capacity.load_rules(parity.Layers(load_source(paths.DEFAULT_SOURCE))) == []
