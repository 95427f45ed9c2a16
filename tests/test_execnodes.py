"""Execution nodes: the pure parts (pins, addresses, names, inventory) and the CLI's refusals."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import assert_one_error, run_cli

from provisioner.errors import InputError, ProvisionerError
from provisioner.hosts import execnodes, localhosts
from provisioner.run import remote
from provisioner.source.executor import Executor
from provisioner.source.model import Environment, Host, LocalProvider, SshProvider


def local_env(subnet: str, hosts: int) -> Environment:
    return Environment(
        provider=LocalProvider(kind="local", subnet=subnet),  # type: ignore[arg-type]
        hosts={f"h{n:02d}": Host(groups=["app"]) for n in range(hosts)},
    )


def test_pins_come_from_requirements_txt_in_a_fixed_order() -> None:
    text = """\
# comment
Ansible_Core == 2.21.5  # case and separators do not matter
mitogen==0.3.54
ansible==14.5.0
molecule-plugins[podman]==26.10.12
ansible-runner==2.4.3 ; python_version >= "3.12"
"""
    assert execnodes.node_requirements(text) == [
        "ansible-core==2.21.5",
        "ansible==14.5.0",
        "ansible-runner==2.4.3",
        "mitogen==0.3.54",
    ]


def test_the_shipped_requirements_pin_every_node_package() -> None:
    pins = execnodes.node_requirements()
    assert [pin.split("==")[0] for pin in pins] == list(execnodes.NODE_PACKAGES)


@pytest.mark.parametrize(
    "text",
    [
        "ansible==14.5.0\nansible-runner==2.4.3\nmitogen==0.3.54\n",  # no ansible-core
        "ansible-core>=2.21\nansible==14.5.0\nansible-runner==2.4.3\nmitogen==0.3.54\n",
        "# ansible-core==2.21.5\nansible==14.5.0\nansible-runner==2.4.3\nmitogen==0.3.54\n",
    ],
)
def test_an_unpinned_node_package_is_refused(text: str) -> None:
    with pytest.raises(ProvisionerError, match="ansible-core"):
        execnodes.node_requirements(text)


def test_node_addresses_count_down_from_250_in_the_subnet() -> None:
    env = local_env("198.18.2.0/24", 4)
    assert execnodes.node_addresses(env, 3) == ["198.18.2.250", "198.18.2.249", "198.18.2.248"]
    assert execnodes.node_names("staging", 2) == ["staging-exec-1", "staging-exec-2"]


def test_node_addresses_never_collide_with_hosts() -> None:
    env = local_env("198.18.5.0/24", 20)  # hosts .10 to .29
    host_addresses = set(env.addresses().values())
    nodes = execnodes.node_addresses(env, execnodes.MAX_COUNT)
    assert not host_addresses & set(nodes)
    assert len(set(nodes)) == execnodes.MAX_COUNT


def test_a_small_subnet_uses_its_top_below_broadcast() -> None:
    env = local_env("198.18.7.0/27", 2)  # hosts .10, .11; broadcast .31
    assert execnodes.node_addresses(env, 2) == ["198.18.7.30", "198.18.7.29"]


def test_a_subnet_without_room_is_refused() -> None:
    env = local_env("198.18.7.0/28", 4)  # hosts .10 to .13; .14 free; broadcast .15
    assert execnodes.node_addresses(env, 1) == ["198.18.7.14"]
    with pytest.raises(InputError, match="no room for 2"):
        execnodes.node_addresses(env, 2)


@pytest.mark.parametrize("count", [0, -1, execnodes.MAX_COUNT + 1])
def test_a_count_out_of_range_is_refused(count: int) -> None:
    with pytest.raises(InputError, match="--count"):
        execnodes.node_addresses(local_env("198.18.2.0/24", 4), count)


def test_real_environments_have_no_local_nodes() -> None:
    env = Environment(
        provider=SshProvider(kind="ssh", user="admin", key="~/.ssh/id"),
        hosts={"a": Host(groups=["app"], address="203.0.113.5")},
    )
    with pytest.raises(InputError):
        execnodes.up("real", env, 1)


def test_known_hosts_names_ports_like_ssh() -> None:
    assert execnodes.known_hosts_name(Executor("198.18.2.250", "root")) == "198.18.2.250"
    assert execnodes.known_hosts_name(Executor("node.example", None, 2222)) == "[node.example]:2222"


def test_inventory_checks_host_keys_against_our_file_and_becomes_root_when_needed() -> None:
    nodes = [Executor("198.18.2.250", "root"), Executor("node.example", "alice", 2222)]
    inventory = execnodes.node_inventory(nodes, local_key=True)
    hosts = inventory["all"]["hosts"]
    assert hosts["198.18.2.250"]["ansible_become"] is False
    assert hosts["node.example_2222"] == {
        "ansible_host": "node.example",
        "ansible_port": 2222,
        "ansible_user": "alice",
        "ansible_become": True,
        "execution_node_user": "alice",
    }
    common = inventory["all"]["vars"]["ansible_ssh_common_args"]
    assert "StrictHostKeyChecking=yes" in common
    assert f"UserKnownHostsFile={execnodes.KNOWN_HOSTS}" in common
    assert (
        "ansible_ssh_private_key_file"
        not in execnodes.node_inventory(nodes, local_key=False)["all"]["vars"]
    )


def test_the_exec_image_is_named_apart_from_the_host_image() -> None:
    host = localhosts.image_tag()
    node = localhosts.image_tag(execnodes.EXEC_IMAGE)
    assert host.startswith(f"{localhosts.IMAGE_REPO}:")
    assert node.startswith(f"{execnodes.EXEC_IMAGE.repo}:")
    other = localhosts.Image(repo=execnodes.EXEC_IMAGE.repo, kind="exec", suite="forky")
    assert localhosts.image_tag(other) != node  # the suite (or packages) are in the hash


def test_the_controller_reads_the_node_paths_from_the_role_defaults() -> None:
    node = remote.node_paths()
    assert node["strategy_plugins"].startswith(node["venv"] + "/")
    assert node["jobs"].startswith("/run/")


@pytest.fixture
def nothing_may_start(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("must not be reached")

    for name in ("up", "setup", "record_host_keys", "ensure_wheelhouse"):
        monkeypatch.setattr(execnodes, name, refuse)
    monkeypatch.setattr(localhosts, "podman", refuse)


@pytest.mark.usefixtures("nothing_may_start")
@pytest.mark.parametrize(
    ("argv", "contains"),
    [
        (["executors"], "name a local ENV"),
        (["executors", "staging", "--setup", "ssh://root@node"], "not both"),
        (["executors", "--count", "3", "--setup", "ssh://root@node"], "not both"),
        (["executors", "--setup", "node.example"], "expected ssh://[user@]host[:port]"),
        (["executors", "--setup", "ssh://root@node:99999"], "expected ssh://"),
        (["executors", "nosuch"], "nosuch"),
    ],
)
def test_executors_misuse_is_one_line_and_exit_2(
    argv: list[str], contains: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_one_error(run_cli(argv, capsys), "error: ", contains)
