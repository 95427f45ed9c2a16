"""What the stepped-gate host tests read back from a run: the test tickets left in a db host's
PostgreSQL, and the chart a gate wrote."""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

MARKED = "SELECT count(*) FROM tickets WHERE customer = 'provisioner-load-test'"


def marked_tickets(db_host: str) -> int:
    out = subprocess.run(
        ["podman", "exec", db_host, "runuser", "-u", "postgres", "--",
         "psql", "-XAtq", "-d", "csapp", "-c", MARKED],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return int(out.strip())


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    assert struct.unpack(">II", data[16:24]) == (1000, 700)


def chart_of(stdout: str, root: Path) -> Path:
    found = re.search(r"chart: (\S+\.png)", stdout)
    assert found, stdout
    return root / found.group(1)
