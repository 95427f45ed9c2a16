"""The database tier (roles/postgresql), on every db host."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Node

pytestmark = pytest.mark.tier("db")


def psql(host: Any, sql: str, database: str = "postgres") -> str:
    return host.check_output("runuser -u postgres -- psql -XtA -d %s -c %s", database, sql).strip()


def literal(value: str) -> str:
    """A SQL string literal (quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def test_postgresql_runs_and_starts_at_boot(host: Any, node: Node) -> None:
    service = host.service(f"postgresql@{node.vars['postgresql_version']}-main")
    assert service.is_running
    assert service.is_enabled


def test_listens_on_loopback_and_own_address_only(host: Any) -> None:
    assert host.socket("tcp://127.0.0.1:5432").is_listening
    assert not host.socket("tcp://0.0.0.0:5432").is_listening


def test_only_app_hosts_may_connect(host: Any, node: Node) -> None:
    hba = host.file(f"/etc/postgresql/{node.vars['postgresql_version']}/main/pg_hba.conf")
    network_rules = [
        line.split()
        for line in hba.content_string.splitlines()
        if line.startswith("host") and "127.0.0.1/32" not in line and "::1/128" not in line
    ]
    assert network_rules, "no client may connect over the network"
    for rule in network_rules:
        assert rule[1:3] == [node.vars["csapp_db_name"], node.vars["csapp_db_user"]]
        assert rule[-1] == "scram-sha-256"
    clients = node.vars.get("postgresql_allowed_clients") or [
        node.hostvars(app)["ansible_host"] for app in node.vars["groups"]["app"]
    ]
    assert sorted(rule[3].split("/")[0] for rule in network_rules) == sorted(
        client.split("/")[0] for client in clients
    )


def test_tuned_settings_from_inventory(host: Any, node: Node) -> None:
    assert psql(host, "SHOW shared_buffers") == node.vars["postgresql_shared_buffers"]
    assert psql(host, "SHOW max_connections") == str(node.vars["postgresql_max_connections"])
    assert psql(host, "SHOW password_encryption") == "scram-sha-256"


def test_application_database_and_owner(host: Any, node: Node) -> None:
    query = "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = "
    owner = psql(host, query + literal(node.vars["csapp_db_name"]))
    assert owner == node.vars["csapp_db_user"]
