"""scripts/stages.sh, `make test`'s stage runner, on a stub Makefile: stages in order, a
`NAME&` stage beside the next ones, every stage in the table, a failure anywhere fails the run
(the real targets run in CI)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from provisioner import paths

# `slow` ends by writing a file; `quick` says whether it was there yet.
STUB_MAKEFILE = """\
slow:
\t@sleep 2; echo slow output; touch slow.done
quick:
\t@test -e slow.done && echo 'slow was done' || echo 'slow still running'
broken:
\t@exit 3
"""


def stages(root: Path, *names: str) -> subprocess.CompletedProcess[str]:
    script = root / "scripts" / "stages.sh"
    if not script.exists():
        script.parent.mkdir()
        shutil.copy2(paths.REPO / "scripts" / "stages.sh", script)
        (root / "Makefile").write_text(STUB_MAKEFILE, encoding="utf-8")
    return subprocess.run(
        ["bash", str(script), *names], capture_output=True, text=True, check=False, timeout=60
    )


def table(out: str) -> dict[str, str]:
    """stage -> result, from the table at the end."""
    rows = out[out.rindex("stage             seconds") :].splitlines()[1:]
    return {m[1]: m[3] for row in rows if (m := re.match(r"(\S+)\s+(\d+)\s+(.*)", row))}


def test_a_background_stage_runs_beside_the_next_ones(tmp_path: Path) -> None:
    done = stages(tmp_path, "slow&", "quick")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "slow still running" in done.stdout
    assert "slow output" in done.stdout  # its output, printed when it ended
    assert table(done.stdout) == {"quick": "ok", "slow": "ok", "total": "(wall time)"}


def test_stages_without_the_mark_run_one_after_another(tmp_path: Path) -> None:
    done = stages(tmp_path, "slow", "quick")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "slow was done" in done.stdout


@pytest.mark.parametrize(
    ("names", "failed"),
    [(("slow&", "broken", "quick"), "broken"), (("broken&", "quick"), "broken")],
)
def test_a_failed_stage_fails_the_run_and_is_in_the_table(
    tmp_path: Path, names: tuple[str, ...], failed: str
) -> None:
    done = stages(tmp_path, *names)
    assert done.returncode != 0
    rows = table(done.stdout)
    assert rows[failed].startswith("failed"), rows
    if names[0] == "slow&":  # the run stopped at the failure, after waiting for the background
        assert "quick" not in rows
        assert rows["slow"] == "ok"
