"""Releases on real hosts: each deploy in its own directory, the post-deploy gate, automatic
rollback when a release is broken or too slow, rollback by hand, the pre-flight capacity check,
promotion refused for a bundle that never passed its source environment, and `down` removing an
environment's hosts and network.

Each release is a commit in a copy of this repo (as a team would deploy it): release B's health
check fails, release C is healthy but fails an impossibly tight load threshold. The environment
`rel` has its own hosts and ledger, so nothing here touches qa, staging or prod.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from checkouts import Checkout, copy_repo

from provisioner.hosts import localhosts

pytestmark = pytest.mark.hosts("rel", "relprod")

ENTRY = "http://198.18.7.13"  # rel-web-1: the fourth host of the subnet, in name order
APP_HOSTS = ("rel-app-1", "rel-app-2")
EXIT_FAILED, EXIT_INPUT, EXIT_REFUSED, EXIT_GATE, EXIT_PREFLIGHT = 1, 2, 4, 5, 6
SOURCE = """\
groups:
  db: {}
  app: {}
  web: {}
environments:
  rel:
    provider: {kind: local, subnet: 198.18.7.0/24}
    capacity:
      all: {cpus: 1, memory_mb: 256, disk_free_mb: 512}
    load_gate: {users: 4, spawn_rate: 4, duration: 3, p95_ms: P95, max_error_rate: 0.05}
    hosts:
      rel-app-1: {groups: [app]}
      rel-app-2: {groups: [app]}
      rel-db-1: {groups: [db]}
      rel-web-1: {groups: [web]}
    vars: &vars
      db: {postgresql_shared_buffers: 128MB}
      app: {app_workers: 2, app_db_pool_size: 4, app_log_level: info}
  relprod:
    promoted_from: rel
    provider: {kind: local, subnet: 198.18.8.0/24}
    hosts:
      relprod-app-1: {groups: [app]}
      relprod-db-1: {groups: [db]}
      relprod-web-1: {groups: [web]}
    vars: *vars
"""
LOOSE_P95 = "5000"
SEEN: dict[str, Any] = {}  # what one test leaves for the next (they run in file order)
IMPOSSIBLE_P95 = "0.01"


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Checkout]:
    repo = copy_repo(tmp_path_factory, "releases")
    repo.write("environments.yml", SOURCE.replace("P95", LOOSE_P95))
    repo.commit("release 1.1.0")
    yield repo
    repo.run("down", "rel")


def http(method: str, path: str, body: dict[str, Any] | None = None) -> tuple[Any, str]:
    """(JSON body, X-Release header) of a request through nginx."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - a fixed http:// URL on our test network
        ENTRY + path, data=data, method=method, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - as above
        return json.load(response), response.headers["X-Release"]


def releases_on(checkout: Checkout) -> dict[str, str]:
    """Each app host's release, asked of the host itself (its current link)."""
    found = {}
    for host in APP_HOSTS:
        out = subprocess.run(
            ["podman", "exec", host, "readlink", "/opt/csapp/current"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        found[host] = Path(out.strip()).name
    return found


def last_run(checkout: Checkout) -> Any:
    return checkout.ledger.runs(env="rel")[0]


def test_promotion_is_refused_when_the_source_never_passed(checkout: Checkout) -> None:
    result = checkout.run("promote", "rel", "relprod")
    assert result.returncode == EXIT_REFUSED, result.stdout + result.stderr
    assert "rel has never passed a post-deploy gate" in result.stderr
    assert "creating" not in result.stdout  # refused before any host was started


def test_check_mode_on_fresh_hosts_predicts_the_converge_and_changes_nothing(
    checkout: Checkout,
) -> None:
    """Every role in check mode on hosts that have nothing yet, the whole stack in site.yml's
    order (molecule's stack scenario proved this in make test before; make test now runs one
    role's scenario, and `make molecule` the stack's)."""
    result = checkout.run("rel", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((checkout.root / ".state/runs/rel/last-run.json").read_text())
    assert sorted(summary["hosts"]) == sorted([*APP_HOSTS, "rel-db-1", "rel-web-1"]), summary
    changing = {change["host"] for change in summary["changes"]}
    assert changing == set(summary["hosts"]), "every fresh host has something to converge"
    # ... and nothing was done: no nginx on the web host, no release on the app hosts
    nginx = localhosts.podman(
        "exec", "rel-web-1", "dpkg-query", "-W", "-f", "${db:Status-Status}", "nginx", check=False
    )
    assert nginx.stdout.strip() != "installed", nginx
    current = localhosts.podman("exec", APP_HOSTS[0], "test", "-e", "/opt/csapp", check=False)
    assert current.returncode != 0, "check mode created the app's directory"


def test_release_a_deploys_and_passes_the_gate(checkout: Checkout) -> None:
    result = checkout.run("rel")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "post-deploy gate passed" in result.stdout
    assert releases_on(checkout) == dict.fromkeys(APP_HOSTS, "1.1.0")
    created, _ = http("POST", "/tickets", {"customer": "ann", "subject": "refund please"})
    SEEN["ticket"] = created["id"]


def test_a_bundle_that_never_passed_is_not_promoted(checkout: Checkout) -> None:
    checkout.edit("group_vars/all.yml", 'app_release: "1.1.0"', 'app_release: "1.2.0"')
    checkout.commit("release 1.2.0, never deployed to rel")
    result = checkout.run("promote", "rel", "relprod")
    assert result.returncode == EXIT_REFUSED, result.stdout + result.stderr
    assert "this bundle never passed rel's gate" in result.stderr
    assert "release (1.1.0 -> 1.2.0)" in result.stderr


def test_broken_release_is_rolled_back_and_the_data_stays(checkout: Checkout) -> None:
    checkout.edit("group_vars/all.yml", 'app_release: "1.2.0"', 'app_release: "2.0.0"')
    app = "roles/app/files/csapp/csapp/app.py"
    checkout.edit(app, '"release": RELEASE})', '"release": RELEASE}, 500)')  # /health fails
    # An additive migration: release A must keep working on the migrated schema.
    checkout.write(
        "roles/app/files/csapp/csapp/migrations/003_ticket_priority.sql",
        "ALTER TABLE tickets ADD COLUMN priority integer NOT NULL DEFAULT 3;\n",
    )
    checkout.commit("release 2.0.0: health check broken")
    result = checkout.run("rel")
    assert result.returncode == EXIT_FAILED, result.stdout + result.stderr
    assert "rolling back rel-app-1, rel-app-2" in result.stdout
    assert "rolled back, healthy again" in result.stdout
    assert last_run(checkout).status == "rolled-back"
    assert releases_on(checkout) == dict.fromkeys(APP_HOSTS, "1.1.0")
    ticket, served_by = http("GET", f"/tickets/{SEEN['ticket']}")
    assert ticket["subject"] == "refund please"
    assert served_by == "1.1.0"
    detail = checkout.ledger.show(last_run(checkout).run_id)
    rollback = next(e for e in detail.entries if e.kind == "rollback")
    assert rollback.payload["releases"] == dict.fromkeys(APP_HOSTS, "1.1.0")
    SEEN["rolled_back_by"] = last_run(checkout).run_id


def test_the_rolled_back_bundle_stays_rolled_back_until_someone_lifts_it(
    checkout: Checkout,
) -> None:
    again = checkout.run("rel")  # the same commit, as the next scheduled run would apply it
    assert again.returncode == EXIT_REFUSED, again.stdout + again.stderr
    assert f"was rolled back by run {SEEN['rolled_back_by']}" in again.stderr
    assert last_run(checkout).status == "refused"
    assert releases_on(checkout) == dict.fromkeys(APP_HOSTS, "1.1.0")  # nothing was touched
    shown = checkout.run("quarantine", "rel")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert f"rolled back by run {SEEN['rolled_back_by']}" in shown.stdout
    no_reason = checkout.run("quarantine", "rel", "--lift")
    assert no_reason.returncode == EXIT_INPUT, no_reason.stdout + no_reason.stderr
    lifted = checkout.run("quarantine", "rel", "--lift", "--reason", "a [b]test[/b] of the lift")
    assert lifted.returncode == 0, lifted.stdout + lifted.stderr
    assert "is lifted" in lifted.stdout
    shown = checkout.run("quarantine", "rel")
    assert "lifted in run" in shown.stdout
    assert "a [b]test[/b] of the lift" in shown.stdout  # said as written, never as markup


def test_too_slow_release_fails_the_load_gate_and_is_rolled_back(checkout: Checkout) -> None:
    app = "roles/app/files/csapp/csapp/app.py"
    checkout.edit(app, '"release": RELEASE}, 500)', '"release": RELEASE})')
    checkout.edit("group_vars/all.yml", 'app_release: "2.0.0"', 'app_release: "3.0.0"')
    # Keep only two releases from now on: the current one and the one to roll back to.
    checkout.edit("roles/app/defaults/main.yml", "app_releases_kept: 3", "app_releases_kept: 2")
    checkout.write("environments.yml", SOURCE.replace("P95", IMPOSSIBLE_P95))
    checkout.commit("release 3.0.0 with an impossible p95")
    result = checkout.run("rel")
    assert result.returncode == EXIT_GATE, result.stdout + result.stderr
    assert "p95" in result.stdout
    assert "gate failed, release rolled back" in result.stdout
    assert releases_on(checkout) == dict.fromkeys(APP_HOSTS, "1.1.0")
    run = last_run(checkout)
    assert run.status == "rolled-back"
    shown = checkout.run("show", run.run_id)
    assert "load test" in shown.stdout
    assert "FAIL" in shown.stdout
    assert "load figures: requests" in shown.stdout
    listing = subprocess.run(
        ["podman", "exec", "rel-app-1", "ls", "/opt/csapp/releases"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(listing) == ["1.1.0", "3.0.0"]  # 2.0.0 removed: two kept


def test_rollback_by_hand_and_verify_after_it(checkout: Checkout) -> None:
    checkout.write("environments.yml", SOURCE.replace("P95", LOOSE_P95))
    checkout.commit("release 3.0.0 with a reachable p95")
    deployed = checkout.run("rel")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert releases_on(checkout) == dict.fromkeys(APP_HOSTS, "3.0.0")

    back = checkout.run("rollback", "rel")
    assert back.returncode == 0, back.stdout + back.stderr
    assert releases_on(checkout) == dict.fromkeys(APP_HOSTS, "1.1.0")
    assert last_run(checkout).kind == "rollback"
    verified = checkout.run("verify", "rel")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    forward = checkout.run("rollback", "rel", "--to", "3.0.0")
    assert forward.returncode == 0, forward.stdout + forward.stderr
    assert releases_on(checkout) == dict.fromkeys(APP_HOSTS, "3.0.0")
    missing = checkout.run("rollback", "rel", "--to", "9.9.9")
    assert missing.returncode == EXIT_FAILED
    assert "9.9.9 is not in /opt/csapp/releases" in missing.stdout


def test_preflight_refuses_a_host_short_of_capacity(checkout: Checkout) -> None:
    checkout.write(
        "environments.yml",
        SOURCE.replace("P95", LOOSE_P95).replace("memory_mb: 256", "memory_mb: 10000000"),
    )
    result = checkout.run("rel")
    assert result.returncode == EXIT_PREFLIGHT, result.stdout + result.stderr
    assert "rel-db-1 is short of capacity: memory_mb" in result.stdout
    assert "< 10000000 required" in result.stdout
    stats = checkout.ledger.show(last_run(checkout).run_id).host_stats
    assert sum(host["changed"] for host in stats.values()) == 0


def test_down_removes_hosts_and_network(checkout: Checkout) -> None:
    result = checkout.run("down", "rel")
    assert result.returncode == 0, result.stdout + result.stderr
    assert localhosts.containers("rel") == {}
    assert (
        localhosts.podman(
            "network", "exists", localhosts.network_name("rel"), check=False
        ).returncode
        == 1
    )
