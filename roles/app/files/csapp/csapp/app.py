"""HTTP API (Flask, served by gunicorn).

GET  /health        200 when the database answers, 503 otherwise
POST /tickets       create a ticket {customer, subject, body} -> 201
GET  /tickets       the latest tickets; GET /tickets/<id> one ticket
POST /answer        {query} -> the canned answer, or a hand-off to a human
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, request

from csapp import answers, db

app = Flask(__name__)
logging.basicConfig(level=os.environ.get("CSAPP_LOG_LEVEL", "info").upper())
log = logging.getLogger("csapp")
# The release is the name of the directory this code was deployed into (releases/<name>/csapp),
# so it stays true when a rollback points `current` elsewhere.
RELEASE = Path(__file__).resolve().parent.parent.name
HOST = socket.gethostname()


def _served(body: dict[str, Any], status: int = 200) -> Any:
    response = jsonify(body)
    response.status_code = status
    response.headers["X-Served-By"] = HOST
    response.headers["X-Release"] = RELEASE
    return response


@app.get("/health")
def health() -> Any:
    try:
        with db.cursor() as cur:
            cur.execute("SELECT max(version) FROM schema_migrations")
            schema = cur.fetchone()[0]
    except Exception as exc:  # any database failure makes the host unhealthy
        log.warning("health check failed: %s", exc)
        return _served({"status": "unhealthy", "database": "unreachable"}, 503)
    return _served({"status": "ok", "database": "ok", "schema": schema, "release": RELEASE})


@app.post("/tickets")
def create_ticket() -> Any:
    data = request.get_json(silent=True) or {}
    missing = [key for key in ("customer", "subject") if not str(data.get(key, "")).strip()]
    if missing:
        return _served({"error": f"missing: {', '.join(missing)}"}, 400)
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO tickets (customer, subject, body) VALUES (%s, %s, %s)"
            " RETURNING id, created_at",
            (data["customer"], data["subject"], data.get("body", "")),
        )
        ticket_id, created = cur.fetchone()
    return _served({"id": ticket_id, "created_at": created.isoformat()}, 201)


@app.get("/tickets")
def list_tickets() -> Any:
    limit = min(int(request.args.get("limit", "50")), 500)
    with db.cursor() as cur:
        cur.execute(
            "SELECT id, customer, subject, body, status FROM tickets ORDER BY id DESC LIMIT %s",
            (limit,),
        )
        rows = cur.fetchall()
    keys = ("id", "customer", "subject", "body", "status")
    return _served({"tickets": [dict(zip(keys, row, strict=True)) for row in rows]})


@app.get("/tickets/<int:ticket_id>")
def get_ticket(ticket_id: int) -> Any:
    with db.cursor() as cur:
        cur.execute(
            "SELECT id, customer, subject, body, status FROM tickets WHERE id = %s", (ticket_id,)
        )
        row = cur.fetchone()
    if row is None:
        return _served({"error": "no such ticket"}, 404)
    keys = ("id", "customer", "subject", "body", "status")
    return _served(dict(zip(keys, row, strict=True)))


@app.post("/answer")
def answer() -> Any:
    data = request.get_json(silent=True) or {}
    query = str(data.get("query", "")).strip()
    if not query:
        return _served({"error": "missing: query"}, 400)
    return _served(answers.answer(query))
