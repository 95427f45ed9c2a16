"""The web report in a real browser: Debian's headless chromium (/usr/bin/chromium, installed by
make setup), driven by Playwright, opening the site from file:// as someone would open a CI
artifact. It walks overview -> an environment -> a run -> a changed task's diff, filters the runs,
finds the planted parity difference flagged, shows the planted markup as text (no script runs),
logs no console error on any page, and leaves screenshots (tmp dir, a few copied to
/tmp/report-shots/ to look at)."""

from __future__ import annotations

from pathlib import Path

import pytest
from browsing import Visit
from report_site import EVIL_HOST, EVIL_TASK, PLANTED_VAR, Report, make


@pytest.fixture
def report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Report:
    return make(tmp_path, monkeypatch)


def test_overview_to_environment_to_run_to_diff(report: Report, visit: Visit) -> None:
    page = visit.page
    page.goto(report.index.as_uri())
    assert page.locator(".card").count() == 3
    visit.shot("1-overview")
    page.click('.card[data-env="staging"] h2 a')
    assert page.url.endswith("/env/staging.html")
    visit.shot("2-environment")
    page.click(f'a:text-is("{report.ids["apply"]}")')
    assert page.url.endswith(f"/runs/{report.ids['apply']}.html")
    diff = page.locator(".diff").first
    diff.scroll_into_view_if_needed()
    assert "worker_connections 2048;" in diff.locator(".add").inner_text()
    assert "worker_connections 1024;" in diff.locator(".del").inner_text()
    # colour: an added line is on green, a removed one on red
    added = diff.locator(".add").evaluate("e => getComputedStyle(e).backgroundColor")
    removed = diff.locator(".del").evaluate("e => getComputedStyle(e).backgroundColor")
    assert added != removed
    visit.shot("3-run", full=True)
    assert visit.errors == []


def test_runs_filter_and_page(report: Report, visit: Visit) -> None:
    page = visit.page
    page.goto((report.index.parent / "runs.html").as_uri())
    rows = page.locator("#runs tbody tr")
    total = rows.count()
    assert total == len(report.ids)
    page.select_option("#f-env", "prod")
    envs = page.locator("#runs tbody tr td:nth-child(3)").all_inner_texts()
    assert envs
    assert set(envs) == {"prod"}
    page.select_option("#f-kind", "plan")
    assert page.locator("#runs tbody tr").count() == 1
    assert "1 of" in page.inner_text("#count")
    page.select_option("#f-env", "")
    page.select_option("#f-kind", "")
    page.select_option("#f-status", "failed")
    assert page.locator("#runs tbody tr").count() == 1
    visit.shot("4-runs-filtered")
    # an environment's link opens the list filtered on it
    page.goto((report.index.parent / "runs.html").as_uri() + "#env=staging")
    envs = page.locator("#runs tbody tr td:nth-child(3)").all_inner_texts()
    assert envs
    assert set(envs) == {"staging"}
    assert visit.errors == []


def test_parity_matrix_flags_the_planted_difference(report: Report, visit: Visit) -> None:
    page = visit.page
    page.goto((report.index.parent / "parity.html").as_uri())
    row = page.locator("#matrix tbody tr", has_text=PLANTED_VAR)
    assert row.count() == 1
    assert "flag" in (row.get_attribute("class") or "")
    assert "NOT ALLOWED" in row.inner_text()
    assert row.evaluate("e => getComputedStyle(e.cells[0]).backgroundColor") != "rgba(0, 0, 0, 0)"
    # the same values are hidden until asked for
    same = page.locator("#matrix tbody tr.same")
    assert same.count() > 0
    assert not same.first.is_visible()
    assert page.locator("details", has_text="UNEXPLAINED").count() >= 1
    visit.shot("5-parity")
    # at 1366 px every row's verdict is on screen, nothing scrolls sideways, paths are short
    assert visit.overflow() == 0
    for cell in page.locator("#matrix tbody tr:visible td.verdict").all():
        box = cell.bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= 1366
    origin = row.locator(".origin").first
    assert origin.inner_text().startswith("environments.yml:")
    assert (origin.get_attribute("title") or "").startswith(str(report.source.parent))
    page.uncheck("#only-diff")
    assert same.first.is_visible()
    assert visit.overflow() == 0
    assert visit.errors == []


def test_planted_markup_is_text_and_runs_nothing(report: Report, visit: Visit) -> None:
    page = visit.page
    page.goto((report.index.parent / "runs" / f"{report.ids['evil']}.html").as_uri())
    text = page.inner_text("main")
    assert EVIL_HOST in text
    assert EVIL_TASK in text
    assert page.locator("main script").count() == 0
    assert visit.dialogs == []
    visit.shot("6-escaped", full=True)
    assert visit.errors == []


def test_no_page_logs_a_console_error(report: Report, visit: Visit) -> None:
    root = report.index.parent
    pages = [
        *(root / f"{name}.html" for name in ("index", "runs", "parity", "plans", "drift")),
        root / "evidence.html",
        *sorted((root / "env").glob("*.html")),
        *sorted((root / "runs").glob("*.html")),
        *sorted((root / "evidence").glob("*.html")),
    ]
    wide = []
    for path in pages:
        visit.page.goto(path.as_uri())
        visit.page.wait_for_load_state("load")
        if visit.overflow() > 0:  # on a 1366 px laptop nothing scrolls sideways
            wide.append(f"{path.relative_to(root)}: {visit.overflow()} px too wide")
    visit.page.goto((root / "plans.html").as_uri())
    visit.shot("7-plans")
    visit.page.goto((root / "drift.html").as_uri())
    visit.shot("8-drift")
    visit.page.goto(next((root / "evidence").glob("*.html")).as_uri())
    visit.shot("9-evidence", full=True)
    assert len(pages) > 15
    assert wide == []
    assert visit.errors == []
    assert visit.dialogs == []
