"""Drift on real local hosts (qa: drift is the same on every environment, and qa's lane has the
room, tests/lanes.py): a hand edit is drift on exactly that host, a removed package on the hosts
that lost it, a host nobody touched has none, the next apply repairs them all.
(tests/test_live_diff.py: qa against staging live; tests/test_live_parity.py: staging against
prod, and hand changes of every kind.)"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import pytest
from hostrun import last_run, provision

from provisioner.hosts import localhosts

pytestmark = pytest.mark.hosts("qa")

EXIT_DRIFT = 3


def on_host(host: str, command: str) -> str:
    return localhosts.podman("exec", host, "sh", "-c", command).stdout.strip()


@pytest.fixture(scope="module")
def qa() -> None:
    result = provision("qa")
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_drift_right_after_an_apply(qa: None) -> None:
    result = provision("drift", "qa")
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
def drifted(qa: None) -> Drifted:
    on_host("qa-app-1", "echo 'hand edit' >> /etc/motd")
    # The roles ask dpkg first and run apt only for what is missing: that shortcut must still
    # see a package that went away (a baseline one, and one of the app's runtime).
    on_host("qa-web-1", "apt-get remove -y -qq less >/dev/null")
    on_host("qa-app-1", "apt-get remove -y -qq rsync >/dev/null")
    result = provision("drift", "qa")
    changes = last_run("qa")["changes"]
    return Drifted(result, [(change["host"], change["task"]) for change in changes])


def test_a_hand_edited_file_is_drift_on_that_host_only(drifted: Drifted) -> None:
    assert drifted.result.returncode == EXIT_DRIFT, drifted.result.stdout + drifted.result.stderr
    assert drifted.hosts_of("Write the message of the day") == ["qa-app-1"]
    assert "-hand edit" in drifted.result.stdout  # the diff shows the line that would go


def test_a_removed_package_is_drift_on_the_hosts_that_lost_it(drifted: Drifted) -> None:
    assert drifted.hosts_of("Install baseline packages") == ["qa-web-1"]
    assert drifted.hosts_of("Install the runtime from Debian's packages") == ["qa-app-1"]
    # nothing else drifted, on these hosts or the db host nobody touched
    assert len(drifted.changes) == 3, drifted.changes
    summary = "drift on 2 host(s): qa-app-1, qa-web-1;"
    assert summary in drifted.result.stdout


def test_the_next_apply_repairs_every_drifted_host(drifted: Drifted) -> None:
    repaired = provision("qa")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "hand edit" not in on_host("qa-app-1", "cat /etc/motd")
    assert on_host("qa-web-1", "dpkg-query -W -f '${db:Status-Status}' less") == "installed"
    assert on_host("qa-app-1", "dpkg-query -W -f '${db:Status-Status}' rsync") == "installed"
    assert provision("drift", "qa").returncode == 0
