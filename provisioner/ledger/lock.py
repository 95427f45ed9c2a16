"""An environment's lock, held by one run at a time (Ledger.acquire), kept alive by a heartbeat
on a thread of its own, with its own database connection."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING, Self

from provisioner.errors import LedgerError
from provisioner.ledger.records import LockInfo
from provisioner.ledger.store import Store

if TYPE_CHECKING:  # the Ledger makes its locks: ledger.py imports this module
    from provisioner.ledger.ledger import Ledger


class Lock:
    """An environment's lock, held from Ledger.acquire() until release() (or the end of a
    `with` block). A background thread refreshes its heartbeat, with its own connection, so a
    long run is not mistaken for a dead one."""

    def __init__(self, ledger: Ledger, info: LockInfo) -> None:
        self.info = info
        self._ledger = ledger
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._released = False
        self._thread = threading.Thread(
            target=self._beat, name=f"ledger-heartbeat-{info.env}", daemon=True
        )
        self._thread.start()

    @property
    def held(self) -> bool:
        """False once released, or once another run took it over (we stalled past the timeout)."""
        return not self._released and not self._lost.is_set()

    def release(self) -> bool:
        """Stop the heartbeat and remove the lock if it is still ours; True if it was."""
        if self._released:
            return False
        self._released = True
        self._stop.set()
        self._thread.join()
        return self._ledger._release(self.info)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def _beat(self) -> None:
        store: Store | None = None
        try:
            while not self._stop.wait(self._ledger.heartbeat_every):
                try:
                    store = store or self._ledger._store.reopen()
                    if not self._ledger._heartbeat(store, self.info):
                        self._lost.set()
                        return
                except LedgerError:
                    # The database is unreachable for now: try again with a new connection
                    # at the next beat; others judge staleness by the clock meanwhile.
                    if store is not None:
                        store.close()
                    store = None
        finally:
            if store is not None:
                store.close()
