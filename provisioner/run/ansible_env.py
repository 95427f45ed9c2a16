"""The environment of every Ansible process, here or on an execution node."""

from __future__ import annotations

from provisioner import paths
from provisioner.run import strategy


def ansible_env(
    strategy_wanted: str | None = None,
    *,
    config: str = str(paths.ANSIBLE_CFG),
    strategy_plugins: str | None = None,
) -> dict[str, str]:
    """The repo's ansible.cfg (`config`: where it is, wherever we run from), host keys checked,
    and the strategy `strategy_wanted` (default: the one $PROVISION_STRATEGY names), its plugins
    at `strategy_plugins` when given (an execution node's own copy of mitogen's)."""
    chosen = strategy.settings(strategy_wanted)
    if strategy_plugins is not None and "ANSIBLE_STRATEGY_PLUGINS" in chosen:
        chosen["ANSIBLE_STRATEGY_PLUGINS"] = strategy_plugins
    return {
        "ANSIBLE_CONFIG": config,
        # ansible-runner turns host key checking off unless told otherwise; real servers'
        # keys must be checked (local containers opt out in their inventory).
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        **chosen,
    }
