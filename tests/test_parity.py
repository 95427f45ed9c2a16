"""The parity contract and `provision.py diff`: what may differ between environments."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from provisioner import paths
from provisioner.cli import main
from provisioner.errors import InputError
from provisioner.source import parity
from provisioner.source.model import load_source

SOURCE = paths.DEFAULT_SOURCE


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().out


def test_shipped_environments_pass_the_contract() -> None:
    loaded = load_source(SOURCE)
    envs = list(loaded.source.environments)
    assert [d for d in parity.differences(loaded, envs) if not d.allowed] == []


def test_diff_staging_prod_shows_only_allowed_differences(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = run(["diff", "staging", "prod", "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["differences"], "staging and prod differ in app_workers at least"
    assert all(d["allowed"] for d in report["differences"])
    workers = next(d for d in report["differences"] if d["variable"] == "app_workers")
    assert workers["group"] == "app"
    assert workers["values"]["staging"]["value"] == 2
    assert workers["values"]["prod"]["value"] == 4
    assert re.fullmatch(r"environments\.yml:\d+", workers["values"]["prod"]["origin"])


def planted(tmp_path: Path, old: str, new: str) -> Path:
    text = SOURCE.read_text()
    assert old in text
    path = tmp_path / "environments.yml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_a_difference_outside_the_contract_is_refused_with_both_origins(
    tmp_path: Path,
) -> None:
    # nginx_worker_connections is a role default everywhere; set it for staging's web only
    source = planted(
        tmp_path,
        "      staging-web-1: {groups: [web]}\n    vars:\n",
        "      staging-web-1: {groups: [web]}\n    vars:\n      web:\n"
        "        nginx_worker_connections: 2048\n",
    )
    with pytest.raises(InputError) as caught:
        parity.enforce(load_source(source))
    message = str(caught.value)
    assert "nginx_worker_connections" in message
    assert "staging=2048" in message
    assert "qa=1024" in message
    assert "prod=1024" in message
    assert re.search(r"roles/nginx/defaults/main\.yml:\d+", message)
    assert re.search(rf"{re.escape(str(source))}:\d+", message)
    assert "not in the parity contract" in message


def test_generation_refuses_a_violation_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = planted(tmp_path, "        app_workers: 4\n", "        app_workers: 1\n")
    before = {p: p.read_bytes() for p in paths.INVENTORIES.rglob("*.yml")}
    code = main(["inventory", "--source", str(source)])
    err = capsys.readouterr().err
    assert code == 2
    assert "app_workers" in err
    assert "above prod's 1" in err
    assert {p: p.read_bytes() for p in paths.INVENTORIES.rglob("*.yml")} == before


def test_diff_exits_non_zero_on_a_violation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = planted(
        tmp_path,
        "        app_log_level: info\n",
        "        app_log_level: verbose\n",
    )
    code, out = run(["diff", "qa", "staging", "--source", str(source), "--json"], capsys)
    assert code == 1
    level = next(d for d in json.loads(out)["differences"] if d["variable"] == "app_log_level")
    assert level["allowed"] is False
    assert "'verbose' is not one of" in level["reason"]
