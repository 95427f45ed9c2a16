"""The source of truth: what every environment is made of, validated.

`load_source` is the only way in: it reads the YAML file (yamlfile.load), checks its shape with
pydantic and its meaning with plain rules, and reports the first mistake as one InputError with
file, line and key path. Nothing here writes anything.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from provisioner.errors import InputError, Location
from provisioner.source import yamlfile
from provisioner.source.executor import Executor, parse_executor

# Names end up in container names, network names, vault ids and Ansible group names.
EnvName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]{0,15}$")]
GroupName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,30}$")]
HostName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
VarName = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]*$")]

# Local hosts live only on networks our own run creates, in the range reserved for benchmarks.
LOCAL_RANGE = ipaddress.IPv4Network("198.18.0.0/15")
# The first /24 of it is the controller's own: its services for local hosts (the package
# cache, provisioner/hosts/pkgcache.py) listen there, on this machine's loopback. No environment
# may use it.
CONTROLLER_RANGE = ipaddress.IPv4Network("198.18.0.0/24")
FIRST_HOST_OFFSET = 10  # .1 is podman's gateway; leave room below the hosts
RESERVED_GROUPS = {"all", "ungrouped"}
LOAD_GATE_GROUP = "web"  # the load test's entry point is the first host of this group
# Variables the tool sets itself in every generated inventory.
RESERVED_VAR_PREFIXES = ("ansible_", "provisioner_")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _written_as_text(value: Any) -> Any:
    """pydantic's IPv4Network also takes an integer (3323068672 is 198.18.1.0/32): a subnet
    is written as text, a.b.c.d/n."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a subnet; write it as text, e.g. 198.18.2.0/24")
    return value


class LocalProvider(_Strict):
    """Hosts are podman containers on this machine, on a network of their own."""

    kind: Literal["local"]
    subnet: Annotated[ipaddress.IPv4Network, BeforeValidator(_written_as_text), Field(strict=False)]


class SshProvider(_Strict):
    """Hosts are real servers reached over SSH, with host keys checked."""

    kind: Literal["ssh"]
    user: Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")]
    key: Annotated[str, StringConstraints(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)] = 22


Provider = Annotated[LocalProvider | SshProvider, Field(discriminator="kind")]


def _address(value: str) -> str:
    """An IP address or a DNS name: what SSH can connect to."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not _DNS_NAME.fullmatch(value) or value.replace(".", "").isdigit():
        raise ValueError(f"{value!r} is neither an IP address nor a DNS name")
    return value


_DNS_NAME = re.compile(
    r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*",
    re.IGNORECASE,
)


def _executor_url(value: str) -> str:
    try:
        return parse_executor(value).url
    except InputError as exc:
        raise ValueError(str(exc)) from None


ExecutorUrl = Annotated[str, AfterValidator(_executor_url)]


def _ledger_url(value: str) -> str:
    """The team's ledger for an environment: a URL without a password (the source is
    committed; the password stays in $PROVISION_LEDGER_URL)."""
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:
        raise ValueError(f"{value!r} is not a URL") from None
    if parts.scheme not in ("postgresql", "postgres", "sqlite"):
        raise ValueError("a ledger is named as postgresql://USER@HOST:PORT/DB or sqlite:///PATH")
    if password is not None or "password" in parse_qs(parts.query):
        raise ValueError(
            "name the ledger without its password: the source is committed; the password "
            "stays in PROVISION_LEDGER_URL"
        )
    return value


LedgerUrl = Annotated[str, StringConstraints(min_length=1), AfterValidator(_ledger_url)]


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class Host(_Strict):
    groups: Annotated[list[GroupName], Field(min_length=1)]
    address: Annotated[str, AfterValidator(_address)] | None = None


class Capacity(_Strict):
    """Minimums a host must have before anything is changed on it (the pre-flight check)."""

    cpus: Annotated[int, Field(ge=1, le=4096)] | None = None
    memory_mb: Annotated[int, Field(ge=1, le=1 << 24)] | None = None  # up to 16 TiB
    disk_free_mb: Annotated[int, Field(ge=1, le=1 << 30)] | None = None  # free on /; 1 PiB


class LoadGate(_Strict):
    """The load test after a deploy (locust, headless, against the environment's entry point),
    and what it must achieve for the deploy to stand."""

    # Numbers are strict (no "500", no true) and bounded; a float also takes an integer.
    users: Annotated[int, Field(ge=1, le=10000)]
    spawn_rate: Annotated[float, Field(gt=0, le=10000, allow_inf_nan=False)]
    duration: Annotated[int, Field(ge=1, le=3600)]  # seconds of load
    p95_ms: Annotated[float, Field(gt=0, le=600_000, allow_inf_nan=False)]  # up to 10 min
    max_error_rate: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
    # The stepped load from the peak (deploy/loadplan.py), when a peak applies: seconds each
    # step lasts (short in the shipped source, so `make test`'s gate stays ~15 s; prod's real
    # runs want a minute or more), and what every step up to 100% of the target must hold on
    # the hosts, sampled while it runs (deploy/hostsample.py).
    step_duration: Annotated[int, Field(ge=1, le=3600)] = 60
    max_cpu: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 0.9  # user+system
    # PostgreSQL's connections (all backends of clients) over its max_connections.
    max_db_connections_share: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 0.8
    # A step's latency may be this much slower (median, as a share: 0.25 = 25%) than the same
    # step of the last release that passed the gate before a significant difference (the
    # Mann-Whitney U test, deploy/mannwhitney.py) fails the gate.
    max_regression: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] = 0.25
    # ... and at least this many milliseconds slower (median): a few milliseconds of noise on a
    # busy machine are a large share of a fast service's latency.
    min_regression_ms: Annotated[float, Field(ge=0, le=600_000, allow_inf_nan=False)] = 5


# A request of the mix: an HTTP method and a path, as the load test names it ("GET /tickets").
_REQUEST = re.compile(r"(GET|HEAD|POST|PUT|PATCH|DELETE) /[A-Za-z0-9_./\[\]-]*")


def _request_name(value: str) -> str:
    if not _REQUEST.fullmatch(value):
        raise ValueError(f"{value!r} is not a request: write METHOD /path, e.g. 'POST /tickets'")
    return value


RequestName = Annotated[str, AfterValidator(_request_name)]
MIX_TOLERANCE = 1e-6  # shares are decimals: 0.1 + 0.2 is not exactly 0.3


class Peak(_Strict):
    """The load an environment that serves users must carry: its expected peak, what the
    requests are, and the margin above it that capacity is sized for (issue 18)."""

    # Numbers are strict (no "500", no true) and bounded; a float also takes an integer.
    requests_per_second: Annotated[float, Field(gt=0, le=1_000_000, allow_inf_nan=False)]
    # Share of each request in the peak (each > 0, together 1).
    mix: Annotated[
        dict[RequestName, Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]],
        Field(min_length=1),
    ]
    # Capacity is sized for the peak times this (more than 1, at most 10).
    headroom: Annotated[float, Field(gt=1, le=10, allow_inf_nan=False)]
    # How long a request holds its connections at peak (response time), in milliseconds: with
    # the rate, the requests in flight (Little's law), which the capacity rules size nginx by.
    latency_ms: Annotated[float, Field(gt=0, le=600_000, allow_inf_nan=False)]


class Environment(_Strict):
    description: str = ""
    provider: Provider
    # Changes need a plan approved by someone else first (see provisioner/deploy/approval.py).
    approval_required: bool = False
    # Strict: `yes` (1 h in YAML 1.1) and "24" are refused; at most 30 days.
    approval_max_age_hours: Annotated[float, Field(gt=0, le=720, allow_inf_nan=False)] = 24.0
    # The team's ledger (its URL without the password): an apply of an approval_required
    # environment refuses any other, so an approval in a private ledger counts for nothing.
    ledger: LedgerUrl | None = None
    # Applies need the same bundle to have passed apply and gate there first (promotion.py).
    promoted_from: EnvName | None = None
    # Pre-flight minimums by group ("all" for every host); a host must meet those of all its
    # groups.
    capacity: dict[str, Capacity] = Field(default_factory=dict)
    # The load test of the post-deploy gate; without it the gate checks health and verifies.
    load_gate: LoadGate | None = None
    # The expected peak of live users (environments that serve users: prod).
    peak: Peak | None = None
    hosts: Annotated[dict[HostName, Host], Field(min_length=1)]
    # Per-environment values, by group ("all" for every host): the few things that may differ.
    vars: dict[str, dict[VarName, Any]] = Field(default_factory=dict)
    # Where Ansible runs: on this machine (unset), or on execution nodes over SSH, one URL
    # (ssh://[user@]host[:port]) or several (the hosts are then split into slices, one a node).
    executor: (
        Annotated[list[ExecutorUrl], BeforeValidator(_one_or_many), Field(min_length=1)] | None
    ) = None

    def executors(self) -> list[Executor]:
        return [parse_executor(url) for url in self.executor or []]

    def minimums(self, host: str) -> dict[str, int]:
        """The strictest minimum of each kind over the host's groups and "all"."""
        groups = ["all", *self.hosts[host].groups]
        found: dict[str, int] = {}
        for spec in (self.capacity[g] for g in groups if g in self.capacity):
            for key, value in spec.model_dump(exclude_none=True).items():
                found[key] = max(found.get(key, 0), value)
        return found

    def hosts_in(self, group: str) -> list[str]:
        return sorted(name for name, host in self.hosts.items() if group in host.groups)

    def address_of(self, host: str) -> str:
        """The address Ansible connects to; local hosts get a fixed one from the subnet."""
        return self.addresses()[host]

    def addresses(self) -> dict[str, str]:
        """Every host's address: local hosts get .10, .11, ... in the order of their names."""
        found: dict[str, str] = {}
        for index, name in enumerate(sorted(self.hosts)):
            spec = self.hosts[name]
            if spec.address is not None:
                found[name] = str(spec.address)
            elif isinstance(self.provider, LocalProvider):
                found[name] = str(self.provider.subnet.network_address + FIRST_HOST_OFFSET + index)
            else:  # validation makes this unreachable
                raise ValueError(f"host {name!r} has no address")
        return found


class Group(_Strict):
    description: str = ""


class ParityRule(_Strict):
    """How one variable may differ between environments (the parity contract).

    `type` and the bounds constrain each environment's value; `at_most`/`at_least` name another
    environment whose value bounds this variable everywhere (e.g. staging's app_workers <= prod's).
    """

    type: Literal["int", "str", "bool"]
    description: str = ""
    min: int | None = None
    max: int | None = None
    one_of: list[str | int | bool] | None = None
    pattern: str | None = None
    at_most: EnvName | None = None
    at_least: EnvName | None = None
    # Ansible renders the value as a template ({{ ... }}). Off: every string from the source
    # reaches Ansible as data (`!unsafe`), so no environment's value can run code on the
    # controller (a lookup('pipe', ...)) by being used. On only where a value must be one.
    template: bool = False


class Source(_Strict):
    groups: Annotated[dict[GroupName, Group], Field(min_length=1)]
    # Variables allowed to differ between environments; every other one must not.
    parity: dict[VarName, ParityRule] = Field(default_factory=dict)
    environments: Annotated[dict[EnvName, Environment], Field(min_length=1)]


class LoadedSource:
    """A validated source plus where it came from (for messages and provenance)."""

    def __init__(self, source: Source, loaded: yamlfile.Loaded) -> None:
        self.source = source
        self.loaded = loaded
        self.path = loaded.path

    def environment(self, name: str) -> Environment:
        try:
            return self.source.environments[name]
        except KeyError:
            known = ", ".join(self.source.environments)
            raise InputError(
                f"unknown environment {name!r}; {self.path} defines: {known}"
            ) from None


def load_source(path: Path) -> LoadedSource:
    loaded = yamlfile.load(path)
    if loaded.data is None:  # empty, comments only, or null: no line to point at
        raise InputError("no data; expected 'groups' and 'environments'", Location(path))
    if not isinstance(loaded.data, dict):
        raise InputError("expected a mapping with 'groups' and 'environments'", loaded.where(()))
    try:
        source = Source.model_validate(loaded.data)
    except ValidationError as exc:
        raise _input_error(exc, loaded) from None
    _check_meaning(source, loaded)
    return LoadedSource(source, loaded)


def _input_error(exc: ValidationError, loaded: yamlfile.Loaded) -> InputError:
    first = exc.errors(include_url=False)[0]
    # pydantic adds the union member ("local", "ssh") to the location; drop what the file
    # does not have, so the key path and its line are the user's.
    keys: list[str | int] = []
    for part in first["loc"]:
        if (keys[-1:] == ["provider"] and part in ("local", "ssh")) or part == "[key]":
            continue  # "[key]": the error is about the mapping key itself, already last
        keys.append(part)
    message = first["msg"]
    if first["type"] == "union_tag_not_found":
        message = f"required key {first['ctx']['discriminator']} is missing"
    elif first["type"] == "union_tag_invalid":
        keys.append(first["ctx"]["discriminator"].strip("'"))  # the line of the wrong value
        message = f"{first['ctx']['tag']!r} is not one of {first['ctx']['expected_tags']}"
    elif first["type"] == "value_error":  # our own validators: their message, without prefix
        message = str(first["ctx"]["error"])
    elif first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "string_pattern_mismatch":
        message = f"{first['input']!r} is not a valid name ({message})"
    elif first["type"] == "missing":
        message = "required key is missing"
    return InputError(message, loaded.where(tuple(keys)), yamlfile.format_keys(tuple(keys)))


def _check_meaning(source: Source, loaded: yamlfile.Loaded) -> None:
    """Rules that span several keys; each failure names the key it is about."""
    _Rules(source, loaded).check()


class _Rules:
    def __init__(self, source: Source, loaded: yamlfile.Loaded) -> None:
        self.source = source
        self.loaded = loaded
        self.host_env: dict[str, str] = {}  # host -> the environment that has it
        self.subnets: dict[str, ipaddress.IPv4Network] = {}

    def fail(self, message: str, *keys: str | int) -> InputError:
        return InputError(message, self.loaded.where(keys), yamlfile.format_keys(keys))

    def check(self) -> None:
        for name in self.source.groups:
            if name in RESERVED_GROUPS:
                raise self.fail(
                    f"{name!r} is reserved by Ansible; choose another group name", "groups", name
                )
        for env_name, env in self.source.environments.items():
            for host_name, host in env.hosts.items():
                self.check_host(env_name, env, host_name, host)
            self.check_environment(env_name, env)
        for var, rule in self.source.parity.items():
            self.check_rule(var, rule)

    def check_rule(self, var: str, rule: ParityRule) -> None:
        keys = ("parity", var)
        for bound in ("at_most", "at_least"):
            other = getattr(rule, bound)
            if other is not None and other not in self.source.environments:
                raise self.fail(f"{other!r} is not an environment", *keys, bound)
            if other is not None and rule.type != "int":
                raise self.fail(f"{bound} compares numbers; the type is {rule.type}", *keys, bound)
        if rule.type != "int" and (rule.min is not None or rule.max is not None):
            raise self.fail(f"min and max apply to int, not {rule.type}", *keys)
        if rule.template and rule.type != "str":
            raise self.fail(f"a template is a str, not {rule.type}", *keys, "template")
        if rule.min is not None and rule.max is not None and rule.min > rule.max:
            raise self.fail(f"min {rule.min} is above max {rule.max}", *keys)
        if rule.pattern is not None:
            if rule.type != "str":
                raise self.fail(f"a pattern applies to str, not {rule.type}", *keys, "pattern")
            try:
                re.compile(rule.pattern)
            except re.error as exc:
                raise self.fail(
                    f"not a valid regular expression: {exc}", *keys, "pattern"
                ) from None

    def check_host(self, env_name: str, env: Environment, name: str, host: Host) -> None:
        keys = ("environments", env_name, "hosts", name)
        if name in self.host_env:
            raise self.fail(
                f"host {name!r} is already in environment {self.host_env[name]!r}; "
                "a host belongs to one environment",
                *keys,
            )
        self.host_env[name] = env_name
        if name in self.source.groups or name in RESERVED_GROUPS:
            # Ansible matches a play's `hosts:` against groups and hosts alike: a play for
            # the group would also (or, for "all", only) be about this host, and vice versa.
            raise self.fail(
                f"host {name!r} has the name of "
                f"{'a group' if name in self.source.groups else 'an Ansible group'}; "
                "hosts and groups share one namespace in Ansible's patterns",
                *keys,
            )
        for i, group in enumerate(host.groups):
            if group not in self.source.groups:
                raise self.fail(
                    f"group {group!r} is not defined under 'groups' "
                    f"(defined: {', '.join(self.source.groups)})",
                    *keys,
                    "groups",
                    i,
                )
        if len(set(host.groups)) != len(host.groups):
            raise self.fail("a group is listed twice", *keys, "groups")
        if isinstance(env.provider, LocalProvider) and host.address is not None:
            raise self.fail(
                "local hosts get their address from the provider's subnet; remove 'address'",
                *keys,
                "address",
            )
        if isinstance(env.provider, SshProvider) and host.address is None:
            raise self.fail("an ssh host needs an 'address'", *keys)

    def check_environment(self, env_name: str, env: Environment) -> None:
        keys = ("environments", env_name)
        for group in self.source.groups:
            if not env.hosts_in(group):
                raise self.fail(
                    f"group {group!r} has no host in this environment; "
                    "every environment has the same groups",
                    *keys,
                    "hosts",
                )
        for group, values in env.vars.items():
            if group != "all" and group not in self.source.groups:
                raise self.fail(
                    f"group {group!r} is not defined under 'groups'", *keys, "vars", group
                )
            for var in values:
                if var.startswith(RESERVED_VAR_PREFIXES):
                    raise self.fail(
                        f"{var!r} is set by the tool; variables starting with "
                        f"{' or '.join(RESERVED_VAR_PREFIXES)} are reserved",
                        *keys,
                        "vars",
                        group,
                        var,
                    )
        for group in env.capacity:
            if group != "all" and group not in self.source.groups:
                raise self.fail(
                    f"group {group!r} is not defined under 'groups'", *keys, "capacity", group
                )
        if env.load_gate is not None and not env.hosts_in(LOAD_GATE_GROUP):
            raise self.fail(
                f"the load test goes to the first {LOAD_GATE_GROUP!r} host (nginx), and this "
                f"environment has none",
                *keys,
                "load_gate",
            )
        if env.peak is not None:
            self.check_peak(env_name, env.peak)
        if env.promoted_from is not None:
            self.check_promotion(env_name, env.promoted_from)
        if isinstance(env.provider, LocalProvider):
            self.check_subnet(env_name, env, env.provider.subnet)

    def check_peak(self, env_name: str, peak: Peak) -> None:
        total = sum(peak.mix.values())
        if abs(total - 1) > MIX_TOLERANCE:
            shares = " + ".join(f"{share:g}" for share in peak.mix.values())
            raise self.fail(
                f"the shares of the mix add up to {total:g} ({shares}), not 1",
                *("environments", env_name, "peak", "mix"),
            )

    def check_promotion(self, env_name: str, source: str) -> None:
        keys = ("environments", env_name, "promoted_from")
        if source == env_name:
            raise self.fail("an environment cannot be promoted from itself", *keys)
        chain = [env_name]
        upstream: str | None = source
        while upstream is not None:
            if upstream not in self.source.environments:
                raise self.fail(
                    f"{upstream!r} is not an environment "
                    f"(defined: {', '.join(self.source.environments)})",
                    *keys,
                )
            if upstream in chain:
                raise self.fail(f"promotion loop: {' <- '.join([*chain, upstream])}", *keys)
            chain.append(upstream)
            upstream = self.source.environments[upstream].promoted_from

    def check_subnet(self, env_name: str, env: Environment, subnet: ipaddress.IPv4Network) -> None:
        keys = ("environments", env_name, "provider", "subnet")
        if not subnet.subnet_of(LOCAL_RANGE):
            raise self.fail(
                f"{subnet} is outside {LOCAL_RANGE}, the only range local hosts may use", *keys
            )
        if subnet.num_addresses - FIRST_HOST_OFFSET - 1 < len(env.hosts):
            raise self.fail(f"{subnet} is too small for {len(env.hosts)} hosts", *keys)
        for other, other_subnet in self.subnets.items():
            if subnet.overlaps(other_subnet):
                raise self.fail(f"{subnet} overlaps environment {other!r} ({other_subnet})", *keys)
        if subnet.overlaps(CONTROLLER_RANGE):
            raise self.fail(
                f"{subnet} overlaps {CONTROLLER_RANGE}, reserved for this machine's own services "
                "(the package cache for local hosts)",
                *keys,
            )
        self.subnets[env_name] = subnet
