"""The web report without a browser: nothing secret and no markup from the ledger reaches a page,
the site is written whole or not at all, bad input is one error line, the code changes between
two bundles come from git, approvals and drift are judged as the pages say, and `serve` answers on
127.0.0.1 and regenerates when the ledger changes. (The browser walks it in
test_report_browser.py.)"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import threading
import time
import urllib.request
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import assert_one_error, run_cli
from report_site import (
    EVIL_DIFF,
    EVIL_HOST,
    EVIL_TASK,
    EVIL_VALUE,
    EVIL_WHO,
    PLANTED_VAR,
    SENTINEL,
    Report,
    make,
)

from bench.report import change, run, switch
from provisioner import paths
from provisioner.cli.arguments import build_parser
from provisioner.deploy import approval
from provisioner.ledger.ledger import Ledger, open_ledger
from provisioner.ledger.records import Entry
from provisioner.report import build, commits, render, serve, site
from provisioner.source.bundle import Bundle
from provisioner.source.model import load_source


@pytest.fixture
def report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Report:
    return make(tmp_path, monkeypatch)


def site_files(report: Report) -> list[Path]:
    return [p for p in report.index.parent.rglob("*") if p.is_file()]


def test_no_page_holds_the_sentinel_secret(report: Report) -> None:
    files = site_files(report)
    assert len(files) > 10
    leaked = [str(p) for p in files if SENTINEL in p.read_text()]
    assert leaked == []
    # ... and the run that carried it is there, masked.
    page = (report.index.parent / "runs" / f"{report.ids['evil']}.html").read_text()
    assert "********" in page


def test_markup_from_the_ledger_and_the_source_is_text(report: Report) -> None:
    for path in site_files(report):
        text = path.read_text()
        for planted in (EVIL_HOST, EVIL_TASK, EVIL_WHO, EVIL_VALUE, "<script>alert("):
            assert planted not in text, f"{path}: {planted} unescaped"
    page = (report.index.parent / "runs" / f"{report.ids['evil']}.html").read_text()
    assert "&lt;script&gt;alert(&#34;task&#34;)&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(&#34;host&#34;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    parity = (report.index.parent / "parity.html").read_text()
    assert "&lt;script&gt;alert(&#39;source&#39;)" in parity
    assert EVIL_DIFF.splitlines()[-1][1:] not in page  # the diff's planted line, escaped too


def test_the_planted_difference_is_flagged_with_its_provenance(report: Report) -> None:
    parity = (report.index.parent / "parity.html").read_text()
    row = parity.split(f'<td class="mono">{PLANTED_VAR}</td>')[0].rsplit("<tr", 1)[1]
    assert 'class="flag"' in row
    after = parity.split(f'<td class="mono">{PLANTED_VAR}</td>')[1].split("</tr>")[0]
    assert "NOT ALLOWED" in after
    assert "environments.yml:" in after  # provenance, file:line
    assert "1 difference not allowed" in parity
    # short: relative to the source's directory (or the repo), the whole path in the title
    shown = re.search(r'<span class="origin" title="([^"]+)">([^<]+)</span>', after)
    assert shown is not None
    assert re.fullmatch(r"environments\.yml:\d+", shown[2])
    assert shown[1] == f"{report.source}:{shown[2].split(':')[1]}"
    release = parity.split('<td class="mono">app_release</td>')[1].split("</tr>")[0]
    assert re.search(r'title="[^"]+/group_vars/all\.yml:\d+">group_vars/all\.yml:\d+<', release)
    assert f">{paths.REPO}" not in parity


def test_every_page_is_there(report: Report) -> None:
    root = report.index.parent
    for name in ("index", "runs", "parity", "plans", "drift", "evidence"):
        assert (root / f"{name}.html").is_file()
    for env in ("qa", "staging", "prod"):
        assert env in (root / "index.html").read_text()
        assert (root / "env" / f"{env}.html").is_file()
    with open_ledger(report.url) as ledger:
        ids = {r.run_id for r in ledger.runs(limit=1000)}
    assert {p.stem for p in (root / "runs").glob("*.html")} == ids
    # one evidence file per apply of prod (approval_required), standing alone: no link out
    evidence = list((root / "evidence").glob("*.html"))
    assert [p.stem for p in evidence] == [report.ids["prod"]]
    text = evidence[0].read_text()
    assert "assets/" not in text
    assert "<style>" in text
    # nothing it needs is elsewhere: no link, script or image but a data: URL
    assert re.findall(r'(?:href|src)="([^"]*)"', text) == ["data:,"]
    assert report.ids["plan"] in text
    assert "bob@example.com" in text


def test_the_runs_data_cannot_close_a_script(report: Report) -> None:
    data = (report.index.parent / "assets" / "runs-data.js").read_text()
    assert data.startswith("window.PROVISION_RUNS = [")
    assert "<" not in data
    assert "\\u003cimg src=x" in data  # the planted identity, escaped


def test_an_unknown_directory_is_never_replaced(
    report: Report, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    result = run_cli(["report", "--source", str(report.source), "--out", str(mine)], capsys)
    assert_one_error(result, "error: ", "not a report")
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_a_report_replaces_the_last_one_whole(
    report: Report, capsys: pytest.CaptureFixture[str]
) -> None:
    out = report.index.parent
    (out / "runs" / "stale.html").write_text("from an older report")
    result = run_cli(["report", "--source", str(report.source), "--out", str(out)], capsys)
    assert result.code == 0, result
    assert "report written" in result.out
    assert not (out / "runs" / "stale.html").exists()
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []


def test_the_default_out_is_under_state() -> None:
    for command in (["report"], ["serve"]):
        assert build_parser().parse_args(command).out == paths.STATE / "report"


def test_serve_refuses_a_bad_port(report: Report, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(["serve", "--source", str(report.source), "--port", "70000"], capsys)
    assert_one_error(result, "error: --port 70000", "0..65535")


def test_serve_answers_on_localhost_and_follows_the_ledger(
    report: Report, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serve, "POLL_S", 0.1)
    stop, ready = threading.Event(), threading.Event()
    ports: list[int] = []
    said: list[str] = []

    def listening(port: int) -> None:
        ports.append(port)
        ready.set()

    out = tmp_path / "served"
    worker = threading.Thread(
        target=serve.serve,
        args=(report.source, out, 0, said.append),
        kwargs={"stop": stop, "ready": listening},
    )
    worker.start()
    try:
        assert ready.wait(60)
        base = f"http://127.0.0.1:{ports[0]}"
        with urllib.request.urlopen(f"{base}/index.html", timeout=10) as answer:  # noqa: S310 - our own http URL
            assert "Environments" in answer.read().decode()
        with open_ledger(report.url) as ledger:
            new = run(ledger, "verify", "qa", who="dave@example.com", commit="unknown")
        deadline = time.monotonic() + 30
        while not (out / "runs" / f"{new}.html").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        with urllib.request.urlopen(f"{base}/runs/{new}.html", timeout=10) as answer:  # noqa: S310 - as above
            assert "dave@example.com" in answer.read().decode()
        assert any("regenerated" in line for line in said)
    finally:
        stop.set()
        worker.join(30)
    assert not worker.is_alive()


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=paths.REPO, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_commits_between_two_bundles_come_from_git() -> None:
    sha = _git("log", "-1", "--format=%H", "--", "roles")
    parent = _git("rev-parse", f"{sha}^")
    found = commits.between(parent, f"{sha}+dirty", "run1")
    assert [c.sha for c in found.commits] == [sha]
    assert found.commits[0].author == _git("log", "-1", "--format=%an", sha)
    assert any(f.startswith("roles/") for f in found.commits[0].files)
    assert all(f.startswith(commits.WATCHED) for f in found.commits[0].files)
    assert found.note == ""


@pytest.mark.parametrize(
    ("since", "until", "note"),
    [
        (None, "HEAD", "no earlier successful apply"),
        ("0123456789abcdef0123456789abcdef01234567", "HEAD", "not in this repository"),
        ("unknown", "HEAD", "names no git commit"),
    ],
)
def test_an_unknown_commit_gives_a_note_not_an_error(
    since: str | None, until: str, note: str
) -> None:
    head = _git("rev-parse", until)
    found = commits.between(since, head)
    assert found.commits == ()
    assert note in found.note


def test_show_lists_the_code_changes_since_the_previous_apply(
    report: Report, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_cli(["show", report.ids["apply"]], capsys)
    assert result.code == 0, result
    assert "code changes since the previous apply" in result.out
    assert report.ids["first"] in result.out  # the previous apply it compares with


def _entry(kind: str, at: datetime, payload: dict[str, object], entry_id: int = 1) -> Entry:
    return Entry(entry_id, None, kind, "prod", at.isoformat(), dict(payload), "", "")


@pytest.mark.parametrize(
    ("hours", "bundle_commit", "applied", "state"),
    [
        (1, "c1", set(), approval.VALID),
        (30, "c1", set(), approval.EXPIRED),
        (1, "c2", set(), approval.STALE),
        (1, "c1", {"p1"}, approval.APPLIED),
    ],
)
def test_an_approvals_standing(
    hours: int, bundle_commit: str, applied: set[str], state: str
) -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    planned = {"commit": "c1", "inventory_hash": "i", "roles_hash": "r"}
    plan = _entry("plan", now - timedelta(hours=hours + 1), {"bundle": planned})
    given = _entry("approval", now - timedelta(hours=hours), {"plan_id": "p1", "approver": "bob"})
    found, _why = approval.standing(
        given,
        plan,
        now=now,
        max_age=timedelta(hours=24),
        bundle=Bundle(bundle_commit, "i", "r"),
        applied_plans=applied,
    )
    assert found == state


@pytest.mark.parametrize(
    ("at", "why"),
    [("not a time", "no valid time"), ("2026-01-02T00:00:00", "no valid time"),
     ("2999-01-01T00:00:00+00:00", "dated in the future")],
)  # fmt: skip
def test_an_approval_with_a_forged_time_stands_expired_not_a_traceback(at: str, why: str) -> None:
    """A hand-edited ledger row: the report says so, by the gate's rules, and still renders."""
    now = datetime(2026, 1, 2, tzinfo=UTC)
    planned = {"commit": "c1", "inventory_hash": "i", "roles_hash": "r"}
    plan = _entry("plan", now - timedelta(hours=2), {"bundle": planned})
    given = _entry("approval", now, {"plan_id": "p1", "approver": "bob"})
    forged = Entry(given.id, given.run_id, given.kind, given.env, at, given.payload, "p", "h")
    found, said = approval.standing(
        forged,
        plan,
        now=now,
        max_age=timedelta(hours=24),
        bundle=Bundle("c1", "i", "r"),
        applied_plans=set(),
    )
    assert found == approval.EXPIRED
    assert why in said


def test_drift_items_are_new_or_seen_and_fixed_by_the_next_apply(
    report: Report, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_ledger(report.url) as ledger:
        again = run(
            ledger,
            "drift",
            "staging",
            who="cron",
            commit="unknown",
            changes=[
                change("staging-web-1", "nginx : write nginx.conf"),  # as the check before
                change("staging-db-1", "nginx : write nginx.conf"),  # as the sample's apply did
                change("staging-old-1", "nginx : write nginx.conf"),  # gone from the source
            ],
        )
        fix = run(ledger, "apply", "staging", who="alice@example.com", commit="unknown")
        collected = site.collect(ledger, load_source(report.source))
    staging = next(d for d in collected.drift if d.env == "staging")
    newest, first = staging.checks[0], staging.checks[1]
    assert newest.run.summary.run_id == again
    assert [i.new for i in newest.items] == [False, True, True]
    # a host the source no longer names still has its row in the timeline
    assert "staging-old-1" in staging.hosts
    assert set(staging.hosts) >= {"staging-app-1", "staging-db-1", "staging-web-1"}
    assert [i.new for i in first.items] == [True]
    touched = newest.items[1].touched_by
    assert touched is not None
    assert touched.summary.run_id == report.ids["apply"]
    assert newest.items[0].touched_by is None
    assert newest.fixed_by is not None
    assert newest.fixed_by.summary.run_id == fix


def test_check_passes_a_whole_report_and_names_what_is_missing(
    report: Report, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = report.index.parent
    argv = ["report", "--source", str(report.source), "--out", str(out), "--check"]
    assert run_cli(argv, capsys).code == 0
    (out / "env" / "qa.html").unlink()
    result = run_cli(argv, capsys)
    assert result.code == 1
    assert "env/qa.html: missing" in result.out
    result = run_cli([*argv[:-2], str(tmp_path / "nothing"), "--check"], capsys)
    assert result.code == 1
    assert "index.html: missing" in result.out


def test_an_unreachable_ledger_is_one_error_line(
    report: Report,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PROVISION_LEDGER_URL", "mysql://u:pw-SENTINEL@127.0.0.1/x")
    result = run_cli(
        ["report", "--source", str(report.source), "--out", str(tmp_path / "o")], capsys
    )
    assert result.code == 1
    assert result.err.startswith("error: run ledger")
    assert len(result.err.splitlines()) == 1
    assert "pw-SENTINEL" not in result.err
    assert not (tmp_path / "o").exists()


def test_a_broken_chain_is_shown_on_every_card(report: Report, tmp_path: Path) -> None:
    assert "chain BROKEN" not in report.index.read_text()
    database = report.url.removeprefix("sqlite://")
    with closing(sqlite3.connect(database)) as db, db:  # as someone editing it by hand would
        db.execute("UPDATE ledger_entries SET payload = '{}' WHERE id = 3")
    text = build.generate(report.source, tmp_path / "broken").read_text()
    assert "chain BROKEN" in text
    assert text.count('<span class="pill bad">broken</span>') == 3  # one card per environment
    assert "entry 3: hash does not match its content" in text


def test_deployed_is_what_the_app_hosts_run_per_host_when_they_differ(tmp_path: Path) -> None:
    with open_ledger(f"sqlite:///{tmp_path}/ledger.sqlite3") as ledger:
        staging = ["staging-app-1", "staging-app-2", "staging-db-1", "staging-web-1"]
        run(ledger, "apply", "staging", who="alice", commit="c1", hosts=staging)  # 1.1.0 everywhere
        run(
            ledger,
            "rollback",
            "staging",
            who="bob",
            commit="c1",
            attach=[
                (
                    "rollback",
                    {
                        "reason": "by hand",
                        "succeeded": True,
                        "releases": {"staging-app-1": "1.0.0", "staging-db-1": "9.9.9"},
                    },
                )
            ],
        )
        run(ledger, "apply", "staging", who="carol", commit="c1", status="refused")
        # a failed apply settles only the hosts whose release link it moved
        run(
            ledger,
            "apply",
            "prod",
            who="alice",
            commit="c1",
            status="failed",
            changes=[switch("prod-app-2")],
        )
        collected = site.collect(ledger, load_source(paths.DEFAULT_SOURCE))
    cards = {card.name: card for card in collected.envs}
    staging_now = cards["staging"].deployed
    assert staging_now.hosts == {"staging-app-1": "1.0.0", "staging-app-2": "1.1.0"}
    assert staging_now.release is None
    assert cards["prod"].deployed.hosts == {"prod-app-1": "unknown", "prod-app-2": "1.1.0"}
    assert cards["qa"].deployed.release == "unknown"
    index = render.write(collected, tmp_path / "site").read_text()
    card = index.split('data-env="staging"')[1].split("</section>")[0]
    assert "staging-app-1 <strong>1.0.0</strong>" in card
    assert "staging-app-2 <strong>1.1.0</strong>" in card
    assert "staging-db-1" not in card.split('class="deployed"')[1].split("</dd>")[0]


def test_the_samples_rolled_back_prod_runs_the_release_its_rollback_reported(
    report: Report,
) -> None:
    index = report.index.read_text()
    card = index.split('data-env="prod"')[1].split("</section>")[0]
    deployed = card.split('class="deployed"')[1].split("</dd>")[0]
    assert "<strong>1.0.0</strong>" in deployed
    assert "both app hosts" in deployed
    assert "rolled back by" in deployed
    assert "db-1" not in deployed
    qa = index.split('data-env="qa"')[1].split("</section>")[0]
    assert "unknown" in qa.split('class="deployed"')[1].split("</dd>")[0]
    # the environment's page says the same
    page = (report.index.parent / "env" / "prod.html").read_text()
    fact = page.split('class="v deployed"')[1].split("</div>")[0]
    assert "<strong>1.0.0</strong>" in fact
    assert "rolled back by" in fact


@pytest.mark.parametrize(
    ("where", "short"),
    [
        (
            "postgresql://alice:hunter2@db.example:5432/ledger?password=hunter2&sslmode=require",
            "postgresql alice@db.example:5432/ledger",
        ),
        ("postgres://:hunter2@db.example/ledger", "postgres db.example/ledger"),
        (
            "postgresql://alice@db.example/ledger?sslmode=require",
            "postgresql alice@db.example/ledger",
        ),
        (".state/ledger.sqlite3", ".state/ledger.sqlite3"),
        ("/var/lib/provisioner/ledger.sqlite3", "ledger.sqlite3"),
    ],
)
def test_the_ledger_is_named_short_and_without_its_password(where: str, short: str) -> None:
    shown, full = site.ledger_label(where)
    assert shown == short
    assert "hunter2" not in full
    assert "sslmode" not in shown


def test_no_page_shows_the_ledgers_password(
    report: Report, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a store that forgot to drop it: the report drops it anyway
    url = "postgresql://alice:hunter2@db.example:5432/ledger?password=hunter3&sslmode=require"
    monkeypatch.setattr(Ledger, "where", property(lambda _: url))
    out = tmp_path / "pg-site"
    with open_ledger(report.url) as ledger:
        render.write(site.collect(ledger, load_source(report.source)), out)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert [p for p in files if "hunter" in p.read_text()] == []
    footer = (out / "index.html").read_text().split("<footer>")[1]
    assert ">postgresql alice@db.example:5432/ledger</span>" in footer
