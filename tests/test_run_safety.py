"""One run per environment, and interrupts that leave a consistent record (real local hosts)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from hostrun import provision, sqlite_url

from provisioner import paths
from provisioner.ledger import open_ledger

pytestmark = pytest.mark.hosts


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = sqlite_url(tmp_path_factory.mktemp("ledger") / "ledger.sqlite3")
    first = provision("qa", ledger=url)
    assert first.returncode == 0, first.stdout + first.stderr
    return url


def test_a_second_apply_is_refused_while_one_holds_the_lock(ledger: str) -> None:
    with open_ledger(ledger) as book, book.acquire("qa", "carol@example.org", "elsewhere"):
        refused = provision("qa", ledger=ledger)
        assert refused.returncode == 1
        assert "carol@example.org" in refused.stderr
    assert open_ledger(ledger).runs(env="qa")[0].status == "refused"
    assert provision("qa", ledger=ledger).returncode == 0


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupt_cancels_cleanly_and_frees_the_lock(
    ledger: str, signum: signal.Signals, code: int
) -> None:
    env = {**os.environ, "PROVISION_LEDGER_URL": ledger}
    run = subprocess.Popen(
        [sys.executable, str(paths.REPO / "provision.py"), "qa"],
        cwd=paths.REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while open_ledger(ledger).holder("qa") is None:  # wait until it really runs
        assert time.monotonic() < deadline, "the run never took the lock"
        time.sleep(0.2)
    time.sleep(4)  # inside the playbook by now
    run.send_signal(signum)
    out, err = run.communicate(timeout=120)
    assert run.returncode == code, out + err
    assert open_ledger(ledger).holder("qa") is None
    last = open_ledger(ledger).runs(env="qa")[0]
    assert last.status == "canceled"
    assert open_ledger(ledger).verify() == []
    # the next apply converges as usual
    assert provision("qa", ledger=ledger).returncode == 0
