"""How a run ended, as the ledger records it and `history` shows it: one set of words.

A StrEnum, so each member is the very string stored in the ledger ("successful", ...): entries
written before it existed read the same, and ansible-runner's own status strings compare equal.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    SUCCESSFUL = "successful"
    FAILED = "failed"
    CANCELED = "canceled"
    TIMEOUT = "timeout"  # ansible-runner's, for a run that ran out of time
    REFUSED = "refused"  # nothing ran (the lock, the approval or promotion gate)
    ROLLED_BACK = "rolled-back"  # an apply whose gate failed and whose release was switched back
    GATE_FAILED = "gate-failed"  # an apply whose gate failed, with nothing to roll back
    RUNNING = "running"  # the ledger's view of a run not finished yet
    ABANDONED = "abandoned"  # no finish and no live lock: the process died or never locked
