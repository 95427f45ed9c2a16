"""The ledger through the command line: history, show, and `history --verify` naming an edited
row. Uses a private SQLite ledger (PROVISION_LEDGER_URL). And what the console shows of values
it did not make (identities, host keys): text, never markup or terminal controls."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import run_cli
from signing import make_keys

from provisioner import paths
from provisioner.cli import main
from provisioner.errors import EXIT_FAILED
from provisioner.ledger.ledger import open_ledger
from provisioner.ledger.store import hide_passwords
from provisioner.source import hostkeys
from provisioner.trust import statements
from provisioner.trust.approvals import plan_fields
from provisioner.trust.signers import Signers


@pytest.fixture
def ledger_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    monkeypatch.setenv("PROVISION_LEDGER_URL", url)
    with open_ledger(url) as book:
        for env in ("qa", "staging", "qa"):
            run = book.start_run(
                "apply",
                env,
                command="provision.py " + env,
                identity="alice",
                commit="c0ffee",
                inventory_hash="i",
            )
            book.finish_run(
                run,
                "successful",
                {f"{env}-web-1": {"ok": 3, "changed": 1}},
                [{"host": f"{env}-web-1", "task": "Write the motd", "diff": "-a\n+b\n"}],
            )
    return url


def test_history_lists_runs_and_verify_passes(
    ledger_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", "qa"]) == 0
    out = capsys.readouterr().out
    assert out.count("successful") == 2
    assert "staging" not in out
    assert main(["history", "--verify"]) == 0
    assert "intact" in capsys.readouterr().out


def test_show_prints_stats_and_diffs(ledger_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    run_id = open_ledger(ledger_url).runs(env="staging")[0].run_id
    assert main(["show", run_id]) == 0
    out = capsys.readouterr().out
    assert "staging-web-1" in out
    assert "Write the motd" in out
    assert "+b" in out


def test_a_hand_edited_row_fails_verify_and_is_named(
    ledger_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = ledger_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        db.execute(
            "UPDATE ledger_entries SET payload = replace(payload, 'alice', 'mallory') WHERE id = 3"
        )
    assert main(["history", "--verify"]) == 1
    out = capsys.readouterr().out
    assert "entry 3" in out


def test_a_deleted_row_fails_verify(ledger_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = ledger_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM ledger_entries WHERE id = 2")
    assert main(["history", "--verify"]) == 1
    assert "entry 2" in capsys.readouterr().out


def test_an_unreachable_ledger_refuses_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PROVISION_LEDGER_URL", "postgresql://u:SENTINEL-pw@127.0.0.1:1/nope")
    assert main(["history"]) == 1
    err = capsys.readouterr().err
    assert "127.0.0.1:1" in err
    assert "SENTINEL-pw" not in err


@pytest.mark.parametrize(
    ("url", "shown", "hidden"),
    [
        # libpq's key=value form: not a URL we take, and named without its password
        ("host=db password=hunter2-SENTINEL dbname=x", "run ledger host=db dbname=x:", "hunter2"),
        ("host=db password='hunter 2 SENTINEL' dbname=x", "host=db dbname=x:", "hunter 2"),
        ("host=db password=", "run ledger host=db:", "password"),
        # a one-letter password: the message is the driver's, not every "a" masked
        ("postgresql://u:a@127.0.0.1:1/nope", "that host and accepting", "********"),
        ("postgresql://u@127.0.0.1:1/nope?password=SENTINEL-q", "127.0.0.1:1/nope", "SENTINEL"),
        # a host name label over 63 characters: the idna codec raised, a traceback
        (
            f"postgresql://u:SENTINEL-pw@{'h' * 70}:5432/x",
            "cannot reach the run ledger",
            "SENTINEL",
        ),
    ],
)
def test_a_ledger_url_is_named_without_its_password_in_one_line(
    url: str,
    shown: str,
    hidden: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PROVISION_LEDGER_URL", url)
    result = run_cli(["history"], capsys)
    assert "Traceback" not in result.err
    assert result.code == EXIT_FAILED, result  # the ledger cannot be used: exit 1 (README)
    [line] = result.err.splitlines()
    assert line.startswith("error: ")
    assert shown in line
    assert hidden not in line


def test_a_driver_message_is_searched_for_passwords_as_connection_strings_carry_them() -> None:
    said = "bad dsn postgresql://u:s3cret@h/x and password=s3cret and password='a b' user=u"
    assert hide_passwords(said) == (
        "bad dsn postgresql://u:********@h/x and password=******** and password=******** user=u"
    )
    assert hide_passwords("a cat", ["a"]) == "a cat"  # too short to mask without showing it
    assert hide_passwords("x long-SENTINEL y", ["long-SENTINEL"]) == "x ******** y"


@pytest.mark.parametrize(
    "who",
    [
        "[/]",  # rich raised MarkupError: approve failed after recording, history/show for all
        "[bold red]root[/] [link=https://example.invalid]x[/link]",
        "\x1b[2J\x1b]0;title\x07mallory",  # clear the screen, set the title, ring the bell
        "bob\r\x1b[1Aalice",  # overwrite what was printed
    ],
)
def test_ledger_values_are_shown_as_they_are_never_obeyed(
    who: str,
    ledger_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """An identity (anyone can set it) and an approval's reason go into the ledger, and from
    there to every reader's terminal: approve, history and show print them as text, with
    control characters as \\xNN."""
    shown = who.translate({c: f"\\x{c:02x}" for c in (0x07, 0x0D, 0x1B)})
    keys = make_keys(tmp_path / "keys")
    for name, value in keys.env("bob").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(paths, "STATE", tmp_path / "state")
    plan_signer = statements.signer(
        keys.key("alice"), Signers(keys.signers, override=True), "provisioner-plan@prod"
    )
    bundle = {"commit": "c", "inventory_hash": "i", "roles_hash": "r"}
    with open_ledger(ledger_url) as book:
        plan = {"plan_id": "p1", "planner": "alice", "bundle": bundle}
        plan |= plan_signer.sign(plan_fields("prod", "p1", bundle))
        book.append("plan", "prod", plan, run_id="p1")
        run = book.start_run(
            "apply",
            "qa",
            command="provision.py qa",
            identity=who,
            commit="[/]c0ffee",
            inventory_hash="i",
        )
        book.finish_run(run, "failed", {"qa-web-1": {"ok": 1}}, [])
    run_id = open_ledger(ledger_url).runs(env="qa")[0].run_id
    monkeypatch.setenv("PROVISION_IDENTITY", who)
    capsys.readouterr()
    for argv in (["approve", "prod", "p1", "--reason", who], ["history"], ["show", run_id]):
        assert main(argv) == 0, argv
        captured = capsys.readouterr()
        assert captured.err == "", argv
        out = " ".join(captured.out.split())  # a table may wrap a cell
        for control in ("\x1b", "\x07", "\r"):
            assert control not in captured.out, argv
        assert " ".join(shown.split()) in out or argv == ["history"], (argv, out)
    approvals = open_ledger(ledger_url).entries(kind="approval", env="prod")
    assert [a.payload["reason"] for a in approvals] == [who]  # recorded as given
    assert [a.payload["approver"] for a in approvals] == ["bob"]  # the key's, not the variable's


def test_host_key_fingerprints_are_printed_as_text(
    inventories_copy: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ssh-keygen writes a host on another port as [host]:port, which rich took for a style
    tag: the host's name vanished from what `trust` asks a person to compare."""
    line = "256 SHA256:abc [prod-app-1.example.com]:2222 (ED25519)"
    monkeypatch.setattr(hostkeys, "scan", lambda env, spec: [line, "x \x1b[2J y"])
    result = run_cli(["trust", "prod"], capsys)
    assert result.code == 0, result
    assert line in result.out
    assert "x \\x1b[2J y" in result.out
