"""The web report of real runs, walked in a real browser: staging applied on real local hosts
(after a hand edit the apply repairs, so the run has a changed task with a diff), then
`provision.py report` from the tool's own ledger, opened from file:// in Debian's chromium:
overview -> staging -> that run -> its diff, every page without a console error or sideways
scrolling, screenshots kept. (tests/test_report_browser.py walks a made-up ledger with planted
markup, secrets and parity differences; this one, what real runs leave.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from browsing import Visit
from hostrun import Asked, provision, sqlite_url

from provisioner import paths
from provisioner.hosts import localhosts
from provisioner.source.model import load_source

pytestmark = pytest.mark.hosts("staging")

ENV = "staging"
EDITED = "staging-app-2"
LEDGER = sqlite_url(paths.STATE / "ledger.sqlite3")  # the tool's own (no PROVISION_LEDGER_URL)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The report's directory, and the id of the run that repaired the hand edit."""
    up = provision("up", ENV)
    assert up.returncode == 0, up.stdout + up.stderr
    localhosts.podman("exec", EDITED, "sh", "-c", "echo 'hand edit for the report' >> /etc/motd")
    applied = provision(ENV)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    run_id = Asked(LEDGER).runs(env=ENV, limit=1)[0].run_id
    out = tmp_path_factory.mktemp("report") / "site"
    made = provision("report", "--out", str(out))
    assert made.returncode == 0, made.stdout + made.stderr
    return out, run_id


def test_overview_to_the_repairing_run_and_its_diff(site: tuple[Path, str], visit: Visit) -> None:
    root, run_id = site
    page = visit.page
    page.goto((root / "index.html").as_uri())
    environments = load_source(paths.DEFAULT_SOURCE).source.environments
    assert page.locator(".card").count() == len(environments)
    visit.shot("real-1-overview")
    page.click(f'.card[data-env="{ENV}"] h2 a')
    assert page.url.endswith(f"/env/{ENV}.html")
    page.click(f'a:text-is("{run_id}")')
    assert page.url.endswith(f"/runs/{run_id}.html")
    text = page.inner_text("main")
    assert EDITED in text
    assert "Write the message of the day" in text
    removed = page.locator(".diff .del", has_text="hand edit for the report")
    assert removed.count() == 1
    visit.shot("real-2-run", full=True)
    assert visit.overflow() == 0
    assert visit.errors == []


def test_no_page_of_real_runs_logs_an_error_or_scrolls_sideways(
    site: tuple[Path, str], visit: Visit
) -> None:
    root, _ = site
    pages = [
        *(root / f"{name}.html" for name in ("index", "runs", "parity", "plans", "drift")),
        *sorted((root / "env").glob("*.html")),
        *sorted((root / "runs").glob("*.html")),
    ]
    wide = []
    for path in pages:
        visit.page.goto(path.as_uri())
        visit.page.wait_for_load_state("load")
        if visit.overflow() > 0:
            wide.append(f"{path.relative_to(root)}: {visit.overflow()} px too wide")
    visit.page.goto((root / "parity.html").as_uri())
    visit.shot("real-3-parity", full=True)
    assert wide == []
    assert visit.errors == []
