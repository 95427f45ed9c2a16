"""Remote execution, the pure parts: executor URLs, slicing, what a job carries and is told.
The real thing (a job through ansible-runner worker on execution-node containers) is in
tests/test_remote_execution.py."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURE_SOURCE

from provisioner import paths
from provisioner.errors import HostError, InputError
from provisioner.hosts import execnodes, localhosts
from provisioner.incremental import state
from provisioner.run import remote, slicing
from provisioner.run.request import Payload, RunRequest
from provisioner.run.runner import run_playbook
from provisioner.source import hostkeys, inventory, secrets
from provisioner.source.executor import Executor, parse_executor
from provisioner.source.model import load_source


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ssh://node", Executor("node")),
        ("ssh://root@198.18.2.250", Executor("198.18.2.250", "root")),
        ("ssh://deploy@exec-1.example.org:2222", Executor("exec-1.example.org", "deploy", 2222)),
        ("ssh://root@[2001:db8::1]", Executor("[2001:db8::1]", "root")),
    ],
)
def test_executor_urls(text: str, expected: Executor) -> None:
    assert parse_executor(text) == expected
    assert parse_executor(expected.url) == expected


@pytest.mark.parametrize(
    "text",
    [
        "node",
        "http://node",
        "ssh://",
        "ssh://a@b@c",
        "ssh://node:0",
        "ssh://node:70000",
        # a host or user starting with "-" would reach ssh as an option (-oProxyCommand=...)
        "ssh://-oProxyCommand=touch${IFS}x",
        "ssh://-oProxyCommand=x@node",
        "ssh://root@-oProxyCommand=x",
        "ssh://-@node",
        "ssh://root@-node",
    ],
)
def test_bad_executor_urls_are_refused(text: str) -> None:
    with pytest.raises(InputError, match="expected ssh://"):
        parse_executor(text)


STAGING = {"app": ["s-app-1", "s-app-2"], "db": ["s-db-1"], "web": ["s-web-1"]}


def test_one_slice_is_every_host() -> None:
    assert slicing.slices(STAGING, 1) == [["s-app-1", "s-app-2", "s-db-1", "s-web-1"]]


def test_the_first_slice_holds_every_groups_first_host() -> None:
    parts = slicing.slices(STAGING, 2)
    assert parts == [["s-app-1", "s-db-1", "s-web-1"], ["s-app-2"]]


def test_slices_cover_every_host_once_and_stay_balanced() -> None:
    groups = {
        "app": [f"app-{i}" for i in range(12)],
        "db": ["db-0", "db-1"],
        "web": [f"web-{i}" for i in range(6)],
    }
    for count in (2, 3, 5):
        parts = slicing.slices(groups, count)
        every = [host for part in parts for host in part]
        assert sorted(every) == sorted(h for hosts in groups.values() for h in hosts)
        assert len(every) == len(set(every))
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
        assert {"app-0", "db-0", "web-0"} <= set(parts[0])


def test_more_slices_than_hosts_leaves_some_empty() -> None:
    assert slicing.slices({"app": ["a"]}, 3) == [["a"], [], []]


QA_HEADER = "  qa:\n    description: integration tests on every change\n"


def source_with_qa(tmp_path: Path, line: str) -> tuple[Path, int]:
    """The shipped source with `line` added to qa; returns the file and the line's number."""
    text = paths.DEFAULT_SOURCE.read_text().replace(QA_HEADER, QA_HEADER + line + "\n")
    source = tmp_path / "environments.yml"
    source.write_text(text)
    return source, text.splitlines().index(line) + 1


def test_the_source_may_name_executors(tmp_path: Path) -> None:
    source, _ = source_with_qa(tmp_path, "    executor: ssh://root@198.18.1.250")
    loaded = load_source(source)
    assert loaded.environment("qa").executors() == [Executor("198.18.1.250", "root")]
    assert loaded.environment("staging").executors() == []


def test_a_bad_executor_in_the_source_names_file_line_and_key(tmp_path: Path) -> None:
    source, line = source_with_qa(tmp_path, "    executor: [ssh://root@198.18.1.250, 'ftp://node']")
    with pytest.raises(InputError) as caught:
        load_source(source)
    assert f"environments.yml:{line}: environments.qa.executor[1]" in str(caught.value)
    assert "expected ssh://[user@]host[:port]" in str(caught.value)


def test_a_job_carries_the_key_and_the_vault_where_the_inventory_looks() -> None:
    localhosts.ensure_ssh_key()  # as every run does first (a fresh checkout has none yet)
    loaded = load_source(paths.DEFAULT_SOURCE)
    env = loaded.environment("qa")
    vault = secrets.vault_for("qa", env)
    carried = {relative: source for source, relative in remote.payload("qa", env, vault).files}
    assert carried[".state/secrets/qa.yml"] == vault.file
    assert carried[".state/vault/qa.password"] == vault.password_file
    assert carried[".state/ssh/id_ed25519"] == paths.SSH_KEY


def test_slices_after_the_first_skip_run_once_work(tmp_path: Path) -> None:
    request = RunRequest(
        env="staging",
        check=True,
        hosts=4,
        vault_args=("-e", "provisioner_secrets_file=/elsewhere.yml"),
    )
    first = remote.job_kwargs(request, 0, ("s-app-1", "s-db-1"), tmp_path, "/run/x/1")
    other = remote.job_kwargs(request, 1, ("s-app-2",), tmp_path, "/run/x/2")
    assert first["limit"] == "s-app-1,s-db-1"
    assert "provisioner_run_once_here" not in (first["extravars"] or {})
    assert other["extravars"]["provisioner_run_once_here"] is False
    # the secrets travel to where the inventory looks: no override of their path remotely
    assert first["cmdline"] == "--check --diff"
    carried_at = ".state/vault/staging.password"  # a path, not a password
    carrying = RunRequest(env="staging", payload=Payload(password_file=carried_at))
    assert remote.job_kwargs(carrying, 0, (), tmp_path, "/run/x/1")["cmdline"] == (
        "--vault-id staging@/run/x/1/project/.state/vault/staging.password --diff"
    )
    assert first["envvars"]["ANSIBLE_CONFIG"] == "/run/x/1/project/ansible.cfg"


def test_ssh_to_nodes_checks_host_keys_and_never_prompts() -> None:
    argv = remote.ssh_command(Executor("198.18.2.250", "root", 2222), "true")
    assert argv[-3:] == ["--", "root@198.18.2.250", "true"]  # every option before "--"
    assert "BatchMode=yes" in argv
    assert "StrictHostKeyChecking=yes" in argv
    assert argv[argv.index("-p") + 1] == "2222"


def test_a_job_for_real_servers_carries_their_key_and_host_keys_or_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = load_source(FIXTURE_SOURCE).environment("prod")  # ssh provider, key ~/.ssh/prod_ed25519
    password, secrets_file = tmp_path / "pw", tmp_path / "prod.yml"
    password.write_text("pw\n")
    secrets_file.write_text("$ANSIBLE_VAULT;1.2;AES256;prod\n")
    vault = secrets.Vault("prod", secrets_file, password, "secrets/prod.yml")
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(InputError, match=r"a remote job of prod needs .*prod_ed25519.*not found"):
        remote.payload("prod", env, vault)
    (tmp_path / ".ssh").mkdir()
    for name in ("prod_ed25519", "prod_ed25519.pub"):
        (tmp_path / ".ssh" / name).write_text(name)
    known = tmp_path / "known_hosts"
    known.mkdir()
    (known / "prod").write_text("203.0.113.10 ssh-ed25519 AAAA\n")
    monkeypatch.setattr(hostkeys, "KNOWN_HOSTS", known)
    carried = {relative: source for source, relative in remote.payload("prod", env, vault).files}
    assert carried[".state/ssh/prod-key"] == tmp_path / ".ssh" / "prod_ed25519"
    assert carried[".state/ssh/prod-key.pub"] == tmp_path / ".ssh" / "prod_ed25519.pub"
    assert carried["known_hosts/prod"] == known / "prod"
    assert carried["secrets/prod.yml"] == secrets_file


def test_a_node_that_cannot_be_reached_is_one_clear_error_and_leaves_no_job_behind(
    tmp_path: Path,
) -> None:
    """ssh to a port of this machine where nothing listens: the job never runs."""
    request = RunRequest(env="qa", hosts=3, executors=(Executor("127.0.0.1", "root", 1),))
    with pytest.raises(HostError) as caught:
        run_playbook(request)
    assert str(caught.value).startswith(
        "execution node ssh://root@127.0.0.1:1: the job did not run: ssh: connect to host "
        "127.0.0.1 port 1: Connection refused"
    )
    assert not list((paths.RUNS / "qa").glob("job-*"))  # the packed job (and its secrets): gone


def test_when_some_slices_ran_the_others_hosts_are_reported_unreachable() -> None:
    ran, broken = (
        remote.SliceOutcome(Executor("a"), "successful", 0),
        remote.SliceOutcome(Executor("b"), "error", explanation="worker stream ended"),
    )
    events: list[dict[str, Any]] = []
    remote.report_broken([ran, broken], (("h1",), ("h2", "h3")), lambda e: events.append(e) or True)
    unreachable = [e["event_data"]["host"] for e in events if e["event"] == "runner_on_unreachable"]
    assert unreachable == ["h2", "h3"]
    assert events[-1] == {"event": "playbook_on_stats", "event_data": {"dark": {"h2": 1, "h3": 1}}}
    assert "execution node ssh://b: the job did not run: worker stream ended" in str(events[0])
    assert (broken.status, ran.status) == ("failed", "successful")


def test_when_no_slice_ran_there_is_nothing_to_report_but_the_error() -> None:
    outcomes = [remote.SliceOutcome(Executor(name), "error") for name in ("a", "b")]
    with pytest.raises(HostError, match=r"ssh://a: .*; execution node ssh://b"):
        remote.report_broken(outcomes, (("h1",), ("h2",)), lambda _: True)


def test_every_ssh_argv_ends_its_options_with_a_double_dash_before_the_destination(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever a destination looks like, ssh reads it as one: "--" comes right before it, and
    every option (-p, -o, -i, -G) before "--"."""
    node = Executor("exec-1.example.org", "deploy", 2222)

    def options_then_destination(argv: list[str], destination: str) -> None:
        at = argv.index(destination)
        assert argv[at - 1] == "--", argv
        assert argv.count("--") == 1, argv
        assert all(not arg.startswith("-") for arg in argv[at:]), argv

    options_then_destination(remote.ssh_command(node, "true"), "deploy@exec-1.example.org")

    prod = load_source(FIXTURE_SOURCE).environment("prod")
    host = sorted(prod.hosts)[0]
    argv, user = inventory.ssh_command("prod", prod, host)
    assert argv[-2:] == ["--", f"{user}@{prod.address_of(host)}"]  # callers append the command
    options_then_destination(argv, argv[-1])

    seen: list[list[str]] = []

    def fake_run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen.append(argv)
        return subprocess.CompletedProcess(argv, 0, "user someone\n", "")

    monkeypatch.setattr(execnodes.subprocess, "run", fake_run)
    assert execnodes.ssh_user(Executor("exec-1.example.org")) == "someone"
    assert seen[-1][:2] == ["ssh", "-G"]
    options_then_destination(seen[-1], "exec-1.example.org")

    manifests = {host: {"files": []}}
    monkeypatch.setattr(state, "_read_one", lambda argv, text: seen.append(argv))
    state.read("prod", prod, manifests)
    destination = f"{user}@{prod.address_of(host)}"
    options_then_destination(seen[-1][:-1], destination)  # the last: the remote command
    assert seen[-1][-2] == destination
