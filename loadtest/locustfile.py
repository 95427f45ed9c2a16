"""Load for the post-deploy gate: the customer-service API, as users hit it.

Two ways, chosen by the environment locust runs in:

- PROVISIONER_LOAD_PLAN names a JSON file (written by provisioner.deploy.loadgate.run_plan): the
  stepped plan from the declared peak (provisioner/deploy/loadplan.py). A load shape offers each
  step's rate for its duration, users paced to a constant throughput (USER_RATE requests per
  second each), each request drawn from the plan's mix. Every request's latency is appended to
  the plan's `samples` file with its step, for the gate's per-step figures and rank test. Writes
  (POST /tickets) only when the plan is not read-only; each ticket the test creates is marked
  (customer MARK_CUSTOMER, subject starting with MARK_SUBJECT) so the gate removes them after.
- otherwise: the fixed-users read-only test (ApiUser), as by hand:
  `locust -f loadtest/locustfile.py --host http://HOST`. POST /answer only computes a reply.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import time
from http import HTTPStatus
from typing import IO, Any

from locust import HttpUser, LoadTestShape, between, events, task
from locust.clients import ResponseContextManager
from locust.env import Environment
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

PLAN_VAR = "PROVISIONER_LOAD_PLAN"
PLAN: dict[str, Any] | None = None
if os.environ.get(PLAN_VAR):
    with open(os.environ[PLAN_VAR]) as plan_file:
        PLAN = json.load(plan_file)
USER_RATE = 2.0  # requests per second of one paced user: users = ceil(step rate / this)
# How the tickets this test creates are told apart (and removed: provisioner/deploy/cleanup.py).
MARK_CUSTOMER = "provisioner-load-test"
MARK_SUBJECT = "[load test]"
WRITES = ("POST", "PUT", "PATCH", "DELETE")

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
    abstract = PLAN is not None  # a plan's load is PlanUser's alone
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


def current_step() -> int | None:
    """The plan's step now, from the load shape's clock; None before the start and after the end."""
    if PLAN is None or _STATE.get("shape") is None:
        return None
    index = int(_STATE["shape"].get_run_time() // PLAN["step_duration"])
    return index if index < len(PLAN["steps"]) else None


_STATE: dict[str, Any] = {}


class PlanShape(LoadTestShape):
    """Each step of the plan for step_duration seconds, then stop."""

    abstract = PLAN is None

    def tick(self) -> tuple[int, float] | None:
        _STATE["shape"] = self
        index = current_step()
        if index is None or PLAN is None:
            return None
        users = max(1, math.ceil(PLAN["steps"][index]["rate"] / USER_RATE))
        # every user of a step started within its first tenth of a second, so a short step
        # offers its rate from its start (stepjudge checks that it carried it)
        return users, float(users * 10)


class PlanUser(HttpUser):
    """Paced to the current step's rate over its users, each request drawn from the mix."""

    abstract = PLAN is None

    def on_start(self) -> None:
        self.ticket_ids: list[int] = []
        self.started = time.monotonic()

    def wait_time(self) -> float:
        index = current_step()
        if index is None or PLAN is None:
            return 1.0  # the shape is about to stop the users
        rate = PLAN["steps"][index]["rate"]
        interval = max(1, math.ceil(rate / USER_RATE)) / rate
        return max(0.0, interval - (time.monotonic() - self.started))

    @task
    def one_request(self) -> None:
        self.started = time.monotonic()
        index = current_step()
        if index is None or PLAN is None:
            return
        mix = PLAN["steps"][index]["requests"]
        name = random.choices(list(mix), weights=list(mix.values()))[0]  # noqa: S311 (load)
        method, path = name.split(" ", 1)
        if method in WRITES and PLAN.get("read_only", True):
            return  # never against an environment that serves users, whatever the plan says
        if name == "POST /tickets":
            self.create_ticket(index)
        elif name == "GET /tickets":
            self.list_tickets()
        elif name == "POST /answer":
            query = random.choice(QUERIES)  # noqa: S311 (load)
            with self.client.post(
                "/answer", json={"query": query}, name=name, catch_response=True
            ) as response:
                judged(response)
        else:
            ticket_id = random.choice(self.ticket_ids) if self.ticket_ids else 1  # noqa: S311
            with self.client.request(
                method, path.replace("[id]", str(ticket_id)), name=name, catch_response=True
            ) as response:
                judged(response, not_found_ok="[id]" in path)

    def list_tickets(self) -> None:
        with self.client.get(
            "/tickets?limit=20", name="GET /tickets", catch_response=True
        ) as response:
            body = judged(response)
            if isinstance(body, dict):
                tickets = body.get("tickets") or []
                self.ticket_ids = [t["id"] for t in tickets if isinstance(t, dict) and "id" in t]

    def create_ticket(self, step: int) -> None:
        ticket = {
            "customer": MARK_CUSTOMER,
            "subject": f"{MARK_SUBJECT} step {step + 1}",
            "body": "created by the post-deploy gate's load test; removed after it",
        }
        with self.client.post(
            "/tickets", json=ticket, name="POST /tickets", catch_response=True
        ) as response:
            body = judged(response)
            if isinstance(body, dict) and isinstance(body.get("id"), int):
                self.ticket_ids.append(body["id"])


@events.request.add_listener
def record_latency(
    name: str, response_time: float, exception: BaseException | None = None, **_: Any
) -> None:
    """One line per request of a plan: time, step, ok (1/0), milliseconds, name."""
    index = current_step()
    if PLAN is None or index is None:
        return
    out: IO[str] | None = _STATE.get("samples")
    if out is None:
        out = _STATE["samples"] = open(PLAN["samples"], "a", buffering=1)  # noqa: SIM115
    out.write(f"{time.time():.3f} {index} {0 if exception else 1} {response_time:.2f} {name}\n")


@events.test_stop.add_listener
def close_samples(**_: Any) -> None:
    out = _STATE.pop("samples", None)
    if out is not None:
        out.close()


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
