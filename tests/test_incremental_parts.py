"""The incremental apply's pure parts, without hosts: the on-host reading (run here, on this
machine's files), the inputs per host (on a generated inventory of our own), and which ledger
record counts."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from provisioner import paths
from provisioner.incremental import inputs, onhost
from provisioner.incremental.record import HOST_STATE, HostRecord, Keyed, last
from provisioner.ledger.ledger import Ledger, open_ledger
from provisioner.run.status import Status
from provisioner.source.secrets import Vault

# --- the reading


def test_a_file_reads_as_type_mode_owner_and_content_digest(tmp_path: Path) -> None:
    target = tmp_path / "motd"
    target.write_text("hello\n")
    target.chmod(0o644)
    before = onhost.read_file(str(target))
    assert before.startswith("-rw-r--r-- ")
    assert "sha256:" in before
    target.write_text("hello, hand edit\n")
    edited = onhost.read_file(str(target))
    assert edited != before
    target.write_text("hello\n")
    target.chmod(0o600)
    assert onhost.read_file(str(target)) not in (before, edited)


def test_a_link_reads_as_its_target_and_a_missing_file_as_absent(tmp_path: Path) -> None:
    (tmp_path / "1.1.0").mkdir()
    (tmp_path / "1.2.0").mkdir()
    link = tmp_path / "current"
    link.symlink_to("1.1.0")
    assert onhost.read_file(str(link)).endswith("-> 1.1.0")
    link.unlink()
    link.symlink_to("1.2.0")
    assert onhost.read_file(str(link)).endswith("-> 1.2.0")
    assert onhost.read_file(str(tmp_path / "nothing")) == "absent"


def test_probes_read_as_exit_code_and_output_digest() -> None:
    ok = onhost.run_probe([sys.executable, "-c", "print('a')"])
    other = onhost.run_probe([sys.executable, "-c", "print('b')"])
    assert ok.startswith("exit 0 sha256:")
    assert other.startswith("exit 0 sha256:")
    assert ok != other
    assert onhost.run_probe([sys.executable, "-c", "raise SystemExit(3)"]).startswith("exit 3 ")
    assert onhost.run_probe(["/nonexistent/program"]) == "missing"


def test_the_whole_reading_names_each_item(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("x")
    found = onhost.read(
        {
            "files": [str(tmp_path / "a"), str(tmp_path / "b")],
            "probes": {"true": [sys.executable, "-c", "pass"]},
            "packages": [],
            "services": [],
        }
    )
    assert set(found) == {f"file:{tmp_path / 'a'}", f"file:{tmp_path / 'b'}", "probe:true"}
    assert found[f"file:{tmp_path / 'b'}"] == "absent"


# --- the inputs

INVENTORY = """\
all:
  vars:
    ansible_user: root
    ansible_ssh_private_key_file: .state/ssh/nosuchkey
  children:
    app:
      hosts:
        t-app-1: {ansible_host: 198.18.9.10}
        t-app-2: {ansible_host: 198.18.9.11}
      vars: {app_workers: 2}
    web:
      hosts:
        t-web-1: {ansible_host: 198.18.9.12}
"""


@pytest.fixture
def inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Environment t's generated inventory (hosts.yml) and its group_vars link, under tmp_path."""
    monkeypatch.setattr(paths, "INVENTORIES", tmp_path / "inventories")
    shared = tmp_path / "group_vars"
    shared.mkdir()
    (shared / "all.yml").write_text("common_timezone: UTC\n")
    env_dir = tmp_path / "inventories" / "t"
    env_dir.mkdir(parents=True)
    (env_dir / "hosts.yml").write_text(INVENTORY)
    os.symlink(os.path.join("..", "..", "group_vars"), env_dir / "group_vars")
    (tmp_path / "vault.yml").write_text("$ANSIBLE_VAULT;1.2;AES256;t\n0011\n")
    return tmp_path


def changed_hosts(root: Path, edit: object) -> list[str]:
    before = inputs.per_host("t", root / "vault.yml")
    assert callable(edit)
    edit()
    after = inputs.per_host("t", root / "vault.yml")
    assert set(before) == set(after)
    return sorted(h for h in before if before[h] != after[h])


def test_a_value_turned_into_a_template_or_back_reaches_exactly_its_groups_hosts(
    inventory: Path,
) -> None:
    """The same characters, but Ansible renders one and not the other: the hosts run again."""
    hosts = inventory / "inventories" / "t" / "hosts.yml"
    plain = INVENTORY.replace("{app_workers: 2}", "{app_workers: 2, motd: '{{ x }}'}")
    hosts.write_text(plain)
    unsafe = plain.replace("motd: '{{ x }}'", "motd: !unsafe '{{ x }}'")
    assert changed_hosts(inventory, lambda: hosts.write_text(unsafe)) == ["t-app-1", "t-app-2"]
    assert changed_hosts(inventory, lambda: hosts.write_text(plain)) == ["t-app-1", "t-app-2"]


def test_a_group_vars_file_reaches_exactly_its_groups_hosts(inventory: Path) -> None:
    web = inventory / "group_vars" / "web.yml"
    assert changed_hosts(inventory, lambda: web.write_text("nginx_x: 1\n")) == ["t-web-1"]
    assert changed_hosts(inventory, lambda: web.write_text("nginx_x: 2\n")) == ["t-web-1"]
    assert changed_hosts(inventory, web.unlink) == ["t-web-1"]


def test_all_yml_and_the_vault_reach_every_host(inventory: Path) -> None:
    every = ["t-app-1", "t-app-2", "t-web-1"]
    shared = inventory / "group_vars" / "all.yml"
    assert changed_hosts(inventory, lambda: shared.write_text("common_timezone: UTC+1\n")) == every
    vault = inventory / "vault.yml"
    assert changed_hosts(inventory, lambda: vault.write_text("$ANSIBLE_VAULT;1.2;AES256;t\n22\n"))
    assert changed_hosts(inventory, lambda: vault.write_text("other")) == every


def test_inventory_values_reach_their_hosts_and_the_topology_everyone(inventory: Path) -> None:
    hosts_yml = inventory / "inventories" / "t" / "hosts.yml"
    text = hosts_yml.read_text()

    def edit(old: str, new: str) -> object:
        return lambda: hosts_yml.write_text(hosts_yml.read_text().replace(old, new))

    assert changed_hosts(inventory, edit("app_workers: 2", "app_workers: 4")) == [
        "t-app-1",
        "t-app-2",
    ]
    hosts_yml.write_text(text)
    # a moved address is in every host's topology (nginx's upstreams, PostgreSQL's clients)
    assert len(changed_hosts(inventory, edit("198.18.9.11", "198.18.9.21"))) == 3


# --- which record counts


@pytest.fixture
def book(tmp_path: Path) -> Ledger:
    return open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")


def a_run(book: Ledger, kind: str, *, status: str = Status.SUCCESSFUL, record: bool) -> str:
    run_id = book.start_run(
        kind, "t", command="test", identity="test", commit="c", inventory_hash="i"
    )
    if record:
        book.append(
            HOST_STATE, "t", {"format": "1", "hosts": {"t-web-1": {"inputs": {"a": "b"}}}}, run_id
        )
    book.finish_run(run_id, status, {}, [])
    return run_id


def test_the_record_counts_while_its_run_is_the_last_that_changed_hosts(book: Ledger) -> None:
    assert last(book, "t", "now") == ("", None)
    kept = a_run(book, "apply", record=True)
    since, records = last(book, "t", "now")
    assert since == kept
    assert records is not None
    assert records["t-web-1"].inputs == {"a": "b"}
    # runs that change nothing leave it standing: a dry run, drift, a refused apply
    for kind in ("check", "drift", "plan", "verify", "gate"):
        a_run(book, kind, record=False)
    a_run(book, "apply", status=Status.REFUSED, record=False)
    assert last(book, "t", "now")[0] == kept
    # an apply that kept no record (failed, canceled, narrowed) or a rollback ends it
    failed = a_run(book, "apply", status=Status.FAILED, record=False)
    assert last(book, "t", "now") == (failed, None)
    kept = a_run(book, "apply", record=True)
    assert last(book, "t", "now")[0] == kept
    rollback = a_run(book, "rollback", record=False)
    assert last(book, "t", "now") == (rollback, None)
    # the run asking is not its own predecessor
    since, records = last(book, "t", rollback)
    assert since == kept
    assert records is not None


def test_a_record_edited_in_the_ledger_is_not_used(book: Ledger, tmp_path: Path) -> None:
    password = tmp_path / "t.password"
    password.write_text("a vault password\n")
    keyed = Keyed(Vault("t", tmp_path / "t.yml", password, ".state/secrets/t.yml"))
    other = tmp_path / "other.password"
    other.write_text("another password\n")
    honest = HostRecord({"code": "1"}, {"file:/etc/motd": "2"}, {"probes": {"nginx": ["nginx"]}})
    forged = HostRecord(honest.inputs, honest.state, {"probes": {"x": ["/bin/sh", "-c", "id"]}})
    run_id = book.start_run("apply", "t", command="t", identity="t", commit="c", inventory_hash="i")
    hosts = {
        "t-web-1": honest.sealed(keyed),
        # the forger's manifest under the honest record's seal, and one sealed with another key
        "t-app-1": {**forged.as_dict(), "seal": honest.sealed(keyed)["seal"]},
        "t-app-2": forged.sealed(Keyed(Vault("t", tmp_path / "t.yml", other, "x"))),
    }
    book.append(HOST_STATE, "t", {"format": "1", "hosts": hosts}, run_id)
    book.finish_run(run_id, Status.SUCCESSFUL, {}, [])
    since, records = last(book, "t", "now", keyed)
    assert since == run_id
    assert records == {"t-web-1": honest}
