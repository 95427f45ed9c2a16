"""Generate per-environment inventories from the source of truth.

`render` is pure (model in, file contents out) and deterministic: groups and hosts are sorted,
so the same source always gives the same bytes. `write` replaces files atomically, after every
environment has rendered, so an error leaves inventories/ as it was. `check` compares.

Layout of one environment:
    inventories/<env>/hosts.yml     hosts, groups, per-environment values, connection settings
    inventories/<env>/group_vars -> ../../group_vars   the shared values, written once
Ansible reads group_vars/ only next to an inventory source or a playbook; the link is how the
root group_vars/ reaches every environment.

Connection settings (every `ansible_*` value) are plain values, never Jinja: tools that read an
inventory without rendering it (testinfra's ansible:// backend, `ansible-inventory --list`,
anything that turns it into an ssh command line) use them as they are. The files they name in
this repo are written relative to the repo root (`.state/ssh/id_ed25519`,
`known_hosts/<env>`), so the generated files are the same bytes in every checkout; ssh opens
them from its working directory, which is the repo root for every entry point: provision.py
(ansible-runner's project_dir is the repo), plain `ansible-playbook -i inventories/ENV` and
testinfra run from the repo root (as ansible.cfg's relative vault client already requires),
AWX (the project checkout), and an execution node (the job's project/ directory, where the job
carries the key and host keys at the same relative paths: provisioner/run/remote.py).

Per-environment values from the source (`vars:`) are data, not templates: every string in them
is written `!unsafe`, so Ansible never renders it (a `{{ lookup('pipe', ...) }}` there would run
on the controller). A variable whose parity rule says `template: true` is written as it is, and
Ansible renders it. Read a generated inventory with `InventoryLoader`, which knows the tag.
"""

from __future__ import annotations

import configparser
import os
import shlex
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from provisioner import paths
from provisioner.errors import InputError
from provisioner.source import capacity, parity, secrets, sharedvars
from provisioner.source.model import Environment, LoadedSource, LocalProvider, SshProvider

GROUP_VARS_LINK = os.path.join("..", "..", "group_vars")
# The key of local hosts, relative to the repo root (the working directory of every entry
# point; see above): the same bytes in every checkout, and a path ssh opens as it is.
LOCAL_KEY = paths.SSH_KEY.relative_to(paths.REPO).as_posix()
# The public half of whichever key the tool connects with, for the deploy user. Not a connection
# setting, so Ansible renders it; its file lookup would search a relative path in the role's
# and playbook's directories, not where ssh looks, so the key's directory is made absolute
# first (realpath: from the working directory, as ssh resolves it) and the file name kept as
# it is (a key that is a link still finds the .pub next to the link).
DEPLOY_KEY = (
    "{{ lookup('ansible.builtin.file', (ansible_ssh_private_key_file | expanduser | dirname"
    " | realpath) ~ '/' ~ (ansible_ssh_private_key_file | basename) ~ '.pub') }}"
)
# Local hosts are recreated at will, so their host keys change: checking them means nothing.
LOCAL_SSH_ARGS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"


def known_hosts_file(env_name: str) -> str:
    """Where a real environment's reviewed host keys are (hostkeys.known_hosts, written by
    `provision.py trust ENV`), relative to the repo root, as its inventory names them."""
    return f"known_hosts/{env_name}"


@dataclass(frozen=True)
class Generated:
    """What one environment's inventory directory must hold."""

    env: str
    files: dict[str, str]  # name -> content
    links: dict[str, str]  # name -> link target

    @property
    def directory(self) -> Path:
        return paths.INVENTORIES / self.env


UNSAFE_TAG = "!unsafe"  # Ansible's tag for a string it must never template


class Unsafe(str):
    """A string Ansible must take as it is: written, and read back, as `!unsafe 'text'`."""

    __slots__ = ()


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc] # libyaml's if there
    """The safe dumper, which also writes Unsafe strings with their tag."""


_Dumper.add_representer(Unsafe, lambda dumper, text: dumper.represent_scalar(UNSAFE_TAG, str(text)))


class InventoryLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader, which also reads `!unsafe` strings (as Unsafe): what a generated
    inventory needs. yaml.safe_load refuses the tag."""


InventoryLoader.add_constructor(
    UNSAFE_TAG, lambda loader, node: Unsafe(loader.construct_scalar(node))
)


def parse_generated(text: str) -> Any:
    """A generated inventory's data (its `!unsafe` strings as Unsafe)."""
    return yaml.load(text, Loader=InventoryLoader)  # noqa: S506 - a safe loader, plus one string tag


def _as_data(value: Any) -> Any:
    """`value` with every string in it Unsafe, however deep."""
    if isinstance(value, str):
        return Unsafe(value)
    if isinstance(value, list):
        return [_as_data(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_data(item) for key, item in value.items()}
    return value  # int, float, bool, None: nothing to template


def source_values(loaded: LoadedSource, values: dict[str, Any]) -> dict[str, Any]:
    """Per-environment values as the inventory holds them: data, unless the parity contract
    opts the variable into templating (`template: true`)."""
    contract = loaded.source.parity
    return {
        name: value if name in contract and contract[name].template else _as_data(value)
        for name, value in sorted(values.items())
    }


def header(loaded: LoadedSource) -> str:
    return f"# generated from {paths.display(loaded.path)} - do not edit\n"


def render(loaded: LoadedSource, env_name: str) -> Generated:
    env = loaded.source.environments[env_name]
    children: dict[str, Any] = {}
    addresses = env.addresses()
    for group in sorted(loaded.source.groups):
        entry: dict[str, Any] = {
            "hosts": {host: _host_vars(env, host, addresses) for host in env.hosts_in(group)}
        }
        if env.vars.get(group):
            entry["vars"] = source_values(loaded, env.vars[group])
        children[group] = entry
    all_vars = _all_vars(env_name, env)
    all_vars.update(source_values(loaded, env.vars.get("all", {})))
    inventory = {"all": {"vars": all_vars, "children": children}}
    body = yaml.dump(
        inventory,
        Dumper=_Dumper,  # libyaml: same text, faster
        sort_keys=False,
        default_flow_style=False,
        width=100,
    )
    return Generated(
        env=env_name,
        files={"hosts.yml": header(loaded) + "---\n" + body},
        links={"group_vars": GROUP_VARS_LINK},
    )


def _host_vars(env: Environment, host: str, addresses: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {"ansible_host": addresses[host]}
    minimums = env.minimums(host)
    if minimums:  # checked by the pre-flight play of site.yml
        values["provisioner_min_capacity"] = minimums
    return values


def _all_vars(env_name: str, env: Environment) -> dict[str, Any]:
    values: dict[str, Any] = {
        "provisioner_environment": env_name,
        "provisioner_provider": env.provider.kind,
    }
    if isinstance(env.provider, LocalProvider):
        values.update(
            ansible_user="root",
            ansible_ssh_private_key_file=LOCAL_KEY,
            ansible_ssh_common_args=LOCAL_SSH_ARGS,
            # The same, said the way every connection plugin reads it (mitogen ignores the ssh
            # arguments above when deciding whether to check keys).
            ansible_host_key_checking=False,
        )
    elif isinstance(env.provider, SshProvider):
        values.update(
            ansible_user=env.provider.user,
            ansible_ssh_private_key_file=env.provider.key,
            ansible_port=env.provider.port,
            ansible_host_key_checking=True,
            # Real servers: host keys are checked against the reviewed known_hosts/<env>
            # (`provision.py trust ENV`), never accepted blindly.
            ansible_ssh_common_args=(
                f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile={known_hosts_file(env_name)}"
            ),
        )
    # The vault-encrypted secrets, loaded by the plays that need them (see secrets.py). Not a
    # connection setting: vars_files resolves a relative path against the playbook's directory,
    # so Ansible renders this one from the inventory's place.
    values[secrets.SECRETS_VAR] = "{{ inventory_dir | dirname | dirname }}/" + (
        secrets.inventory_file(env_name, env)
    )
    values["provisioner_deploy_keys"] = [DEPLOY_KEY]
    values.update(sorted(env.vars.get("all", {}).items()))
    return values


def ssh_command(env_name: str, env: Environment, host: str) -> tuple[list[str], str]:
    """`ssh [options] -- user@address` to `host` with exactly the generated inventory's connection
    settings, for what reaches a host without Ansible (the incremental apply's reading); and the
    user. Run it from the repo root, like every other entry point (the module's docstring)."""
    values = _all_vars(env_name, env)
    argv = ["ssh", "-i", str(values["ansible_ssh_private_key_file"])]
    argv += shlex.split(str(values["ansible_ssh_common_args"]))
    if "ansible_port" in values:
        argv += ["-p", str(values["ansible_port"])]
    user = str(values["ansible_user"])
    # "--": the destination is never read as an option, whatever the source says
    return [*argv, "--", f"{user}@{env.addresses()[host]}"], user


def render_all(loaded: LoadedSource, envs: list[str] | None = None) -> list[Generated]:
    names = envs or list(loaded.source.environments)
    sharedvars.check_no_overlap(loaded, sharedvars.load())
    layers = parity.Layers(loaded)
    parity.enforce(loaded, layers)
    capacity.check(loaded, layers)
    for name in names:
        loaded.environment(name)  # unknown names are an input error before anything is written
    return [render(loaded, name) for name in names]


def write(generated: list[Generated]) -> list[Path]:
    """Write every file whose content differs; returns the paths that changed."""
    for gen in generated:  # all checked before anything is written
        _nothing_in_the_way(gen)
    changed: list[Path] = []
    for gen in generated:
        gen.directory.mkdir(parents=True, exist_ok=True)
        for name, content in gen.files.items():
            target = gen.directory / name
            if _read(target) != content:
                _atomic_write(target, content)
                changed.append(target)
        for name, link in gen.links.items():
            target = gen.directory / name
            if not (target.is_symlink() and os.readlink(target) == link):
                _atomic_link(target, link)
                changed.append(target)
    return changed


def generate(loaded: LoadedSource, envs: list[str] | None, say: Callable[[str], None]) -> None:
    """(Re)generate the inventories of `envs` (None: every environment), saying each file
    written."""
    for path in write(render_all(loaded, envs)):
        say(f"wrote {paths.display(path)}")


def check(generated: list[Generated]) -> list[str]:
    """Differences between what is on disk and what the source produces now."""
    problems: list[str] = []
    for gen in generated:
        in_the_way = _in_the_way(gen)
        if in_the_way:
            problems += in_the_way
            continue
        for name, content in gen.files.items():
            target = gen.directory / name
            current = _read(target)
            if current is None:
                problems.append(f"{paths.display(target)}: missing")
            elif current != content:
                problems.append(f"{paths.display(target)}: differs from what the source produces")
        for name, link in gen.links.items():
            target = gen.directory / name
            if not (target.is_symlink() and os.readlink(target) == link):
                problems.append(f"{paths.display(target)}: must be a link to {link}")
        for extra in sorted(_unexpected(gen)):
            problems.append(f"{paths.display(gen.directory / extra)}: not generated; remove it")
        if gen.env not in vault_ids():
            problems.append(
                f"ansible.cfg: vault_identity_list has no `{gen.env}@scripts/"
                "vault-password-client.py`: Ansible could not open its secrets"
            )
    return problems


def _in_the_way(gen: Generated) -> list[str]:
    """What stands where a generated file, link or directory goes and is not one (a hand-made
    directory where the group_vars link goes, a file where the directory goes): the tool
    replaces its own files and links, never someone's directory or file of another kind."""
    directory = gen.directory
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        return [f"{paths.display(directory)}: not a directory; remove it and run again"]
    found = []
    for name in sorted(gen.files):
        target = directory / name
        if target.is_symlink() or (target.exists() and not target.is_file()):
            found.append(f"{paths.display(target)}: not a regular file; remove it and run again")
    for name, link in sorted(gen.links.items()):
        target = directory / name
        if target.exists() and not target.is_symlink():
            found.append(
                f"{paths.display(target)}: must be a link to {link}; remove it and run again"
            )
    return found


def _nothing_in_the_way(gen: Generated) -> None:
    found = _in_the_way(gen)
    if found:
        raise InputError(found[0])


def vault_ids() -> set[str]:
    """The vault ids ansible.cfg asks the vault client for."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(paths.ANSIBLE_CFG)
    listed = config.get("defaults", "vault_identity_list", fallback="")
    return {entry.split("@", 1)[0].strip() for entry in listed.split(",") if "@" in entry}


def _unexpected(gen: Generated) -> set[str]:
    if not gen.directory.is_dir():
        return set()
    return {p.name for p in gen.directory.iterdir()} - set(gen.files) - set(gen.links)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError, IsADirectoryError):
        return None


def _atomic_write(target: Path, content: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_link(target: Path, link: str) -> None:
    tmp = target.parent / f".{target.name}.tmp-link"
    tmp.unlink(missing_ok=True)
    os.symlink(link, tmp)
    os.replace(tmp, target)
