"""Normalising a fingerprint (provisioner/live/normalise.py): what is a host's or an environment's
own by design becomes a placeholder, and nothing else is touched.

Golden files: tests/golden_live/<host>.input.json is a raw reading, <host>.expected.json what it
must normalise to (JSON, sorted keys, two-space indent). They are not under tests/golden/, whose
entries test_inventory.py requires to be exactly the fixture environments. After an intended
change to the output, regenerate them and review the diff:
    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_live_normalise.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import FIXTURE_SOURCE, TESTS

from provisioner import paths
from provisioner.live import normalise
from provisioner.live.hostprint import HostPrint
from provisioner.source.model import Environment, LoadedSource, load_source

GOLDEN = TESTS / "golden_live"
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"
GOLDEN_HOSTS = {"staging-app-1": "staging", "prod-db-1": "prod"}  # host -> its environment


@pytest.fixture(scope="module")
def shipped() -> LoadedSource:
    return load_source(paths.DEFAULT_SOURCE)


def normaliser(loaded: LoadedSource, env: str, host: str) -> normalise.Normaliser:
    return normalise.for_host(env, loaded.source.environments[env], host)


def dumped(printed: HostPrint) -> str:
    return json.dumps(printed, indent=2, sort_keys=True) + "\n"


# --- golden files -----------------------------------------------------------------------------


def test_golden_files_are_exactly_an_input_and_an_expectation_per_host() -> None:
    if not UPDATE_GOLDEN:
        assert sorted(p.name for p in GOLDEN.iterdir()) == sorted(
            f"{host}.{part}.json" for host in GOLDEN_HOSTS for part in ("input", "expected")
        )


@pytest.mark.parametrize("host", sorted(GOLDEN_HOSTS))
def test_reading_normalises_to_the_golden_file(shipped: LoadedSource, host: str) -> None:
    raw = json.loads((GOLDEN / f"{host}.input.json").read_text(encoding="utf-8"))
    content = dumped(normaliser(shipped, GOLDEN_HOSTS[host], host).hostprint(raw))
    golden = GOLDEN / f"{host}.expected.json"
    if UPDATE_GOLDEN:
        golden.write_text(content, encoding="utf-8")
    assert golden.read_text(encoding="utf-8") == content, (
        f"run UPDATE_GOLDEN=1 if {golden} should change"
    )


def test_golden_expectation_spot_checks() -> None:
    """A few values of the golden files by hand, so that one regenerated wrongly stands out."""
    app = json.loads((GOLDEN / "staging-app-1.expected.json").read_text(encoding="utf-8"))
    assert app["system"]["hostname"] == "<self>"
    assert app["sysctl"]["kernel.hostname"] == "<self>"
    assert sorted(app["sockets"]) == [
        "tcp 0.0.0.0:8000",
        "tcp 198.18.2.100:9100",
        "tcp <self.ip>:22",
    ]
    assert "/etc/<self>.notes" in app["files"]
    assert app["files"]["/etc/resolv.conf"] == "search dns.podman\nnameserver <gateway>\n"
    assert "CSAPP_DB_HOST=<db[0].ip>\n" in app["files"]["/etc/csapp.env"]
    assert "CSAPP_DB_PASSWORD=<secret>\n" in app["files"]["/etc/csapp.env"]
    assert "--workers 2 " in app["files"]["/etc/systemd/system/csapp.service"]
    assert app["groups"]["<env>"] == "gid=1500 members=csapp"
    assert app["packages"]["aqua-data"] == "1.0-1"
    db = json.loads((GOLDEN / "prod-db-1.expected.json").read_text(encoding="utf-8"))
    assert sorted(db["sockets"]) == ["tcp 127.0.0.1:5432", "tcp <self.ip>:5432", "udp <gateway>:53"]
    assert db["packages"] == {"postgresql-15": "15.6-0+deb12u1", "production-tools": "1.0"}
    assert db["files"]["/etc/postgresql/15/main/pg_hba.conf"] == (
        "# Ansible managed\n"
        "host    csapp  csapp  <app[0].ip>/32  scram-sha-256\n"
        "host    csapp  csapp  <app[1].ip>/32  scram-sha-256\n"
    )
    assert db["files"]["/etc/<self>/backup.conf"] == (
        "target=<self>.backup.<env> production=yes\n"
        "peers=<app[0]>,<app[1]>,<web[0]>\n"
        "not a peer: prod-app-10 prod-app-1-old\n"
    )


# --- what is replaced -------------------------------------------------------------------------


def test_own_name_and_address_become_self(shipped: LoadedSource) -> None:
    text = normaliser(shipped, "staging", "staging-app-1").text
    assert text("staging-app-1 at 198.18.2.10") == "<self> at <self.ip>"
    # the same literal on another host of the group is a peer there, not itself
    text = normaliser(shipped, "staging", "staging-app-2").text
    assert text("staging-app-1 at 198.18.2.10") == "<app[0]> at <app[0].ip>"
    assert text("staging-app-2 at 198.18.2.11") == "<self> at <self.ip>"


def test_peers_are_named_by_sorted_index_in_their_first_group(shipped: LoadedSource) -> None:
    assert normalise.names(shipped.source.environments["staging"]) == {
        "staging-app-1": "<app[0]>",
        "staging-app-2": "<app[1]>",
        "staging-db-1": "<db[0]>",
        "staging-web-1": "<web[0]>",
    }
    text = normaliser(shipped, "staging", "staging-web-1").text
    assert text("upstream staging-app-2 198.18.2.11:8000; staging-app-1 198.18.2.10:8000") == (
        "upstream <app[1]> <app[1].ip>:8000; <app[0]> <app[0].ip>:8000"
    )
    assert text("db staging-db-1 198.18.2.12") == "db <db[0]> <db[0].ip>"
    # addresses follow the sorted host names: prod-db-1 is .12 in prod as staging-db-1 in staging
    assert normaliser(shipped, "prod", "prod-web-1").text("198.18.3.12") == "<db[0].ip>"


def test_the_index_is_in_the_first_group_listed(tmp_path: Path) -> None:
    loaded = other_environments(tmp_path)
    # qa-edge-1 is in [web, app]: index 0 of web, although it is second in app
    assert normalise.names(loaded.source.environments["qa"]) == {
        "qa-app-1": "<app[0]>",
        "qa-edge-1": "<web[0]>",
    }
    text = normaliser(loaded, "qa", "qa-app-1").text
    assert text("qa-edge-1 198.18.1.11") == "<web[0]> <web[0].ip>"


def test_environment_name_subnet_and_gateway(shipped: LoadedSource) -> None:
    text = normaliser(shipped, "staging", "staging-db-1").text
    assert text("env=staging net=198.18.2.0/24 via 198.18.2.1") == (
        "env=<env> net=<subnet> via <gateway>"
    )
    text = normaliser(shipped, "qa", "qa-db-1").text
    assert text("env=qa net=198.18.1.0/24 via 198.18.1.1") == (
        "env=<env> net=<subnet> via <gateway>"
    )


def test_an_address_is_not_replaced_inside_a_longer_one(shipped: LoadedSource) -> None:
    text = normaliser(shipped, "staging", "staging-app-1").text  # .1 gateway, .10 itself
    assert text("198.18.2.10") == "<self.ip>"  # not "<gateway>0"
    assert text("198.18.2.1") == "<gateway>"
    assert text("198.18.2.100 198.18.2.101 198.18.2.1.5 10.198.18.2.1 198.18.2.10a") == (
        "198.18.2.100 198.18.2.101 198.18.2.1.5 10.198.18.2.1 198.18.2.10a"
    )
    assert text("198.18.2.1:53 198.18.2.10/32 (198.18.2.1). 198.18.2.10,198.18.2.1") == (
        "<gateway>:53 <self.ip>/32 (<gateway>). <self.ip>,<gateway>"
    )


def test_a_host_name_is_not_replaced_inside_a_longer_name(shipped: LoadedSource) -> None:
    text = normaliser(shipped, "staging", "staging-app-1").text
    assert text("staging-app-10") == "staging-app-10"  # and "staging" in it is not <env> either
    assert text("staging-app-1-old xstaging-app-1 staging-app-1x") == (
        "staging-app-1-old xstaging-app-1 staging-app-1x"
    )
    assert text("staging-app-1.dns.podman staging-app-1: staging-app-1") == (
        "<self>.dns.podman <self>: <self>"
    )


def test_the_environment_name_is_not_replaced_inside_a_word(shipped: LoadedSource) -> None:
    text = normaliser(shipped, "qa", "qa-app-1").text
    assert text("aqua qa2 qas qa_x prod-qa staging") == "aqua qa2 qas qa_x prod-qa staging"
    assert text("qa /srv/qa/ qa.") == "<env> /srv/<env>/ <env>."
    text = normaliser(shipped, "prod", "prod-app-1").text
    assert text("production prod") == "production <env>"


def test_the_environment_name_is_not_replaced_inside_another_environments_host(
    tmp_path: Path,
) -> None:
    loaded = other_environments(tmp_path)  # uat has hosts named qa-mirror-1 and uat-qa-1
    text = normaliser(loaded, "qa", "qa-app-1").text
    assert text("qa-mirror-1 uat-qa-1 uat-app-1 on qa") == "qa-mirror-1 uat-qa-1 uat-app-1 on <env>"
    # and the other way round: uat's own names are replaced, qa's are not its peers
    text = normaliser(loaded, "uat", "uat-app-1").text
    assert text("qa-mirror-1 uat-qa-1 qa-app-1 uat") == "<web[0]> <app[1]> qa-app-1 <env>"


def test_keys_are_normalised_too(shipped: LoadedSource) -> None:
    raw: HostPrint = {
        "sockets": {"tcp 198.18.2.12:5432": "postgres", "tcp 127.0.0.1:5432": "postgres"},
        "sysctl": {"kernel.hostname": "staging-db-1"},
        "files": {"/etc/staging-db-1/staging.conf": "peer staging-app-2"},
        "groups": {"staging": "gid=1500 members="},
    }
    assert normaliser(shipped, "staging", "staging-db-1").hostprint(raw) == {
        "sockets": {"tcp <self.ip>:5432": "postgres", "tcp 127.0.0.1:5432": "postgres"},
        "sysctl": {"kernel.hostname": "<self>"},
        "files": {"/etc/<self>/<env>.conf": "peer <app[1]>"},
        "groups": {"<env>": "gid=1500 members="},
    }


def test_contract_values_and_other_environments_are_left_alone(shipped: LoadedSource) -> None:
    """The contract's values are put in by compare.py on differing lines only; and what belongs
    to another environment is not this host's to replace."""
    text = normaliser(shipped, "staging", "staging-app-1").text
    assert text("--workers 2 --log-level info pool=5 shared_buffers=256MB") == (
        "--workers 2 --log-level info pool=5 shared_buffers=256MB"
    )
    assert text("prod-app-1 198.18.3.10 198.18.3.0/24 198.18.3.1 prod qa") == (
        "prod-app-1 198.18.3.10 198.18.3.0/24 198.18.3.1 prod qa"
    )


def test_ssh_hosts_have_their_declared_addresses_and_no_subnet() -> None:
    loaded = load_source(FIXTURE_SOURCE)  # prod there: ssh hosts, one address a DNS name
    n = normaliser(loaded, "prod", "prod-db-1")
    assert n.tokens == {
        "prod-app-1": "<app[0]>",
        "prod-app-1.example.com": "<app[0].ip>",
        "prod-db-1": "<self>",
        "203.0.113.10": "<self.ip>",
        "prod": "<env>",
    }
    assert n.text("prod-app-1.example.com prod-app-1 203.0.113.10 203.0.113.100 203.0.113.1") == (
        "<app[0].ip> <app[0]> <self.ip> 203.0.113.100 203.0.113.1"
    )


def test_nothing_else_changes_and_an_empty_reading_stays_empty(shipped: LoadedSource) -> None:
    n = normaliser(shipped, "staging", "staging-app-1")
    assert n.hostprint({}) == {}
    raw: HostPrint = {"packages": {"less": "590-2.1~deb12u2"}, "units": {}}
    assert n.hostprint(raw) == raw
    assert normalise.Normaliser(None, {}).text("staging-app-1") == "staging-app-1"


def test_a_secret_placeholder_stays_masked(shipped: LoadedSource) -> None:
    n = normaliser(shipped, "staging", "staging-app-1")
    raw: HostPrint = {
        "files": {
            "/etc/csapp.env": "CSAPP_DB_PASSWORD=<secret>\nURL=postgresql://csapp:<secret>@198.18.2.12/x"
        },
        "settings": {"<secret>": "<secret>"},  # a key the module masked as well
    }
    assert n.hostprint(raw) == {
        "files": {
            "/etc/csapp.env": "CSAPP_DB_PASSWORD=<secret>\nURL=postgresql://csapp:<secret>@<db[0].ip>/x"
        },
        "settings": {"<secret>": "<secret>"},
    }


# --- helpers ----------------------------------------------------------------------------------

OTHER_ENVIRONMENTS = """\
groups:
  app: {}
  web: {}
environments:
  qa:
    provider: {kind: local, subnet: 198.18.1.0/24}
    hosts:
      qa-app-1: {groups: [app]}
      qa-edge-1: {groups: [web, app]}
  uat:
    provider: {kind: local, subnet: 198.18.4.0/24}
    hosts:
      uat-app-1: {groups: [app]}
      uat-qa-1: {groups: [app]}
      qa-mirror-1: {groups: [web]}
"""


def other_environments(tmp_path: Path) -> LoadedSource:
    """A source whose second environment's host names contain the first one's name."""
    path = tmp_path / "environments.yml"
    path.write_text(OTHER_ENVIRONMENTS, encoding="utf-8")
    loaded = load_source(path)
    uat: Environment = loaded.source.environments["uat"]
    assert uat.addresses() == {
        "qa-mirror-1": "198.18.4.10",
        "uat-app-1": "198.18.4.11",
        "uat-qa-1": "198.18.4.12",
    }
    return loaded
