"""Which Ansible strategy plugin runs the playbooks: mitogen's when installed (it is in
requirements.txt), else Ansible's own `linear`.

Mitogen runs each task through one long-lived Python interpreter per host instead of copying and
starting a module per task, which cuts a no-op task from ~0.3 s to ~0.1 s per host on our
machines. It is optional: ansible-core marks third-party strategy plugins deprecated, so
everything must keep working without it.

    PROVISION_STRATEGY=auto     mitogen if installed, else linear (the default)
    PROVISION_STRATEGY=mitogen  the same, but say so when falling back
    PROVISION_STRATEGY=linear   Ansible's own

The fault tests (a host stopped mid-run, a changed SSH host key, an unreachable host) pass with
either; mitogen words a changed host key differently, which the live display (cli/progress.py)
recognizes.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from pathlib import Path

from provisioner.errors import InputError

SWITCH = "PROVISION_STRATEGY"
CHOICES = ("auto", "mitogen", "linear")
DEFAULT = "auto"
MITOGEN_STRATEGY = "mitogen_linear"  # linear semantics (plays see every host), mitogen transport


def mitogen_plugins() -> Path | None:
    """Where mitogen's strategy plugins are, or None when mitogen is not installed."""
    spec = importlib.util.find_spec("ansible_mitogen")
    if spec is None or not spec.submodule_search_locations:
        return None
    plugins = Path(next(iter(spec.submodule_search_locations))) / "plugins" / "strategy"
    return plugins if (plugins / f"{MITOGEN_STRATEGY}.py").exists() else None


def settings(wanted: str | None = None) -> dict[str, str]:
    """Environment variables that select the strategy `wanted` (default: what $PROVISION_STRATEGY
    asks for) for an Ansible process."""
    return dict(_settings(wanted or os.environ.get(SWITCH, DEFAULT)))


@functools.cache  # one answer (and at most one warning) per process
def _settings(wanted: str) -> tuple[tuple[str, str], ...]:
    if wanted not in CHOICES:
        raise InputError(f"${SWITCH}={wanted!r}: expected one of {', '.join(CHOICES)}")
    if wanted == "linear":
        return ()
    plugins = mitogen_plugins()
    if plugins is None:
        if wanted == "mitogen":
            print(
                f"provision.py: ${SWITCH}=mitogen but mitogen is not installed: using linear",
                file=sys.stderr,
            )
        return ()
    return (("ANSIBLE_STRATEGY_PLUGINS", str(plugins)), ("ANSIBLE_STRATEGY", MITOGEN_STRATEGY))


def name() -> str:
    return settings().get("ANSIBLE_STRATEGY", "linear")
