#!/usr/bin/env python3
"""Ansible vault password client: prints the password of the vault id Ansible asks for.

ansible.cfg lists this script once per environment (vault_identity_list), so plain
`ansible-playbook -i inventories/ENV playbooks/site.yml`, provision.py and an execution node all
open an environment's secrets the same way. The password comes from the file named by
$PROVISION_VAULT_PASSWORD_FILE_<ENV>, else from .state/vault/<env>.password (what provisioner/
secrets.py reads and makes for local environments). Standard library only: Ansible may run it
with any python3.

An environment whose password is not on this machine (prod, on a laptop) gets a throw-away
value instead of an error: Ansible asks for every listed id on every run, and failing would stop
runs that never touch that environment. Opening its secrets then fails with Ansible's own
"Decryption failed" on the file.
"""

import os
import secrets
import sys
from pathlib import Path

STATE = Path(__file__).resolve().parent.parent / ".state"


def main(argv: list[str]) -> int:
    if "--vault-id" not in argv[:-1]:
        print("usage: vault-password-client.py --vault-id ENV", file=sys.stderr)
        return 2
    env = argv[argv.index("--vault-id") + 1]
    override = os.environ.get(f"PROVISION_VAULT_PASSWORD_FILE_{env.upper()}")
    source = Path(override) if override else STATE / "vault" / f"{env}.password"
    try:
        password = source.read_text().strip()
    except OSError:
        password = ""
    if not password:
        print(f"vault-password-client: no password for {env} in {source}", file=sys.stderr)
        password = "unavailable-" + secrets.token_hex(16)
    print(password)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
