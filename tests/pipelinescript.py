"""scripts/pipeline.sh read as text: its top-level arrays (which stages exist, which `local`
runs), for the tests of the CI workflow's wiring and of the pipeline run on real hosts."""

from __future__ import annotations

import re
from pathlib import Path

PIPELINE = Path(__file__).resolve().parent.parent / "scripts" / "pipeline.sh"


def script_array(name: str) -> list[str]:
    """A bash array assigned at the top level of pipeline.sh: NAME=(a b c)."""
    found = re.search(rf"^{name}=\(([^)]*)\)$", PIPELINE.read_text(encoding="utf-8"), re.M)
    assert found, f"{PIPELINE} has no {name}=(...)"
    return found.group(1).split()
