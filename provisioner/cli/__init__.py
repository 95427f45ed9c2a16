"""The front end: `provision.py` parses its arguments (arguments.py), hands them to one thin
handler per command (commands.py: the deploy commands call deploy/workflow.py), and shows what
happens with rich (observer.py: the workflow's observer; progress.py: the live display;
tables.py: every table and report). Errors become one line and an exit code here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.text import Text

from provisioner import paths
from provisioner.cli import commands, trusted
from provisioner.cli.arguments import build_parser, with_default_command
from provisioner.deploy.observer import printable
from provisioner.errors import (
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    InputError,
    LedgerError,
    ProvisionerError,
)


def _tools_on_path() -> None:
    """ansible-playbook, ansible-inventory and pytest sit next to our Python: find them there
    even when the venv is not activated."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])


def main(argv: Sequence[str] | None = None) -> int:
    _tools_on_path()
    # Everything we write is private unless we say otherwise (run artifacts, vaults, ledger);
    # generated inventories and the public key are made world-readable on purpose.
    os.umask(0o077)
    args = build_parser().parse_args(
        with_default_command(list(sys.argv[1:] if argv is None else argv))
    )
    console = Console(stderr=False, highlight=False)
    # One error is one line, however long: never wrapped, so file:line: stays greppable.
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        code = commands.run(args, console)
    except (LedgerError, InputError) as exc:  # nothing was written: no checkpoint to sign
        errors.print(Text.assemble(("error: ", "bold red"), printable(exc)))
        return exc.exit_code
    except ProvisionerError as exc:
        errors.print(Text.assemble(("error: ", "bold red"), printable(exc)))
        code = exc.exit_code  # a refused run was recorded too: its head is signed below
    except paths.UnsafePathError as exc:  # raised below the errors layer: a setup to fix
        errors.print(Text.assemble(("error: ", "bold red"), printable(exc)))
        return EXIT_INPUT
    except KeyboardInterrupt:
        errors.print(Text("interrupted", style="bold red"))
        return EXIT_INTERRUPTED
    # On stdout: stderr holds the one error line of a refusal.
    trusted.sign_ledger_head(args, console)
    return code
