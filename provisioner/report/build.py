"""One report, start to end: open the ledger (as every command does: $PROVISION_LEDGER_URL,
else .state/ledger.sqlite3), read the source of truth, collect, write the site."""

from __future__ import annotations

from pathlib import Path

from provisioner.ledger.ledger import open_ledger
from provisioner.report import render, site
from provisioner.source.model import load_source


def generate(source: Path, out: Path) -> Path:
    """Write the site into `out`; its index.html."""
    loaded = load_source(source)
    with open_ledger() as ledger:
        collected = site.collect(ledger, loaded)
    return render.write(collected, out)


def state(source: Path) -> tuple[object, ...]:
    """What the site is made from, cheaply: the ledger's head, who holds each lock, and the
    source's modification time. The site is regenerated when this changes."""
    loaded = load_source(source)
    with open_ledger() as ledger:
        head = ledger.head()
        locks = tuple(ledger.holder(env) for env in loaded.source.environments)
    return (head, locks, source.stat().st_mtime_ns)
