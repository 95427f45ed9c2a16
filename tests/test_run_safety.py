"""One run per environment, and interrupts that leave a consistent record (real local hosts)."""

from __future__ import annotations

import signal

import pytest
from hostrun import Asked, playbooks_of, provision, sqlite_url, start_apply

from provisioner.ledger.ledger import open_ledger

pytestmark = pytest.mark.hosts("qa")


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    # A private ledger; qa needs no apply first: each test's own runs bring its hosts up
    # (they are up already after the earlier test files) and end with an apply that converges.
    return sqlite_url(tmp_path_factory.mktemp("ledger") / "ledger.sqlite3")


def test_a_second_apply_is_refused_while_one_holds_the_lock(ledger: str) -> None:
    with open_ledger(ledger) as book, book.acquire("qa", "carol@example.org", "elsewhere"):
        refused = provision("qa", ledger=ledger)
        assert refused.returncode == 1
        assert "carol@example.org" in refused.stderr
    assert Asked(ledger).runs(env="qa")[0].status == "refused"
    assert provision("qa", ledger=ledger).returncode == 0


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupt_cancels_cleanly_and_frees_the_lock(
    ledger: str, signum: signal.Signals, code: int
) -> None:
    run = start_apply("qa", ledger)
    run.send_signal(signum)
    out, err = run.communicate(timeout=120)
    assert run.returncode == code, out + err
    assert playbooks_of("qa") == []  # every process of the run ended, its workers too
    assert Asked(ledger).holder("qa") is None
    last = Asked(ledger).runs(env="qa")[0]
    assert last.status == "canceled"
    assert Asked(ledger).verify() == []
    # the next apply converges as usual
    assert provision("qa", ledger=ledger).returncode == 0
