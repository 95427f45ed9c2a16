"""What the roles manage on one host, read in one pass. This file runs ON the host: state.py
sends its text to `python3 -` over ssh, followed by one call of `main` with the manifest
(standard library only, Python 3.9+; nothing here imports the rest of the package).

The manifest is what the last apply's fingerprint play handed the host_fingerprint module: the
roles' managed files (`<role>_managed.files`), probes (`.probes`), packages (`.packages`) and
units (`.services`), rendered for this host. The reading is one line per item, so that the
controller can say which item changed: a file's type, mode, owner and content digest (a link's
target), a probe's exit code and output digest, whether a package is installed, a unit's load,
active and unit-file state. Digests only: no content leaves the host.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from typing import Any

PROBE_TIMEOUT = 30  # seconds; the fingerprint module allows its probes as long
UNIT_PROPERTIES = "LoadState,ActiveState,UnitFileState"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_file(path: str) -> str:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "absent"
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    head = f"{stat.filemode(info.st_mode)} {info.st_uid}:{info.st_gid}"
    if stat.S_ISLNK(info.st_mode):
        return f"{head} -> {os.readlink(path)}"
    if not stat.S_ISREG(info.st_mode):
        return head
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 16), b""):
                digest.update(chunk)
    except OSError as exc:
        return f"{head} unreadable ({exc.strerror})"
    return f"{head} sha256:{digest.hexdigest()}"


def run_probe(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=PROBE_TIMEOUT, check=False)
    except FileNotFoundError:
        return "missing"
    except subprocess.TimeoutExpired:
        return "timed out"
    return f"exit {done.returncode} sha256:{_digest(done.stdout)}"


def read_unit(unit: str) -> str:
    done = subprocess.run(
        ["systemctl", "show", f"--property={UNIT_PROPERTIES}", unit],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return f"exit {done.returncode}"
    return " ".join(sorted(done.stdout.split()))


def read_packages(names: list[str]) -> dict[str, str]:
    """Whether each package is installed (not its version: the roles ask for presence)."""
    if not names:
        return {}
    done = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\n", *names],
        capture_output=True,
        text=True,
        check=False,
    )
    found = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    return {f"package:{name}": found.get(name, "absent") for name in names}


def read(manifest: dict[str, Any]) -> dict[str, str]:
    """item -> its state, e.g. "file:/etc/motd" -> "-rw-r--r-- 0:0 sha256:..."."""
    found = {f"file:{path}": read_file(path) for path in manifest.get("files", [])}
    found |= {
        f"probe:{name}": run_probe(list(argv)) for name, argv in manifest.get("probes", {}).items()
    }
    found |= read_packages(list(manifest.get("packages", [])))
    found |= {f"unit:{unit}": read_unit(unit) for unit in manifest.get("services", [])}
    return found


def main(manifest_json: str) -> None:
    json.dump(read(json.loads(manifest_json)), sys.stdout, sort_keys=True)
