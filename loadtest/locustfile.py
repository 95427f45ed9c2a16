"""Load for the post-deploy gate: the customer-service API's read paths, as users hit them.

Read-only on purpose: the gate may run against prod, so nothing here creates data (never
POST /tickets). POST /answer only computes a reply. Run by provisioner.deploy.loadgate, or by hand:
`locust -f loadtest/locustfile.py --host http://HOST`.
"""

from __future__ import annotations

import csv
import os
import random
from http import HTTPStatus
from typing import Any

from locust import HttpUser, between, events, task
from locust.clients import ResponseContextManager
from locust.env import Environment
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

QUERIES = (
    "what are your opening hours?",
    "how do I get a refund?",
    "my order has not arrived",
)


def judged(response: ResponseContextManager, *, not_found_ok: bool = False) -> Any:
    """Mark the response: failure unless 2xx with a JSON body (an nginx error page is HTML).
    Returns the parsed body, or None when the response failed or was an accepted 404."""
    status = response.status_code
    if not_found_ok and status == HTTPStatus.NOT_FOUND:
        response.success()
        return None
    if not status:  # no response at all: refused, reset, timed out
        response.failure(f"no response: {response.error}")
        return None
    if not HTTPStatus.OK <= status < HTTPStatus.MULTIPLE_CHOICES:
        response.failure(f"HTTP {status}")
        return None
    try:
        body = response.json()
    except ValueError:
        response.failure(f"HTTP {status}, body is not JSON")
        return None
    response.success()
    return body


class ApiUser(HttpUser):
    wait_time = between(0.05, 0.2)  # short think time: a gate wants many samples in seconds

    def on_start(self) -> None:
        self.ticket_ids: list[int] = []

    @task(3)
    def list_tickets(self) -> None:
        with self.client.get("/tickets?limit=20", name="/tickets", catch_response=True) as response:
            body = judged(response)
            if isinstance(body, dict):
                tickets = body.get("tickets") or []
                self.ticket_ids = [t["id"] for t in tickets if isinstance(t, dict) and "id" in t]

    @task(2)
    def one_ticket(self) -> None:
        # An id from the last list; with none seen yet, id 1, whose 404 is fine (empty database).
        # random is for spreading load, not security.
        ticket_id = random.choice(self.ticket_ids) if self.ticket_ids else 1  # noqa: S311
        with self.client.get(
            f"/tickets/{ticket_id}", name="/tickets/[id]", catch_response=True
        ) as response:
            judged(response, not_found_ok=True)

    @task(2)
    def answer(self) -> None:
        query = random.choice(QUERIES)  # noqa: S311 (see one_ticket)
        with self.client.post(
            "/answer", json={"query": query}, name="/answer", catch_response=True
        ) as response:
            judged(response)

    @task(1)
    def health(self) -> None:
        with self.client.get("/health", name="/health", catch_response=True) as response:
            judged(response)


@events.test_stop.add_listener
def write_final_stats(environment: Environment, **_: Any) -> None:
    """Rewrite --csv's <prefix>_stats.csv with the final numbers. Locust writes that file from a
    greenlet once a second and not again at exit, so it misses up to the last second of the run
    (half the requests of a 2 s run; locust issue #2299). test_stop fires once every user has
    stopped. Same columns as locust's own file (its writer is a StatsCSV); replaced atomically,
    so the writer's still-open handle cannot overwrite it."""
    prefix = getattr(environment.parsed_options, "csv_prefix", None)
    if not prefix:
        return
    final, partial = f"{prefix}_stats.csv", f"{prefix}_stats.csv.final"
    with open(partial, "w", newline="") as out:
        StatsCSV(environment, PERCENTILES_TO_REPORT).requests_csv(csv.writer(out))
    os.replace(partial, final)
