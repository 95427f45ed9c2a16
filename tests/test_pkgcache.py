"""The package cache for local hosts, without hosts: where its one setting lives, what the
generated inventories (local and real) say of it (nothing), and how its transfer log is read.
tests/test_provision_local.py shows on real hosts that a second host's install is served from it.
"""

from __future__ import annotations

import ipaddress
import os
import re
import time
from pathlib import Path

import pytest
from conftest import FIXTURE_SOURCE

from provisioner import paths
from provisioner.hosts import localhosts, pkgcache
from provisioner.source import inventory
from provisioner.source.model import CONTROLLER_RANGE, LOCAL_RANGE, load_source


def test_the_cache_listens_in_the_controllers_reserved_range() -> None:
    address = ipaddress.IPv4Address(pkgcache.ADDRESS)
    assert address in CONTROLLER_RANGE
    assert CONTROLLER_RANGE.subnet_of(LOCAL_RANGE)
    assert f"http://{pkgcache.ADDRESS}:{pkgcache.PORT}" == pkgcache.URL


def test_no_environment_can_take_the_controllers_range() -> None:
    for source in (paths.DEFAULT_SOURCE, FIXTURE_SOURCE):
        for env in load_source(source).source.environments.values():
            subnet = getattr(env.provider, "subnet", None)
            assert subnet is None or not subnet.overlaps(CONTROLLER_RANGE)


def test_the_images_are_told_where_the_cache_is_and_it_is_part_of_their_tag() -> None:
    image = localhosts.HOST_IMAGE
    assert image.build_env()["APT_CACHE_URL"] == pkgcache.URL
    script = (paths.HOSTS_DIR / "build-image.sh").read_text()
    assert "Proxy-Auto-Detect" in script
    assert "DIRECT" in script  # the fallback to the mirror
    assert pkgcache.ADDRESS not in script  # said once, in pkgcache.py, and passed in


def test_no_generated_inventory_carries_a_proxy_setting() -> None:
    """The cache is the local images' business: inventories (local ones and `provider: ssh`
    ones alike) say nothing of it, so the hosts' apt sources are what the roles write."""
    for source in (paths.DEFAULT_SOURCE, FIXTURE_SOURCE):
        for generated in inventory.render_all(load_source(source)):
            for text in generated.files.values():
                assert pkgcache.ADDRESS not in text
                assert str(pkgcache.PORT) not in text
                assert "proxy" not in text.lower()


def test_the_roles_know_nothing_of_the_cache() -> None:
    for path in (paths.REPO / "roles").rglob("*"):
        if path.is_file() and path.suffix in {".yml", ".j2", ".py"}:
            text = path.read_text(errors="replace")
            assert pkgcache.ADDRESS not in text, path
            assert "Proxy-Auto-Detect" not in text, path


def test_the_transfer_log_is_read_line_by_line(tmp_path: Path) -> None:
    log = tmp_path / "apt-cacher.log"
    log.write_text(
        "1796171755|I|149506|198.18.2.12|deb.debian.org/debian/pool/main/c/curl/curl.deb\n"
        "1796171755|O|149482|198.18.2.12|deb.debian.org/debian/pool/main/c/curl/curl.deb\n"
        "1796171756|O|149482|198.18.2.13|deb.debian.org/debian/pool/main/c/curl/curl.deb\n"
        "garbage line\n"
        "1796171757|E|0|198.18.2.13|something that failed\n"
    )
    seen = list(pkgcache.transfers(log))
    assert [(t.direction, t.client) for t in seen] == [
        ("I", "198.18.2.12"),
        ("O", "198.18.2.12"),
        ("O", "198.18.2.13"),
    ]
    used = pkgcache.usage(log)
    assert (used.from_mirror, used.to_hosts, used.hosts) == (149506, 2 * 149482, 2)
    assert list(pkgcache.transfers(tmp_path / "absent.log")) == []


def test_its_files_live_under_state_unless_a_directory_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PROVISION_PACKAGE_CACHE", raising=False)
    assert pkgcache.directory() == paths.STATE / "apt-cache"
    monkeypatch.setenv("PROVISION_PACKAGE_CACHE", str(tmp_path / "shared"))
    assert pkgcache.directory() == tmp_path / "shared"


def test_index_signatures_are_cached_as_solid_files(tmp_path: Path) -> None:
    """apt-cacher-ng's own rule would fetch them from the mirror on every request (a race when
    hosts ask together); ours names exactly the signatures, not the lists they vouch for."""
    config = pkgcache._config(tmp_path)
    lines = [line for line in config.splitlines() if line.startswith("SPfilePatternEx:")]
    assert len(lines) == 1
    pattern = re.compile(lines[0].split(":", 1)[1].strip())
    for path in ("debian/dists/bookworm/InRelease", "dists/x/Release", "dists/x/Release.gpg"):
        assert pattern.search(path), path
    for path in ("dists/bookworm/main/binary-amd64/Packages.xz", "dists/x/Release.gpgX"):
        assert not pattern.search(path), path


def test_old_signatures_are_dropped_and_fresh_ones_and_packages_kept(tmp_path: Path) -> None:
    dists = tmp_path / "cache" / "deb.debian.org" / "debian" / "dists" / "bookworm"
    dists.mkdir(parents=True)
    old, fresh = dists / "InRelease", dists.parent / "InRelease"
    package = dists / "hello_2.10-3_amd64.deb"
    for path in (old, dists / "InRelease.head", fresh, package):
        path.write_text("x")
    aged = time.time() - pkgcache.INDEX_MAX_AGE - 60
    for path in (old, dists / "InRelease.head", package):
        os.utime(path, (aged, aged))
    pkgcache._drop_signatures(tmp_path, older_than=pkgcache.INDEX_MAX_AGE)
    assert not old.exists()
    assert not (dists / "InRelease.head").exists()
    assert fresh.exists()
    assert package.exists()  # packages never go stale
    pkgcache._drop_signatures(tmp_path)  # at a start: every signature
    assert not fresh.exists()
    assert package.exists()
