"""A forger, not only an accident: whoever can write the ledger's database can recompute every
hash, delete the newest entries and fix the head, or empty the file. Signed checkpoints of the
head (real ssh-keygen, throwaway keys) and the witness in .state catch each, and
`history --verify` names what it found. And `history --export`: JSON Lines that round-trip."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from conftest import Result, assert_one_error, run_cli
from signing import Keys, make_keys

from provisioner import paths
from provisioner.errors import EXIT_FAILED
from provisioner.ledger.chain import canonical, entry_hash
from provisioner.ledger.ledger import open_ledger
from provisioner.trust import checkpoints
from provisioner.trust.signers import Signers


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Keys:
    made = make_keys(tmp_path / "keys")
    monkeypatch.setattr(paths, "STATE", tmp_path / "state")  # the witness, not the repo's
    monkeypatch.setenv("PROVISION_LEDGER_URL", f"sqlite:///{database(tmp_path)}")
    monkeypatch.setenv("PROVISION_ALLOWED_SIGNERS", str(made.signers))
    return made


def database(tmp_path: Path) -> Path:
    return tmp_path / "ledger.sqlite3"


def runs(count: int, status: str = "successful") -> None:
    with open_ledger() as ledger:
        for _ in range(count):
            run = ledger.start_run(
                "apply",
                "qa",
                command="provision.py qa",
                identity="alice",
                commit="c",
                inventory_hash="i",
            )
            ledger.finish_run(run, status, {"qa-web-1": {"ok": 1}}, [])


def signed_by(keys: Keys, who: str = "bob") -> checkpoints.Checkpoint:
    """What every command that writes does when its writer has a listed key."""
    with open_ledger() as ledger:
        point = checkpoints.sign_head(ledger, keys.key(who), Signers(keys.signers, override=True))
    assert point is not None
    return point


def verify(capsys: pytest.CaptureFixture[str], *extra: str) -> Result:
    result = run_cli(["history", "--verify", *extra], capsys)
    assert "Traceback" not in result.out + result.err
    return result


def rechain(path: Path, edit_id: int) -> None:
    """The forger's script: change an entry, recompute every hash after it, fix the head."""
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT id, run_id, kind, env, at, payload FROM ledger_entries ORDER BY id")
    prev = "0" * 64
    for id_, run_id, kind, env, at, stored in rows.fetchall():
        payload = stored.replace("successful", "failed") if id_ == edit_id else stored
        fields = {
            "at": at,
            "env": env,
            "id": id_,
            "kind": kind,
            "payload": payload,
            "run_id": run_id,
        }
        text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        new = hashlib.sha256((prev + text).encode()).hexdigest()
        sql = "UPDATE ledger_entries SET payload = ?, prev_hash = ?, hash = ? WHERE id = ?"
        conn.execute(sql, (payload, prev, new, id_))
        prev = new
    conn.execute("UPDATE ledger_head SET hash = ?", (prev,))
    conn.commit()
    conn.close()


def test_a_signed_ledger_verifies_and_prints_its_signed_head(
    keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    runs(3)
    point = signed_by(keys)
    result = verify(capsys, "--strict")
    assert result.code == 0, result
    assert f"signed head: 6 entries at {point.hash}, signed by bob" in result.out
    assert "intact" in result.out


def test_a_rechained_ledger_fails_at_the_checkpoint(
    keys: Keys, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    runs(3)
    signed_by(keys)
    runs(1)
    rechain(database(tmp_path), edit_id=2)
    with open_ledger() as ledger:
        assert ledger.verify() == []  # the hash chain alone cannot tell
    result = verify(capsys)
    assert result.code == EXIT_FAILED, result
    assert "checkpoint at entry 6, signed by bob: entry 6 has hash" in result.out
    assert "re-chained" in result.out


def test_deleting_the_newest_entries_and_their_checkpoints_is_caught_by_the_witness(
    keys: Keys, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    runs(3)
    signed_by(keys)
    with sqlite3.connect(database(tmp_path)) as conn:  # one statement each, as the issue says
        conn.execute("DELETE FROM ledger_entries WHERE id > 4")
        newest = "SELECT hash FROM ledger_entries WHERE id = 4"
        conn.execute(f"UPDATE ledger_head SET count = 4, hash = ({newest})")  # noqa: S608 - fixed
        conn.execute("DELETE FROM ledger_checkpoints")
    result = verify(capsys)
    assert result.code == EXIT_FAILED, result
    assert "the ledger has 4 entries, the witness signed 6 at" in result.out


@pytest.mark.parametrize("how", ["emptied", "deleted", "replaced"])
def test_an_emptied_deleted_or_replaced_ledger_is_caught_by_the_witness(
    how: str, keys: Keys, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    runs(2)
    signed_by(keys)
    path = database(tmp_path)
    for extra in ("-wal", "-shm"):
        Path(f"{path}{extra}").unlink(missing_ok=True)
    if how == "emptied":
        path.write_bytes(b"")
    else:
        path.unlink()
    if how == "replaced":  # a fresh ledger of the forger's, with runs of its own
        runs(3)
    result = verify(capsys)
    assert result.code == EXIT_FAILED, result
    found = 6 if how == "replaced" else 0
    assert f"the ledger has {found} entries, the witness signed 4 at" in result.out


def test_a_checkpoint_signed_by_an_unlisted_key_is_named(
    keys: Keys, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A forger re-chains, then signs checkpoints and the witness with a key of their own."""
    runs(2)
    signed_by(keys)
    rechain(database(tmp_path), edit_id=2)
    with sqlite3.connect(database(tmp_path)) as conn:
        conn.execute("DELETE FROM ledger_checkpoints")
    keys.add("mallory")
    forged = Keys(keys.directory, keys.directory / "mallorys_signers", dict(keys.keys))
    forged.signers.write_text("")
    forged.list("bob", "mallory", "provisioner-ledger")  # mallory's key, claiming to be bob
    with open_ledger() as ledger:  # (the forger controls .state here too: the witness goes)
        checkpoints.witness_path(ledger.name).unlink()
        checkpoints.sign_head(ledger, forged.key("mallory"), Signers(forged.signers, True))
    result = verify(capsys)
    assert result.code == EXIT_FAILED, result
    assert "checkpoint at entry 4: signature does not verify as bob's" in result.out
    assert "witness" in result.out


def test_entries_after_the_last_checkpoint_are_reported_and_fail_with_strict(
    keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    runs(1)
    signed_by(keys)
    runs(1)
    lenient = verify(capsys)
    assert lenient.code == 0, lenient
    assert (
        "2 entries after the last signed checkpoint (entries 3 to 4) are not signed" in lenient.out
    )
    strict = verify(capsys, "--strict")
    assert strict.code == EXIT_FAILED, strict


def test_a_command_that_writes_signs_the_head(
    keys: Keys, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a command of those that write (approve here, refused: an apply's refusal is
    recorded), the head is signed with the writer's key when it is listed for the ledger; the
    refusal stays the one line on stderr."""
    with open_ledger() as ledger:  # a plan without a signature: approve refuses it
        ledger.append("plan", "prod", {"plan_id": "p1", "planner": "alice"}, run_id="p1")
    for name, value in keys.env("bob").items():
        monkeypatch.setenv(name, value)
    result = run_cli(["approve", "prod", "p1"], capsys)
    assert result.code == 4, result
    assert result.err.count("\n") == 1
    assert "ledger head signed: 1 entries at" in result.out
    runs(1)
    again = run_cli(["approve", "prod", "p1"], capsys)
    assert "ledger head signed: 3 entries at" in again.out
    with open_ledger() as ledger:
        assert [point[0] for point in ledger.checkpoints()] == [1, 3]
    nothing_new = run_cli(["approve", "prod", "p1"], capsys)
    assert "ledger head signed" not in nothing_new.out
    keys.add("mallory")  # a key not listed for the ledger: said, nothing signed
    monkeypatch.setenv("PROVISION_SIGNING_KEY", str(keys.key("mallory")))
    runs(1)
    unlisted = run_cli(["approve", "prod", "p1"], capsys)
    assert "ledger head not signed: the key" in unlisted.out
    assert "is not listed" in unlisted.out
    with open_ledger() as ledger:
        assert [point[0] for point in ledger.checkpoints()] == [1, 3]


def test_export_writes_json_lines_that_round_trip(
    keys: Keys, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    runs(2)
    signed_by(keys)
    out = tmp_path / "ledger.jsonl"
    written = run_cli(["history", "--export", "--out", str(out)], capsys)
    assert written.code == 0, written
    lines = out.read_text().splitlines()
    assert lines == run_cli(["history", "--export"], capsys).out.splitlines()
    prev = "0" * 64
    for line in lines:
        record = json.loads(line)
        assert record["prev_hash"] == prev
        fields = {k: record[k] for k in ("id", "run_id", "kind", "env", "at")}
        assert entry_hash(prev, payload=canonical(record["payload"]), **fields) == record["hash"]
        prev = record["hash"]
    assert json.loads(lines[-1])["checkpoint"]["statement"]["hash"] == prev
    assert [json.loads(line)["checkpoint"] for line in lines[:-1]] == [None] * 3


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["history", "--strict"], "--strict goes with --verify"),
        (["history", "--out", "x.jsonl"], "--out FILE goes with --export"),
        (["history", "--verify", "--export"], "--verify or --export, one at a time"),
        (["history", "--export", "--out", "/nonexistent/dir/x.jsonl"], "cannot write"),
    ],
)
def test_history_misuse_is_one_line_and_exit_2(
    argv: list[str], words: str, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    runs(1)
    result = run_cli(argv, capsys)
    assert_one_error(result, "error: ", words)


def test_an_honest_writer_never_signs_a_forged_chain(
    keys: Keys, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A forger re-chains and deletes the checkpoints; the next honest command must not sign
    the forged head (the witness would then vouch for it): it says why, and verify still fails."""
    runs(2)
    signed_by(keys)
    rechain(database(tmp_path), edit_id=2)
    with sqlite3.connect(database(tmp_path)) as conn:
        conn.execute("DELETE FROM ledger_checkpoints")
    runs(1)
    with open_ledger() as ledger, pytest.raises(ValueError, match="witness"):
        checkpoints.sign_head(ledger, keys.key("alice"), Signers(keys.signers, override=True))
    result = verify(capsys)
    assert result.code == EXIT_FAILED, result
    assert "the witness signed 4 at" in result.out
