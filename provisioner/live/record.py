"""The fingerprint of each gated apply, kept so that `diff ENV --since-last-apply` can answer
"what changed on the hosts since the last good deploy".

The reading itself (hundreds of kilobytes a host) is a gzipped JSON file under
.state/fingerprints/<env>/, named by its sha256; the ledger's `fingerprint` entry, part of the
apply's run and of the hash chain, holds that digest and one digest per host. A file that does
not match the digest it is filed under is refused, so editing it cannot rewrite the past.
Secrets never reach either: the module masks them before the reading leaves the host.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from provisioner import paths
from provisioner.errors import InputError, ProvisionerError
from provisioner.ledger.ledger import Ledger
from provisioner.ledger.recording import Recorded
from provisioner.live.hostprint import HostPrint

FINGERPRINT = "fingerprint"  # ledger entry kind


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def digest(data: Any) -> str:
    return hashlib.sha256(_canonical(data)).hexdigest()


def _file(env: str, sha: str) -> Path:
    return paths.state_dir("fingerprints", env) / f"{sha}.json.gz"


def keep(run: Recorded, prints: dict[str, HostPrint]) -> str:
    """Store this run's reading and record it in the ledger; its digest."""
    sha = digest(prints)
    target = _file(run.env, sha)
    if not target.exists():  # content-addressed: the same reading is one file
        partial = target.with_suffix(".partial")
        partial.write_bytes(gzip.compress(_canonical(prints), mtime=0))
        os.replace(partial, target)  # never a half-written file under the final name
    run.attach(
        FINGERPRINT,
        {
            "digest": sha,
            "file": paths.display(target),
            "hosts": {host: digest(printed) for host, printed in prints.items()},
        },
    )
    return sha


def last_kept(ledger: Ledger, env: str) -> tuple[str, dict[str, HostPrint]]:
    """The run id and reading of the newest gated apply that kept one."""
    entries = [e for e in ledger.entries(kind=FINGERPRINT, env=env) if e.run_id]
    if not entries:
        raise InputError(
            f"{env}: no fingerprint in the ledger yet; one is recorded with each apply that "
            "passes its gate"
        )
    entry = entries[-1]
    sha = str(entry.payload.get("digest", ""))
    target = _file(env, sha) if len(sha) == 64 and sha.isalnum() else None  # noqa: PLR2004 - sha256
    if target is None or not target.exists():
        raise ProvisionerError(
            f"{env}: the fingerprint of run {entry.run_id} ({entry.payload.get('file')}) is not "
            "on this machine; it is kept by the controller that ran the apply"
        )
    try:
        prints = json.loads(gzip.decompress(target.read_bytes()))
    except (OSError, EOFError, ValueError) as exc:
        raise ProvisionerError(f"{paths.display(target)}: unreadable ({exc})") from None
    if digest(prints) != sha:
        raise ProvisionerError(
            f"{paths.display(target)} does not match the digest the ledger recorded for run "
            f"{entry.run_id}: it was changed after the apply"
        )
    return str(entry.run_id), prints
