"""Drift and live differences on real local hosts: a hand edit is drift on exactly that host, a
removed package on the hosts that lost it, the next apply repairs them all; qa and staging, of
different sizes and contract values, compare live with every difference explained, and a package
version planted on one host is a live difference the contract does not explain.
(tests/test_live_parity.py: staging against prod, and hand changes of every kind.)"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hostrun import last_run, provision

from provisioner.hosts import localhosts

pytestmark = pytest.mark.hosts

EXIT_DRIFT = 3


def on_host(host: str, command: str) -> str:
    return localhosts.podman("exec", host, "sh", "-c", command).stdout.strip()


@pytest.fixture(scope="module")
def qa_and_staging() -> None:
    for env in ("qa", "staging"):
        result = provision(env)
        assert result.returncode == 0, result.stdout + result.stderr


def test_no_drift_right_after_an_apply(qa_and_staging: None) -> None:
    result = provision("drift", "staging")
    assert result.returncode == 0, result.stdout
    assert "no drift" in result.stdout


@dataclass(frozen=True)
class Drifted:
    """One `drift` run over three hand changes on three hosts (one run instead of one per kind
    of change: each drift run and each repairing apply, with its gate, costs about a minute)."""

    result: subprocess.CompletedProcess[str]
    changes: list[tuple[str, str]]  # (host, task) of every task that would change

    def hosts_of(self, task: str) -> list[str]:
        return sorted(host for host, name in self.changes if name == task)


@pytest.fixture(scope="module")
def drifted(qa_and_staging: None) -> Drifted:
    on_host("staging-app-2", "echo 'hand edit' >> /etc/motd")
    # The roles ask dpkg first and run apt only for what is missing: that shortcut must still
    # see a package that went away (a baseline one, and one of the app's runtime).
    on_host("staging-web-1", "apt-get remove -y -qq less >/dev/null")
    on_host("staging-app-1", "apt-get remove -y -qq rsync >/dev/null")
    result = provision("drift", "staging")
    changes = last_run("staging")["changes"]
    return Drifted(result, [(change["host"], change["task"]) for change in changes])


def test_a_hand_edited_file_is_drift_on_that_host_only(drifted: Drifted) -> None:
    assert drifted.result.returncode == EXIT_DRIFT, drifted.result.stdout + drifted.result.stderr
    assert drifted.hosts_of("Write the message of the day") == ["staging-app-2"]
    assert "-hand edit" in drifted.result.stdout  # the diff shows the line that would go


def test_a_removed_package_is_drift_on_the_hosts_that_lost_it(drifted: Drifted) -> None:
    assert drifted.hosts_of("Install baseline packages") == ["staging-web-1"]
    assert drifted.hosts_of("Install the runtime from Debian's packages") == ["staging-app-1"]
    # nothing else drifted, on these hosts or the fourth
    assert len(drifted.changes) == 3, drifted.changes
    summary = "drift on 3 host(s): staging-app-1, staging-app-2, staging-web-1;"
    assert summary in drifted.result.stdout


def test_the_next_apply_repairs_every_drifted_host(drifted: Drifted) -> None:
    repaired = provision("staging")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "hand edit" not in on_host("staging-app-2", "cat /etc/motd")
    assert on_host("staging-web-1", "dpkg-query -W -f '${db:Status-Status}' less") == "installed"
    assert on_host("staging-app-1", "dpkg-query -W -f '${db:Status-Status}' rsync") == "installed"
    assert provision("drift", "staging").returncode == 0


@pytest.fixture
def older_tzdata_on_one_db_host(qa_and_staging: None) -> Iterator[str]:
    host = "staging-db-1"
    original = on_host(host, "dpkg-query -W -f '${Version}' tzdata")
    older = on_host(
        host,
        "apt-cache madison tzdata | awk '{print $3}' | grep -vx " + original + " | tail -n 1",
    )
    assert older, "Debian's mirrors offer only one tzdata version"
    on_host(host, f"apt-get install -y -qq --allow-downgrades tzdata={older} >/dev/null")
    yield older
    on_host(host, f"apt-get install -y -qq --allow-downgrades tzdata={original} >/dev/null")


def test_a_different_package_version_is_an_unexplained_live_difference(
    older_tzdata_on_one_db_host: str,
) -> None:
    result = provision("diff", "qa", "staging", "--live", "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    flagged = [d for d in report["differences"] if d["verdict"] == "unexplained"]
    tzdata = [
        d for d in flagged if (d["group"], d["kind"], d["name"]) == ("db", "packages", "tzdata")
    ]
    assert len(tzdata) == 1, flagged
    assert tzdata[0]["hosts"] == ["staging-db-1"]
    assert f"+{older_tzdata_on_one_db_host}" in tzdata[0]["diff"]
    # whatever else the downgrade touched is on that host too
    assert {h for d in flagged for h in d["hosts"]} == {"staging-db-1"}


def test_live_diff_is_clean_when_only_the_contract_differs(qa_and_staging: None) -> None:
    result = provision("diff", "qa", "staging", "--live", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    # qa runs one app host and staging two (nginx's upstream lists one server more), and the
    # contract lets workers, pool size and log level differ: each is explained
    assert report["differences"], "the contract-driven files do differ"
    assert all(d["verdict"] == "allowed" for d in report["differences"]), [
        d for d in report["differences"] if d["verdict"] != "allowed"
    ]
    reasons = " ".join(d["reason"] for d in report["differences"])
    assert "qa has 1 app host(s), staging 2" in reasons
    assert "app_workers" in reasons or "app_db_pool_size" in reasons
