"""Per-environment secrets, kept in ansible-vault files with one vault id per environment.

Where an environment's secrets live:
  secrets/<env>.yml             committed, encrypted with vault id <env> (real environments)
  .state/secrets/<env>.yml      made on first use for local environments (random values)
$PROVISION_SECRETS_FILE_<ENV> names another file instead of secrets/<env>.yml.
The vault password comes from $PROVISION_VAULT_PASSWORD_FILE_<ENV> (upper case), else from
.state/vault/<env>.password (made for local environments). Each environment has its own
password, so staging's cannot open prod's file.

How Ansible finds them without provision.py (AWX, plain ansible-playbook): the generated
inventory names the secrets file (`provisioner_secrets_file`), the plays that need secrets load
it (`vars_files`), and ansible.cfg asks scripts/vault-password-client.py for each environment's
password. provision.py names the vault id and password file itself (Vault.cmdline).
"""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from provisioner import paths
from provisioner.errors import InputError
from provisioner.source.model import Environment, LocalProvider

# What every environment's vault holds; local environments get random values.
REQUIRED = ("vault_csapp_db_password",)
MIN_SECRET = 6  # shorter values would be masked all over unrelated text


SECRETS_VAR = "provisioner_secrets_file"  # set by the generated inventory, read by the plays


def inventory_file(env_name: str, env: Environment) -> str:
    """Where the generated inventory says the secrets are, relative to the repo."""
    if isinstance(env.provider, LocalProvider):
        return f".state/secrets/{env_name}.yml"
    return f"secrets/{env_name}.yml"


@dataclass(frozen=True)
class Vault:
    env: str
    file: Path
    password_file: Path
    inventory_file: str  # where the inventory expects `file`, relative to the repo

    def cmdline(self) -> list[str]:
        """Arguments for ansible-playbook: the vault id and its password file, spelled out so
        that any environment opens (ansible.cfg lists only the shipped ones), and the secrets'
        path when it is not where the inventory says."""
        vault_id = ["--vault-id", f"{self.env}@{self.password_file}"]
        if self.file == paths.REPO / self.inventory_file:
            return vault_id
        return [*vault_id, "-e", f"{SECRETS_VAR}={self.file}"]


def default_password_file(env_name: str) -> Path:
    """Where the password is when no variable names it (scripts/vault-password-client.py looks
    there too)."""
    return paths.STATE / "vault" / f"{env_name}.password"


def password_file(env_name: str) -> Path:
    override = os.environ.get(f"PROVISION_VAULT_PASSWORD_FILE_{env_name.upper()}")
    return Path(override) if override else default_password_file(env_name)


def vault_for(env_name: str, env: Environment) -> Vault:
    # CI systems often mount secrets elsewhere: $PROVISION_SECRETS_FILE_<ENV> names the file.
    override = os.environ.get(f"PROVISION_SECRETS_FILE_{env_name.upper()}")
    expected = inventory_file(env_name, env)
    committed = Path(override) if override else paths.REPO / "secrets" / f"{env_name}.yml"
    password = password_file(env_name)
    if committed.exists():
        if not password.exists() and not password.is_symlink():
            raise InputError(
                f"no vault password for {env_name}: put it in {password} or name a file in "
                f"PROVISION_VAULT_PASSWORD_FILE_{env_name.upper()}"
            )
        if password == default_password_file(env_name):
            paths.state_dir("vault")  # the directory too: ours, no link
            paths.check_private_file(password)
        return Vault(env_name, committed.resolve(), password, expected)
    if not isinstance(env.provider, LocalProvider):
        raise InputError(
            f"environment {env_name!r} has no secrets: create secrets/{env_name}.yml with "
            f"`ansible-vault create --vault-id {env_name}@PASSWORD_FILE secrets/{env_name}.yml` "
            f"holding {', '.join(REQUIRED)}"
        )
    return _local_vault(env_name, password, expected)


def _local_vault(env_name: str, password: Path, expected: str) -> Vault:
    file = paths.state_dir("secrets") / f"{env_name}.yml"
    own = password == default_password_file(env_name)
    if own:
        paths.state_dir("vault")
    if not password.exists() and not password.is_symlink():
        # new=True: created here or refused, never written through a link planted there
        paths.write_private(password, secrets.token_urlsafe(32) + "\n", new=True)
        file.unlink(missing_ok=True)  # a vault we can no longer open is worthless
    elif own:
        # The tool's own password: a link there is refused, a mode open to others said and
        # closed. (One named by PROVISION_VAULT_PASSWORD_FILE_<ENV> is the user's to keep.)
        paths.check_private_file(password)
    if not file.exists():
        values = {name: secrets.token_urlsafe(24) for name in REQUIRED}
        encrypt(env_name, password, yaml.safe_dump(values), file)
    return Vault(env_name, file, password, expected)


def encrypt(env_name: str, password: Path, plaintext: str, target: Path) -> None:
    tmp = target.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)  # a link planted there would send the output elsewhere
    subprocess.run(
        [
            "ansible-vault",
            "encrypt",
            "--vault-id",
            f"{env_name}@{password}",
            "--encrypt-vault-id",
            env_name,
            "--output",
            str(tmp),
            "-",
        ],
        input=plaintext,
        text=True,
        check=True,
        capture_output=True,
    )
    tmp.chmod(0o600)
    tmp.replace(target)


def values(vault: Vault) -> list[str]:
    """The decrypted secret values, so that they can be removed from anything we record."""
    # Imported here: ansible's vault module is slow to import and only runs need it.
    from ansible.parsing.vault import VaultLib, VaultSecret  # noqa: PLC0415

    secret = VaultSecret(vault.password_file.read_bytes().strip())
    plain = VaultLib([(vault.env, secret)]).decrypt(vault.file.read_bytes())
    data = yaml.safe_load(plain) or {}
    return [str(v) for v in data.values() if v is not None and len(str(v)) >= MIN_SECRET]
