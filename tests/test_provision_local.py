"""End to end on real local hosts: `provision.py ENV` converges, is idempotent, passes the
shared verification suite, serves tickets through nginx from PostgreSQL, and survives stale
containers left by an earlier run. The environments stay up afterwards for the test files that
follow (`down` is tested on an environment of its own, in tests/test_releases.py)."""

from __future__ import annotations

import json
import os
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hostrun import last_run, provision

from provisioner import paths
from provisioner.hosts import localhosts
from provisioner.source.model import load_source

# qa: the end-to-end sequence on the smallest environment, in the lane beside staging's
# (tests/lanes.py). staging, prod's shape (two app hosts behind nginx), is converged, gated,
# drifted, promoted and reached through execution nodes by the other files of its lane.
# E2E_ENVS="qa staging" runs both.
ENVS = os.environ.get("E2E_ENVS", "qa").split()
pytestmark = pytest.mark.hosts("qa", *ENVS)  # qa's lane (tests/lanes.py)


def web_address(env: str) -> str:
    environment = load_source(paths.DEFAULT_SOURCE).environment(env)
    return environment.address_of(environment.hosts_in("web")[0])


def http(method: str, url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310  (http to our own local test host)
        url, data=data, method=method, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  (same)
        return dict(json.loads(response.read()))


@pytest.fixture(scope="module", params=ENVS)
def env(request: pytest.FixtureRequest) -> str:
    name = str(request.param)
    first = provision(name, "--full")  # every host, also when an earlier file converged them
    assert first.returncode == 0, first.stdout + first.stderr
    return name


def test_apply_converges_every_host(env: str) -> None:
    run = last_run(env)
    assert run["succeeded"], run
    hosts = load_source(paths.DEFAULT_SOURCE).environment(env).hosts
    assert sorted(run["hosts"]) == sorted(hosts)
    assert all(h["failed"] == 0 and h["unreachable"] == 0 for h in run["hosts"].values())


def test_second_apply_changes_nothing(env: str) -> None:
    again = provision(env, "--full")  # the roles' idempotence: every task runs again
    assert again.returncode == 0, again.stdout + again.stderr
    assert last_run(env)["changed"] == 0, again.stdout
    assert "0 tasks changed" in again.stdout
    assert "strategy mitogen_linear" in again.stdout


def test_the_other_strategy_agrees_nothing_needs_changing(env: str) -> None:
    # The applies above ran with mitogen's strategy (the default); Ansible's own linear must
    # find the same hosts converged.
    other = provision(env, "--full", extra_env={"PROVISION_STRATEGY": "linear"})
    assert other.returncode == 0, other.stdout + other.stderr
    assert "strategy linear" in other.stdout
    assert last_run(env)["changed"] == 0, other.stdout


def test_check_mode_reports_no_change(env: str) -> None:
    check = provision(env, "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert last_run(env)["changed"] == 0, check.stdout


def test_verify_passes_and_writes_junit(env: str, tmp_path: Path) -> None:
    junit = tmp_path / "verify.xml"
    result = provision("verify", env, "--junit-xml", str(junit))
    assert result.returncode == 0, result.stdout + result.stderr
    suite = ET.parse(junit).getroot().find("testsuite")  # noqa: S314  (our own pytest's XML)
    assert suite is not None
    assert int(suite.get("tests", "0")) >= 20
    assert suite.get("failures") == "0"
    assert suite.get("errors") == "0"


def test_ticket_through_nginx_is_read_back(env: str) -> None:
    base = f"http://{web_address(env)}"
    subject = f"e2e {uuid.uuid4()}"
    created = http("POST", f"{base}/tickets", {"customer": "e2e", "subject": subject})
    listed = http("GET", f"{base}/tickets")
    assert subject in [ticket["subject"] for ticket in listed["tickets"]]
    assert http("GET", f"{base}/tickets/{created['id']}")["subject"] == subject


def test_a_stopped_host_is_restarted_and_converged(env: str) -> None:
    victim = load_source(paths.DEFAULT_SOURCE).environment(env).hosts_in("web")[0]
    localhosts.podman("stop", "-t", "5", victim)
    result = provision(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"starting {victim}" in result.stdout
    assert http("GET", f"http://{web_address(env)}/health")["status"] == "ok"
