"""`molecule test -s common` as its users type it: from the repo root with only the venv on PATH
(no make, no CONTAINERS_CONF or ANSIBLE_CONFIG: molecule's base config, .config/molecule/
config.yml, carries what podman and Ansible need). One role's scenario: check on a fresh
instance, converge, idempotence, the shared verification suite.

A host test (its instances are the "molecule" environment of tests/lanes.py), so `make test`
runs it in a lane beside the other host tests instead of after them; `make molecule-suite`
runs the same command on its own, `make molecule` every scenario."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from provisioner import paths

pytestmark = pytest.mark.hosts("molecule")

SCENARIO = "common"
# What the Makefile exports for the other targets: a user's shell has none of them.
MAKE_ONLY = ("CONTAINERS_CONF", "ANSIBLE_CONFIG")


def test_molecule_test_runs_the_whole_sequence_with_only_the_venv() -> None:
    env = {k: v for k, v in os.environ.items() if k not in MAKE_ONLY}
    env["PATH"] = f"{paths.REPO / '.venv' / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    done = subprocess.run(
        ["molecule", "test", "-s", SCENARIO],
        cwd=paths.REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    out = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)  # molecule colours its log
    assert done.returncode == 0, out[-6000:]
    for action in ("check", "converge", "idempotence", "verify"):
        done_ok = rf"{SCENARIO} ➜ {action}: Executed: Successful"
        assert re.search(done_ok, out), (action, out[-4000:])
    assert re.search(r"=+ [1-9]\d* passed", out), out[-4000:]  # the suite ran and passed
    assert "glob failed" not in out  # the noise a scenario-less base config used to print
