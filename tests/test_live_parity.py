"""Live parity on real local hosts: staging and prod, provisioned identically (prod through its
real plan, approval and promotion), compare clean; then hand changes of eight kinds on prod's
hosts are each reported on the right host with a readable diff, by `diff staging prod --live` and
by `diff prod --since-last-apply`, with no secret anywhere; and a plan of prod carries them, so
its apply is refused until someone accepts them with a reason (recorded).

Prod is left as the rest of the suite expects it: the hand changes are undone at the end."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hostrun import Asked, planned_id, provision, sqlite_url
from pipelinescript import PIPELINE, script_array
from signing import Keys

from provisioner import paths
from provisioner.hosts import localhosts
from provisioner.source import secrets
from provisioner.source.model import load_source

pytestmark = pytest.mark.hosts("prod", "staging")

EXIT_DIFFERENT = 1
EXIT_REFUSED = 4


def on_host(host: str, command: str) -> str:
    return localhosts.podman("exec", host, "sh", "-c", command).stdout.strip()


def report(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return dict(json.loads(result.stdout))


def plan(ledger: str, keys: Keys) -> str:
    return planned_id(provision("plan", "prod", ledger=ledger, extra_env=keys.env("alice")))


def approve(plan_id: str, ledger: str, keys: Keys) -> None:
    approved = provision("approve", "prod", plan_id, ledger=ledger, extra_env=keys.env("bob"))
    assert approved.returncode == 0, approved.stdout + approved.stderr


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    return sqlite_url(tmp_path_factory.mktemp("ledger") / "ledger.sqlite3")


@pytest.fixture(scope="module")
def sentinels() -> list[str]:
    """The vault values of both environments: none may appear in any output."""
    loaded = load_source(paths.DEFAULT_SOURCE)
    found: list[str] = []
    for env in ("staging", "prod"):
        vault = secrets.vault_for(env, loaded.environment(env))
        found += [value for value in secrets.values(vault) if value]
    assert found
    return found


@pytest.fixture(scope="module")
def pipeline(ledger: str) -> subprocess.CompletedProcess[str]:
    """CI's deploy stages on local hosts, as `make pipeline` runs them (scripts/pipeline.sh
    local): staging applied and gated, prod planned, approved by a second person, promoted;
    then the web report and the ledger's verification. It is `make test`'s run of the pipeline
    too (no stage of its own: it would converge the same two environments again, after the
    host tests). Prod starts from fresh hosts: the promotion converges it, so its gate runs,
    and a gated apply records the reading --since-last-apply compares with."""
    assert provision("down", "prod").returncode == 0
    # As on a CI machine: no identity or key of the test session's, this ledger.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PROVISION_") or k == "PROVISION_PACKAGE_CACHE"
    }
    env.update(PROVISION_LEDGER_URL=ledger, COLUMNS="200")
    return subprocess.run(
        [str(PIPELINE), "local"],
        capture_output=True,
        text=True,
        check=False,
        cwd=paths.REPO,
        timeout=1800,
        env=env,
    )


@pytest.fixture(scope="module")
def pair(pipeline: subprocess.CompletedProcess[str], ledger: str) -> None:
    """staging and prod as the pipeline left them (the real path to prod)."""
    assert pipeline.returncode == 0, pipeline.stdout[-6000:] + pipeline.stderr[-3000:]
    # the promotion's gate passed, so its reading is the one --since-last-apply compares with
    assert Asked(ledger).entries(kind="fingerprint", env="prod")


def test_the_pipeline_takes_staging_to_prod_with_a_second_persons_approval(
    pair: None, pipeline: subprocess.CompletedProcess[str], ledger: str
) -> None:
    for stage in [*script_array("LOCAL_SEQUENCE"), "local"]:
        passed = re.search(rf"^== stage {stage} passed in \d+s$", pipeline.stdout, re.MULTILINE)
        assert passed, stage
    book = Asked(ledger)
    promoted = book.runs(env="prod", limit=1)[0]
    assert (promoted.kind, promoted.status) == ("apply", "successful"), promoted
    assert promoted.identity == "ci-pipeline"  # the applier; approved by ci-approver
    assert book.verify() == []


def test_a_clean_pair_has_no_unexplained_difference(pair: None, ledger: str) -> None:
    result = provision("diff", "staging", "prod", "--live", "--json", ledger=ledger)
    assert result.returncode == 0, result.stdout + result.stderr
    found = report(result)["differences"]
    assert [d for d in found if d["verdict"] != "allowed"] == []
    # prod runs 4 workers, staging 2: the unit says so, and the contract allows it
    workers = [d for d in found if d["name"] == "/etc/systemd/system/csapp.service"]
    assert workers, found
    assert "app_workers" in workers[0]["reason"]


@dataclass(frozen=True)
class Change:
    host: str
    kind: str
    name: str
    seen: str  # what the diff must show


CHANGES = (
    Change("prod-app-1", "packages", "tree", "+"),
    Change("prod-web-1", "files", "/etc/nginx/nginx.conf", "+    worker_connections 4096;"),
    Change("prod-web-1", "units", "nginx.service", "inactive"),
    Change("prod-app-2", "system", "timezone", "+Europe/Paris"),
    Change("prod-db-1", "users", "mallory", "+uid="),
    Change("prod-app-1", "sockets", "tcp 0.0.0.0:9999", "+python3"),
    Change("prod-db-1", "settings", "postgresql settings", "+work_mem = 64MB"),
    Change("prod-app-2", "files", "/etc/cron.d/backdoor", "+* * * * * root /bin/true"),
)


@pytest.fixture(scope="module")
def changed(pair: None) -> Iterator[None]:
    """Eight kinds of hand change on prod's hosts, undone afterwards."""
    on_host("prod-app-1", "apt-get install -y -qq tree >/dev/null")
    on_host(
        "prod-web-1",
        "sed -i 's/worker_connections [0-9]*;/worker_connections 4096;/' "
        "/etc/nginx/nginx.conf && systemctl stop nginx",
    )
    on_host("prod-app-2", "echo Europe/Paris > /etc/timezone")
    on_host("prod-db-1", "useradd --no-create-home mallory")
    localhosts.podman(
        "exec",
        "-d",
        "prod-app-1",
        "python3",
        "-m",
        "http.server",
        "9999",
        "--bind",
        "0.0.0.0",  # noqa: S104 - inside prod-app-1's own network namespace
    )
    on_host(
        "prod-db-1",
        "runuser -u postgres -- psql -Xqc \"ALTER SYSTEM SET work_mem = '64MB'\" "
        "-c 'SELECT pg_reload_conf()'",
    )
    on_host("prod-app-2", "echo '* * * * * root /bin/true' > /etc/cron.d/backdoor")
    yield
    on_host(
        "prod-app-1", "pkill -f '^python3 -m http.server'; apt-get remove -y -qq tree >/dev/null"
    )
    on_host(
        "prod-db-1",
        "userdel mallory; runuser -u postgres -- psql -Xqc 'ALTER SYSTEM RESET "
        "work_mem' -c 'SELECT pg_reload_conf()'",
    )
    on_host("prod-app-2", "rm -f /etc/cron.d/backdoor")
    # the managed ones (nginx.conf, nginx stopped, the timezone) are the next apply's to repair


def found_on(differences: list[dict[str, Any]], change: Change) -> dict[str, Any]:
    matching = [d for d in differences if (d["kind"], d["name"]) == (change.kind, change.name)]
    assert matching, f"{change} not reported"
    return matching[0]


@pytest.fixture(scope="module")
def live(changed: None, ledger: str) -> subprocess.CompletedProcess[str]:
    return provision("diff", "staging", "prod", "--live", "--json", ledger=ledger)


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: f"{c.kind}-{c.host}")
def test_each_hand_change_is_reported_on_its_host_with_a_diff(
    live: subprocess.CompletedProcess[str], change: Change
) -> None:
    assert live.returncode == EXIT_DIFFERENT, live.stdout + live.stderr
    difference = found_on(report(live)["differences"], change)
    assert difference["verdict"] == "unexplained"
    assert change.host in difference["hosts"]
    assert all(not h.startswith("staging") for h in difference["hosts"])
    assert any(change.seen in line for line in difference["diff"]), difference["diff"]


def test_the_terminal_report_names_them_too(changed: None, ledger: str) -> None:
    shown = provision("diff", "staging", "prod", "--live", ledger=ledger)
    assert shown.returncode == EXIT_DIFFERENT
    assert "UNEXPLAINED web files /etc/nginx/nginx.conf on prod-web-1" in shown.stdout
    assert "+    worker_connections 4096;" in shown.stdout


def test_since_last_apply_shows_the_same_changes_and_nothing_else(
    changed: None, ledger: str, live: subprocess.CompletedProcess[str]
) -> None:
    result = provision("diff", "prod", "--since-last-apply", "--json", ledger=ledger)
    assert result.returncode == EXIT_DIFFERENT, result.stdout + result.stderr
    found = report(result)["differences"]
    for change in CHANGES:
        assert found_on(found, change)["hosts"] == [change.host]
    # Nothing but the hand changes and what they bring with them (the extra user's group and
    # subordinate ids, the stopped nginx's sockets, nginx -T showing the edited file, the
    # timezone file beside the timezone are the same changes).
    expected = {(c.kind, c.name) for c in CHANGES}
    incidental = {
        ("groups", "mallory"),
        ("sockets", "tcp 0.0.0.0:80"),
        ("sockets", "tcp6 :::80"),
        ("files", "/etc/timezone"),
        ("files", "/etc/subuid"),
        ("files", "/etc/subgid"),
        ("settings", "nginx configuration"),
    }
    unexpected = {(d["kind"], d["name"]) for d in found} - expected - incidental
    assert unexpected == set(), unexpected


def test_no_secret_appears_anywhere(
    changed: None,
    ledger: str,
    sentinels: list[str],
    live: subprocess.CompletedProcess[str],
) -> None:
    shown = provision("fingerprint", "prod", "--json", ledger=ledger)
    assert shown.returncode == 0, shown.stderr
    assert "<secret>" in shown.stdout  # /etc/csapp.env holds the password: masked
    places = [live.stdout, live.stderr, shown.stdout, shown.stderr]
    places += [
        p.read_bytes().decode(errors="replace") for p in paths.STATE.glob("fingerprints/*/*")
    ]
    places += [json.dumps([e.payload for e in Asked(ledger).entries()])]
    for text in places:
        for secret in sentinels:
            assert secret not in text


def test_a_plan_of_prod_carries_them_and_its_apply_is_refused_until_accepted(
    changed: None, ledger: str, signing_keys: Keys
) -> None:
    plan_id = plan(ledger, signing_keys)
    approve(plan_id, ledger, signing_keys)
    refused = provision("prod", ledger=ledger, extra_env=signing_keys.env("alice"))
    assert refused.returncode == EXIT_REFUSED, refused.stdout + refused.stderr
    # prod-app-1 (extra package, port) and prod-db-1 (user, setting) are hosts the plan
    # does not change: their differences block
    assert "unexplained live difference" in refused.stderr
    assert "mallory" in refused.stderr
    accepted = provision(
        "prod",
        "--accept-live-differences",
        "incident 42: kept for forensics",
        ledger=ledger,
        extra_env=signing_keys.env("alice"),
    )
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    overrides = Asked(ledger).entries(kind="live-parity-accepted", env="prod")
    assert [e.payload["reason"] for e in overrides] == ["incident 42: kept for forensics"]
    assert any(d["name"] == "mallory" for d in overrides[0].payload["differences"])
