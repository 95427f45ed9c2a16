"""Comparing fingerprints (provisioner/live/compare.py): between two environments of the shipped
environments.yml, judged by its parity contract, and one environment against its own past.

The readings are made by hand, as the module would return them for a host: raw (with the host's
own name, address, environment...), so that every comparison goes through normalise.py first.
Shipped values relied on (environments.yml): app_workers staging 2, prod 4; app_db_pool_size qa 4,
staging 5; app_log_level qa debug, staging info; postgresql_shared_buffers qa 128MB, staging and
prod 256MB. qa has one host per group; staging and prod two app hosts and one db and web host.
"""

from __future__ import annotations

import pytest

from provisioner import paths
from provisioner.live import compare
from provisioner.live.compare import LiveDifference
from provisioner.live.hostprint import HostPrint
from provisioner.source.model import LoadedSource, LocalProvider, load_source

SERVICE_FILE = "/etc/systemd/system/csapp.service"
SERVICE = (
    "[Service]\n"
    "User=csapp\n"
    "EnvironmentFile=/etc/csapp.env\n"
    "ExecStart=/usr/bin/gunicorn --workers {workers} --bind 0.0.0.0:8000 \\\n"
    "  --log-level info --access-logfile - csapp.app:app\n"
    "Restart=on-failure\n"
    "RestartSec=2\n"
)
ENV_FILE = "/etc/csapp.env"
ENV_TEXT = (
    "CSAPP_LOG_LEVEL={level}\n"
    "CSAPP_DB_HOST={db}\n"
    "CSAPP_DB_PASSWORD=<secret>\n"
    "CSAPP_DB_POOL_SIZE={pool}\n"
)
PG_TEXT = (
    "listen_addresses = '127.0.0.1,{address}'\n"
    "max_connections = 100\n"
    "shared_buffers = '{buffers}'\n"
    "work_mem = '4MB'\n"
)
MOTD = (
    "\n"
    "  {host} - environment: {env}\n"
    "  Managed by the provisioner; local changes are overwritten and reported as drift.\n"
)
MOTD_TAIL = "  Managed by the provisioner; local changes are overwritten and reported as drift."
CHANGED = "changed since the last gated apply"
UNEXPLAINED = "not explained by the parity contract"


@pytest.fixture(scope="module")
def loaded() -> LoadedSource:
    return load_source(paths.DEFAULT_SOURCE)


def declared(loaded: LoadedSource, env: str, group: str, var: str) -> str:
    return str(loaded.source.environments[env].vars[group][var])


def reading(loaded: LoadedSource, env: str, host: str) -> HostPrint:
    """What the module would return for `host`: the same setup everywhere, raw."""
    environment = loaded.source.environments[env]
    address = environment.address_of(host)
    group = environment.hosts[host].groups[0]
    assert isinstance(environment.provider, LocalProvider)
    gateway = environment.provider.subnet.network_address + 1
    printed: HostPrint = {
        "system": {"hostname": host, "os": "debian 12 bookworm", "cpus": "2"},
        "packages": {"less": "590-2.1~deb12u2", "rsync": "3.2.7-1"},
        "units": {"ssh.service": "enabled active"},
        "sockets": {f"tcp {address}:22": "sshd"},
        "sysctl": {"kernel.hostname": host, "net.core.somaxconn": "4096"},
        "users": {"root": "uid=0 gid=0 home=/root shell=/bin/bash"},
        "groups": {"root": "gid=0 members=", env: "gid=1500 members="},
        "files": {
            "/etc/motd": MOTD.format(host=host, env=env),
            "/etc/hostname": f"{host}\n",
            "/etc/resolv.conf": f"nameserver {gateway}\n",
        },
        "settings": {},
    }
    if group == "app":
        printed["packages"]["gunicorn"] = "20.1.0-6"
        printed["units"]["csapp.service"] = "enabled active"
        printed["sockets"]["tcp 0.0.0.0:8000"] = "gunicorn"
        db = environment.address_of(environment.hosts_in("db")[0])
        printed["settings"]["db"] = f"{db}:5432"
    elif group == "db":
        printed["packages"]["postgresql-15"] = "15.6-0+deb12u1"
        printed["sockets"][f"tcp {address}:5432"] = "postgres"
    else:
        printed["packages"]["nginx"] = "1.22.1-9"
        printed["sockets"]["tcp 0.0.0.0:80"] = "nginx"
    return printed


def readings(loaded: LoadedSource, *envs: str) -> compare.Readings:
    return {
        env: {host: reading(loaded, env, host) for host in loaded.source.environments[env].hosts}
        for env in envs
    }


def with_service(loaded: LoadedSource, found: compare.Readings, workers: dict[str, str]) -> None:
    """The unit file on every app host, with each environment's number of workers."""
    for env, hosts in found.items():
        for host in loaded.source.environments[env].hosts_in("app"):
            hosts[host]["files"][SERVICE_FILE] = SERVICE.format(workers=workers[env])


def service_diff(old: str, new: str, hosts: tuple[str, str]) -> list[str]:
    return [
        f"--- {SERVICE_FILE} on {hosts[0]}",
        f"+++ {SERVICE_FILE} on {hosts[1]}",
        "@@ -2,5 +2,5 @@",
        " User=csapp",
        " EnvironmentFile=/etc/csapp.env",
        f"-ExecStart=/usr/bin/gunicorn --workers {old} --bind 0.0.0.0:8000 \\",
        f"+ExecStart=/usr/bin/gunicorn --workers {new} --bind 0.0.0.0:8000 \\",
        "   --log-level info --access-logfile - csapp.app:app",
        " Restart=on-failure",
    ]


STAGING_APP = ["staging-app-1", "staging-app-2"]
PROD_APP = ["prod-app-1", "prod-app-2"]


# --- between environments ---------------------------------------------------------------------


def test_the_hand_built_readings_rely_on_the_shipped_values(loaded: LoadedSource) -> None:
    assert declared(loaded, "staging", "app", "app_workers") == "2"
    assert declared(loaded, "prod", "app", "app_workers") == "4"
    assert loaded.source.environments["staging"].hosts_in("app") == STAGING_APP
    assert loaded.source.environments["prod"].hosts_in("app") == PROD_APP
    assert loaded.source.environments["prod"].hosts_in("db") == ["prod-db-1"]


@pytest.mark.parametrize("envs", [["staging", "prod"], ["qa", "staging"], ["prod", "qa"]])
def test_identical_setups_have_no_difference(loaded: LoadedSource, envs: list[str]) -> None:
    found = readings(loaded, *envs)
    a, b = (next(iter(found[env])) for env in envs)
    assert found[envs[0]][a] != found[envs[1]][b]  # raw, they differ in names and addresses
    assert compare.between(loaded, envs, found) == []


def test_normalised_readings_of_the_same_group_are_equal(loaded: LoadedSource) -> None:
    views = compare.normalised(loaded, readings(loaded, "staging", "prod"))
    assert views["staging"]["staging-app-2"] == views["prod"]["prod-app-1"]
    assert views["prod"]["prod-db-1"]["sockets"] == {
        "tcp <self.ip>:22": "sshd",
        "tcp <self.ip>:5432": "postgres",
    }
    assert views["prod"]["prod-app-1"]["settings"] == {"db": "<db[0].ip>:5432"}
    assert views["prod"]["prod-app-1"]["groups"] == {
        "root": "gid=0 members=",
        "<env>": "gid=1500 members=",
    }


def test_each_environments_declared_value_is_an_allowed_difference(loaded: LoadedSource) -> None:
    found = readings(loaded, "staging", "prod")
    with_service(loaded, found, {"staging": "2", "prod": "4"})
    assert compare.between(loaded, ["staging", "prod"], found) == [
        LiveDifference(
            group="app",
            kind="files",
            name=SERVICE_FILE,
            hosts=PROD_APP,
            reference=STAGING_APP,
            allowed=True,
            reason="allowed: app_workers (staging 2, prod 4)",
            diff=service_diff("2", "4", ("staging-app-1, staging-app-2", "prod-app-1, prod-app-2")),
        )
    ]


@pytest.mark.parametrize(
    "workers",
    [
        "3",  # neither environment's declared value
        "4 --threads 2",  # prod's value, and another change on the same line
        "04",  # not the literal 4
    ],
)
def test_a_value_other_than_the_declared_one_is_unexplained(
    loaded: LoadedSource, workers: str
) -> None:
    found = readings(loaded, "staging", "prod")
    with_service(loaded, found, {"staging": "2", "prod": workers})
    assert compare.between(loaded, ["staging", "prod"], found) == [
        LiveDifference(
            group="app",
            kind="files",
            name=SERVICE_FILE,
            hosts=PROD_APP,
            reference=STAGING_APP,
            allowed=False,
            reason=UNEXPLAINED,
            diff=service_diff(
                "2", workers, ("staging-app-1, staging-app-2", "prod-app-1, prod-app-2")
            ),
        )
    ]


def test_the_contract_explains_several_variables_and_groups(loaded: LoadedSource) -> None:
    """qa against staging: two variables on one file of the app group, one in the db group. In
    app the reference is staging's (two hosts to qa's one), in db (one each) qa's, the first."""
    found = readings(loaded, "qa", "staging")
    for env in ("qa", "staging"):
        environment = loaded.source.environments[env]
        db = environment.address_of(environment.hosts_in("db")[0])
        for host in environment.hosts_in("app"):
            found[env][host]["files"][ENV_FILE] = ENV_TEXT.format(
                level=declared(loaded, env, "app", "app_log_level"),
                db=db,
                pool=declared(loaded, env, "app", "app_db_pool_size"),
            )
        for host in environment.hosts_in("db"):
            found[env][host]["settings"]["postgresql"] = PG_TEXT.format(
                address=environment.address_of(host),
                buffers=declared(loaded, env, "db", "postgresql_shared_buffers"),
            )
    assert compare.between(loaded, ["qa", "staging"], found) == [
        LiveDifference(
            group="app",
            kind="files",
            name=ENV_FILE,
            hosts=["qa-app-1"],
            reference=STAGING_APP,
            allowed=True,
            reason="allowed: app_db_pool_size (staging 5, qa 4), "
            "app_log_level (staging info, qa debug)",
            diff=[
                f"--- {ENV_FILE} on staging-app-1, staging-app-2",
                f"+++ {ENV_FILE} on qa-app-1",
                "@@ -1,4 +1,4 @@",
                "-CSAPP_LOG_LEVEL=info",
                "+CSAPP_LOG_LEVEL=debug",
                " CSAPP_DB_HOST=<db[0].ip>",
                " CSAPP_DB_PASSWORD=<secret>",
                "-CSAPP_DB_POOL_SIZE=5",
                "+CSAPP_DB_POOL_SIZE=4",
            ],
        ),
        LiveDifference(
            group="db",
            kind="settings",
            name="postgresql",
            hosts=["staging-db-1"],
            reference=["qa-db-1"],
            allowed=True,
            reason="allowed: postgresql_shared_buffers (qa 128MB, staging 256MB)",
            diff=[
                "--- postgresql on qa-db-1",
                "+++ postgresql on staging-db-1",
                "@@ -1,4 +1,4 @@",
                " listen_addresses = '127.0.0.1,<self.ip>'",
                " max_connections = 100",
                "-shared_buffers = '128MB'",
                "+shared_buffers = '256MB'",
                " work_mem = '4MB'",
            ],
        ),
    ]


def test_a_hand_edit_on_one_app_host_is_unexplained_on_that_host(loaded: LoadedSource) -> None:
    found = readings(loaded, "staging", "prod")
    found["staging"]["staging-app-2"]["files"]["/etc/motd"] += "hand edit\n"
    assert compare.between(loaded, ["staging", "prod"], found) == [
        LiveDifference(
            group="app",
            kind="files",
            name="/etc/motd",
            hosts=["staging-app-2"],
            reference=["staging-app-1", "prod-app-1", "prod-app-2"],
            allowed=False,
            reason="hosts of app in staging disagree",
            diff=[
                "--- /etc/motd on staging-app-1, prod-app-1, prod-app-2",
                "+++ /etc/motd on staging-app-2",
                "@@ -2,2 +2,3 @@",
                "   <self> - environment: <env>",
                f" {MOTD_TAIL}",
                "+hand edit",
            ],
        )
    ]


def test_even_a_declared_value_on_one_host_of_an_environment_is_unexplained(
    loaded: LoadedSource,
) -> None:
    """prod's own value, but on one of its two app hosts only: the hosts disagree."""
    found = readings(loaded, "staging", "prod")
    with_service(loaded, found, {"staging": "2", "prod": "2"})
    found["prod"]["prod-app-2"]["files"][SERVICE_FILE] = SERVICE.format(workers="4")
    assert compare.between(loaded, ["staging", "prod"], found) == [
        LiveDifference(
            group="app",
            kind="files",
            name=SERVICE_FILE,
            hosts=["prod-app-2"],
            reference=["staging-app-1", "staging-app-2", "prod-app-1"],
            allowed=False,
            reason="hosts of app in prod disagree",
            diff=service_diff("2", "4", ("staging-app-1, staging-app-2, prod-app-1", "prod-app-2")),
        )
    ]


def test_the_same_change_in_both_environments_names_both(loaded: LoadedSource) -> None:
    found = readings(loaded, "staging", "prod")
    found["staging"]["staging-app-2"]["sysctl"]["net.core.somaxconn"] = "128"
    found["prod"]["prod-app-2"]["sysctl"]["net.core.somaxconn"] = "128"
    assert compare.between(loaded, ["staging", "prod"], found) == [
        LiveDifference(
            group="app",
            kind="sysctl",
            name="net.core.somaxconn",
            hosts=["staging-app-2", "prod-app-2"],
            reference=["staging-app-1", "prod-app-1"],
            allowed=False,
            reason="hosts of app in prod, staging disagree",
            diff=["-4096", "+128"],
        )
    ]


def test_an_extra_package_on_the_single_db_host(loaded: LoadedSource) -> None:
    found = readings(loaded, "staging", "prod")
    found["prod"]["prod-db-1"]["packages"]["postgresql-contrib"] = "15+248"
    assert compare.between(loaded, ["staging", "prod"], found) == [
        LiveDifference(
            group="db",
            kind="packages",
            name="postgresql-contrib",
            hosts=["prod-db-1"],
            reference=["staging-db-1"],
            allowed=False,
            reason=UNEXPLAINED,
            diff=["-<absent>", "+15+248"],
        )
    ]


def test_a_tie_takes_the_first_environment_as_the_reference(loaded: LoadedSource) -> None:
    """One db host each: the package is on staging's, so in (staging, prod) the difference is
    prod's lack of it; in (prod, staging) staging's extra package."""
    found = readings(loaded, "staging", "prod")
    found["staging"]["staging-db-1"]["packages"]["postgresql-contrib"] = "15+248"
    assert compare.between(loaded, ["staging", "prod"], found) == [
        LiveDifference(
            group="db",
            kind="packages",
            name="postgresql-contrib",
            hosts=["prod-db-1"],
            reference=["staging-db-1"],
            allowed=False,
            reason=UNEXPLAINED,
            diff=["-15+248", "+<absent>"],
        )
    ]
    assert compare.between(loaded, ["prod", "staging"], found) == [
        LiveDifference(
            group="db",
            kind="packages",
            name="postgresql-contrib",
            hosts=["staging-db-1"],
            reference=["prod-db-1"],
            allowed=False,
            reason=UNEXPLAINED,
            diff=["-<absent>", "+15+248"],
        )
    ]


def test_a_text_file_absent_on_one_side(loaded: LoadedSource) -> None:
    found = readings(loaded, "staging", "prod")
    found["prod"]["prod-web-1"]["files"]["/etc/nginx/conf.d/extra.conf"] = "a\nb\n"
    assert compare.between(loaded, ["staging", "prod"], found) == [
        LiveDifference(
            group="web",
            kind="files",
            name="/etc/nginx/conf.d/extra.conf",
            hosts=["prod-web-1"],
            reference=["staging-web-1"],
            allowed=False,
            reason=UNEXPLAINED,
            diff=[
                "--- /etc/nginx/conf.d/extra.conf on staging-web-1",
                "+++ /etc/nginx/conf.d/extra.conf on prod-web-1",
                "@@ -1 +1,2 @@",
                "-<absent>",
                "+a",
                "+b",
            ],
        )
    ]


def test_a_secret_placeholder_is_compared_and_shown_masked(loaded: LoadedSource) -> None:
    found = readings(loaded, "staging", "prod")
    for env, hosts in found.items():
        for host in loaded.source.environments[env].hosts_in("app"):
            hosts[host]["settings"]["gunicorn"] = "password=<secret>\ntimeout=30"
    found["prod"]["prod-app-1"]["settings"]["gunicorn"] = "password=<secret>\ntimeout=60"
    (difference,) = compare.between(loaded, ["staging", "prod"], found)
    assert difference.diff == [
        "--- gunicorn on staging-app-1, staging-app-2, prod-app-2",
        "+++ gunicorn on prod-app-1",
        "@@ -1,2 +1,2 @@",
        " password=<secret>",
        "-timeout=30",
        "+timeout=60",
    ]
    views = compare.normalised(loaded, found)
    assert views["prod"]["prod-app-1"]["settings"]["gunicorn"] == "password=<secret>\ntimeout=60"


def test_as_dict_names_the_verdict(loaded: LoadedSource) -> None:
    found = readings(loaded, "staging", "prod")
    with_service(loaded, found, {"staging": "2", "prod": "4"})
    found["prod"]["prod-db-1"]["packages"]["postgresql-contrib"] = "15+248"
    allowed, unexplained = compare.between(loaded, ["staging", "prod"], found)
    assert allowed.as_dict()["verdict"] == "allowed"
    assert unexplained.as_dict() == {
        "group": "db",
        "kind": "packages",
        "name": "postgresql-contrib",
        "hosts": ["prod-db-1"],
        "reference": ["staging-db-1"],
        "verdict": "unexplained",
        "reason": UNEXPLAINED,
        "diff": ["-<absent>", "+15+248"],
    }


@pytest.mark.parametrize("prod_text", ["a\nb", "a\r\nb\r\n"])
def test_a_difference_no_contract_variable_explains_is_not_allowed(
    loaded: LoadedSource, prod_text: str
) -> None:
    """Only a final newline or the line endings differ: the lines compare equal, and still no
    contract variable is what differs."""
    found = readings(loaded, "staging", "prod")
    for env, text in (("staging", "a\nb\n"), ("prod", prod_text)):
        for host in loaded.source.environments[env].hosts_in("app"):
            found[env][host]["files"]["/etc/csapp/extra.conf"] = text
    (difference,) = compare.between(loaded, ["staging", "prod"], found)
    assert (difference.hosts, difference.reference) == (PROD_APP, STAGING_APP)
    assert (difference.allowed, difference.reason) == (False, UNEXPLAINED)


UPSTREAM = "/etc/nginx/conf.d/csapp.conf"


def upstream(*addresses: str) -> str:
    return "upstream csapp {\n" + "".join(f"  server {a}:8000;\n" for a in addresses) + "}\n"


def with_upstreams(loaded: LoadedSource, qa: str, staging: str) -> compare.Readings:
    found = readings(loaded, "qa", "staging")
    found["qa"]["qa-web-1"]["files"][UPSTREAM] = qa
    found["staging"]["staging-web-1"]["files"][UPSTREAM] = staging
    return found


def test_one_line_per_peer_of_a_group_sized_differently_is_allowed(loaded: LoadedSource) -> None:
    """qa has one app host, staging two: nginx lists each environment's own app hosts."""
    found = with_upstreams(loaded, upstream("198.18.1.10"), upstream("198.18.2.10", "198.18.2.11"))
    assert compare.between(loaded, ["qa", "staging"], found) == [
        LiveDifference(
            group="web",
            kind="files",
            name=UPSTREAM,
            hosts=["staging-web-1"],
            reference=["qa-web-1"],
            allowed=True,
            reason="allowed: qa has 1 app host(s), staging 2",
            diff=[
                f"--- {UPSTREAM} on qa-web-1",
                f"+++ {UPSTREAM} on staging-web-1",
                "@@ -1,3 +1,4 @@",
                " upstream csapp {",
                "   server <app[0].ip>:8000;",
                "+  server <app[1].ip>:8000;",
                " }",
            ],
        )
    ]


def test_the_same_peers_between_groups_of_the_same_size_are_not_collapsed(
    loaded: LoadedSource,
) -> None:
    """staging and prod both have two app hosts: prod's nginx missing one is unexplained."""
    found = readings(loaded, "staging", "prod")
    found["staging"]["staging-web-1"]["files"][UPSTREAM] = upstream("198.18.2.10", "198.18.2.11")
    found["prod"]["prod-web-1"]["files"][UPSTREAM] = upstream("198.18.3.10")
    (difference,) = compare.between(loaded, ["staging", "prod"], found)
    assert (difference.hosts, difference.allowed, difference.reason) == (
        ["prod-web-1"],
        False,
        UNEXPLAINED,
    )


@pytest.mark.parametrize(
    "staging",
    [
        ("198.18.2.11",),  # staging-app-1 missing from staging's nginx
        ("198.18.2.11", "198.18.2.11"),  # staging-app-2 twice, staging-app-1 never
        ("198.18.2.10", "198.18.2.10"),  # staging-app-1 twice, staging-app-2 never
    ],
)
def test_the_wrong_peers_of_a_group_sized_differently_are_unexplained(
    loaded: LoadedSource, staging: tuple[str, ...]
) -> None:
    found = with_upstreams(loaded, upstream("198.18.1.10"), upstream(*staging))
    (difference,) = compare.between(loaded, ["qa", "staging"], found)
    assert (difference.hosts, difference.allowed) == (["staging-web-1"], False)


# --- against the past -------------------------------------------------------------------------


def test_since_an_unchanged_reading_is_nothing(loaded: LoadedSource) -> None:
    then = readings(loaded, "staging")["staging"]
    now = readings(loaded, "staging")["staging"]
    assert compare.since(loaded, "staging", then, now) == []


def changed(group: str, kind: str, name: str, host: str, diff: list[str]) -> LiveDifference:
    return LiveDifference(group, kind, name, [host], [host], False, CHANGED, diff)


def gone(group: str, host: str, reason: str) -> LiveDifference:
    return LiveDifference(group, "host", host, [host], [], False, reason)


def test_since_a_changed_sysctl_and_a_new_user_on_one_host(loaded: LoadedSource) -> None:
    then = readings(loaded, "staging")["staging"]
    now = readings(loaded, "staging")["staging"]
    now["staging-app-2"]["sysctl"]["net.core.somaxconn"] = "128"
    now["staging-app-2"]["users"]["mallory"] = "uid=1001 gid=1001 home=/home/mallory shell=/bin/sh"
    assert compare.since(loaded, "staging", then, now) == [
        changed("app", "sysctl", "net.core.somaxconn", "staging-app-2", ["-4096", "+128"]),
        changed(
            "app",
            "users",
            "mallory",
            "staging-app-2",
            ["-<absent>", "+uid=1001 gid=1001 home=/home/mallory shell=/bin/sh"],
        ),
    ]


def test_since_a_text_change_is_a_diff_from_then_to_now(loaded: LoadedSource) -> None:
    then = readings(loaded, "prod")["prod"]
    now = readings(loaded, "prod")["prod"]
    now["prod-db-1"]["files"]["/etc/motd"] = MOTD.format(host="prod-db-1", env="prod") + "x\n"
    del now["prod-db-1"]["files"]["/etc/hostname"]
    hostname_diff = [
        "--- /etc/hostname on then",
        "+++ /etc/hostname on now",
        "@@ -1 +1 @@",
        "-<self>",
        "+<absent>",
    ]
    motd_diff = [
        "--- /etc/motd on then",
        "+++ /etc/motd on now",
        "@@ -2,2 +2,3 @@",
        "   <self> - environment: <env>",
        f" {MOTD_TAIL}",
        "+x",
    ]
    assert compare.since(loaded, "prod", then, now) == [
        changed("db", "files", "/etc/hostname", "prod-db-1", hostname_diff),
        changed("db", "files", "/etc/motd", "prod-db-1", motd_diff),
    ]


def test_since_a_host_missing_from_either_reading_is_reported(loaded: LoadedSource) -> None:
    then = readings(loaded, "staging")["staging"]
    now = readings(loaded, "staging")["staging"]
    del now["staging-web-1"]
    del then["staging-db-1"]
    then["staging-app-3"] = reading(loaded, "staging", "staging-app-2")  # gone from the source
    assert compare.since(loaded, "staging", then, now) == [
        gone("-", "staging-app-3", "not read now"),
        gone("db", "staging-db-1", "not in the recorded reading"),
        gone("web", "staging-web-1", "not read now"),
    ]


def test_since_a_secret_placeholder_stays_masked(loaded: LoadedSource) -> None:
    then = readings(loaded, "staging")["staging"]
    now = readings(loaded, "staging")["staging"]
    then["staging-app-1"]["files"][ENV_FILE] = "CSAPP_DB_PASSWORD=<secret>\nCSAPP_DB_POOL_SIZE=5\n"
    now["staging-app-1"]["files"][ENV_FILE] = "CSAPP_DB_PASSWORD=<secret>\nCSAPP_DB_POOL_SIZE=9\n"
    assert compare.since(loaded, "staging", then, now) == [
        changed(
            "app",
            "files",
            ENV_FILE,
            "staging-app-1",
            [
                f"--- {ENV_FILE} on then",
                f"+++ {ENV_FILE} on now",
                "@@ -1,2 +1,2 @@",
                " CSAPP_DB_PASSWORD=<secret>",
                "-CSAPP_DB_POOL_SIZE=5",
                "+CSAPP_DB_POOL_SIZE=9",
            ],
        )
    ]


def test_a_contract_value_never_explains_a_one_line_kind(loaded: LoadedSource) -> None:
    """staging runs 2 workers and prod 4: a package at -2 on staging's app hosts and -4 on
    prod's is drift, not app_workers."""
    found = readings(loaded, "staging", "prod")
    for env, version in (("staging", "1.0-2"), ("prod", "1.0-4")):
        for host in loaded.source.environments[env].hosts_in("app"):
            found[env][host]["packages"]["libfoo"] = version
    (difference,) = compare.between(loaded, ["staging", "prod"], found)
    assert (difference.kind, difference.name, difference.allowed) == ("packages", "libfoo", False)
    assert difference.hosts == ["prod-app-1", "prod-app-2"]
    assert difference.reason == UNEXPLAINED
