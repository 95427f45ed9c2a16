"""The report's pages, written from the Jinja2 templates in templates/ with autoescaping on:
every value the ledger or the source holds (a host, a task, a diff) is text, never markup.

The site is written whole into a new directory next to the target and moved into place, so a
reader (or `serve`) never sees half of it; a target that exists must be a report this wrote.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jinja2

from provisioner.errors import InputError, ProvisionerError
from provisioner.report.site import Run, Site, page_name

TEMPLATES = Path(__file__).resolve().parent / "templates"
MARKER = ".provision-report"  # in every site this writes: what may be replaced
DIFF_LINES = 2000  # of one diff, on a page; the rest is counted
NAV = (
    ("index.html", "Overview"),
    ("runs.html", "Runs"),
    ("parity.html", "Parity"),
    ("plans.html", "Plans"),
    ("drift.html", "Drift"),
    ("evidence.html", "Evidence"),
)


def diff_lines(text: str) -> list[tuple[str, str]]:
    """A unified diff's lines, each with the class that colours it (add, del, hunk, meta, ctx)."""
    lines = text.rstrip("\n").splitlines()
    shown = []
    for line in lines[:DIFF_LINES]:
        if line.startswith(("+++", "---")):
            kind = "meta"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        shown.append((kind, line))
    if len(lines) > DIFF_LINES:
        shown.append(("meta", f"... {len(lines) - DIFF_LINES} more lines"))
    return shown


def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template, whatever its name: all of them are HTML
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["diff_lines"] = diff_lines
    env.filters["short"] = lambda value, n=12: str(value or "")[:n]
    env.filters["when"] = lambda at: str(at or "")[:19].replace("T", " ")
    env.globals["nav"] = NAV
    return env


def run_rows(runs: Iterable[Run]) -> list[list[Any]]:
    """The runs list's data, compact (10,000 rows load in the browser at once)."""
    return [
        [
            r.summary.run_id,
            r.summary.kind,
            r.summary.env,
            r.summary.status,
            r.summary.identity,
            r.summary.started_at[:19].replace("T", " "),
            (r.summary.commit or "")[:12],
            r.page,
            len(r.changes),
            r.tone,
        ]
        for r in runs
    ]


def script_data(name: str, value: Any) -> str:
    """`window.NAME = JSON;` for a <script src>: a data file that also loads from file://, where
    fetch() may not. '<' is escaped so the text could never close a script element."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")
    return f"window.{name} = {text};\n"


def write(site: Site, out: Path) -> Path:
    """Write the whole site to `out` (replacing the report there), atomically; its index."""
    target = Path(os.path.abspath(out))
    if target.exists() and not target.is_dir():
        raise InputError(f"--out {out}: not a directory")
    if target.is_dir() and any(target.iterdir()) and not (target / MARKER).exists():
        raise InputError(
            f"--out {out}: the directory holds files that are not a report; name an empty or "
            "new directory"
        )
    partial = target.parent / f".{target.name}.partial-{os.getpid()}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(partial, ignore_errors=True)
        _pages(site, partial)
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        if target.exists():
            target.rename(old)
        partial.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise ProvisionerError(f"cannot write the report in {out}: {exc}") from None
    return target / "index.html"


def check(out: Path, envs: Iterable[str]) -> list[str]:
    """What is wrong with the report in `out` (CI's check of what it publishes): its index is
    missing, or lacks an environment's card or page; [] when it is whole."""
    index = out / "index.html"
    if not (out / MARKER).exists() or not index.is_file():
        return [f"{index}: missing (run `provision.py report --out {out}` first)"]
    text = index.read_text(encoding="utf-8", errors="replace")
    problems = []
    for env in envs:
        if f'data-env="{env}"' not in text:
            problems.append(f"{index}: no card for environment {env}")
        if not (out / "env" / f"{page_name(env)}.html").is_file():
            problems.append(f"{out}/env/{page_name(env)}.html: missing")
    return problems


def _pages(site: Site, root: Path) -> None:
    env = templates()
    for sub in ("assets", "env", "runs", "evidence"):
        (root / sub).mkdir(parents=True)
    (root / MARKER).write_text("written by provision.py report; replaced by the next one\n")
    (root / "assets" / "style.css").write_text(env.get_template("style.css").render())
    shutil.copyfile(TEMPLATES / "runs.js", root / "assets" / "runs.js")
    (root / "assets" / "runs-data.js").write_text(
        script_data("PROVISION_RUNS", run_rows(site.runs))
    )
    top = {"site": site, "root": "", "inline_css": False}
    for name, template in (
        ("index.html", "index.html.j2"),
        ("runs.html", "runs.html.j2"),
        ("parity.html", "parity.html.j2"),
        ("plans.html", "plans.html.j2"),
        ("drift.html", "drift.html.j2"),
        ("evidence.html", "evidence-list.html.j2"),
    ):
        (root / name).write_text(env.get_template(template).render(top, active=name))
    below = {"site": site, "root": "../", "inline_css": False, "active": ""}
    page = env.get_template("env.html.j2")
    drift = {d.env: d for d in site.drift}
    for card in site.envs:
        (root / "env" / f"{card.page}.html").write_text(
            page.render(below, card=card, drift=drift.get(card.name))
        )
    page = env.get_template("run.html.j2")
    for run in site.runs:
        (root / "runs" / f"{run.page}.html").write_text(page.render(below, run=run))
    # Evidence files stand alone (attached to a change ticket): their CSS is inside them.
    page = env.get_template("evidence.html.j2")
    alone = {**below, "inline_css": True}
    for evidence in site.evidence:
        (root / "evidence" / f"{evidence.page}.html").write_text(
            page.render(alone, evidence=evidence, run=evidence.run)
        )
