"""The source of truth: what the shipped environments.yml says, and the rules every source obeys.

(Each way a source can be wrong, with its message, is in tests/bad_sources/; here are the
features a valid source gives.)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import FIXTURE_SOURCE

from provisioner import paths
from provisioner.errors import InputError
from provisioner.source.model import (
    FIRST_HOST_OFFSET,
    LOCAL_RANGE,
    LoadedSource,
    LocalProvider,
    SshProvider,
    load_source,
)


@pytest.fixture(scope="module")
def shipped() -> LoadedSource:
    return load_source(paths.DEFAULT_SOURCE)


@pytest.fixture(scope="module")
def fixture_source() -> LoadedSource:
    return load_source(FIXTURE_SOURCE)


def write_source(directory: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """The test fixture source, changed by `change`, as a new file."""
    data = yaml.safe_load(FIXTURE_SOURCE.read_text(encoding="utf-8"))
    change(data)
    path = directory / "source.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def local_addresses(loaded: LoadedSource, env_name: str) -> dict[str, str]:
    env = loaded.environment(env_name)
    return {host: env.address_of(host) for host in env.hosts}


# --- the shipped environments.yml -------------------------------------------------------------


def test_shipped_source_defines_qa_staging_and_prod(shipped: LoadedSource) -> None:
    assert set(shipped.source.environments) == {"qa", "staging", "prod"}


def test_shipped_source_defines_groups_db_app_and_web(shipped: LoadedSource) -> None:
    assert set(shipped.source.groups) == {"db", "app", "web"}


def test_every_shipped_environment_has_a_host_in_every_group(shipped: LoadedSource) -> None:
    for env_name, env in shipped.source.environments.items():
        for group in shipped.source.groups:
            assert env.hosts_in(group), f"{env_name} has no {group} host"


def test_prod_has_more_than_one_app_host(shipped: LoadedSource) -> None:
    assert len(shipped.environment("prod").hosts_in("app")) > 1


def test_staging_has_the_same_shape_as_prod(shipped: LoadedSource) -> None:
    """The last stop before prod: as many hosts in each group, the same variables set."""
    staging, prod = shipped.environment("staging"), shipped.environment("prod")
    for group in shipped.source.groups:
        assert len(staging.hosts_in(group)) == len(prod.hosts_in(group)), group
    assert {g: set(v) for g, v in staging.vars.items()} == {g: set(v) for g, v in prod.vars.items()}


def test_shipped_local_environments_have_separate_subnets_in_the_local_range(
    shipped: LoadedSource,
) -> None:
    subnets = {
        name: env.provider.subnet
        for name, env in shipped.source.environments.items()
        if isinstance(env.provider, LocalProvider)
    }
    assert subnets, "the shipped environments run on local hosts"
    for subnet in subnets.values():
        assert subnet.subnet_of(LOCAL_RANGE)
    for (a, net_a), (b, net_b) in combinations(subnets.items(), 2):
        assert not net_a.overlaps(net_b), (a, b)


def test_shipped_hosts_each_belong_to_one_environment(shipped: LoadedSource) -> None:
    names = [host for env in shipped.source.environments.values() for host in env.hosts]
    assert len(names) == len(set(names))


def test_app_workers_is_set_per_environment(shipped: LoadedSource) -> None:
    for env_name, env in shipped.source.environments.items():
        assert isinstance(env.vars.get("app", {}).get("app_workers"), int), env_name


# --- addresses of local hosts -----------------------------------------------------------------


def test_local_host_addresses_are_inside_the_environment_subnet(shipped: LoadedSource) -> None:
    for env_name, env in shipped.source.environments.items():
        assert isinstance(env.provider, LocalProvider)
        subnet = env.provider.subnet
        addresses = [ipaddress.IPv4Address(a) for a in local_addresses(shipped, env_name).values()]
        assert len(set(addresses)) == len(addresses), f"{env_name}: two hosts share an address"
        for address in addresses:
            assert address in subnet
            # clear of the network address and podman's gateway (.1), below the broadcast
            assert subnet.network_address + FIRST_HOST_OFFSET <= address < subnet[-1]


def test_local_host_addresses_follow_sorted_host_names(fixture_source: LoadedSource) -> None:
    # the fixture lists qa-app-2 before qa-app-1: the address comes from the name, not the order
    assert local_addresses(fixture_source, "qa") == {
        "qa-app-1": "198.18.1.10",
        "qa-app-2": "198.18.1.11",
        "qa-db-1": "198.18.1.12",
    }


def test_local_host_addresses_are_the_same_on_every_load_and_in_any_order(
    tmp_path: Path, shipped: LoadedSource, fixture_source: LoadedSource
) -> None:
    def reverse_hosts(data: dict[str, Any]) -> None:
        for env in data["environments"].values():
            env["hosts"] = dict(reversed(list(env["hosts"].items())))

    again = load_source(paths.DEFAULT_SOURCE)
    for env_name in shipped.source.environments:
        assert local_addresses(again, env_name) == local_addresses(shipped, env_name)
    reordered = load_source(write_source(tmp_path, reverse_hosts))
    assert list(reordered.environment("qa").hosts) == ["qa-app-1", "qa-app-2", "qa-db-1"]
    assert local_addresses(reordered, "qa") == local_addresses(fixture_source, "qa")


# --- hosts reached over ssh -------------------------------------------------------------------


def test_ssh_hosts_are_reached_at_the_address_given(fixture_source: LoadedSource) -> None:
    prod = fixture_source.environment("prod")
    assert isinstance(prod.provider, SshProvider)
    assert prod.address_of("prod-db-1") == "203.0.113.10"
    assert prod.address_of("prod-app-1") == "prod-app-1.example.com"


def test_ssh_host_addresses_may_be_ipv6_and_are_normalised(tmp_path: Path) -> None:
    def ipv6(data: dict[str, Any]) -> None:
        data["environments"]["prod"]["hosts"]["prod-db-1"]["address"] = "2001:DB8:0:0::10"

    loaded = load_source(write_source(tmp_path, ipv6))
    assert loaded.environment("prod").address_of("prod-db-1") == "2001:db8::10"


def test_ssh_host_without_address_is_refused_at_its_line(tmp_path: Path) -> None:
    def drop_address(data: dict[str, Any]) -> None:
        del data["environments"]["prod"]["hosts"]["prod-app-1"]["address"]

    path = write_source(tmp_path, drop_address)
    with pytest.raises(InputError, match="an ssh host needs an 'address'") as caught:
        load_source(path)
    assert caught.value.key == "environments.prod.hosts.prod-app-1"
    where = caught.value.where
    assert where is not None
    assert where.file == path
    assert where.line is not None
    line = path.read_text(encoding="utf-8").splitlines()[where.line - 1]
    assert line.strip().startswith("prod-app-1:")


def test_ssh_port_defaults_to_22(tmp_path: Path) -> None:
    def no_port(data: dict[str, Any]) -> None:
        del data["environments"]["prod"]["provider"]["port"]

    provider = load_source(write_source(tmp_path, no_port)).environment("prod").provider
    assert isinstance(provider, SshProvider)
    assert provider.port == 22


@pytest.mark.parametrize("port", ["22", 22.0, True, 0, 65536])
def test_ssh_port_must_be_an_integer_port_nothing_is_coerced(tmp_path: Path, port: object) -> None:
    def set_port(data: dict[str, Any]) -> None:
        data["environments"]["prod"]["provider"]["port"] = port

    with pytest.raises(InputError) as caught:
        load_source(write_source(tmp_path, set_port))
    assert caught.value.key == "environments.prod.provider.port"


# --- looking environments up ------------------------------------------------------------------


def test_unknown_environment_names_the_ones_that_exist(shipped: LoadedSource) -> None:
    with pytest.raises(InputError, match=r"unknown environment 'nosuch'.*qa, staging, prod"):
        shipped.environment("nosuch")


def test_optional_keys_have_defaults(tmp_path: Path) -> None:
    def minimal(data: dict[str, Any]) -> None:
        for env in data["environments"].values():
            env.pop("description")
            env.pop("vars")
        for group in data["groups"].values():
            group.pop("description")

    loaded = load_source(write_source(tmp_path, minimal))
    qa = loaded.environment("qa")
    assert qa.description == ""
    assert qa.vars == {}
    assert loaded.source.groups["db"].description == ""


def test_per_environment_values_may_be_any_yaml_value(tmp_path: Path) -> None:
    value = {"limits": [1, 2.5, "three", None, True], "nested": {"deep": {"er": "x"}}}

    def structured(data: dict[str, Any]) -> None:
        data["environments"]["qa"]["vars"]["all"] = {"app_settings": value}

    loaded = load_source(write_source(tmp_path, structured))
    assert loaded.environment("qa").vars["all"]["app_settings"] == value
