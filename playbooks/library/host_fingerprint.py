#!/usr/bin/python
"""Everything that makes a host what it is, read in one module run (one round trip per host).

Read-only. The controller (provisioner/live/) normalises and compares what this returns; here
only raw facts are gathered, as strings, so that any two hosts compare key by key.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import platform
import pwd
import socket
import stat
import subprocess
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: host_fingerprint
short_description: Read a host's packages, units, sockets, kernel settings, users and config
description:
  - One pass over the host, read-only: OS release, architecture, kernel, CPUs and memory,
    timezone and locale, installed packages with versions, systemd units (file state and active
    state), listening sockets (protocol, address, port, processes), all readable sysctl values,
    local users and groups, and the content of configuration files.
  - Files read are I(files) (what the roles manage) and every file under I(walk) that dpkg does
    not own, or owns as a conffile changed from the package's version.
  - Values of I(secrets) are masked wherever they appear (the parameter is no_log, and Ansible
    removes its values from the whole result).
options:
  files:
    description: Paths always read (absent ones are reported absent).
    type: list
    elements: path
    default: []
  walk:
    description: Directories whose unowned or changed files are read.
    type: list
    elements: path
    default: [/etc]
  ignore:
    description: What is left out, by kind (files, sysctl, units_active); shell patterns.
    type: dict
    default: {}
  probes:
    description: Name -> argv of read-only commands whose output is the service's effective
      configuration; an argv whose program is missing is reported as such.
    type: dict
    default: {}
  packages:
    description: The packages the roles install; returned in I(manifest), for a later reading
      of just what the roles manage (every package is in the fingerprint).
    type: list
    elements: str
    default: []
  services:
    description: The systemd units the roles manage; returned in I(manifest) with I(files),
      I(probes) and I(packages), for a later reading of just those (every unit's state is in
      the fingerprint).
    type: list
    elements: str
    default: []
  secrets:
    description: Values to mask in everything returned.
    type: list
    elements: str
    default: []
  max_size:
    description: Files larger than this many bytes are reported by digest only.
    type: int
    default: 262144
"""

RETURN = r"""
fingerprint:
  description: kind -> name -> value (all strings).
  returned: always
  type: dict
manifest:
  description: The I(files), I(probes), I(packages) and I(services) it was given, as rendered
    for this host.
  returned: always
  type: dict
"""

PROBE_TIMEOUT = 30  # seconds; a probe that hangs must not hang the whole run
DPKG = "/var/lib/dpkg"
# Field counts and positions of the formats read below.
CONFFILE_FIELDS = 2  # dpkg status "Conffiles:" lines: path md5 [obsolete]
STATE_FIELD = 1  # systemctl list-unit-files: unit state [preset]
ACTIVE_FIELD = 2  # systemctl list-units: unit load active sub description
STATE_COLUMN, INODE_FIELD = 3, 9  # /proc/net/{tcp,udp}[6]
PASSWD_FIELDS, GROUP_FIELDS = 7, 4


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def _system() -> dict[str, str]:
    release = {}
    for line in _read("/etc/os-release").splitlines():
        key, _, value = line.partition("=")
        release[key] = value.strip('"')
    meminfo = dict(
        line.split(":", 1) for line in _read("/proc/meminfo").splitlines() if ":" in line
    )
    locale = "\n".join(
        line
        for line in _read_or_empty("/etc/default/locale").splitlines()
        if not line.startswith("#")
    )
    return {
        "os": " ".join(release.get(key, "?") for key in ("ID", "VERSION_ID", "VERSION_CODENAME")),
        "architecture": platform.machine(),
        "kernel": platform.release(),
        "cpus": str(os.cpu_count()),
        "memory_mb": str(int(meminfo.get("MemTotal", "0 kB").split()[0]) // 1024),
        "timezone": _read_or_empty("/etc/timezone").strip(),
        "localtime": _link_or_empty("/etc/localtime"),
        "locale": locale.strip(),
    }


def _read_or_empty(path: str) -> str:
    try:
        return _read(path)
    except OSError:
        return ""


def _link_or_empty(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def _packages() -> dict[str, str]:
    """name -> version of every installed package, from dpkg's status file (dpkg-query's)."""
    found: dict[str, str] = {}
    for block in _read(f"{DPKG}/status").split("\n\n"):
        fields = _fields(block)
        if fields.get("Status", "").endswith(" installed"):
            name = fields["Package"]
            if name in found:  # multi-arch: the same name for two architectures
                name = f"{name}:{fields.get('Architecture', '')}"
            found[name] = fields.get("Version", "")
    return found


def _fields(block: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = ""
    for line in block.splitlines():
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def _owned() -> tuple[set[str], dict[str, str]]:
    """Every path dpkg owns, and the md5 it expects of each one it can vouch for (conffiles
    from the status file, the other files from the packages' md5sums)."""
    owned: set[str] = set()
    expected: dict[str, str] = {}
    info = f"{DPKG}/info"
    for name in os.listdir(info):
        if name.endswith(".list"):
            owned.update(_read(os.path.join(info, name)).splitlines())
        elif name.endswith(".md5sums"):
            for line in _read(os.path.join(info, name)).splitlines():
                digest, _, path = line.partition("  ")
                if path.startswith("etc/"):
                    expected["/" + path] = digest
    for block in _read(f"{DPKG}/status").split("\n\n"):
        for line in _fields(block).get("Conffiles", "").splitlines():
            parts = line.split()
            if len(parts) >= CONFFILE_FIELDS:  # path md5 [obsolete]
                expected[parts[0]] = parts[1]
    return owned, expected


def _content(path: str, max_size: int, *, private_ok: bool = False) -> str:
    """A file as text; a digest only when it is binary, large, or (unless `private_ok`)
    not readable by everyone: what root keeps to itself may be a secret, and never leaves."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return f"<symlink> {os.readlink(path)}"
    mode = f"<mode {stat.S_IMODE(info.st_mode):04o} {_owner(info)}>"
    with open(path, "rb") as handle:
        data = handle.read(max_size + 1)
    if not private_ok and not info.st_mode & stat.S_IROTH:
        return f"{mode}\n<private: sha256 {hashlib.sha256(data).hexdigest()}>"
    if len(data) > max_size or b"\0" in data:
        return f"{mode}\n<binary or large: sha256 {hashlib.sha256(data).hexdigest()}>"
    try:
        return f"{mode}\n{data.decode('utf-8')}"
    except UnicodeDecodeError:
        return f"{mode}\n<not utf-8: sha256 {hashlib.sha256(data).hexdigest()}>"


def _owner(info: os.stat_result) -> str:
    try:
        return pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        return str(info.st_uid)


def _md5(path: str) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _ignored(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _files(managed: list[str], walk: list[str], ignore: list[str], max_size: int) -> dict[str, str]:
    owned, expected = _owned()
    found: dict[str, str] = {}
    for path in managed:
        if _ignored(path, ignore):
            continue
        try:
            found[path] = _content(path, max_size, private_ok=True)  # its secrets are masked
        except FileNotFoundError:
            found[path] = "<absent>"
        except OSError as exc:
            found[path] = f"<unreadable: {exc.strerror}>"
    for top in walk:
        for root, dirs, names in os.walk(top):
            dirs.sort()
            for name in sorted(names):
                path = os.path.join(root, name)
                if path in found or _ignored(path, ignore):
                    continue
                try:
                    info = os.lstat(path)
                    if not (stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode)):
                        continue  # sockets, fifos: nothing to compare
                    if path in owned and (
                        stat.S_ISLNK(info.st_mode)
                        or path not in expected
                        or expected[path] == _md5(path)
                    ):
                        continue  # the package's own, unchanged
                    found[path] = _content(path, max_size)
                except OSError as exc:
                    found[path] = f"<unreadable: {exc.strerror}>"
    return found


def _units(ignore_active: list[str]) -> dict[str, str]:
    """unit -> 'file-state active-state' for services, sockets and timers."""
    types = "--type=service,socket,timer"
    files = _lines(["systemctl", "list-unit-files", types, "--no-legend", "--no-pager", "--plain"])
    loaded = _lines(
        ["systemctl", "list-units", types, "--all", "--no-legend", "--no-pager", "--plain"]
    )
    active = {
        parts[0]: parts[ACTIVE_FIELD]
        for parts in (line.split() for line in loaded)
        if len(parts) > ACTIVE_FIELD
    }
    found: dict[str, str] = {}
    for line in files:
        parts = line.split()
        if len(parts) <= STATE_FIELD or parts[0].endswith("@.service"):
            continue  # templates have no state of their own; their instances are listed
        name = parts[0]
        state = active.get(name, "inactive")
        state_file = parts[STATE_FIELD]
        found[name] = state_file if _ignored(name, ignore_active) else f"{state_file} {state}"
    for name, state in active.items():
        if name not in found and state != "inactive" and not _ignored(name, ignore_active):
            found[name] = f"- {state}"  # a running instance of a template, or a transient unit
    return found


def _lines(argv: list[str]) -> list[str]:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return done.stdout.splitlines()


def _sockets() -> dict[str, str]:
    """'proto address:port' -> the processes listening there."""
    inodes: dict[str, set[str]] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            comm = _read(f"/proc/{pid}/comm").strip()
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.setdefault(target[8:-1], set()).add(comm)
        except OSError:
            continue  # the process ended while we looked
    found: dict[str, str] = {}
    for proto, family, listening in (
        ("tcp", socket.AF_INET, "0A"),
        ("tcp6", socket.AF_INET6, "0A"),
        ("udp", socket.AF_INET, "07"),
        ("udp6", socket.AF_INET6, "07"),
    ):
        for line in _read_or_empty(f"/proc/net/{proto}").splitlines()[1:]:
            parts = line.split()
            if len(parts) <= INODE_FIELD or parts[STATE_COLUMN] != listening:
                continue
            if proto.startswith("udp") and not parts[2].endswith(":0000"):
                continue  # a connected UDP socket is a client, not a listener
            address, port = _address(parts[1], family)
            name = f"{proto} {address}:{port}"
            found[name] = " ".join(sorted(inodes.get(parts[INODE_FIELD], {"?"})))
    return found


def _address(hexed: str, family: int) -> tuple[str, int]:
    raw, port = hexed.split(":")
    data = bytes.fromhex(raw)
    # /proc/net prints each 32-bit word in host (little-endian) order
    words = b"".join(data[i : i + 4][::-1] for i in range(0, len(data), 4))
    return socket.inet_ntop(family, words), int(port, 16)


def _sysctl(ignore: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for root, dirs, names in os.walk("/proc/sys"):
        dirs.sort()
        for name in names:
            path = os.path.join(root, name)
            key = path[len("/proc/sys/") :].replace("/", ".")
            if _ignored(key, ignore):
                continue
            try:
                found[key] = " ".join(_read(path).split())
            except OSError:
                continue  # write-only or not readable in this namespace
    return found


def _accounts() -> tuple[dict[str, str], dict[str, str]]:
    users = {}
    for line in _read("/etc/passwd").splitlines():
        parts = line.split(":")
        if len(parts) == PASSWD_FIELDS:
            users[parts[0]] = f"uid={parts[2]} gid={parts[3]} home={parts[5]} shell={parts[6]}"
    groups = {}
    for line in _read("/etc/group").splitlines():
        parts = line.split(":")
        if len(parts) == GROUP_FIELDS:
            groups[parts[0]] = f"gid={parts[2]} members={parts[3]}"
    return users, groups


def _probes(probes: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, given in sorted(probes.items()):
        argv = [str(a) for a in given]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT, check=False
            )
        except FileNotFoundError:
            found[name] = f"<not installed: {argv[0]}>"
            continue
        except subprocess.TimeoutExpired:
            found[name] = "<timed out>"
            continue
        out = done.stdout if done.returncode == 0 else f"<exit {done.returncode}>\n{done.stderr}"
        found[name] = out.strip()
    return found


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "files": {"type": "list", "elements": "path", "default": []},
            "walk": {"type": "list", "elements": "path", "default": ["/etc"]},
            "ignore": {"type": "dict", "default": {}},
            "probes": {"type": "dict", "default": {}},
            "packages": {"type": "list", "elements": "str", "default": []},
            "services": {"type": "list", "elements": "str", "default": []},
            "secrets": {"type": "list", "elements": "str", "default": [], "no_log": True},
            "max_size": {"type": "int", "default": 262144},
        },
        supports_check_mode=True,
    )
    params = module.params
    ignore = {kind: [str(p) for p in patterns or []] for kind, patterns in params["ignore"].items()}
    users, groups = _accounts()
    fingerprint = {
        "system": _system(),
        "packages": _packages(),
        "units": _units(ignore.get("units_active", [])),
        "sockets": _sockets(),
        "sysctl": _sysctl(ignore.get("sysctl", [])),
        "users": users,
        "groups": groups,
        "files": _files(
            params["files"], params["walk"], ignore.get("files", []), params["max_size"]
        ),
        "settings": _probes(params["probes"]),
    }
    # Ansible masks the no_log secrets in the result; masking here too covers keys (paths).
    for value in params["secrets"]:
        if value:
            fingerprint = _mask(fingerprint, value)
    # What the roles manage here, rendered: the incremental apply reads these again without
    # Ansible (provisioner/incremental/onhost.py) to see whether the host is as it left it.
    manifest = {
        "files": sorted(set(params["files"])),
        "probes": params["probes"],
        "packages": sorted(set(params["packages"])),
        "services": sorted(set(params["services"])),
    }
    module.exit_json(changed=False, fingerprint=fingerprint, manifest=manifest)


def _mask(data: Any, secret: str) -> Any:
    if isinstance(data, dict):
        return {_mask(k, secret): _mask(v, secret) for k, v in data.items()}
    if isinstance(data, str):
        return data.replace(secret, "<secret>")
    return data


if __name__ == "__main__":
    main()
