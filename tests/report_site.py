"""A report built for the tests: a ledger in a temporary directory, filled through the ledger's own
API (bench/report.py's sample: runs of every kind, a plan with an approval, a drift, a gate, a
rollback, a live difference), with planted trouble: a sentinel secret the ledger must redact, and
markup (`<script>`) in a host, a task, a diff, an identity and a source value. The source of truth
is the repo's, plus one variable staging alone sets: a difference the parity contract does not
allow."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.report import change, run, sample
from provisioner import paths
from provisioner.ledger.ledger import ENV_URL, open_ledger
from provisioner.report import build

SENTINEL = "S3NTINEL-report-7f3a91"
HOSTS = {
    "staging": ["staging-db-1", "staging-app-1", "staging-app-2", "staging-web-1"],
    "prod": ["prod-db-1", "prod-app-1", "prod-app-2", "prod-web-1"],
}
EVIL_HOST = '<script>alert("host")</script>'
EVIL_TASK = '<script>alert("task")</script>'
EVIL_DIFF = '--- a\n+++ b\n@@ -1 +1 @@\n-safe\n+<script>alert("diff")</script>\n'
EVIL_WHO = "<img src=x onerror=alert(1)>"
EVIL_VALUE = "<script>alert('source')</script>"
# Long words a laptop's width must take without scrolling sideways (the browser test checks).
LONG_WHO = "firstname.lastname.with.a.long.identity@engineering.subsidiary.example.com"
LONG_HOST = "staging-application-server-0001.eu-west-1.compute.internal.example.com"
LONG_TASK = "app : Render the configuration of the worker pool with every option the team wanted"
PLANTED_VAR = "app_banner"  # staging only: not in the parity contract


@dataclass(frozen=True)
class Report:
    index: Path
    ids: dict[str, str]
    source: Path
    url: str


def planted_source(directory: Path) -> Path:
    text = paths.DEFAULT_SOURCE.read_text()
    anchor = "        app_log_level: info\n\n  prod:"
    assert anchor in text, "environments.yml changed: update the planted difference"
    planted = text.replace(
        anchor,
        f'        app_log_level: info\n        {PLANTED_VAR}: "{EVIL_VALUE}"\n\n  prod:',
    )
    # Next to the repo's file, so that provenance and group_vars read as they do there.
    source = directory / "environments.yml"
    source.write_text(planted)
    return source


def make(directory: Path, monkeypatch: pytest.MonkeyPatch) -> Report:
    url = f"sqlite:///{directory}/ledger.sqlite3"
    monkeypatch.setenv(ENV_URL, url)
    with open_ledger(url, secrets=[SENTINEL]) as ledger:
        ids = sample(ledger, HOSTS)
        ids["evil"] = run(
            ledger,
            "apply",
            "staging",
            who=EVIL_WHO,
            commit=f"not-a-commit-{SENTINEL}",
            status="failed",
            hosts=[EVIL_HOST, "staging-web-1"],
            changes=[
                change(EVIL_HOST, EVIL_TASK, EVIL_DIFF),
                change("staging-web-1", f"write the password {SENTINEL}", f"-old\n+{SENTINEL}\n"),
            ],
        )
        ids["long"] = run(
            ledger,
            "verify",
            "staging",
            who=LONG_WHO,
            commit="f" * 40,
            hosts=[LONG_HOST],
            changes=[change(LONG_HOST, LONG_TASK, f"-{'x' * 300}\n+{'y' * 300}\n")],
        )
    source = planted_source(directory)
    index = build.generate(source, directory / "site")
    return Report(index, ids, source, url)
