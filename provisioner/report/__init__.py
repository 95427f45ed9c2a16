"""The web report: a static site (HTML, CSS, a little JS, no network) from the ledger and the
source of truth. site.py collects what the pages show into plain dataclasses, commits.py the code
changes between two bundles (git log), render.py writes the pages from the Jinja2 templates in
templates/ (autoescaped: nothing a ledger holds is markup), serve.py serves them on 127.0.0.1 and
regenerates them as the ledger changes."""
