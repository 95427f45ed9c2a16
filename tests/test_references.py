"""Every place outside Python's import system that names a file or module of this repo still
names one that exists: playbooks that run `from provisioner.hosts import execnodes`, comments that
say where a fact lives (`provisioner/run/remote.py`), the README's paths. A move of a module
that forgets one of them fails here, in seconds, not in molecule on CI."""

from __future__ import annotations

import importlib
import re
import subprocess
from pathlib import Path

import pytest

from provisioner import paths

# A repo path with a directory part, ending in one of the suffixes the repo's files have.
PATH_REFERENCE = re.compile(
    r"(?<![\w./${}-])((?:provisioner|tests|scripts|roles|playbooks|bench|loadtest|hosts|molecule"
    r"|verification|group_vars|inventories)/[\w/.-]*\w\.(?:py|yml|yaml|sh|j2|cfg|conf|toml))\b"
)
# `from provisioner.x import y` and dotted names such as provisioner.deploy.loadgate
FROM_IMPORT = re.compile(r"\bfrom (provisioner(?:\.\w+)*) import (\w+)")
DOTTED = re.compile(r"(?<![\w./-])(provisioner(?:\.[a-z_]+)+)\b")


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=paths.REPO, capture_output=True, check=True
    ).stdout.split(b"\0")
    found = []
    for name in listed:
        path = paths.REPO / name.decode()
        # this file holds stale references on purpose, as the checks' own examples
        if not name or not path.is_file() or path.is_symlink() or path == Path(__file__):
            continue
        try:
            path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        found.append(path)
    return found


FILES = tracked_text_files()


def missing_paths(text: str) -> list[str]:
    """Repo paths named in `text` that do not exist (globs and placeholders are not paths)."""
    return sorted(
        {
            ref
            for ref in PATH_REFERENCE.findall(text)
            if "*" not in ref and not (paths.REPO / ref).exists()
        }
    )


def resolves(dotted: str) -> bool:
    """provisioner.a.b: a module, or an attribute of the longest module prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        target: object = module
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


def unresolved_names(text: str) -> list[str]:
    names = {f"{module}.{name}" for module, name in FROM_IMPORT.findall(text)}
    names |= set(DOTTED.findall(text))
    return sorted(name for name in names if not resolves(name))


def test_the_checks_see_a_stale_reference() -> None:
    stale = "import json; from provisioner import execnodes\n# see provisioner/approval.py\n"
    assert unresolved_names(stale) == ["provisioner.execnodes"]
    assert missing_paths(stale) == ["provisioner/approval.py"]
    fine = "from provisioner.hosts import execnodes  # provisioner/hosts/execnodes.py\n"
    assert unresolved_names(fine) == []
    assert missing_paths(fine) == []
    # a container label is not a module, a glob or a `$VAR/...` path is not a repo path
    assert unresolved_names("LABEL io.provisioner.image=host") == []
    assert missing_paths("roles/*/meta/argument_specs.yml ${ROOT}/roles/x.yml") == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(paths.REPO)))
def test_every_named_file_and_module_exists(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert missing_paths(text) == []
    assert unresolved_names(text) == []
