"""The package cache on real local hosts: two fresh hosts from the local image install the same
package, and the second is served from the cache, not the mirror; a host that cannot reach the
cache falls back to the mirror by itself. (tests/test_pkgcache.py checks the same without hosts:
where the setting lives, and that no inventory carries it.)"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from hostrun import provision

from provisioner.hosts import localhosts, pkgcache

pytestmark = pytest.mark.hosts("pkgcachetest")

ENV = "pkgcachetest"  # no environment of the source: this file's own containers
NETWORK = f"provisioner-{ENV}"
SUBNET = "198.18.97.0/24"
HOSTS = (f"{ENV}-1", f"{ENV}-2")
FENCED = f"{ENV}-fenced"  # cannot reach the cache
PACKAGE = "hello"  # small, no dependencies, not in the image


def sh(host: str, command: str) -> str:
    return localhosts.podman("exec", host, "bash", "-c", command).stdout.strip()


def remove_all() -> None:
    for name in (*HOSTS, FENCED):
        localhosts.podman("rm", "-f", "-t", "0", name, check=False)
    localhosts.podman("network", "rm", "-f", NETWORK, check=False)


@pytest.fixture(scope="module")
def hosts() -> Iterator[dict[str, str]]:
    """Fresh containers from the local host image, on a network of their own; their addresses."""
    remove_all()  # left by an earlier run
    image = localhosts.ensure_image()
    started = provision("cache")
    assert started.returncode == 0, started.stdout + started.stderr
    label = f"{localhosts.LABEL}={ENV}"
    localhosts.podman("network", "create", "--subnet", SUBNET, "--label", label, NETWORK)
    for name in (*HOSTS, FENCED):
        extra = ["--cap-add", "NET_ADMIN"] if name == FENCED else []
        localhosts.podman(
            "run", "-d", "--name", name, "--network", NETWORK, "--label", label,
            "--systemd=always", *extra, image,
        )  # fmt: skip
    addresses = {
        name: sh(name, "ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1")
        for name in (*HOSTS, FENCED)
    }
    yield addresses
    remove_all()


def download(host: str) -> None:
    sh(host, f"apt-get update -qq && apt-get install -y -qq --download-only {PACKAGE} >/dev/null")


def test_apt_on_a_local_host_asks_the_cache(hosts: dict[str, str]) -> None:
    # as apt runs it: as its unprivileged _apt user
    assert sh(HOSTS[0], "runuser -u _apt /usr/local/lib/provisioner/apt-proxy") == pkgcache.URL


def transfers_since(count: int) -> list[pkgcache.Transfer]:
    return list(pkgcache.transfers())[count:]


def test_a_second_hosts_install_is_served_from_the_cache(hosts: dict[str, str]) -> None:
    before = len(list(pkgcache.transfers()))  # the log is the cache's whole history
    for host in HOSTS:
        download(host)
    deb = re.compile(rf"/{PACKAGE}_[^/]*\.deb$")
    seen = [t for t in transfers_since(before) if deb.search(t.path)]
    served = {t.client for t in seen if t.direction == "O"}
    assert {hosts[h] for h in HOSTS} <= served, seen  # both hosts got it through the cache
    second = [t for t in seen if t.direction == "O" and t.client == hosts[HOSTS[1]]]
    fetched = [t for t in seen if t.direction == "I"]
    # The mirror was asked at most once for it (not at all when an earlier run had cached it),
    # however many hosts it went to.
    assert second
    assert len(fetched) <= 1, seen


def test_a_host_that_cannot_reach_the_cache_uses_the_mirror(hosts: dict[str, str]) -> None:
    before = len(list(pkgcache.transfers()))
    sh(FENCED, f"ip route add unreachable {pkgcache.ADDRESS}/32")
    assert sh(FENCED, "/usr/local/lib/provisioner/apt-proxy") == "DIRECT"
    download(FENCED)
    assert sh(FENCED, f"ls /var/cache/apt/archives/ | grep -c '^{PACKAGE}_'") == "1"
    assert hosts[FENCED] not in {t.client for t in transfers_since(before)}
