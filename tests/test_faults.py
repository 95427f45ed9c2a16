"""Faults in the middle of a run, on real local hosts: a host that dies, a host whose network
drops every packet, the tool itself killed, the PostgreSQL ledger restarted, a full disk for the
run's artifacts, and secrets that must not leak into anything a run leaves behind. Each test
says what is left afterwards, and ends with a run that converges."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hostrun import Asked, playbooks_of, provision, sqlite_url, start_apply
from ledger_server import PostgresServer

from provisioner import paths
from provisioner.hosts import localhosts
from provisioner.ledger.records import LOCK_RECOVERED
from provisioner.source import secrets
from provisioner.source.model import load_source

pytestmark = pytest.mark.hosts("qa")


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    # A private ledger; qa needs no apply first: each test's own runs bring its hosts up
    # (they are up already after the earlier test files) and end with an apply that converges.
    return sqlite_url(tmp_path_factory.mktemp("ledger") / "ledger.sqlite3")


def test_a_host_stopped_mid_run_is_unreachable_the_rest_finish(ledger: str) -> None:
    victim = load_source(paths.DEFAULT_SOURCE).environment("qa").hosts_in("web")[0]
    run = start_apply("qa", ledger)
    localhosts.podman("stop", "-t", "0", victim)
    out, err = run.communicate(timeout=600)
    assert run.returncode == 1, out + err
    detail = Asked(ledger).show(Asked(ledger).runs(env="qa")[0].run_id)
    assert detail.summary.status == "failed"
    stats = detail.host_stats
    # Unreachable, as a rule; failed when `podman stop` killed the task's own process on the host
    # (rc -9) a moment before the connection carrying it: either way the victim, and only it.
    assert stats[victim]["unreachable"] + stats[victim]["failed"] > 0, stats
    others = [host for host in stats if host != victim]
    assert others
    assert all(stats[h]["unreachable"] == 0 and stats[h]["failed"] == 0 for h in others), stats
    assert Asked(ledger).holder("qa") is None
    assert Asked(ledger).verify() == []
    # the next apply starts the host again and converges it
    again = provision("qa", ledger=ledger)
    assert again.returncode == 0, again.stdout + again.stderr


def test_the_tool_killed_mid_apply_leaves_an_abandoned_run_the_next_recovers(ledger: str) -> None:
    run = start_apply("qa", ledger)
    holder = Asked(ledger).holder("qa")
    assert holder is not None
    run.kill()  # SIGKILL: no handler runs, no finish is recorded, the lock row stays
    run.communicate(timeout=60)
    # Its Ansible does not go on changing hosts behind the next run's back.
    deadline = time.monotonic() + 60
    while left := playbooks_of("qa"):
        assert time.monotonic() < deadline, left
        time.sleep(1)
    killed = Asked(ledger).runs(env="qa")[0]
    assert (killed.run_id, killed.status) == (holder.run_id, "abandoned")

    again = provision("qa", ledger=ledger)  # takes the dead run's lock over at once
    assert again.returncode == 0, again.stdout + again.stderr
    recovered = Asked(ledger).entries(kind=LOCK_RECOVERED, env="qa")[-1].payload
    assert recovered["previous"]["run_id"] == holder.run_id
    assert "is gone" in recovered["reason"]
    runs = Asked(ledger).runs(env="qa")
    assert [r.status for r in runs[:2]] == ["successful", "abandoned"]  # nothing rewritten
    assert Asked(ledger).holder("qa") is None
    assert Asked(ledger).verify() == []


@contextmanager
def dropped(address: str) -> Iterator[None]:
    """Every packet from `address` to this machine dropped (not refused: no reset, no ICMP),
    as a cut cable or a black-holing firewall does."""
    rule = ["INPUT", "-s", address, "-j", "DROP"]
    subprocess.run(["iptables", "-I", *rule], check=True)
    try:
        yield
    finally:
        subprocess.run(["iptables", "-D", *rule], check=True)


# How long a run may take to give up on a host whose packets vanish: 45 s of unanswered
# keepalives (group_vars/all.yml for mitogen, ansible.cfg for plain ssh), then the other hosts'
# rest of the run (about 20 s here), with room for a busy machine. Mitogen's own default was 5
# minutes.
NETWORK_CUT_BOUND_S = 150


def test_a_host_whose_network_drops_packets_is_given_up_within_a_bound(ledger: str) -> None:
    qa = load_source(paths.DEFAULT_SOURCE).environment("qa")
    victim = qa.hosts_in("web")[0]
    run = start_apply("qa", ledger)
    started = time.monotonic()
    with dropped(qa.address_of(victim)):
        out, err = run.communicate(timeout=NETWORK_CUT_BOUND_S)
    assert time.monotonic() - started < NETWORK_CUT_BOUND_S
    assert run.returncode == 1, out + err
    detail = Asked(ledger).show(Asked(ledger).runs(env="qa")[0].run_id)
    assert detail.summary.status == "failed"
    assert detail.host_stats[victim]["unreachable"] > 0
    others = [host for host in detail.host_stats if host != victim]
    assert others
    assert all(detail.host_stats[h]["unreachable"] == 0 for h in others)
    assert playbooks_of("qa") == []
    assert Asked(ledger).holder("qa") is None
    assert Asked(ledger).verify() == []
    again = provision("qa", ledger=ledger)  # the network back, the next run converges
    assert again.returncode == 0, again.stdout + again.stderr


def test_the_postgresql_ledger_restarted_mid_run_loses_nothing(postgres: PostgresServer) -> None:
    url = postgres.new_database()
    run = start_apply("qa", url)
    postgres.restart()  # every connection of the run cut while Ansible works
    out, err = run.communicate(timeout=600)
    assert run.returncode == 0, out + err
    last = Asked(url).runs(env="qa")[0]
    assert last.status == "successful"  # its finish reached the ledger after the restart
    assert Asked(url).holder("qa") is None
    assert Asked(url).verify() == []


@pytest.fixture
def full_artifacts_disk() -> Iterator[Path]:
    runs = paths.state_dir("runs", "qa")
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(runs)], check=True
    )
    try:
        filler = runs / "filler"
        try:  # fill it up; the last write (or the close that flushes it) fails
            with filler.open("wb") as handle:
                while True:
                    handle.write(b"\0" * 4096)
                    handle.flush()
        except OSError:
            pass
        yield runs
    finally:
        subprocess.run(["umount", str(runs)], check=True)


# Without --full every host is unchanged (the apply above recorded them) and no playbook runs:
# the run's summary (last-run.json) cannot be written. With it, ansible-runner's artifacts cannot.
@pytest.mark.parametrize("extra", [[], ["--full"]], ids=["every-host-skipped", "playbook"])
def test_a_full_disk_for_artifacts_is_a_clear_error(
    ledger: str, full_artifacts_disk: Path, extra: list[str]
) -> None:
    result = provision("qa", *extra, ledger=ledger)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "No space left on device" in result.stderr
    assert str(paths.display(full_artifacts_disk)) in result.stderr
    assert Asked(ledger).holder("qa") is None
    assert Asked(ledger).runs(env="qa")[0].status == "failed"
    assert Asked(ledger).verify() == []


def test_no_secret_reaches_output_ledger_artifacts_or_inventories(ledger: str) -> None:
    vault = secrets.vault_for("qa", load_source(paths.DEFAULT_SOURCE).environment("qa"))
    sentinels = secrets.values(vault)
    assert sentinels
    app = load_source(paths.DEFAULT_SOURCE).environment("qa").hosts_in("app")[0]
    localhosts.podman("exec", app, "rm", "-f", "/etc/csapp.env")  # so the secret is rewritten
    result = provision("qa", "-vv", ledger=ledger)
    assert result.returncode == 0, result.stdout + result.stderr
    run_id = Asked(ledger).runs(env="qa")[0].run_id
    rewritten = {c["task"]: c["diff"] for c in Asked(ledger).show(run_id).changes}
    assert rewritten.get("Write the service configuration") == "(hidden: no_log)"
    places: dict[str, bytes] = {
        "stdout": result.stdout.encode(),
        "stderr": result.stderr.encode(),
        "ledger": Path(ledger.removeprefix("sqlite:///")).read_bytes(),
    }
    for root in (paths.RUNS / "qa", paths.INVENTORIES):
        for path in root.rglob("*"):
            if path.is_file():
                places[str(path)] = path.read_bytes()
    leaks = [where for where, data in places.items() for s in sentinels if s.encode() in data]
    assert leaks == []
    assert len(places) > 10  # the artifacts were really there to search
