"""Live differences between two environments on real local hosts: qa and staging, of different
sizes and contract values, compare live with every difference explained, and a package version
planted on one host is a live difference the contract does not explain.
(tests/test_live_parity.py: staging against prod, and hand changes of every kind.)"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hostrun import provision

from provisioner.hosts import localhosts

# qa belongs to the other lane (tests/lanes.py): this module waits for it and holds it.
pytestmark = pytest.mark.hosts("staging", "qa")


def on_host(host: str, command: str) -> str:
    return localhosts.podman("exec", host, "sh", "-c", command).stdout.strip()


@pytest.fixture(scope="module")
def qa_and_staging() -> None:
    for env in ("qa", "staging"):
        result = provision(env)
        assert result.returncode == 0, result.stdout + result.stderr


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
