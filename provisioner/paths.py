"""Where things live: one place for every path the tool reads or writes."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO / "environments.yml"
INVENTORIES = REPO / "inventories"
GROUP_VARS = REPO / "group_vars"
PLAYBOOKS = REPO / "playbooks"
SITE_PLAYBOOK = PLAYBOOKS / "site.yml"
ANSIBLE_CFG = REPO / "ansible.cfg"
HOSTS_DIR = REPO / "hosts"
CONTAINERS_CONF = HOSTS_DIR / "containers.conf"
TESTS_DIR = REPO / "tests"
LOCUSTFILE = REPO / "loadtest" / "locustfile.py"

# Runtime state (SSH key for local hosts, run artifacts): git-ignored, readable by us alone.
STATE = REPO / ".state"
SSH_KEY = STATE / "ssh" / "id_ed25519"
RUNS = STATE / "runs"
REPORT = STATE / "report"  # the web report's default place (provision.py report)
# Host keys of execution nodes started here (`provision.py executors`), checked on every job.
EXECUTOR_KNOWN_HOSTS = STATE / "executors" / "known_hosts"


def state_dir(*parts: str) -> Path:
    """A directory under .state, created with mode 0700 (secrets and artifacts live there)."""
    path = STATE
    path.mkdir(mode=0o700, exist_ok=True)
    path.chmod(0o700)
    for part in parts:
        path = path / part
        path.mkdir(mode=0o700, exist_ok=True)
        path.chmod(0o700)
    return path


def display(path: Path) -> str:
    """A path as the user should read it: relative to the repo when inside it."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)
