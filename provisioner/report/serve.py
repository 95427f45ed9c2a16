"""`provision.py serve`: the report on http://127.0.0.1:PORT/ for this machine's browser only,
regenerated when the ledger (or the source of truth) changes. The standard library's threading
HTTP server serves the files; the site is replaced whole (render.write), so a request sees the
old site or the new one."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from provisioner.errors import InputError, ProvisionerError
from provisioner.report import build

HOST = "127.0.0.1"  # never another interface: the report names hosts, people and diffs
POLL_S = 2.0  # how often the ledger is asked whether anything changed
MAX_PORT = 65535


class _Handler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a request log would bury what serve says about regenerating."""


def serve(
    source: Path,
    out: Path,
    port: int,
    say: Callable[[str], None],
    *,
    stop: threading.Event | None = None,
    ready: Callable[[int], None] | None = None,
) -> None:
    """Serve until `stop` is set (or Ctrl-C); `ready` gets the port once it listens."""
    if not 0 <= port <= MAX_PORT:
        raise InputError(f"--port {port}: a port is 0..{MAX_PORT} (0: any free one)")
    stop = stop or threading.Event()
    seen = build.state(source)
    build.generate(source, out)
    handler = functools.partial(_Handler, directory=str(out))
    try:
        server = ThreadingHTTPServer((HOST, port), handler)
    except OSError as exc:
        raise ProvisionerError(f"cannot listen on {HOST}:{port}: {exc.strerror or exc}") from None
    bound = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, name="report-server", daemon=True)
    thread.start()
    say(
        f"serving the report on http://{HOST}:{bound}/ (Ctrl-C stops); regenerated as the "
        "ledger changes"
    )
    if ready is not None:
        ready(bound)
    try:
        while not stop.wait(POLL_S):
            try:
                now = build.state(source)
                if now != seen:
                    build.generate(source, out)
                    seen = now
                    say("the ledger changed: report regenerated")
            except ProvisionerError as exc:  # keep serving the last good site
                say(f"error: not regenerated: {exc}")
    finally:
        server.shutdown()
        server.server_close()
