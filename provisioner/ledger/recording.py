"""Every run goes into the ledger, under the environment's lock, and can be interrupted cleanly.

    with Recorded(ledger, "apply", env, command, bundle, lock=True) as run:
        result = run_playbook(..., cancel=run.cancel_requested)
        run.finish(result)

The lock is taken before anything changes and released however the run ends. Ctrl-C or SIGTERM
asks ansible-runner to stop; the run is then recorded as canceled with what had changed so far.
A run that ends in an exception is recorded as failed, with the reason.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType, TracebackType
from typing import Any

from provisioner.errors import ApprovalError, LockedError
from provisioner.ledger.identity import current_identity
from provisioner.ledger.ledger import Ledger
from provisioner.ledger.lock import Lock
from provisioner.run.request import RunResult
from provisioner.run.status import Status
from provisioner.source.bundle import Bundle


class Recorded:
    def __init__(
        self,
        ledger: Ledger,
        kind: str,
        env: str,
        bundle: Bundle,
        *,
        lock: bool,
        plan_id: str | None = None,
        extra: dict[str, Any] | None = None,
        identity: str | None = None,
    ) -> None:
        self.ledger = ledger
        self.kind = kind
        self.env = env
        self.bundle = bundle
        self.take_lock = lock
        self.plan_id = plan_id
        self.extra = extra or {}
        # A signed run (approval_required) names the principal its key proved; others, the
        # identity the environment says (identity.py).
        self.identity = identity or current_identity()
        self.run_id = ""
        self.lock: Lock | None = None
        self.signal: int | None = None  # the signal that asked us to stop
        self._finished = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Recorded:
        self.run_id = self.ledger.start_run(
            self.kind,
            self.env,
            command=" ".join(["provision.py", *sys.argv[1:]]),
            identity=self.identity,
            commit=self.bundle.commit,
            inventory_hash=self.bundle.inventory_hash,
            plan_hash=self.plan_id,
            extra={"roles_hash": self.bundle.roles_hash, **self.extra},
        )
        if self.take_lock:
            try:
                self.lock = self.ledger.acquire(self.env, self.identity, self.run_id)
            except LockedError as exc:
                self._finish(Status.REFUSED, {}, [], {"reason": str(exc)})
                raise
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.signal = signum

    def cancel_requested(self) -> bool:
        return self.signal is not None

    @property
    def exit_code(self) -> int:
        """130 for Ctrl-C, 143 for SIGTERM: what a shell reports for a process they ended."""
        return 128 + (self.signal or 0)

    def attach(self, kind: str, payload: dict[str, Any]) -> None:
        """An entry of this run beyond its start and finish (a plan, a gate's verdict, a
        rollback): every entry a run writes goes through its Recorded."""
        self.ledger.append(kind, self.env, payload, self.run_id)

    def finish(
        self, result: RunResult, extra: dict[str, Any] | None = None, status: str | None = None
    ) -> str:
        """Record the run's end; `status` overrides the playbook's (e.g. rolled-back)."""
        if status is None:
            status = result.status
            if status == Status.SUCCESSFUL and not result.succeeded:
                status = Status.FAILED
        if self.cancel_requested():
            status = Status.CANCELED
        stats = {host: vars(s) for host, s in result.hosts.items()}
        self._finish(status, stats, [c.as_dict() for c in result.changes], extra or {})
        return status

    def finish_plain(self, status: str, extra: dict[str, Any]) -> None:
        """For runs that are not playbooks (verify)."""
        self._finish(Status.CANCELED if self.cancel_requested() else status, {}, [], extra)

    def _finish(
        self,
        status: str,
        stats: dict[str, Any],
        changes: list[dict[str, str]],
        extra: dict[str, Any],
    ) -> None:
        self.ledger.finish_run(self.run_id, status, stats, changes, extra=extra)
        self._finished = True

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        try:
            if not self._finished:
                status = (
                    Status.CANCELED
                    if isinstance(exc, KeyboardInterrupt)
                    else Status.REFUSED
                    if isinstance(exc, ApprovalError | LockedError)
                    else Status.FAILED
                )
                self._finish(status, {}, [], {"reason": str(exc) if exc else "no result"})
        finally:
            if self.lock is not None:
                self.lock.release()
