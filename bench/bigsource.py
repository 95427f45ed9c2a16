"""A generated source of truth with N hosts per environment, for the scale benchmark."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import yaml

from provisioner import paths

# The capacity rule db_connections (group_vars/all.yml) holds an environment's app tier to
# PostgreSQL's max_connections with the worst values the parity contract admits (8 workers x 5
# connections each): two app hosts per environment, as in the shipped source. The rest are db
# and web hosts, which no rule counts; the work of loading and rendering is per host alike.
APP_HOSTS = 2
TIERS = {"db": 0.05, "web": 0.95}  # share of the other hosts in each group


def big_source(
    hosts_per_env: int, envs: tuple[str, ...] = ("qa", "staging", "prod")
) -> dict[str, Any]:
    base = yaml.safe_load(paths.DEFAULT_SOURCE.read_text())
    source: dict[str, Any] = {
        "groups": base["groups"],
        "parity": base["parity"],
        "environments": {},
    }
    for index, env in enumerate(envs):
        # one /20 per environment inside 198.18.0.0/15, room for 4000 hosts each; the first /20
        # is skipped: it holds 198.18.0.0/24, the controller's own (model.CONTROLLER_RANGE)
        slot = index + 1
        subnet = ipaddress.IPv4Network(f"198.{18 + slot // 16}.{(slot % 16) * 16}.0/20")
        hosts: dict[str, dict[str, Any]] = {
            f"{env}-app-{n + 1}": {"groups": ["app"]} for n in range(APP_HOSTS)
        }
        for tier, share in TIERS.items():
            for n in range(max(1, int((hosts_per_env - APP_HOSTS) * share))):
                hosts[f"{env}-{tier}-{n + 1}"] = {"groups": [tier]}
        source["environments"][env] = {
            "provider": {"kind": "local", "subnet": str(subnet)},
            "hosts": hosts,
            "vars": base["environments"][env]["vars"],
            **{
                key: base["environments"][env][key]
                for key in ("capacity", "load_gate", "promoted_from", "approval_required")
                if key in base["environments"][env]
            },
        }
    return source


def write_big_source(path: Path, hosts_per_env: int) -> Path:
    path.write_text(yaml.safe_dump(big_source(hosts_per_env), sort_keys=False))
    return path
