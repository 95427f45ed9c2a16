"""Remote execution on real local hosts: qa provisioned through execution nodes (Debian 13
containers running `ansible-runner worker`, reached over SSH) gives the same summary and ledger
record as a local run; a run sliced over two nodes converges every host and reports one result;
and plain `ansible-playbook -i inventories/qa playbooks/site.yml` converges qa with no help
from provision.py (the way AWX runs the project). qa, not staging: three hosts are enough to
slice over two nodes, and its lane has the time (tests/lanes.py)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hostrun import Asked, last_run, provision, sqlite_url, start_apply

from provisioner import paths
from provisioner.hosts import localhosts
from provisioner.run import remote
from provisioner.source import secrets
from provisioner.source.executor import parse_executor
from provisioner.source.model import load_source

pytestmark = pytest.mark.hosts("qa")

ENV = "qa"


def hosts() -> list[str]:
    return sorted(load_source(paths.DEFAULT_SOURCE).environment(ENV).hosts)


def on_node(url: str, command: str) -> str:
    done = subprocess.run(
        remote.ssh_command(parse_executor(url), command),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def tamper_motd(names: list[str]) -> None:
    """Drift the common role's /etc/motd on these hosts."""
    for name in names:
        localhosts.podman("exec", name, "sh", "-c", "echo tampered > /etc/motd")


def changed_hosts(summary: dict[str, Any]) -> list[str]:
    return sorted(host for host, stats in summary["hosts"].items() if stats["changed"])


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    return sqlite_url(tmp_path_factory.mktemp("remote") / "ledger.sqlite3")


@pytest.fixture(scope="module")
def nodes(ledger: str) -> list[str]:
    """qa's hosts up (converged by the earlier test files; the first run below converges
    them if not), and two execution nodes on its network."""
    up = provision("up", ENV, ledger=ledger)
    assert up.returncode == 0, up.stdout + up.stderr
    made = provision("executors", ENV, "--count", "2")
    assert made.returncode == 0, made.stdout + made.stderr
    urls = re.findall(r"ssh://\S+", made.stdout)
    assert len(urls) == 2, made.stdout
    again = provision("executors", ENV, "--count", "2")  # the execution_node role is idempotent
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 tasks changed" in again.stdout
    assert re.findall(r"ssh://\S+", again.stdout) == urls
    return urls


def test_a_run_through_an_execution_node_is_recorded_like_a_local_one(
    nodes: list[str], ledger: str
) -> None:
    tamper_motd(hosts())
    through = provision(ENV, "--executor", nodes[0], ledger=ledger)
    assert through.returncode == 0, through.stdout + through.stderr
    assert f"on {nodes[0]}" in through.stdout
    assert changed_hosts(last_run(ENV)) == hosts()  # the node's Ansible reached every host

    local = provision(ENV, "--full", ledger=ledger)  # the node's run left nothing to do
    assert local.returncode == 0, local.stdout + local.stderr
    assert "0 tasks changed" in local.stdout
    local_summary = last_run(ENV)
    again = provision(ENV, "--executor", nodes[0], "--full", ledger=ledger)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 tasks changed" in again.stdout
    assert last_run(ENV)["hosts"] == local_summary["hosts"]  # the same tasks, the same outcomes

    book = Asked(ledger)
    remote_run, local_run = book.runs(env=ENV, limit=2)
    assert remote_run.kind == local_run.kind == "apply"
    assert remote_run.status == local_run.status == "successful"
    remote_detail, local_detail = book.show(remote_run.run_id), book.show(local_run.run_id)
    assert remote_detail.host_stats == local_detail.host_stats
    assert remote_detail.finished is not None
    assert local_detail.finished is not None
    assert set(remote_detail.finished.payload) == set(local_detail.finished.payload)


def test_the_job_leaves_no_secret_on_the_node_or_in_the_artifacts(nodes: list[str]) -> None:
    node = parse_executor(nodes[0])
    jobs = remote.node_paths()["jobs"]
    assert on_node(nodes[0], f"ls -A {jobs}").split() == []  # `worker --delete` removed it
    vault = secrets.vault_for(ENV, load_source(paths.DEFAULT_SOURCE).environment(ENV))
    values = secrets.values(vault)
    assert values
    newest = max((paths.RUNS / ENV / "artifacts").glob("remote-*"), key=os.path.getmtime)
    for path in (p for p in newest.rglob("*") if p.is_file()):
        text = path.read_text(errors="replace")
        assert not any(value in text for value in values), path
    assert node.host in newest.joinpath("slice-0", "command").read_text()  # ran over there
    assert not list((paths.RUNS / ENV).glob("job-*"))  # the packed job is gone here too


def test_a_run_sliced_over_two_nodes_converges_every_host_as_one_run(
    nodes: list[str], ledger: str
) -> None:
    tamper_motd(hosts())
    sliced = provision(ENV, "--executors", ",".join(nodes), ledger=ledger)
    assert sliced.returncode == 0, sliced.stdout + sliced.stderr
    summary = last_run(ENV)
    assert changed_hosts(summary) == hosts()  # both slices ran, each on its own hosts
    slices = sorted(p.name for p in summary_artifacts().glob("slice-*"))
    assert slices == ["slice-0", "slice-1"]
    # One run in the ledger, with every host in it.
    book = Asked(ledger)
    run = book.runs(env=ENV, limit=1)[0]
    assert sorted(book.show(run.run_id).host_stats) == hosts()
    drift = provision("drift", ENV, ledger=ledger)
    assert drift.returncode == 0, drift.stdout + drift.stderr


def test_a_canceled_sliced_run_leaves_nothing_running_or_written_on_the_nodes(
    nodes: list[str], ledger: str
) -> None:
    tamper_motd(hosts())  # so that the run has work to do when it is interrupted
    run = start_apply(ENV, ledger, "--executors", ",".join(nodes))
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130, err
    assert Asked(ledger).runs(env=ENV, limit=1)[0].status == "canceled"
    jobs = remote.node_paths()["jobs"]
    for url in nodes:
        assert on_node(url, f"ls -A {jobs}").split() == []
        assert "ansible-playbook" not in on_node(url, "ps -eo args")
    again = provision(ENV, "--executors", ",".join(nodes), ledger=ledger)
    assert again.returncode == 0, again.stdout + again.stderr


def summary_artifacts() -> Path:
    return max((paths.RUNS / ENV / "artifacts").glob("remote-*"), key=os.path.getmtime)


def test_plain_ansible_playbook_converges_an_environment_without_provision_py(
    nodes: list[str], ledger: str
) -> None:
    """What AWX does with the project: its inventory, its playbook, its ansible.cfg (found in
    the working directory), nothing else: no --vault-id, no -e, no ANSIBLE_* settings."""
    tamper_motd(hosts())
    plain_env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PROVISION"))}
    plain_env["PATH"] = f"{paths.REPO / '.venv' / 'bin'}:{plain_env['PATH']}"
    played = subprocess.run(
        ["ansible-playbook", "-i", f"inventories/{ENV}", "playbooks/site.yml"],
        cwd=paths.REPO,
        env=plain_env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert played.returncode == 0, played.stdout[-3000:] + played.stderr
    recap = played.stdout[played.stdout.rindex("PLAY RECAP") :]
    for host in hosts():
        assert re.search(rf"{host}\s+: ok=\d+\s+changed=[1-9]", recap), recap
    drift = provision("drift", ENV, ledger=ledger)
    assert drift.returncode == 0, drift.stdout + drift.stderr
