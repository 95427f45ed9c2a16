"""Replace in a fingerprint what is specific to a host or an environment by design, so that the
same setup compares equal: across the hosts of one group, and across environments.

Replaced, longest first so that no name is cut inside a longer one:
    the host's own name and address          <self>, <self.ip>
    its peers' names and addresses          <db[0]>, <db[0].ip>  (group, index in that group)
    the environment's name, subnet, gateway  <env>, <subnet>, <gateway>
The values of the variables the parity contract lets differ are not replaced here: compare.py
puts them in only on the lines that differ (replacing "2" everywhere would hide real changes).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from provisioner.live.hostprint import HostPrint
from provisioner.source.model import Environment, LocalProvider

GATEWAY_OFFSET = 1  # podman's gateway on a local environment's subnet


@dataclass(frozen=True)
class Normaliser:
    pattern: re.Pattern[str] | None
    tokens: dict[str, str]

    def text(self, value: str) -> str:
        if self.pattern is None:
            return value
        return self.pattern.sub(lambda m: self.tokens[m.group(0)], value)

    def hostprint(self, printed: HostPrint) -> HostPrint:
        return {
            kind: {self.text(name): self.text(value) for name, value in items.items()}
            for kind, items in printed.items()
        }


def names(env: Environment) -> dict[str, str]:
    """Each host's placeholder: its first group and its index there (<app[1]>)."""
    found: dict[str, str] = {}
    for host in sorted(env.hosts):
        group = env.hosts[host].groups[0]
        found[host] = f"<{group}[{env.hosts_in(group).index(host)}]>"
    return found


def for_host(env_name: str, env: Environment, host: str) -> Normaliser:
    tokens: dict[str, str] = {}
    addresses = env.addresses()
    for peer, token in names(env).items():
        placeholder = "<self>" if peer == host else token
        tokens[peer] = placeholder
        if peer in addresses:
            tokens[addresses[peer]] = placeholder[:-1] + ".ip>"
    if isinstance(env.provider, LocalProvider):
        subnet = env.provider.subnet
        tokens[str(subnet)] = "<subnet>"
        tokens[str(subnet.network_address + GATEWAY_OFFSET)] = "<gateway>"
    tokens[env_name] = "<env>"
    return Normaliser(_pattern(tokens), tokens)


def _pattern(tokens: dict[str, str]) -> re.Pattern[str] | None:
    if not tokens:
        return None
    parts = []
    for literal in sorted(tokens, key=len, reverse=True):
        escaped = re.escape(literal)
        if _is_address(literal):  # 198.18.2.1 must not match inside 198.18.2.10
            parts.append(rf"(?<![\w.]){escaped}(?![\w]|\.\d)")
        else:  # a name: not inside a longer word or name (qa inside "aqua", app-1 in app-10)
            parts.append(rf"(?<![\w-]){escaped}(?![\w]|-\w)")
    return re.compile("|".join(parts))


def _is_address(literal: str) -> bool:
    try:
        ipaddress.ip_network(literal, strict=False)
    except ValueError:
        return False
    return True
