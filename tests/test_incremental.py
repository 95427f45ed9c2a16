"""The incremental apply on real local hosts (staging, converged by the earlier test files):
a host runs when its inputs or what the roles manage on it changed, and only then; whatever
ran is repaired; a skipped host shows as such in the summary, last-run.json and the ledger.
A private ledger: its first apply has no record, so it runs every host and records them."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import lanes
import pytest
from hostrun import Asked, last_run, provision, sqlite_url

from provisioner import paths
from provisioner.hosts import localhosts
from provisioner.source.model import load_source

pytestmark = pytest.mark.hosts("staging")

ENV = "staging"
HOSTS = sorted(load_source(paths.DEFAULT_SOURCE).environment(ENV).hosts)


def on_host(host: str, command: str) -> str:
    return localhosts.podman("exec", host, "sh", "-c", command).stdout.strip()


def ran() -> list[str]:
    """The hosts the newest run of ENV ran (last-run.json), checked against the skipped ones."""
    summary = last_run(ENV)
    assert set(summary["hosts"]) | set(summary["skipped"]) == set(HOSTS), summary
    assert not set(summary["hosts"]) & set(summary["skipped"]), summary
    return sorted(summary["hosts"])


def apply(ledger: str, *extra: str) -> subprocess.CompletedProcess[str]:
    result = provision(ENV, *extra, ledger=ledger)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = sqlite_url(tmp_path_factory.mktemp("ledger") / "ledger.sqlite3")
    first = apply(url)
    assert "every host runs: no apply recorded yet" in first.stdout
    assert ran() == HOSTS
    return url


def test_an_unchanged_environment_runs_no_host(ledger: str) -> None:
    result = apply(ledger)
    assert f"{len(HOSTS)} of {len(HOSTS)} host(s) unchanged since run" in result.stdout
    assert ran() == []
    assert sorted(last_run(ENV)["skipped"]) == HOSTS
    newest = Asked(ledger).runs(env=ENV, limit=1)[0]
    finished = Asked(ledger).entries(kind="run-finished", run_id=newest.run_id)[0]
    assert sorted(finished.payload["extra"]["incremental"]["skipped"]) == HOSTS


@pytest.fixture
def hand_changes() -> Iterator[None]:
    """A managed file edited on one host, a package a role installs removed from another."""
    on_host("staging-app-2", "echo 'hand edit' >> /etc/motd")
    on_host("staging-web-1", "apt-get remove -y -qq less >/dev/null")
    yield
    on_host("staging-web-1", "apt-get install -y -qq less >/dev/null")


def test_hand_changes_run_exactly_those_hosts_and_are_repaired(
    ledger: str, hand_changes: None
) -> None:
    result = apply(ledger)
    assert ran() == ["staging-app-2", "staging-web-1"]
    assert "staging-app-2: state changed: file:/etc/motd" in result.stdout
    assert "staging-web-1: state changed: package:less" in result.stdout
    assert "hand edit" not in on_host("staging-app-2", "cat /etc/motd")
    assert on_host("staging-web-1", "dpkg-query -W -f '${db:Status-Status}' less") == "installed"
    apply(ledger)  # what the repair left is the new record
    assert ran() == []


def test_an_unmanaged_change_runs_no_host_but_shows_since_the_last_apply(ledger: str) -> None:
    on_host("staging-db-1", "echo 'by hand' > /etc/unmanaged-by-hand.conf")
    try:
        apply(ledger)
        assert ran() == []
        since = provision("diff", ENV, "--since-last-apply", "--json", ledger=ledger)
        assert since.returncode == 1, since.stdout + since.stderr
        assert "/etc/unmanaged-by-hand.conf" in since.stdout
    finally:
        on_host("staging-db-1", "rm -f /etc/unmanaged-by-hand.conf")


def test_a_group_vars_file_runs_exactly_the_hosts_it_reaches(
    ledger: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    web_vars = paths.GROUP_VARS / "web.yml"
    assert not web_vars.exists()
    # No copy of the repo is taken while the file is there (tests/checkouts.py).
    with lanes.holding((lanes.REPO_FILES,), lanes.lock_directory(tmp_path_factory)):
        web_vars.write_text("---\n# written by tests/test_incremental.py\nincremental_test: 1\n")
        try:
            result = apply(ledger)
            assert ran() == ["staging-web-1"]
            assert f"staging-web-1: inputs changed: {paths.display(web_vars)}" in result.stdout
        finally:
            web_vars.unlink()
    apply(ledger)
    assert ran() == ["staging-web-1"]  # its inputs changed back


def test_a_host_recreated_from_its_image_runs(ledger: str) -> None:
    localhosts.podman("rm", "-f", "-t", "5", "staging-web-1")
    result = apply(ledger)
    assert "creating staging-web-1" in result.stdout
    assert ran() == ["staging-web-1"]
    assert on_host("staging-web-1", "systemctl is-active nginx") == "active"


def test_full_runs_every_host(ledger: str) -> None:
    result = apply(ledger, "--full")
    assert "every host runs (--full)" in result.stdout
    assert ran() == HOSTS
    assert last_run(ENV)["changed"] == 0
