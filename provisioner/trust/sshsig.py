"""OpenSSH signatures (`ssh-keygen -Y`): sign, find whose key signed, verify. The only module
that handles keys or signatures, and it never does cryptography itself: every operation is
ssh-keygen's, run as a subprocess with the data on stdin.

A namespace says what a signature is for (`provisioner-approve@prod`), so a signature made for
one purpose never passes as another; the allowed-signers file limits each key to the
namespaces it lists (its `namespaces="..."` option), which ssh-keygen checks on verify.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from provisioner.errors import InputError
from provisioner.paths import display

TIMEOUT = 30  # seconds; ssh-agent or a slow disk, never a person typing
BEGIN = "-----BEGIN SSH SIGNATURE-----"


def _keygen(args: list[str], data: bytes | None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["ssh-keygen", *args],
            input=data,
            stdin=None if data is not None else subprocess.DEVNULL,
            capture_output=True,
            check=False,
            timeout=TIMEOUT,
            # A passphrase prompt would wait for a person: no askpass, and no controlling
            # terminal to open (a new session), so such a key fails at once; use ssh-agent.
            env={**os.environ, "SSH_ASKPASS_REQUIRE": "never"},
            start_new_session=True,
        )
    except FileNotFoundError:
        raise InputError(
            "ssh-keygen is not installed (Debian: apt-get install openssh-client)"
        ) from None
    except subprocess.TimeoutExpired:
        raise InputError(
            f"ssh-keygen {args[0]} {args[1]} did not finish in {TIMEOUT} s "
            "(a key with a passphrase needs ssh-agent)"
        ) from None


def _said(result: subprocess.CompletedProcess[bytes]) -> str:
    text = result.stderr.decode("utf-8", "replace")
    lines = [line for line in text.splitlines() if line and "on standard input" not in line]
    return " ".join(lines)[:300] or f"exit {result.returncode}"


def sign(key: Path, namespace: str, data: bytes) -> str:
    """An armored signature of `data` by `key` (a private key file, or a public key whose
    private half ssh-agent holds)."""
    result = _keygen(["-Y", "sign", "-f", str(key), "-n", namespace], data)
    signature = result.stdout.decode("ascii", "replace")
    if result.returncode != 0 or BEGIN not in signature:
        raise InputError(f"cannot sign with {display(key)}: {_said(result)}")
    return signature


def principals(signers: Path, signature: str) -> list[str]:
    """The principals the allowed-signers file gives the key that made `signature` (whatever
    the namespace: verify() checks that); [] when the key is not listed."""
    with tempfile.TemporaryDirectory(prefix="provisioner-sig-") as tmp:
        path = Path(tmp) / "signature"
        path.write_text(signature, encoding="ascii", errors="replace")
        result = _keygen(["-Y", "find-principals", "-s", str(path), "-f", str(signers)], None)
    if result.returncode != 0:
        return []
    return [line for line in result.stdout.decode("utf-8", "replace").splitlines() if line]


def verify(signers: Path, principal: str, namespace: str, data: bytes, signature: str) -> bool:
    """Whether `signature` is `principal`'s, by a key the file lists for `namespace`, over
    exactly `data`."""
    with tempfile.TemporaryDirectory(prefix="provisioner-sig-") as tmp:
        path = Path(tmp) / "signature"
        path.write_text(signature, encoding="ascii", errors="replace")
        args = ["-Y", "verify", "-f", str(signers), "-I", principal, "-n", namespace]
        result = _keygen([*args, "-s", str(path)], data)
    return result.returncode == 0
