"""The strategy switch: mitogen by default when installed (it is, in the venv), linear on
request, and an automatic fallback to linear in a Python without mitogen."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from provisioner import paths
from provisioner.errors import InputError
from provisioner.run import strategy


def test_mitogen_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(strategy.SWITCH, raising=False)
    assert strategy.settings()["ANSIBLE_STRATEGY"] == "mitogen_linear"


@pytest.mark.parametrize("wanted", ["auto", "mitogen"])
def test_mitogen_is_used_when_installed(monkeypatch: pytest.MonkeyPatch, wanted: str) -> None:
    monkeypatch.setenv(strategy.SWITCH, wanted)
    found = strategy.settings()
    assert found["ANSIBLE_STRATEGY"] == "mitogen_linear"
    plugins = found["ANSIBLE_STRATEGY_PLUGINS"]
    assert os.path.isfile(os.path.join(plugins, "mitogen_linear.py"))


def test_linear_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(strategy.SWITCH, "linear")
    assert strategy.settings() == {}
    assert strategy.name() == "linear"


def test_an_unknown_strategy_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(strategy.SWITCH, "fast")
    with pytest.raises(InputError, match="expected one of auto, mitogen, linear"):
        strategy.settings()


@pytest.mark.parametrize(("wanted", "warned"), [("auto", False), ("mitogen", True)])
def test_falls_back_to_linear_without_mitogen(wanted: str, warned: bool) -> None:
    # A real Python without the venv's packages (-S: no site-packages), not a patched import.
    probe = (
        "from provisioner.run import strategy; import json; print(json.dumps(strategy.settings()))"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", probe],
        env={**os.environ, "PYTHONPATH": str(paths.REPO), strategy.SWITCH: wanted},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout) == {}
    assert ("mitogen is not installed: using linear" in done.stderr) == warned
