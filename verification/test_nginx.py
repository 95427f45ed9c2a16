"""The web tier (roles/nginx), and the whole stack seen through it."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from conftest import Node

pytestmark = pytest.mark.tier("web")


def test_nginx_runs_and_starts_at_boot(host: Any) -> None:
    service = host.service("nginx")
    assert service.is_running
    assert service.is_enabled
    assert host.socket("tcp://0.0.0.0:80").is_listening


def test_upstream_has_every_app_host_of_the_environment(host: Any, node: Node) -> None:
    conf = host.file("/etc/nginx/nginx.conf").content_string
    servers = sorted(
        line.split()[1].rsplit(":", 1)[0]
        for line in conf.splitlines()
        if line.strip().startswith("server ") and ":" in line
    )
    assert servers == sorted(node.vars["groups"]["app"])


def test_health_through_the_proxy(host: Any) -> None:
    body = json.loads(host.check_output("curl -fsS http://127.0.0.1/health"))
    assert body == body | {"status": "ok", "database": "ok"}


def test_ticket_written_through_the_proxy_is_read_back_from_postgresql(host: Any) -> None:
    subject = f"verify {uuid.uuid4()}"
    created = json.loads(
        host.check_output(
            "curl -fsS -H 'content-type: application/json' -d %s http://127.0.0.1/tickets",
            json.dumps({"customer": "verification", "subject": subject}),
        )
    )
    ticket = json.loads(host.check_output(f"curl -fsS http://127.0.0.1/tickets/{created['id']}"))
    assert ticket["subject"] == subject
    assert ticket["status"] == "open"
