"""Generated inventories: exact, deterministic, checkable, and written all-or-nothing.

Golden files: tests/golden/<env>/hosts.yml is what tests/fixtures/source.yml must render to,
byte for byte. After an intended change to the output, regenerate them and review the diff:
    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_inventory.py
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import FIXTURE_SOURCE, TESTS, InventoriesGuard, run_cli, snapshot
from hostrun import provision

from provisioner import paths
from provisioner.errors import EXIT_FAILED, EXIT_INPUT, EXIT_OK, InputError
from provisioner.source import hostkeys, inventory
from provisioner.source.model import LoadedSource, load_source

GOLDEN = TESTS / "golden"
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"
FIXTURE_ENVS = ["prod", "qa"]


@pytest.fixture(scope="module")
def loaded() -> LoadedSource:
    return load_source(FIXTURE_SOURCE)


def rendered(loaded: LoadedSource, env: str) -> str:
    return inventory.render(loaded, env).files["hosts.yml"]


# --- golden files -----------------------------------------------------------------------------


def test_golden_files_cover_exactly_the_fixture_environments(loaded: LoadedSource) -> None:
    assert sorted(loaded.source.environments) == FIXTURE_ENVS  # one local, one ssh
    if not UPDATE_GOLDEN:
        assert sorted(p.name for p in GOLDEN.iterdir()) == FIXTURE_ENVS


@pytest.mark.parametrize("env", FIXTURE_ENVS)
def test_inventory_matches_the_golden_file_byte_for_byte(loaded: LoadedSource, env: str) -> None:
    golden = GOLDEN / env / "hosts.yml"
    content = rendered(loaded, env).encode("utf-8")
    if UPDATE_GOLDEN:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(content)
    assert golden.read_bytes() == content, f"run UPDATE_GOLDEN=1 if {golden} should change"


@pytest.mark.parametrize("env", FIXTURE_ENVS)
def test_each_inventory_links_the_shared_group_vars(loaded: LoadedSource, env: str) -> None:
    generated = inventory.render(loaded, env)
    assert set(generated.files) == {"hosts.yml"}
    assert generated.links == {"group_vars": "../../group_vars"}


def test_golden_inventory_is_what_ansible_needs(loaded: LoadedSource) -> None:
    """Spot checks on the parsed output, so a golden file regenerated wrongly stands out."""
    qa = yaml.safe_load((GOLDEN / "qa" / "hosts.yml").read_text(encoding="utf-8"))["all"]
    assert qa["vars"]["provisioner_environment"] == "qa"
    assert qa["vars"]["ansible_user"] == "root"
    assert qa["vars"]["ansible_ssh_private_key_file"] == ".state/ssh/id_ed25519"
    assert qa["children"]["app"]["hosts"]["qa-app-1"] == {"ansible_host": "198.18.1.10"}
    assert qa["children"]["app"]["vars"] == {"app_workers": 2}
    prod = yaml.safe_load((GOLDEN / "prod" / "hosts.yml").read_text(encoding="utf-8"))["all"]
    assert prod["vars"]["ansible_user"] == "deploy"
    assert prod["vars"]["ansible_port"] == 2222
    assert prod["vars"]["ansible_ssh_private_key_file"] == "~/.ssh/prod_ed25519"  # as configured
    assert prod["vars"]["ansible_ssh_common_args"] == (
        "-o StrictHostKeyChecking=yes -o UserKnownHostsFile=known_hosts/prod"
    )
    assert prod["vars"]["log_retention_days"] == 30  # an `all` value from the source
    assert prod["children"]["db"]["hosts"] == {"prod-db-1": {"ansible_host": "203.0.113.10"}}
    assert list(prod["children"]) == sorted(prod["children"])


# --- connection settings: plain values, for every reader of the inventory ----------------------

JINJA = re.compile(r"\{\{|\{%|\{#")  # an expression, a statement or a comment


def var_scopes(parsed: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, variables) of every level of a generated inventory: all, groups, hosts."""
    top = parsed["all"]
    yield "all", top.get("vars") or {}
    for group, entry in (top.get("children") or {}).items():
        yield group, entry.get("vars") or {}
        for host, values in (entry.get("hosts") or {}).items():
            yield f"{group}/{host}", values or {}


def jinja_in_connection_settings(text: str) -> list[str]:
    """`where: name` of every ansible_* value (however nested) holding a Jinja construct."""

    def strings(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)

    return [
        f"{where}: {name}"
        for where, scope in var_scopes(inventory.parse_generated(text))
        for name, value in scope.items()
        if name.startswith("ansible_") and any(JINJA.search(s) for s in strings(value))
    ]


def generated_texts() -> list[tuple[str, str]]:
    """(name, content) of every inventory generated here: the fixture's (one local and one
    ssh environment), the shipped source's, and the committed files of its environments."""
    fixture = load_source(FIXTURE_SOURCE)
    shipped = load_source(paths.DEFAULT_SOURCE)
    texts = [(f"fixture {env}", rendered(fixture, env)) for env in FIXTURE_ENVS]
    texts += [(f"shipped {env}", rendered(shipped, env)) for env in shipped.source.environments]
    texts += [
        (str(path.relative_to(paths.REPO)), path.read_text(encoding="utf-8"))
        for env in shipped.source.environments
        # the committed files only: not a bench's or a test's environment written beside them
        if (path := paths.INVENTORIES / env / "hosts.yml").exists()
    ]
    return texts


def test_the_jinja_check_finds_an_expression_in_a_connection_setting() -> None:
    """The check below, shown to fail on what the inventories used to hold."""
    text = rendered(load_source(FIXTURE_SOURCE), "qa")
    parsed = inventory.parse_generated(text)
    parsed["all"]["vars"]["ansible_ssh_private_key_file"] = (
        "{{ inventory_dir | dirname | dirname }}/.state/ssh/id_ed25519"
    )
    parsed["all"]["children"]["db"]["hosts"]["qa-db-1"]["ansible_port"] = "{% raw %}22"
    assert jinja_in_connection_settings(yaml.safe_dump(parsed)) == [
        "all: ansible_ssh_private_key_file",
        "db/qa-db-1: ansible_port",
    ]
    assert jinja_in_connection_settings(text) == []


def test_no_connection_setting_holds_a_jinja_expression() -> None:
    """testinfra's ansible:// backend, `ansible-inventory --list` and anything else that reads
    the inventory without Ansible's templating use ansible_* values as they are: an expression
    there becomes a path ssh cannot open (issue 17: `{{ inventory_dir | dirname | dirname }}/
    .state/ssh/id_ed25519` not accessible, ssh exit 255)."""
    texts = generated_texts()
    shipped = load_source(paths.DEFAULT_SOURCE).source.environments
    assert len(texts) == len(FIXTURE_ENVS) + 2 * len(shipped)  # every environment, each way
    for name, text in texts:
        assert jinja_in_connection_settings(text) == [], name


def test_connection_paths_are_the_tools_own_files_named_from_the_repo_root() -> None:
    """The same bytes in every checkout (no absolute path of this one), naming, from the repo
    root every entry point runs in, the key and host keys the tool makes and checks; an
    execution node's job carries them to the same places in its project directory."""
    assert inventory.LOCAL_KEY == ".state/ssh/id_ed25519"
    assert paths.REPO / inventory.LOCAL_KEY == paths.SSH_KEY
    assert inventory.known_hosts_file("prod") == "known_hosts/prod"
    assert paths.REPO / inventory.known_hosts_file("prod") == hostkeys.known_hosts("prod")
    # remote.payload() puts them there in a job's project/ (tests/test_remote.py)
    assert hostkeys.known_hosts("prod").relative_to(hostkeys.KNOWN_HOSTS.parent).as_posix() == (
        inventory.known_hosts_file("prod")
    )
    for _, text in generated_texts():
        assert str(paths.REPO) not in text


def plain_environment(home: Path | None = None) -> dict[str, str]:
    """A user's shell: the venv's tools on PATH, no ANSIBLE_* setting (ansible.cfg is found in
    the working directory, or not at all)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PROVISION"))}
    environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environ.get('PATH', '')}"
    if home is not None:
        environ["HOME"] = str(home)
    return environ


def test_testinfra_reads_the_connection_settings_from_the_repo_root(
    loaded: LoadedSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """testinfra's ansible:// backend (`--hosts=ansible://all --ansible-inventory=...`) as it
    builds each host's ssh command from `ansible-inventory --list`, run from the repo root: the
    identity file and known_hosts it hands ssh are the tool's own, and nothing is left for
    Ansible to render."""
    from testinfra.utils.ansible_runner import AnsibleRunner  # noqa: PLC0415  (slow import)

    monkeypatch.chdir(paths.REPO)  # testinfra runs ansible-inventory and ssh from here
    monkeypatch.setenv("PATH", plain_environment()["PATH"])
    for name in [n for n in os.environ if n.startswith("ANSIBLE_")]:
        monkeypatch.delenv(name)  # ansible.cfg: the one in the working directory
    seen: dict[str, set[tuple[str | None, str | None, str, str]]] = {}
    for env in FIXTURE_ENVS:
        directory = tmp_path / env
        directory.mkdir()
        (directory / "hosts.yml").write_text(rendered(loaded, env), encoding="utf-8")
        reader = AnsibleRunner(str(directory))
        hosts = reader.get_hosts("all")
        assert hosts == sorted(loaded.environment(env).hosts)
        seen[env] = set()
        for host in hosts:
            backend = reader.get_host(host).backend
            assert backend.NAME == "ssh"  # testinfra's own ssh, not Ansible
            command, args = backend._build_ssh_command("true")
            line = backend.get_command(" ".join(command), *args)
            assert not JINJA.search(line), line
            assert backend.host.name == loaded.environment(env).address_of(host)
            spec = backend.host
            seen[env].add((spec.user, spec.port, backend.ssh_identity_file, backend.ssh_extra_args))
    [(user, port, key, ssh_args)] = seen["qa"]  # one setting for all hosts
    assert (user, port, key) == ("root", None, ".state/ssh/id_ed25519")
    assert Path.cwd() / key == paths.SSH_KEY
    assert ssh_args.endswith(inventory.LOCAL_SSH_ARGS)  # after ansible.cfg's ssh_args
    [(user, port, key, ssh_args)] = seen["prod"]
    assert (user, port, key) == ("deploy", "2222", "~/.ssh/prod_ed25519")  # as configured
    assert ssh_args.endswith("-o StrictHostKeyChecking=yes -o UserKnownHostsFile=known_hosts/prod")
    assert Path.cwd() / "known_hosts" / "prod" == hostkeys.known_hosts("prod")


def test_the_deploy_key_is_the_public_half_of_the_key_ssh_uses_from_the_working_directory(
    loaded: LoadedSource, tmp_path: Path
) -> None:
    """provisioner_deploy_keys (Ansible renders it) reads KEY.pub where ssh finds KEY: a
    relative key from the working directory (here laid out as an execution node's job, a
    directory other than this repo), a ~ key from the home directory, a key that is a link
    next to the link. Ansible's file lookup alone would look for a relative path in the
    playbook's and roles' directories."""
    project = tmp_path / "job" / "project"
    (project / ".state" / "ssh").mkdir(parents=True)
    (project / ".state" / "ssh" / "id_ed25519.pub").write_text("ssh-ed25519 AAAA job-copy\n")
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "real").write_text("private\n")
    (home / ".ssh" / "prod_ed25519").symlink_to(tmp_path / "keys" / "real")
    (home / ".ssh" / "prod_ed25519.pub").write_text("ssh-ed25519 BBBB prod\n")
    keys = {}
    for env, host in (("qa", "qa-db-1"), ("prod", "prod-db-1")):
        directory = project / "inventories" / env
        directory.mkdir(parents=True)
        (directory / "hosts.yml").write_text(rendered(loaded, env), encoding="utf-8")
        process = subprocess.run(
            [
                str(Path(sys.executable).parent / "ansible"),
                *("-i", f"inventories/{env}", host, "-c", "local"),
                *("-m", "ansible.builtin.debug", "-a", "var=provisioner_deploy_keys"),
            ],
            cwd=project,
            env=plain_environment(home),  # no ansible.cfg: Ansible's defaults, JSON results
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert process.returncode == 0, process.stdout + process.stderr
        said, result = process.stdout.split(" => ", 1)  # HOST | SUCCESS => {...}
        assert said == f"{host} | SUCCESS", process.stdout
        keys[env] = json.loads(result)["provisioner_deploy_keys"]
    assert keys == {"qa": ["ssh-ed25519 AAAA job-copy"], "prod": ["ssh-ed25519 BBBB prod"]}


# --- header -----------------------------------------------------------------------------------


@pytest.mark.parametrize("env", FIXTURE_ENVS)
def test_first_line_says_generated_from_the_source_do_not_edit(
    loaded: LoadedSource, env: str
) -> None:
    lines = rendered(loaded, env).splitlines()
    assert lines[0] == "# generated from tests/fixtures/source.yml - do not edit"
    assert lines[1] == "---"


@pytest.mark.parametrize("env", ["qa", "staging", "prod"])
def test_committed_inventories_say_they_are_generated_from_environments_yml(env: str) -> None:
    first = (paths.REPO / "inventories" / env / "hosts.yml").read_text(encoding="utf-8")
    assert first.splitlines()[0] == "# generated from environments.yml - do not edit"


# --- determinism ------------------------------------------------------------------------------


def shuffled(value: Any, rng: random.Random) -> Any:
    """The same data with every mapping's keys in a random order (lists keep theirs)."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {key: shuffled(item, rng) for key, item in items}
    if isinstance(value, list):
        return [shuffled(item, rng) for item in value]
    return value


def test_rendering_twice_gives_the_same_bytes(loaded: LoadedSource) -> None:
    for env in FIXTURE_ENVS:
        assert rendered(loaded, env) == rendered(load_source(FIXTURE_SOURCE), env)


@pytest.mark.parametrize("seed", range(5))
def test_order_of_keys_in_the_source_does_not_change_the_output(
    loaded: LoadedSource, tmp_path: Path, seed: int
) -> None:
    data = yaml.safe_load(FIXTURE_SOURCE.read_text(encoding="utf-8"))
    mixed = shuffled(data, random.Random(seed))  # noqa: S311  (a reproducible shuffle)
    assert mixed == data  # same content...
    copy = tmp_path / "source.yml"
    copy.write_text(yaml.safe_dump(mixed, sort_keys=False), encoding="utf-8")
    assert copy.read_text(encoding="utf-8") != yaml.safe_dump(data, sort_keys=False)  # ...reordered
    other = load_source(copy)
    for env in FIXTURE_ENVS:
        ours = rendered(loaded, env).split("\n", 1)
        theirs = rendered(other, env).split("\n", 1)
        assert theirs[0] == f"# generated from {copy} - do not edit"  # names its own source
        assert theirs[1] == ours[1]  # and all the rest is the same, byte for byte


# --- check ------------------------------------------------------------------------------------


def test_committed_inventories_are_current(
    capsys: pytest.CaptureFixture[str], inventories_guard: InventoriesGuard
) -> None:
    result = run_cli(["inventory", "--check"], capsys)
    assert (result.code, result.err) == (EXIT_OK, ""), result
    assert "inventories are current" in result.out
    assert inventory.check(inventory.render_all(load_source(paths.DEFAULT_SOURCE))) == []
    inventories_guard.assert_unchanged()


def test_provision_inventory_check_exits_0_for_the_committed_repo(
    inventories_guard: InventoriesGuard,
) -> None:
    # the shipped source itself (without --source, hostrun runs the host tests' copy, whose
    # path the generated header names)
    process = provision("inventory", "--check", "--source", str(paths.DEFAULT_SOURCE), timeout=120)
    assert process.returncode == EXIT_OK, process.stdout + process.stderr
    inventories_guard.assert_unchanged()


def test_check_reports_a_hand_edit_and_generating_again_repairs_it(
    inventories_copy: Path,
    capsys: pytest.CaptureFixture[str],
    inventories_guard: InventoriesGuard,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "500")  # rich wraps stdout at 80 columns; tmp paths are long
    hosts = inventories_copy / "staging" / "hosts.yml"
    hosts.write_text(hosts.read_text(encoding="utf-8") + "# a hand edit\n", encoding="utf-8")

    result = run_cli(["inventory", "--check"], capsys)
    assert result.code == EXIT_FAILED
    assert f"{hosts}: differs from what the source produces" in result.out
    assert "qa/hosts.yml" not in result.out  # only the edited file is reported
    assert "inventories are stale" in result.out

    result = run_cli(["inventory"], capsys)
    assert result.code == EXIT_OK
    assert f"wrote {hosts}" in result.out
    assert run_cli(["inventory", "--check"], capsys).code == EXIT_OK
    inventories_guard.assert_unchanged()  # all of that happened in the copy


@pytest.mark.parametrize(
    ("damage", "reported"),
    [
        (lambda d: (d / "qa" / "hosts.yml").unlink(), "qa/hosts.yml: missing"),
        (lambda d: (d / "qa" / "group_vars").unlink(), "qa/group_vars: must be a link"),
        (lambda d: (d / "qa" / "notes.txt").write_text("x\n"), "qa/notes.txt: not generated"),
        (
            lambda d: ((d / "qa" / "group_vars").unlink(), (d / "qa" / "group_vars").mkdir()),
            "qa/group_vars: must be a link to ../../group_vars",
        ),
    ],
    ids=["file-removed", "link-removed", "extra-file", "link-replaced-by-directory"],
)
def test_check_reports_every_kind_of_drift(
    inventories_copy: Path, damage: Any, reported: str
) -> None:
    loaded = load_source(paths.DEFAULT_SOURCE)
    assert inventory.check(inventory.render_all(loaded)) == []
    damage(inventories_copy)
    problems = inventory.check(inventory.render_all(loaded))
    assert len(problems) == 1, problems
    assert reported in problems[0]


# --- writing ----------------------------------------------------------------------------------


def test_writing_produces_the_golden_files_and_links(
    capsys: pytest.CaptureFixture[str], empty_inventories: Path
) -> None:
    result = run_cli(["inventory", "--source", str(FIXTURE_SOURCE)], capsys)
    assert result.code == EXIT_OK, result
    for env in FIXTURE_ENVS:
        directory = empty_inventories / env
        assert sorted(p.name for p in directory.iterdir()) == ["group_vars", "hosts.yml"]
        assert (directory / "hosts.yml").read_bytes() == (GOLDEN / env / "hosts.yml").read_bytes()
        assert os.readlink(directory / "group_vars") == "../../group_vars"


def test_writing_again_changes_nothing(loaded: LoadedSource, empty_inventories: Path) -> None:
    generated = inventory.render_all(loaded)
    assert len(inventory.write(generated)) == 4  # two files, two links
    before = snapshot(empty_inventories)
    assert inventory.write(generated) == []
    assert snapshot(empty_inventories) == before  # and no temporary files left behind


def test_unknown_environment_in_the_list_writes_nothing(
    capsys: pytest.CaptureFixture[str], empty_inventories: Path
) -> None:
    result = run_cli(["inventory", "--source", str(FIXTURE_SOURCE), "qa", "nosuch"], capsys)
    assert result.code == EXIT_INPUT
    assert "unknown environment 'nosuch'" in result.err
    assert list(empty_inventories.iterdir()) == []


def test_failure_rendering_a_later_environment_writes_nothing(
    capsys: pytest.CaptureFixture[str],
    empty_inventories: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_render = inventory.render

    def render_fails_for_qa(loaded: LoadedSource, env_name: str) -> inventory.Generated:
        if env_name == "qa":
            raise InputError("cannot render qa")
        return real_render(loaded, env_name)

    monkeypatch.setattr(inventory, "render", render_fails_for_qa)
    result = run_cli(["inventory", "--source", str(FIXTURE_SOURCE), "prod", "qa"], capsys)
    assert result.code == EXIT_INPUT
    assert "cannot render qa" in result.err
    assert list(empty_inventories.iterdir()) == []  # prod rendered fine, but was not written


def test_check_names_an_environment_ansible_cfg_has_no_vault_id_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain ansible-playbook (and AWX) open an environment's secrets through ansible.cfg's
    vault_identity_list: an environment missing there is reported by `inventory --check`."""
    shipped = load_source(paths.DEFAULT_SOURCE)
    generated = inventory.render_all(shipped)
    assert inventory.vault_ids() >= set(shipped.source.environments)
    assert inventory.check(generated) == []
    config = tmp_path / "ansible.cfg"
    config.write_text(
        paths.ANSIBLE_CFG.read_text().replace(", staging@scripts/vault-password-client.py", "")
    )
    monkeypatch.setattr(paths, "ANSIBLE_CFG", config)
    problems = inventory.check(generated)
    assert problems == [
        "ansible.cfg: vault_identity_list has no `staging@scripts/vault-password-client.py`: "
        "Ansible could not open its secrets"
    ]


# --- per-environment values are data, not templates ----------------------------------------------


def _source_with_values(directory: Path, marker: Path) -> Path:
    """The fixture plus a value that would run a command if rendered, a value opted into
    templating, and strings and numbers nested in a list and a mapping."""
    text = FIXTURE_SOURCE.read_text(encoding="utf-8")
    pipe = f"{{{{ lookup('pipe', 'touch {marker}') }}}}"
    values = (
        f'        motd_text: "{pipe}"\n'
        "        greeting: \"{{ 'hel' ~ 'lo' }}\"\n"
        f"        nested: {{list: ['{{{{ 1 + 1 }}}}', 3], flag: true, ratio: 0.5}}\n"
    )
    for retention in ("log_retention_days: 7\n", "log_retention_days: 30\n"):
        text = text.replace(retention, retention + values)
    text = text.replace(
        "parity:\n",
        "parity:\n  greeting: {type: str, template: true, one_of: [\"{{ 'hel' ~ 'lo' }}\"]}\n",
    )
    path = directory / "source.yml"
    path.write_text(text, encoding="utf-8")
    return path


def _ansible(*argv: str) -> str:
    done = subprocess.run(
        argv, cwd=paths.REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_source_strings_reach_ansible_as_data_and_only_opted_in_ones_are_rendered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], empty_inventories: Path
) -> None:
    marker = tmp_path / "pwned"
    source = _source_with_values(tmp_path, marker)
    assert run_cli(["inventory", "--source", str(source)], capsys).code == EXIT_OK
    generated = (empty_inventories / "qa" / "hosts.yml").read_text(encoding="utf-8")
    assert "motd_text: !unsafe '{{ lookup(''pipe'', ''touch " in generated
    assert "greeting: '{{ ''hel'' ~ ''lo'' }}'" in generated  # opted in: no tag
    assert "log_retention_days: 7\n" in generated  # numbers and booleans stay native
    parsed = inventory.parse_generated(generated)["all"]["vars"]
    assert parsed["nested"] == {"list": ["{{ 1 + 1 }}", 3], "flag": True, "ratio": 0.5}
    assert isinstance(parsed["nested"]["list"][0], inventory.Unsafe)

    host = json.loads(
        _ansible("ansible-inventory", "-i", str(empty_inventories / "qa"), "--host", "qa-db-1")
    )
    assert host["motd_text"] == f"{{{{ lookup('pipe', 'touch {marker}') }}}}"
    assert host["log_retention_days"] == 7
    # What a play sees: Ansible renders every variable it uses (here on this machine only:
    # debug runs on the controller, -c local touches no host).
    for var, shown in (
        ("motd_text", f"{{{{ lookup('pipe', 'touch {marker}') }}}}"),
        ("nested", {"list": ["{{ 1 + 1 }}", 3], "flag": True, "ratio": 0.5}),
        ("greeting", "hello"),  # opted in: rendered
        ("log_retention_days", 7),
    ):
        out = _ansible(
            "ansible", "qa-db-1", "-i", str(empty_inventories / "qa"), "-c", "local",
            "-m", "ansible.builtin.debug", "-a", f"var={var}",
        )  # fmt: skip
        assert out.startswith("qa-db-1 | SUCCESS =>"), out
        assert yaml.safe_load(out.split("=>", 1)[1]) == {var: shown}, out
    assert not marker.exists(), "a value from the source ran a command on the controller"


def test_a_run_of_one_environment_writes_no_other_environments_inventory(
    empty_inventories: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Another environment's run may be reading its inventory right now (two people or two CI
    jobs on one controller), and that inventory is part of what its plan approved: a run of prod
    regenerates prod's inventory and leaves qa's as it found it."""
    qa_hosts = empty_inventories / "qa" / "hosts.yml"
    qa_hosts.parent.mkdir()
    qa_hosts.write_text("# qa's, as another run is using it\n", encoding="utf-8")
    # prod of the fixture is on real servers with no recorded host keys: the run stops there,
    # after its inventory was regenerated and before anything is contacted.
    result = run_cli(["prod", "--source", str(FIXTURE_SOURCE)], capsys)
    assert result.code == EXIT_INPUT, result
    assert "no recorded host keys for prod" in result.err
    assert (empty_inventories / "prod" / "hosts.yml").is_file()
    assert qa_hosts.read_text(encoding="utf-8") == "# qa's, as another run is using it\n"
    assert sorted(p.name for p in empty_inventories.iterdir()) == ["prod", "qa"]
