"""Remote execution on real local hosts: an environment provisioned through execution nodes
(Debian 13 containers running `ansible-runner worker`, reached over SSH) gives the same summary
and ledger record as a local run; a run sliced over two nodes converges every host and reports
one result. (tests/test_plain_ansible.py: plain `ansible-playbook`, as AWX runs the project.)

The environment, `rx`, is this module's own (a source file of its own, qa's shape with a second
web host, so that two slices each have hosts): its lane runs beside staging's and qa's
(tests/lanes.py). Its first run, through a node, is its cold converge."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hostrun import Asked, last_run, provision, sqlite_url, start_apply, tamper_motd

from provisioner import paths
from provisioner.run import remote
from provisioner.source import secrets
from provisioner.source.executor import parse_executor
from provisioner.source.model import load_source

pytestmark = pytest.mark.hosts("rx")

ENV = "rx"
SUBNET = "198.18.14.0/24"  # its own: no other test's environment uses it


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The shipped source's groups and qa's settings, as environment `rx` with hosts rx-*."""
    shipped = yaml.safe_load(paths.DEFAULT_SOURCE.read_text())
    env = dict(shipped["environments"]["qa"])
    env["provider"] = {"kind": "local", "subnet": SUBNET}
    env["hosts"] = {
        f"{ENV}-db-1": {"groups": ["db"]},
        f"{ENV}-app-1": {"groups": ["app"]},
        f"{ENV}-web-1": {"groups": ["web"]},
        f"{ENV}-web-2": {"groups": ["web"]},
    }
    path = tmp_path_factory.mktemp("rx") / "environments.yml"
    path.write_text(yaml.safe_dump({"groups": shipped["groups"], "environments": {ENV: env}}))
    yield path
    provision("down", ENV, "--source", str(path))  # its hosts, execution nodes and network
    shutil.rmtree(paths.INVENTORIES / ENV, ignore_errors=True)


def rx(source: Path, *args: str, ledger: str | None = None) -> subprocess.CompletedProcess[str]:
    """`provision.py ARGS --source SOURCE`."""
    return provision(*args, "--source", str(source), ledger=ledger)


def hosts() -> list[str]:
    return [f"{ENV}-app-1", f"{ENV}-db-1", f"{ENV}-web-1", f"{ENV}-web-2"]


def on_node(url: str, command: str) -> str:
    done = subprocess.run(
        remote.ssh_command(parse_executor(url), command),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def changed_hosts(summary: dict[str, Any]) -> list[str]:
    return sorted(host for host, stats in summary["hosts"].items() if stats["changed"])


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    return sqlite_url(tmp_path_factory.mktemp("remote") / "ledger.sqlite3")


@pytest.fixture(scope="module")
def nodes(source: Path, ledger: str) -> list[str]:
    """rx's hosts up (not converged: the first run below does it), and two execution nodes on
    its network."""
    up = rx(source, "up", ENV, ledger=ledger)
    assert up.returncode == 0, up.stdout + up.stderr
    made = rx(source, "executors", ENV, "--count", "2")
    assert made.returncode == 0, made.stdout + made.stderr
    urls = re.findall(r"ssh://\S+", made.stdout)
    assert len(urls) == 2, made.stdout
    again = rx(source, "executors", ENV, "--count", "2")  # the execution_node role is idempotent
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 tasks changed" in again.stdout
    assert re.findall(r"ssh://\S+", again.stdout) == urls
    return urls


def test_a_run_through_an_execution_node_is_recorded_like_a_local_one(
    source: Path, nodes: list[str], ledger: str
) -> None:
    tamper_motd(hosts())
    through = rx(source, ENV, "--executor", nodes[0], ledger=ledger)
    assert through.returncode == 0, through.stdout + through.stderr
    assert f"on {nodes[0]}" in through.stdout
    assert changed_hosts(last_run(ENV)) == hosts()  # the node's Ansible reached every host

    local = rx(source, ENV, "--full", ledger=ledger)  # the node's run left nothing to do
    assert local.returncode == 0, local.stdout + local.stderr
    assert "0 tasks changed" in local.stdout
    local_summary = last_run(ENV)
    again = rx(source, ENV, "--executor", nodes[0], "--full", ledger=ledger)
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


def test_the_job_leaves_no_secret_on_the_node_or_in_the_artifacts(
    source: Path, nodes: list[str]
) -> None:
    node = parse_executor(nodes[0])
    jobs = remote.node_paths()["jobs"]
    assert on_node(nodes[0], f"ls -A {jobs}").split() == []  # `worker --delete` removed it
    vault = secrets.vault_for(ENV, load_source(source).environment(ENV))
    values = secrets.values(vault)
    assert values
    newest = max((paths.RUNS / ENV / "artifacts").glob("remote-*"), key=os.path.getmtime)
    for path in (p for p in newest.rglob("*") if p.is_file()):
        text = path.read_text(errors="replace")
        assert not any(value in text for value in values), path
    assert node.host in newest.joinpath("slice-0", "command").read_text()  # ran over there
    assert not list((paths.RUNS / ENV).glob("job-*"))  # the packed job is gone here too


def test_a_run_sliced_over_two_nodes_converges_every_host_as_one_run(
    source: Path, nodes: list[str], ledger: str
) -> None:
    tamper_motd(hosts())
    sliced = rx(source, ENV, "--executors", ",".join(nodes), ledger=ledger)
    assert sliced.returncode == 0, sliced.stdout + sliced.stderr
    summary = last_run(ENV)
    assert changed_hosts(summary) == hosts()  # both slices ran, each on its own hosts
    slices = sorted(p.name for p in summary_artifacts().glob("slice-*"))
    assert slices == ["slice-0", "slice-1"]
    # One run in the ledger, with every host in it.
    book = Asked(ledger)
    run = book.runs(env=ENV, limit=1)[0]
    assert sorted(book.show(run.run_id).host_stats) == hosts()
    drift = rx(source, "drift", ENV, ledger=ledger)
    assert drift.returncode == 0, drift.stdout + drift.stderr


def test_a_canceled_sliced_run_leaves_nothing_running_or_written_on_the_nodes(
    source: Path, nodes: list[str], ledger: str
) -> None:
    tamper_motd(hosts())  # so that the run has work to do when it is interrupted
    run = start_apply(ENV, ledger, "--executors", ",".join(nodes), "--source", str(source))
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130, err
    assert Asked(ledger).runs(env=ENV, limit=1)[0].status == "canceled"
    jobs = remote.node_paths()["jobs"]
    for url in nodes:
        assert on_node(url, f"ls -A {jobs}").split() == []
        assert "ansible-playbook" not in on_node(url, "ps -eo args")
    again = rx(source, ENV, "--executors", ",".join(nodes), ledger=ledger)
    assert again.returncode == 0, again.stdout + again.stderr


def summary_artifacts() -> Path:
    return max((paths.RUNS / ENV / "artifacts").glob("remote-*"), key=os.path.getmtime)
