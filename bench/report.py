"""The web report at scale: a ledger of 10,000 runs (built through the ledger's own API, in a
temporary directory), the time `provision.py report` takes to write the site from it (target
under 10 s), and the time the runs list takes to load in Debian's chromium (target under 1 s).

    .venv/bin/python -m bench.report [--runs 10000]

`sample()` also gives the browser tests (tests/test_report_browser.py) their ledger: a few runs
of every kind, a plan with approvals, a drift, a gate, a rollback, a live difference.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from provisioner import paths
from provisioner.ledger.ledger import Ledger, open_ledger
from provisioner.run import tasks

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # as root, in a container: the sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
GENERATE_TARGET_S = 10.0
LOAD_TARGET_S = 1.0
DIFF = (
    "--- before: /etc/nginx/nginx.conf\n+++ after: /etc/nginx/nginx.conf\n@@ -4,3 +4,3 @@\n"
    " events {\n-    worker_connections 1024;\n+    worker_connections 2048;\n }\n"
)


def commits(count: int = 2) -> list[str]:
    """The repo's newest commits (HEAD first), so runs name commits git knows."""
    done = subprocess.run(
        ["git", "log", f"--max-count={count}", "--format=%H"],
        cwd=paths.REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    found = done.stdout.split()
    return found or ["unknown"]


def run(
    ledger: Ledger,
    kind: str,
    env: str,
    *,
    who: str,
    commit: str,
    status: str = "successful",
    changes: list[dict[str, str]] | None = None,
    hosts: list[str] | None = None,
    attach: Sequence[tuple[str, dict[str, Any]]] = (),
) -> str:
    """One run as the workflow records it: started, its entries, finished."""
    run_id = ledger.start_run(
        kind,
        env,
        command=f"provision.py {kind} {env}",
        identity=who,
        commit=commit,
        inventory_hash="0" * 64,
        extra={"promotable": {"commit": commit, "app_release": "1.1.0"}},
    )
    for entry_kind, payload in attach:
        ledger.append(entry_kind, env, payload, run_id)
    changed = changes or []
    stats = {
        host: {
            "ok": 12,
            "changed": sum(c["host"] == host for c in changed),
            "failed": 0,
            "unreachable": 0,
            "skipped": 1,
        }
        for host in hosts or []
    }
    ledger.finish_run(run_id, status, stats, changed)
    return run_id


def change(host: str, task: str, diff: str = DIFF) -> dict[str, str]:
    return {"host": host, "task": task, "role": "nginx", "action": "template", "diff": diff}


def switch(host: str, old: str = "1.0.0", new: str = "1.1.0") -> dict[str, str]:
    """An app host's `current` release link moved, as an apply records it."""
    diff = f"--- before\n+++ after\n@@ -1 +1 @@\n-releases/{old}\n+releases/{new}\n"
    return {
        "host": host,
        "task": tasks.RELEASE_SWITCH.name,
        "role": "app",
        "action": "file",
        "diff": diff,
    }


GATE: dict[str, Any] = {
    "passed": True,
    "reason": "",
    "checks": [
        {"name": "health", "passed": True, "detail": "4 hosts healthy"},
        {"name": "verification suite", "passed": True, "detail": "38 passed"},
        {"name": "load test", "passed": True, "detail": "p95 120 ms <= 500 ms"},
    ],
    "load": {
        "url": "http://198.18.2.13",
        "passed": True,
        "thresholds": {"users": 20, "spawn_rate": 10, "duration_s": 15, "p95_ms": 500.0},
        "requests": 4180,
        "failures": 0,
        "error_rate": 0.0,
        "p95_ms": 120.0,
        "median_ms": 35.0,
        "rps": 278.4,
        "problems": [],
    },
}

# A gate whose load test was too slow: what rolled the sample's prod apply back.
GATE_FAILED: dict[str, Any] = {
    **GATE,
    "passed": False,
    "reason": "load test: p95 900 ms > 500 ms",
    "checks": [
        *GATE["checks"][:2],
        {"name": "load test", "passed": False, "detail": "p95 900 ms > 500 ms"},
    ],
    "load": {**GATE["load"], "passed": False, "p95_ms": 900.0, "median_ms": 310.0},
}


def fill(ledger: Ledger, count: int, hosts: dict[str, list[str]]) -> None:
    """`count` runs spread over the environments: applies with a changed task and a gate,
    drift checks, verifies (the bulk of a real ledger)."""
    shas = commits(2)
    people = ["alice@example.com", "bob@example.com", "carol@example.com"]
    envs = list(hosts)
    for n in range(count):
        env = envs[n % len(envs)]
        host = hosts[env][n % len(hosts[env])]
        kind = ("apply", "drift", "verify", "apply")[n % 4]
        run(
            ledger,
            kind,
            env,
            who=people[n % len(people)],
            commit=shas[(n // 400) % len(shas)],
            status="failed" if n % 17 == 0 else "successful",
            changes=[change(host, "nginx : write nginx.conf")] if kind != "verify" else [],
            hosts=hosts[env],
            attach=[("gate", GATE)] if kind == "apply" else [],
        )


def sample(ledger: Ledger, hosts: dict[str, list[str]], prod: str = "prod") -> dict[str, str]:
    """A small ledger with one of everything the pages show; the ids of the notable runs."""
    shas = commits(6)
    old, new = shas[-1], shas[0]
    staging = next(env for env in hosts if env != prod)
    prod_app = [host for host in hosts[prod] if "-app-" in host]
    ids: dict[str, str] = {}
    ids["first"] = run(
        ledger, "apply", staging, who="alice@example.com", commit=old, hosts=hosts[staging]
    )
    ids["apply"] = run(
        ledger,
        "apply",
        staging,
        who="alice@example.com",
        commit=new,
        hosts=hosts[staging],
        changes=[change(hosts[staging][0], "nginx : write nginx.conf")],
        attach=[("gate", GATE)],
    )
    ids["drift"] = run(
        ledger,
        "drift",
        staging,
        who="cron",
        commit=new,
        hosts=hosts[staging],
        changes=[change(hosts[staging][-1], "nginx : write nginx.conf")],
    )
    ids["plan"] = run(ledger, "plan", prod, who="alice@example.com", commit=new, hosts=hosts[prod])
    live = {
        "source": staging,
        "allowed": 3,
        "excused": [],
        "unexplained": [
            {
                "group": "web",
                "kind": "files",
                "name": "/etc/nginx/nginx.conf",
                "hosts": [hosts[prod][0]],
                "reference": [hosts[staging][0]],
                "verdict": "unexplained",
                "reason": "not explained by the parity contract",
                "diff": ["-    worker_connections 1024;", "+    worker_connections 4096;"],
            }
        ],
    }
    ledger.append(
        "plan",
        prod,
        {
            "plan_id": ids["plan"],
            "planner": "alice@example.com",
            "bundle": {"commit": new, "inventory_hash": "0" * 64, "roles_hash": "1" * 64},
            "changes": [switch(host) for host in prod_app],
            "live_parity": live,
        },
        ids["plan"],
    )
    ledger.append(
        "approval",
        prod,
        {"plan_id": ids["plan"], "approver": "bob@example.com", "planner": "alice@example.com"},
    )
    ids["prod"] = run(
        ledger,
        "apply",
        prod,
        who="alice@example.com",
        commit=new,
        status="rolled-back",
        hosts=hosts[prod],
        changes=[switch(host) for host in prod_app],
        attach=[
            ("gate", GATE_FAILED),
            (
                "rollback",
                {
                    "reason": "the gate failed",
                    "succeeded": True,
                    "releases": dict.fromkeys(prod_app, "1.0.0"),
                },
            ),
            ("plan-applied", {"plan_id": ids["plan"]}),
        ],
    )
    return ids


def _browser_load(index: Path) -> float:
    """Seconds from navigation to the runs list's first page drawn, in headless chromium."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only the bench needs it

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        start = time.perf_counter()
        page.goto((index.parent / "runs.html").as_uri())
        page.wait_for_selector("#runs tbody tr a")
        took = time.perf_counter() - start
        browser.close()
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=10_000)
    args = parser.parse_args(argv)
    from provisioner.report import build  # noqa: PLC0415 - after the ledger URL is set

    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        url = f"sqlite:///{tmp}/ledger.sqlite3"
        os.environ["PROVISION_LEDGER_URL"] = url
        hosts = {
            "qa": ["qa-db-1", "qa-app-1", "qa-web-1"],
            "staging": ["staging-db-1", "staging-app-1", "staging-app-2", "staging-web-1"],
            "prod": ["prod-db-1", "prod-app-1", "prod-app-2", "prod-web-1"],
        }
        start = time.perf_counter()
        with open_ledger(url) as ledger:
            fill(ledger, args.runs, hosts)
            sample(ledger, {"staging": hosts["staging"], "prod": hosts["prod"]})
            entries = ledger.head().count
        filled = time.perf_counter() - start
        start = time.perf_counter()
        index = build.generate(paths.DEFAULT_SOURCE, Path(tmp) / "site")
        generated = time.perf_counter() - start
        pages = sum(1 for _ in index.parent.rglob("*.html"))
        loaded = _browser_load(index)
    print(
        f"ledger of {args.runs} runs ({entries} entries) built in {filled:.1f} s "
        "(not part of the report)"
    )
    print(
        f"generate: {generated:.2f} s for {pages} pages (target < {GENERATE_TARGET_S:g} s): "
        f"{'met' if generated < GENERATE_TARGET_S else 'MISSED'}"
    )
    print(
        f"runs list load in chromium: {loaded:.2f} s (target < {LOAD_TARGET_S:g} s): "
        f"{'met' if loaded < LOAD_TARGET_S else 'MISSED'}"
    )
    return 0 if generated < GENERATE_TARGET_S and loaded < LOAD_TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
