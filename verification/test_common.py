"""The common baseline every host gets (roles/common)."""

from __future__ import annotations

from typing import Any

from conftest import Node


def test_motd_names_the_environment(host: Any, node: Node) -> None:
    motd = host.file("/etc/motd")
    assert motd.exists
    assert f"environment: {node.vars['provisioner_environment']}" in motd.content_string


def test_deploy_user_exists_with_its_key(host: Any, node: Node) -> None:
    user = host.user(node.vars["common_deploy_user"])
    assert user.exists
    assert user.shell == "/bin/bash"
    keys = host.file(f"{user.home}/.ssh/authorized_keys")
    assert keys.exists
    assert keys.user == user.name
    assert keys.mode == 0o600
    assert keys.content_string.strip(), "the deploy user has no authorized key"


def test_deploy_user_may_sudo(host: Any, node: Node) -> None:
    rule = host.file(f"/etc/sudoers.d/{node.vars['common_deploy_user']}")
    assert rule.exists
    assert rule.mode == 0o440


def test_timezone(host: Any, node: Node) -> None:
    assert host.file("/etc/timezone").content_string.strip() == node.vars["common_timezone"]
    assert host.file("/etc/localtime").linked_to == (
        f"/usr/share/zoneinfo/{node.vars['common_timezone']}"
    )


def test_baseline_packages(host: Any, node: Node) -> None:
    for name in node.vars["common_packages"]:
        assert host.package(name).is_installed, name


def test_sysctl_settings_are_persisted(host: Any, node: Node) -> None:
    conf = host.file("/etc/sysctl.d/60-common.conf").content_string
    for key, value in node.vars["common_sysctl"].items():
        assert f"{key} = {value}" in conf


def test_package_sources_include_security_updates(host: Any) -> None:
    sources = host.file("/etc/apt/sources.list.d/debian.sources").content_string
    assert "-security" in sources
    assert "-updates" in sources
    assert not host.file("/etc/apt/sources.list").exists
