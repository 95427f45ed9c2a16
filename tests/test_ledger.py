"""The run ledger: a hash chain that shows tampering, runs, redaction, and per-environment locks.

Every test taking `url` runs twice: against SQLite in tmp_path, and against a real PostgreSQL
server the session starts itself (tests/ledger_server.py) on 127.0.0.1, with a fresh database
per test. Tampering is done the way someone would: raw SQL on the database, bypassing the ledger.
Processes that race each other are started with `spawn`, so none inherits a parent's connection.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from ledger_server import PostgresServer, free_port

from provisioner import paths
from provisioner.errors import EXIT_FAILED, InputError, LedgerError, LockedError
from provisioner.ledger import identity, ledger
from provisioner.ledger.chain import MASK, entry_hash, redact
from provisioner.ledger.ledger import Ledger, open_ledger
from provisioner.ledger.records import LOCK_RECOVERED
from provisioner.ledger.store import display_url

SPAWN = multiprocessing.get_context("spawn")
OLD = "2000-01-01T00:00:00.000000+00:00"  # a heartbeat long past any timeout


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/ledger.sqlite3"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()


@pytest.fixture
def book(url: str) -> Iterator[Ledger]:
    with open_ledger(url) as opened:
        yield opened


def raw(url: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """SQL straight on the database, as someone tampering with it would run it."""
    if url.startswith("sqlite:"):
        with closing(sqlite3.connect(url.removeprefix("sqlite://"))) as db, db:
            return db.execute(sql, params).fetchall()
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(sql.replace("?", "%s"), params)
        return cursor.fetchall() if cursor.description else []


def fill(book: Ledger, count: int, env: str = "qa") -> None:
    for n in range(count):
        book.append("plan", env, {"n": n, "tasks": [{"name": f"task {n}", "diff": "-a\n+b"}]})


def make_stale(url: str, env: str) -> None:
    raw(url, "UPDATE ledger_locks SET heartbeat = ? WHERE env = ?", OLD, env)


def plant_lock(url: str, env: str, *, holder: str, hostname: str, pid: int, heartbeat: str) -> None:
    """A lock row as another process (or machine) would have left it."""
    open_ledger(url).close()  # the tables
    raw(
        url,
        "INSERT INTO ledger_locks (env, holder, hostname, pid, run_id, since, heartbeat) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        *(env, holder, hostname, pid, f"run-of-{holder}", heartbeat, heartbeat),
    )


def where(url: str) -> str:
    """How the ledger names itself in messages."""
    return url.removeprefix("sqlite://") if url.startswith("sqlite:") else display_url(url)


# --- the chain ----------------------------------------------------------------------------------


def test_chain_stays_intact_over_many_appends_and_reopening(url: str) -> None:
    with open_ledger(url) as book:
        fill(book, 40)
        assert book.verify() == []
    with open_ledger(url) as book:  # the schema is created once; a second open changes nothing
        fill(book, 2)
        entries = book.entries()
        assert [e.id for e in entries] == list(range(1, 43))
        assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
        assert book.head().count == 42
        assert book.head().hash == entries[-1].hash
        assert book.verify() == []
    stored = raw(url, "SELECT payload FROM ledger_entries WHERE id = 1")[0][0]
    assert stored == '{"n":0,"tasks":[{"diff":"-a\\n+b","name":"task 0"}]}'  # canonical


def test_an_edited_payload_is_named(url: str, book: Ledger) -> None:
    fill(book, 10)
    raw(url, "UPDATE ledger_entries SET payload = ? WHERE id = 7", '{"n":700}')
    assert book.verify() == ["entry 7: hash does not match its content (edited?)"]


def test_an_edit_with_a_recomputed_hash_is_named_by_the_next_entry(url: str, book: Ledger) -> None:
    fill(book, 10)
    run_id, kind, env, at, prev = raw(
        url, "SELECT run_id, kind, env, at, prev_hash FROM ledger_entries WHERE id = 4"
    )[0]
    forged = entry_hash(prev, id=4, run_id=run_id, kind=kind, env=env, at=at, payload='{"n":1}')
    raw(url, "UPDATE ledger_entries SET payload = ?, hash = ? WHERE id = 4", '{"n":1}', forged)
    assert book.verify() == ["entry 5: prev_hash does not match entry 4 (deleted or reordered?)"]


def test_a_deleted_middle_entry_is_named(url: str, book: Ledger) -> None:
    fill(book, 12)
    raw(url, "DELETE FROM ledger_entries WHERE id = 7")
    problems = book.verify()
    assert "entry 7 is missing (deleted?)" in problems
    assert "entry 8: prev_hash does not match entry 6 (deleted or reordered?)" in problems
    assert "head says 12 entries, found 11 (deleted?)" in problems


def test_a_deleted_last_entry_is_caught_by_the_head(url: str, book: Ledger) -> None:
    fill(book, 12)
    raw(url, "DELETE FROM ledger_entries WHERE id = 12")
    # the remaining chain is internally perfect: only the head knows there was a 12th entry
    assert book.verify() == [
        "head says 12 entries, found 11 (last entry deleted?)",
        "head hash does not match entry 11, the last one (last entry deleted or edited?)",
    ]


def test_appending_after_a_deleted_last_entry_keeps_the_gap_visible(url: str, book: Ledger) -> None:
    fill(book, 3)
    raw(url, "DELETE FROM ledger_entries WHERE id = 3")
    fill(book, 1)  # chains onto the head, i.e. onto the deleted entry
    problems = book.verify()
    assert "entry 3 is missing (deleted?)" in problems
    assert "entry 4: prev_hash does not match entry 2 (deleted or reordered?)" in problems


def _append_worker(url: str, worker: int, count: int) -> None:
    with open_ledger(url) as book:
        for n in range(count):
            book.append("load-gate", "qa", {"worker": worker, "n": n})


def test_concurrent_appends_from_processes_keep_one_chain(url: str) -> None:
    workers = [SPAWN.Process(target=_append_worker, args=(url, w, 25)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    with open_ledger(url) as book:
        assert book.verify() == []
        entries = book.entries(kind="load-gate")
        assert [e.id for e in entries] == list(range(1, 101))
        assert book.head().count == 100
        for worker in range(4):  # each writer's entries, in its own order
            mine = [e.payload["n"] for e in entries if e.payload["worker"] == worker]
            assert mine == list(range(25))


# SQLite's lock bytes (sqlite3.c: PENDING_BYTE 0x40000000, SHARED_FIRST = PENDING + 2, 510 long):
# a connection holds a read lock there while it is open in WAL mode, and a closing connection
# that can write-lock the range believes itself the last and removes the WAL.
SQLITE_SHARED_RANGE = (0x40000002, 510)


def _someone_holds_shared(database: Path) -> bool:
    """Asked from another process (POSIX locks do not conflict within one)."""
    start, length = SQLITE_SHARED_RANGE
    probe = (
        "import fcntl, os, struct, sys\n"
        f"fd = os.open({str(database)!r}, os.O_RDWR)\n"
        f"lock = struct.pack('hhqqi', fcntl.F_WRLCK, 0, {start}, {length}, 0)\n"
        "try:\n    fcntl.fcntl(fd, fcntl.F_SETLK, lock)\nexcept OSError:\n    sys.exit(1)\n"
    )
    return subprocess.run([sys.executable, "-c", probe], check=False).returncode == 1


def test_a_second_connection_of_a_run_keeps_the_first_ones_sqlite_lock(tmp_path: Path) -> None:
    """The lock's heartbeat opens a second connection in the run's process; opening it must not
    drop the first connection's lock (closing any descriptor of a file drops all of a process's
    POSIX locks on it), or another process's close removes the WAL and the run's writes with it."""
    database = tmp_path / "ledger.sqlite3"
    with open_ledger(f"sqlite:///{database}", heartbeat_every=0.05) as book:
        book.append("note", "qa", {"n": 1})
        assert _someone_holds_shared(database)
        with book.acquire("qa", "ann@example.com", "run-1"):
            time.sleep(0.3)  # a few heartbeats, on their own connection
            assert _someone_holds_shared(database)
            book.append("note", "qa", {"n": 2})
        assert _someone_holds_shared(database)


# --- runs -----------------------------------------------------------------------------------------


def _start(book: Ledger, kind: str, env: str) -> str:
    return book.start_run(
        kind,
        env,
        command=f"provision.py {kind} {env}",
        identity="ann@example.com",
        commit="850b5c7",
        inventory_hash="sha256:inv",
        plan_hash="sha256:plan" if kind == "apply" else None,
        extra={"limit": None},
    )


def test_runs_and_show_summarize_started_and_finished_runs(url: str, book: Ledger) -> None:
    done = _start(book, "apply", "staging")
    plan = book.append("plan", "staging", {"plan_id": "p-1"}, run_id=done)
    book.append("approval", "staging", {"plan_id": "p-1", "by": "bob@example.com"})
    changes = [{"host": "staging-web-1", "task": "nginx config", "diff": {"after": "x"}}]
    stats = {"staging-web-1": {"ok": 9, "changed": 1, "failed": 0}}
    book.finish_run(done, "successful", stats, changes)
    crashed = _start(book, "verify", "qa")  # no finish, no lock: its process is gone
    live = _start(book, "apply", "staging")
    with book.acquire("staging", "ann@example.com", live):
        runs = book.runs()
        assert [(r.run_id, r.status) for r in runs] == [
            (live, "running"),
            (crashed, "abandoned"),
            (done, "successful"),
        ]
        assert [r.run_id for r in book.runs(env="staging")] == [live, done]
        assert [r.run_id for r in book.runs(limit=1)] == [live]
    assert book.runs(env="staging")[0].status == "abandoned"  # released without a finish

    first = book.runs(env="staging")[-1]
    assert (first.kind, first.env, first.identity, first.commit) == (
        "apply",
        "staging",
        "ann@example.com",
        "850b5c7",
    )
    assert first.command == "provision.py apply staging"
    assert first.finished_at is not None
    assert first.finished_at >= first.started_at

    detail = book.show(done)
    assert detail.summary == first
    assert [e.kind for e in detail.entries] == ["run-started", "plan", "run-finished"]
    assert detail.entries[1] == plan
    assert detail.started.payload["plan_hash"] == "sha256:plan"
    assert detail.host_stats == stats
    assert detail.changes == changes
    approvals = book.entries(kind="approval", env="staging")
    assert [a.payload["by"] for a in approvals if a.payload["plan_id"] == "p-1"] == [
        "bob@example.com"
    ]
    assert book.verify() == []


def test_runs_are_finished_once_and_only_when_started(url: str, book: Ledger) -> None:
    run_id = _start(book, "apply", "qa")
    book.finish_run(run_id, "failed", {}, [])
    with pytest.raises(LedgerError, match="already finished"):
        book.finish_run(run_id, "successful", {}, [])
    with pytest.raises(LedgerError, match="never started"):
        book.finish_run("nosuchrun", "successful", {}, [])
    with pytest.raises(InputError, match="no run 'nosuchrun'"):
        book.show("nosuchrun")
    with pytest.raises(ValueError, match="written by the ledger itself"):
        book.append("run-finished", "qa", {"status": "successful"}, run_id=run_id)
    assert book.show(run_id).summary.status == "failed"


# --- redaction ------------------------------------------------------------------------------------


def test_redact_masks_every_occurrence_at_any_depth() -> None:
    sentinel = "hunter2-SENTINEL"
    payload = {
        "plain": f"pw={sentinel};again={sentinel}",
        sentinel: [1, {"deep": (f"x{sentinel}", 7)}],
        "pin": 424242,
        "flag": True,
    }
    assert redact(payload, [sentinel, "424242", ""]) == {
        "plain": f"pw={MASK};again={MASK}",
        MASK: [1, {"deep": (f"x{MASK}", 7)}],
        "pin": MASK,
        "flag": True,
    }
    assert payload["plain"] == f"pw={sentinel};again={sentinel}"  # the input is left alone
    # overlapping sentinels are masked together: no fragment of either survives
    assert redact("..abcdef..", ["abcd", "cdef"]) == f"..{MASK}.."
    assert redact("nothing here", []) == "nothing here"


def test_secrets_never_reach_the_database(url: str, tmp_path: Path) -> None:
    sentinel, later = "S3NTINEL-c0ffee-9f8e", "L4TER-SECRET-77aa"
    with open_ledger(url, secrets=[sentinel]) as book:
        run_id = book.start_run(
            "apply",
            "qa",
            command=f"provision.py qa -e db_password={sentinel}",
            identity="ann@example.com",
            commit=None,
            inventory_hash="sha256:inv",
            extra={"vars": {"nested": [{"value": sentinel}]}},
        )
        book.append("plan", "qa", {f"key-{sentinel}": "visible-marker"}, run_id=run_id)
        book.add_secrets([later])
        changes = [{"task": "write .pgpass", "diff": {"after": f"*:*:*:app:{later}\n"}}]
        book.finish_run(run_id, "successful", {"qa-db-1": {"changed": 1}}, changes)
        assert book.verify() == []  # hashed as stored: redacted
        detail = book.show(run_id)
        assert detail.summary.command == f"provision.py qa -e db_password={MASK}"
        assert detail.changes[0]["diff"]["after"] == f"*:*:*:app:{MASK}\n"
    if url.startswith("sqlite:"):
        dump = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    else:
        tables = ("ledger_entries", "ledger_head", "ledger_locks")
        dump = repr([raw(url, f"SELECT * FROM {table}") for table in tables]).encode()  # noqa: S608
    assert b"visible-marker" in dump  # the dump does hold the payloads
    assert sentinel.encode() not in dump
    assert later.encode() not in dump


# --- locks ----------------------------------------------------------------------------------------


def test_a_second_acquire_is_refused_naming_the_holder(url: str) -> None:
    with open_ledger(url) as first, open_ledger(url) as second:
        lock = first.acquire("staging", "ann@example.com", "run-ann")
        with pytest.raises(LockedError) as refused:
            second.acquire("staging", "bob@example.com", "run-bob")
        message = str(refused.value)
        for part in ("staging", "ann@example.com", "run-ann", os.uname().nodename):
            assert part in message
        assert f"pid {os.getpid()}" in message
        assert f"since {lock.info.since}" in message
        assert refused.value.exit_code == EXIT_FAILED
        second.acquire("qa", "bob@example.com", "run-bob").release()  # other envs are free
        assert lock.release() is True
        with second.acquire("staging", "bob@example.com", "run-bob") as taken:
            assert taken.held
        assert first.holder("staging") is None
        assert first.entries(kind=LOCK_RECOVERED) == []  # nothing was stale


def test_a_lock_without_heartbeat_is_taken_over_and_noted(url: str) -> None:
    with open_ledger(url) as first, open_ledger(url) as second:
        stalled = first.acquire("prod", "ann@example.com", "run-ann")
        make_stale(url, "prod")
        with second.acquire("prod", "bob@example.com", "run-bob") as taken:
            holder = second.holder("prod")
            assert holder is not None
            assert holder.holder == "bob@example.com"
            assert holder.run_id == "run-bob"
            assert taken.held
            assert stalled.release() is False  # no longer ours: bob's lock stays
            assert second.holder("prod") == holder
        [noted] = second.entries(kind=LOCK_RECOVERED, env="prod")
        assert noted.run_id == "run-bob"
        assert noted.payload["previous"]["holder"] == "ann@example.com"
        assert noted.payload["previous"]["run_id"] == "run-ann"
        assert noted.payload["reason"].startswith("no heartbeat for")
        assert noted.payload["by"] == "bob@example.com"
        assert second.verify() == []


def _lock_and_die(url: str) -> None:
    with open_ledger(url) as book:
        book.acquire("qa", "crashed@example.com", "run-crashed")
    os._exit(0)  # like a killed process: no release


def test_a_lock_of_a_dead_process_on_this_host_is_taken_over(url: str) -> None:
    child = SPAWN.Process(target=_lock_and_die, args=(url,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    with open_ledger(url) as book:
        dead = book.holder("qa")
        assert dead is not None
        assert dead.pid == child.pid
        with book.acquire("qa", "ann@example.com", "run-ann"):  # its heartbeat is fresh
            [noted] = book.entries(kind=LOCK_RECOVERED, env="qa")
            assert noted.payload["reason"] == f"process {child.pid} on {dead.hostname} is gone"
            assert noted.payload["previous"]["holder"] == "crashed@example.com"


def test_a_fresh_lock_of_another_host_is_respected_whatever_its_pid(url: str) -> None:
    # pid 2**22 + 1 is beyond Linux's pid_max: no such process here, but the lock is another
    # host's, whose processes we cannot see: only its heartbeat counts
    now = datetime.now(UTC).isoformat()
    plant_lock(
        url, "qa", holder="ann@example.com", hostname="ci-runner-7", pid=2**22 + 1, heartbeat=now
    )
    with open_ledger(url) as book:
        with pytest.raises(LockedError, match="on ci-runner-7, pid 4194305"):
            book.acquire("qa", "bob@example.com", "run-bob")
        make_stale(url, "qa")
        book.acquire("qa", "bob@example.com", "run-bob").release()
        [noted] = book.entries(kind=LOCK_RECOVERED)
        assert noted.payload["reason"].startswith("no heartbeat for")


def _race_for_lock(url: str, name: str, start: Any, tried: Any, results: Any) -> None:
    with open_ledger(url) as book:
        start.wait(30)
        try:
            book.acquire("prod", name, f"run-{name}")
            results.put((name, "won"))
        except LockedError:
            results.put((name, "refused"))
        tried.wait(30)  # the winner holds the lock until every contender has tried


def test_processes_racing_for_a_stale_lock_leave_exactly_one_winner(url: str) -> None:
    contenders = 3
    plant_lock(url, "prod", holder="gone@example.com", hostname="elsewhere", pid=1, heartbeat=OLD)
    start, tried = SPAWN.Barrier(contenders), SPAWN.Barrier(contenders)
    results = SPAWN.Queue()
    racers = [
        SPAWN.Process(target=_race_for_lock, args=(url, f"racer{n}", start, tried, results))
        for n in range(contenders)
    ]
    for racer in racers:
        racer.start()
    outcomes = dict(results.get(timeout=60) for _ in racers)
    for racer in racers:
        racer.join(60)
    assert [r.exitcode for r in racers] == [0] * contenders
    winners = [name for name, outcome in outcomes.items() if outcome == "won"]
    assert len(winners) == 1, outcomes
    with open_ledger(url) as book:
        [noted] = book.entries(kind=LOCK_RECOVERED, env="prod")
        assert noted.payload["by"] == winners[0]
        assert noted.payload["previous"]["holder"] == "gone@example.com"
        holder = book.holder("prod")
        assert holder is not None
        assert holder.holder == winners[0]
        assert book.verify() == []


ROUNDS = 20


def _race_rounds(url: str, name: str, barriers: tuple[Any, Any, Any], results: Any) -> None:
    """One controller: ROUNDS times, race for prod's lock; the winner lets go once both tried."""
    start, tried, done = barriers
    with open_ledger(url) as book:
        for round_ in range(ROUNDS):
            start.wait(30)
            try:
                lock = book.acquire("prod", name, f"run-{name}-{round_}")
            except LockedError:
                lock = None
            results.put((round_, name, lock is not None))
            tried.wait(30)
            if lock is not None:
                lock.release()
            done.wait(30)


@pytest.mark.parametrize("stale", [False, True], ids=["free-lock", "stale-lock"])
def test_two_controllers_racing_on_postgresql_leave_one_winner_every_time(
    postgres: PostgresServer, stale: bool
) -> None:
    """Two processes (two controllers, each with its own connection) race for one
    environment's lock ROUNDS times, the lock free or left stale by a dead holder: every time
    exactly one wins."""
    url = postgres.new_database()
    open_ledger(url).close()  # the tables, before the first round
    start, tried, done = barriers = (SPAWN.Barrier(3), SPAWN.Barrier(3), SPAWN.Barrier(3))
    results = SPAWN.Queue()
    racers = [
        SPAWN.Process(target=_race_rounds, args=(url, name, barriers, results))
        for name in ("controller-a", "controller-b")
    ]
    for racer in racers:
        racer.start()
    winners: dict[int, list[str]] = {}
    for round_ in range(ROUNDS):
        if stale:
            plant_lock(url, "prod", holder="gone@example.com", hostname="x", pid=1, heartbeat=OLD)
        start.wait(60)
        tried.wait(60)
        done.wait(60)
        for _ in racers:
            at, name, won = results.get(timeout=60)
            assert at == round_
            if won:
                winners.setdefault(round_, []).append(name)
    for racer in racers:
        racer.join(60)
    assert [r.exitcode for r in racers] == [0, 0]
    assert [len(winners.get(n, [])) for n in range(ROUNDS)] == [1] * ROUNDS, winners
    with open_ledger(url) as book:
        assert len(book.entries(kind=LOCK_RECOVERED, env="prod")) == (ROUNDS if stale else 0)
        assert book.holder("prod") is None
        assert book.verify() == []


def test_a_postgresql_restart_between_writes_loses_nothing(postgres: PostgresServer) -> None:
    """A run holds its connection for as long as Ansible runs; the server restarting meanwhile
    (a crash, a failover) must not lose the run's record: the next write reconnects."""
    url = postgres.new_database()
    with open_ledger(url) as book:
        lock = book.acquire("qa", "ann@example.com", "run-1")
        book.append("plan", "qa", {"n": 1})
        postgres.restart()
        book.append("plan", "qa", {"n": 2})  # the old connection is gone: a new one
        assert lock.release() is True
        assert [e.payload["n"] for e in book.entries(kind="plan", env="qa")] == [1, 2]
        assert book.holder("qa") is None
        assert book.verify() == []


def test_release_removes_only_its_own_lock(url: str) -> None:
    with open_ledger(url) as book:
        first = book.acquire("qa", "ann@example.com", "run-1")
        make_stale(url, "qa")
        # the same identity, host and pid take it over for another run: still not first's
        second = book.acquire("qa", "ann@example.com", "run-2")
        assert first.release() is False
        assert first.release() is False  # releasing twice is harmless
        assert not first.held
        holder = book.holder("qa")
        assert holder is not None
        assert holder.run_id == "run-2"
        assert second.release() is True
        assert book.holder("qa") is None


def test_the_heartbeat_keeps_a_lock_fresh_and_notices_a_takeover(url: str) -> None:
    with (
        open_ledger(url, heartbeat_every=0.05) as book,
        open_ledger(url) as patient,
        open_ledger(url, stale_after=0) as impatient,  # to it, every lock is stale
    ):
        lock = book.acquire("staging", "ann@example.com", "run-ann")
        make_stale(url, "staging")
        deadline = time.monotonic() + 5
        while (holder := patient.holder("staging")) is not None and holder.heartbeat == OLD:
            assert time.monotonic() < deadline, "the heartbeat was not refreshed"
            time.sleep(0.02)
        with pytest.raises(LockedError):  # fresh again: nobody may take it
            patient.acquire("staging", "bob@example.com", "run-bob")
        taken = impatient.acquire("staging", "bob@example.com", "run-bob")
        while lock.held:  # its next beat finds the lock is no longer ours
            assert time.monotonic() < deadline, "the takeover went unnoticed"
            time.sleep(0.02)
        assert lock.release() is False
        assert taken.release() is True


# --- reaching the ledger --------------------------------------------------------------------------


def test_an_unreachable_postgresql_is_a_ledger_error_without_password() -> None:
    port = free_port()  # nobody listens there
    with pytest.raises(LedgerError, match="cannot reach the run ledger") as refused:
        open_ledger(f"postgresql://ledger:pa55-w0rd-SENTINEL@127.0.0.1:{port}/ledger")
    message = str(refused.value)
    assert "pa55-w0rd-SENTINEL" not in message
    assert f"postgresql://ledger@127.0.0.1:{port}/ledger" in message
    assert refused.value.exit_code == EXIT_FAILED


def test_a_wrong_postgresql_password_is_a_ledger_error_without_it(postgres: PostgresServer) -> None:
    database = postgres.new_database().rsplit("/", 1)[1]
    with pytest.raises(LedgerError, match="password authentication failed") as refused:
        open_ledger(postgres.url(database, password="WRONG-pw-SENTINEL"))  # noqa: S106 - on purpose
    assert "WRONG-pw-SENTINEL" not in str(refused.value)
    assert postgres.password not in str(refused.value)
    assert f"ledger@127.0.0.1:{postgres.port}/{database}" in str(refused.value)


def test_unusable_ledger_urls_are_ledger_errors(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="cannot open the run ledger") as missing:
        open_ledger(f"sqlite://{tmp_path}/no/such/dir/ledger.sqlite3")
    assert "no/such/dir" in str(missing.value)
    (tmp_path / "junk.sqlite3").write_bytes(b"this is not a database, not even close" * 100)
    with pytest.raises(LedgerError, match=r"junk\.sqlite3"):
        open_ledger(f"sqlite://{tmp_path}/junk.sqlite3")
    with pytest.raises(LedgerError, match="unsupported URL") as unknown:
        open_ledger("mysql://root:hunter2@db.example/ledger")
    assert "hunter2" not in str(unknown.value)
    assert "mysql://root@db.example/ledger" in str(unknown.value)


def test_the_url_comes_from_the_environment(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ledger.ENV_URL, url)
    with open_ledger() as book:
        fill(book, 1)
        assert book.where == where(url)
    assert raw(url, "SELECT count FROM ledger_head") == [(1,)]


def test_the_default_ledger_is_a_private_file_in_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ledger.ENV_URL, raising=False)
    monkeypatch.setattr(paths, "STATE", tmp_path / ".state")
    with open_ledger() as book:
        fill(book, 1)
    state = tmp_path / ".state"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    files = sorted(p.name for p in state.iterdir())
    assert "ledger.sqlite3" in files
    for name in files:  # the database and SQLite's WAL files beside it
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name


# --- identity -------------------------------------------------------------------------------------


def test_identity_prefers_the_variable_then_git_then_the_os_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVISION_IDENTITY", "ci-job-42")
    assert identity.current_identity() == "ci-job-42"
    monkeypatch.delenv("PROVISION_IDENTITY")
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text("[user]\n\temail = ann@example.com\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setattr(paths, "REPO", tmp_path)  # not a repository: no local config
    assert identity.current_identity() == "ann@example.com"
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("USER", "someone")
    monkeypatch.setenv("LOGNAME", "someone")
    assert identity.current_identity() == "someone"
