"""The approval gate is the team's: an approval_required environment is changed, and its plans
approved, only through the ledger the source of truth names for it (`ledger:`), so an approval
written into a private SQLite file counts for nothing.

Environments on local hosts that name no ledger may use any (rehearsals: the host tests, the
local pipeline); an environment on real servers must name one.
"""

from __future__ import annotations

from provisioner.errors import ApprovalError
from provisioner.ledger.ledger import open_store_name
from provisioner.source.model import Environment, LocalProvider


def check(env_name: str, env: Environment, in_use: str) -> str | None:
    """A note when the rehearsal exemption applies; ApprovalError for any other ledger."""
    if env.ledger is None:
        if isinstance(env.provider, LocalProvider):
            return f"{env_name} runs on local hosts and names no ledger: {in_use} is accepted"
        raise ApprovalError(
            f"{env_name} needs approvals and runs on real servers, but the source of truth "
            "names no ledger for it: add `ledger: postgresql://USER@HOST/DB` (the team's)"
        )
    named = open_store_name(env.ledger)
    if named != in_use:
        raise ApprovalError(
            f"{env_name}: this run uses the ledger {in_use}, but the source of truth names "
            f"{named}: approvals count only there (set PROVISION_LEDGER_URL to it)"
        )
    return None
