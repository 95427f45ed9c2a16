"""The application tier (roles/app), on every app host."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import Node

pytestmark = pytest.mark.tier("app")


def test_service_runs_unprivileged_and_starts_at_boot(host: Any) -> None:
    service = host.service("csapp")
    assert service.is_running
    assert service.is_enabled
    users = {p.user for p in host.process.filter(comm="gunicorn")}
    assert users == {"csapp"}


def test_worker_count_from_inventory(host: Any, node: Node) -> None:
    # gunicorn: one master plus the configured workers
    assert len(host.process.filter(comm="gunicorn")) == node.vars["app_workers"] + 1


def test_current_release_is_a_symlink_to_its_release_directory(host: Any, node: Node) -> None:
    current = host.file("/opt/csapp/current")
    assert current.is_symlink
    assert current.linked_to == f"/opt/csapp/releases/{node.release}"


def test_secret_configuration_is_not_world_readable(host: Any) -> None:
    env = host.file("/etc/csapp.env")
    assert env.mode == 0o640
    assert env.user == "root"
    assert env.group == "csapp"


def test_settings_from_inventory(host: Any, node: Node) -> None:
    unit = host.file("/etc/systemd/system/csapp.service").content_string
    assert f"--log-level {node.vars['app_log_level']}" in unit
    # grep for each line: the file holds the database password, which must never end up in an
    # assertion message (pytest output, junit files).
    for line in (
        f"CSAPP_DB_POOL_SIZE={node.vars['app_db_pool_size']}",
        f"CSAPP_DB_HOST={node.vars['groups']['db'][0]}",
    ):
        assert host.run("grep -qxF %s /etc/csapp.env", line).rc == 0, f"{line} missing"


def test_health_checks_the_database(host: Any, node: Node) -> None:
    body = json.loads(host.check_output("curl -fsS http://127.0.0.1:8000/health"))
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["release"] == node.release
    assert body["schema"] >= 2, "the versioned migrations were not all applied"


def test_canned_answer_and_handoff(host: Any) -> None:
    def ask(query: str) -> dict[str, Any]:
        out = host.check_output(
            "curl -fsS -H 'content-type: application/json' -d %s http://127.0.0.1:8000/answer",
            json.dumps({"query": query}),
        )
        return dict(json.loads(out))

    assert ask("what are your opening hours?")["handoff"] is False
    assert ask("my parrot ate the invoice")["handoff"] is True
