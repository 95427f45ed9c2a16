"""An execution node's address: `ssh://[user@]host[:port]`, in the source of truth or on the
command line."""

from __future__ import annotations

import re
from dataclasses import dataclass

from provisioner.errors import InputError

SSH_PORT = 22
MAX_PORT = 65535
# The user and host never start with "-": ssh would read "-oProxyCommand=..." as an option.
# (Every ssh argv also puts "--" before the destination; this refuses such a URL up front.)
EXECUTOR_URL = re.compile(
    r"ssh://(?:(?P<user>[A-Za-z0-9_][A-Za-z0-9._-]*)@)?"
    r"(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:]+\])"
    r"(?::(?P<port>[0-9]{1,5}))?/?"
)


@dataclass(frozen=True)
class Executor:
    """An execution node, as `ssh://[user@]host[:port]` names it."""

    host: str
    user: str | None = None
    port: int = SSH_PORT

    @property
    def url(self) -> str:
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port != SSH_PORT else ""
        return f"ssh://{user}{self.host}{port}"

    @property
    def address(self) -> str:
        """The host without the brackets a URL puts around an IPv6 address."""
        return self.host.strip("[]")

    @property
    def destination(self) -> str:
        """What ssh is given after "--": [user@]host (the port goes in -p)."""
        return f"{self.user}@{self.host}" if self.user else self.host


def parse_executor(text: str) -> Executor:
    match = EXECUTOR_URL.fullmatch(text.strip())
    if match is None or not 0 < int(match["port"] or SSH_PORT) <= MAX_PORT:
        raise InputError(f"executor {text!r}: expected ssh://[user@]host[:port]")
    return Executor(host=match["host"], user=match["user"], port=int(match["port"] or SSH_PORT))
