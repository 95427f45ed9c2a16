"""Throwaway SSH keys for the tests that sign (approvals, plans, applies, ledger checkpoints):
real ed25519 keys made by the real ssh-keygen, an allowed-signers file listing them, and the
environment variables that make provision.py use both.

    keys = make_keys(tmp_path)                    # alice and bob, for prod and the ledger
    provision("approve", "prod", plan_id, extra_env=keys.env("bob"))

The signers file is a rehearsal's ($PROVISION_ALLOWED_SIGNERS): accepted only for environments
on local hosts, as the tests' are.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

PEOPLE = ("alice", "bob")
ACTIONS = ("plan", "approve", "apply")


def namespaces(envs: tuple[str, ...], *, ledger: bool = True) -> str:
    found = [f"provisioner-{action}@{env}" for env in envs for action in ACTIONS]
    return ",".join([*found, *(["provisioner-ledger"] if ledger else [])])


@dataclass
class Keys:
    directory: Path
    signers: Path
    keys: dict[str, Path] = field(default_factory=dict)

    def key(self, who: str) -> Path:
        return self.keys[who]

    def env(self, who: str) -> dict[str, str]:
        """What makes provision.py sign as `who`; PROVISION_IDENTITY is set to the same name,
        which proves nothing by itself."""
        return {
            "PROVISION_SIGNING_KEY": str(self.keys[who]),
            "PROVISION_ALLOWED_SIGNERS": str(self.signers),
            "PROVISION_IDENTITY": who,
        }

    def add(self, who: str) -> Path:
        """A key for `who`, not listed anywhere (yet)."""
        path = self.directory / who
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", who, "-f", str(path)],
            check=True,
            stdin=subprocess.DEVNULL,
        )
        self.keys[who] = path
        return path

    def list(self, principal: str, who: str, allowed: str) -> None:
        """One line in the signers file: `who`'s key as `principal`, for `allowed`."""
        public = self.keys[who].with_suffix(".pub").read_text().strip()
        with self.signers.open("a") as handle:
            handle.write(f'{principal} namespaces="{allowed}" {public}\n')


def make_keys(
    directory: Path, people: tuple[str, ...] = PEOPLE, envs: tuple[str, ...] = ("prod",)
) -> Keys:
    """Keys for `people`, each listed under their own name for `envs` and the ledger."""
    directory.mkdir(parents=True, exist_ok=True)
    keys = Keys(directory, directory / "allowed_signers")
    keys.signers.write_text("# throwaway keys of a test\n")
    for who in people:
        keys.add(who)
        keys.list(who, who, namespaces(envs))
    return keys
