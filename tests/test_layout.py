"""The package's layout holds: every module imports alone (no import cycle), and every import of
ours, at module or function level, goes down the layers provisioner.LAYERS declares."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import provisioner
from provisioner import paths

PACKAGE = paths.REPO / "provisioner"


def module_name(path: Path) -> str:
    parts = path.relative_to(paths.REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(
    module_name(path) for path in PACKAGE.rglob("*.py") if path.name != "__main__.py"
)  # __main__ runs the command line when imported: it is the front end's, checked below


def layer(module: str) -> str | None:
    """provisioner.run.remote -> run; provisioner.paths -> paths; provisioner -> None."""
    parts = module.split(".")
    if parts[0] != "provisioner" or len(parts) == 1:
        return None
    return "cli" if parts[1] == "__main__" else parts[1]


def imported(source: str, module: str) -> set[str]:
    """Every provisioner module `source` (the text of `module`) imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from provisioner.run import remote` imports provisioner.run.remote
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                is_module = candidate.startswith("provisioner") and (
                    (paths.REPO / (candidate.replace(".", "/") + ".py")).is_file()
                    or (paths.REPO / candidate.replace(".", "/") / "__init__.py").is_file()
                )
                found.add(candidate if is_module else node.module)
    return {name for name in found if name.split(".")[0] == "provisioner" and name != module}


def wrong_way(source: str, module: str) -> list[str]:
    """The imports of `module` that go up the layers, or sideways into another subpackage."""
    own = layer(module)
    if own is None:
        return []
    problems = []
    for target in sorted(imported(source, module)):
        theirs = layer(target)
        if theirs is None or theirs == own:
            continue
        if provisioner.LAYERS[theirs] >= provisioner.LAYERS[own]:
            problems.append(f"{module} imports {target} ({own} may not import {theirs})")
    return problems


def test_every_module_and_subpackage_has_a_declared_layer() -> None:
    for module in MODULES:
        assert layer(module) is None or layer(module) in provisioner.LAYERS, module


def test_imports_go_down_the_layers() -> None:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        problems += wrong_way(path.read_text(), module_name(path))
    assert problems == []


def test_the_check_sees_an_import_up_the_layers_even_inside_a_function() -> None:
    source = "def f():\n    from provisioner.cli import commands\n"
    assert wrong_way(source, "provisioner.run.runner") == [
        "provisioner.run.runner imports provisioner.cli.commands (run may not import cli)"
    ]
    sideways = "from provisioner.ledger.ledger import Ledger\n"
    assert wrong_way(sideways, "provisioner.hosts.execnodes") != []


def test_every_module_imports_alone() -> None:
    """Each in a clean sys.modules (ours only: third-party modules may stay loaded), so a cycle
    shows whichever module of it comes first."""
    script = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] == 'provisioner']:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        print(f'{name}: {type(exc).__name__}: {exc}')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=paths.REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
