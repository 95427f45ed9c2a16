"""Which allowed-signers file and which key a command uses.

The allowed-signers file (OpenSSH's ALLOWED SIGNERS format, paths.ALLOWED_SIGNERS) is committed
and changed only by review: it says whose key may approve, plan and apply which environment, and
who may sign the ledger's checkpoints, through each key's `namespaces="..."` option:

    provisioner-plan@ENV      plan ENV (the planner is who signed the plan)
    provisioner-approve@ENV   approve a plan of ENV
    provisioner-apply@ENV     apply ENV (the applier proves who they are by signing the run)
    provisioner-ledger        sign a checkpoint of the ledger's head

One exemption: an environment on local hosts (`provider: local`, podman containers on this
machine) may be checked against $PROVISION_ALLOWED_SIGNERS instead, so rehearsals (the host
tests, the local pipeline) can use throwaway keys. Whoever runs local hosts is root over them
anyway; an environment on real servers (`provider: ssh`) refuses the override.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from provisioner import paths
from provisioner.errors import InputError
from provisioner.source.model import Environment, LocalProvider

SIGNERS_ENV = "PROVISION_ALLOWED_SIGNERS"
KEY_ENV = "PROVISION_SIGNING_KEY"
LEDGER_NAMESPACE = "provisioner-ledger"
PLAN, APPROVE, APPLY = "plan", "approve", "apply"


def namespace(action: str, env: str) -> str:
    return f"provisioner-{action}@{env}"


@dataclass(frozen=True)
class Signers:
    path: Path
    override: bool  # $PROVISION_ALLOWED_SIGNERS, not the committed file

    def __str__(self) -> str:
        where = paths.display(self.path)
        return f"{where} (${SIGNERS_ENV}, a rehearsal's)" if self.override else where


def for_env(env_name: str, env: Environment) -> Signers:
    """The signers file that decides for `env`: the committed one, or the override for local
    hosts only."""
    override = os.environ.get(SIGNERS_ENV, "").strip()
    if not override:
        return _existing(Signers(paths.ALLOWED_SIGNERS, override=False))
    if not isinstance(env.provider, LocalProvider):
        raise InputError(
            f"{SIGNERS_ENV} is set, but {env_name} runs on real servers (provider: ssh): its "
            f"signatures are checked against {paths.display(paths.ALLOWED_SIGNERS)} only; unset it"
        )
    return _existing(Signers(Path(override), override=True))


def for_ledger() -> Signers:
    """The signers file for the ledger's checkpoints: the override when set (said wherever it
    is used: a team's `history --verify` in CI runs without it), else the committed one."""
    override = os.environ.get(SIGNERS_ENV, "").strip()
    if override:
        return _existing(Signers(Path(override), override=True))
    return _existing(Signers(paths.ALLOWED_SIGNERS, override=False))


def _existing(signers: Signers) -> Signers:
    if not signers.path.is_file():
        raise InputError(f"allowed-signers file {paths.display(signers.path)} is not a file")
    return signers


def signing_key(given: Path | None = None) -> Path:
    """--key, else $PROVISION_SIGNING_KEY, else ~/.ssh/id_ed25519 when there is one."""
    if given is None and os.environ.get(KEY_ENV, "").strip():
        given = Path(os.environ[KEY_ENV].strip())
    if given is not None:
        if not given.expanduser().is_file():
            raise InputError(f"signing key {given} is not a file")
        return given.expanduser()
    default = Path.home() / ".ssh" / "id_ed25519"
    if default.is_file():
        return default
    raise InputError(
        f"no signing key: give --key PATH or set {KEY_ENV} (a private key, or a public key "
        "whose private half is in ssh-agent); ~/.ssh/id_ed25519 is not there either"
    )


def default_key() -> Path | None:
    """The key a command would sign with, or None when there is none (checkpoints are signed
    only when a key is at hand)."""
    try:
        return signing_key()
    except InputError:
        return None
