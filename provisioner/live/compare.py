"""Every difference between normalised fingerprints, with its hosts, a line diff and a verdict.

Between environments (`diff A B --live`), group by group: for each thing fingerprinted (a
package, a file, a unit...), the value most hosts of the group hold in both environments is the
reference, and every other value is a difference on exactly the hosts that hold it. A difference
is *allowed* only when it covers a whole environment's hosts of that group, and its lines equal
the reference's once each side's own declared value of a contract variable is put back as
`<variable>` on the lines that differ. Anything else is *unexplained*.

Against the past (`diff ENV --since-last-apply`): host by host, the reading now against the one
recorded at the last gated apply; every difference is a change since then.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from provisioner.live import normalise
from provisioner.live.hostprint import TEXT_KINDS, HostPrint
from provisioner.source import parity
from provisioner.source.model import LoadedSource

ABSENT = "<absent>"
CONTEXT = 2  # lines of context around each change in a diff


@dataclass(frozen=True)
class LiveDifference:
    group: str
    kind: str
    name: str
    hosts: list[str]  # where the value differs from the reference
    reference: list[str]  # the hosts that hold the reference value
    allowed: bool
    reason: str
    diff: list[str] = field(default_factory=list)  # unified, normalised: reference -> hosts

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "kind": self.kind,
            "name": self.name,
            "hosts": self.hosts,
            "reference": self.reference,
            "verdict": "allowed" if self.allowed else "unexplained",
            "reason": self.reason,
            "diff": self.diff,
        }


Readings = dict[str, dict[str, HostPrint]]  # env -> host -> fingerprint (raw)


def normalised(loaded: LoadedSource, readings: Readings) -> Readings:
    return {
        env: {
            host: normalise.for_host(env, loaded.source.environments[env], host).hostprint(printed)
            for host, printed in hosts.items()
        }
        for env, hosts in readings.items()
    }


def between(loaded: LoadedSource, envs: list[str], readings: Readings) -> list[LiveDifference]:
    """What differs between the same groups of `envs`, judged by the parity contract."""
    views = normalised(loaded, readings)
    contract = _contract(loaded, envs)
    sizes_of = {  # group -> env -> its hosts there
        group: {env: loaded.source.environments[env].hosts_in(group) for env in envs}
        for group in loaded.source.groups
    }
    found: list[LiveDifference] = []
    for group in sorted(loaded.source.groups):
        members = {
            env: [h for h in loaded.source.environments[env].hosts_in(group) if h in views[env]]
            for env in envs
        }
        env_of = {host: env for env, hosts in members.items() for host in hosts}
        order = [host for env in envs for host in members[env]]
        if not order:
            continue
        for kind, name in _keys(views[env_of[h]][h] for h in order):
            values = {h: views[env_of[h]][h].get(kind, {}).get(name, ABSENT) for h in order}
            if len(set(values.values())) == 1:
                continue
            reference = _reference(values, order)
            ref_hosts = [h for h in order if values[h] == reference]
            for value in dict.fromkeys(values[h] for h in order if values[h] != reference):
                hosts = [h for h in order if values[h] == value]
                allowed, reason = _judge(
                    group=group,
                    kind=kind,
                    hosts=hosts,
                    ref_hosts=ref_hosts,
                    members=members,
                    env_of=env_of,
                    reference=reference,
                    value=value,
                    contract=contract,
                    sizes_of=sizes_of,
                )
                found.append(
                    LiveDifference(
                        group,
                        kind,
                        name,
                        hosts,
                        ref_hosts,
                        allowed,
                        reason,
                        _diff(kind, name, (reference, value), (ref_hosts, hosts)),
                    )
                )
    return found


def since(
    loaded: LoadedSource, env: str, then: dict[str, HostPrint], now: dict[str, HostPrint]
) -> list[LiveDifference]:
    """What changed on each host of `env` since the reading `then`."""
    before_all = normalised(loaded, {env: then})[env]
    after_all = normalised(loaded, {env: now})[env]
    found: list[LiveDifference] = []
    environment = loaded.source.environments[env]
    for host in sorted(set(before_all) | set(after_all)):
        group = environment.hosts[host].groups[0] if host in environment.hosts else "-"
        old, new = before_all.get(host, {}), after_all.get(host, {})
        if not old or not new:
            what = "not read now" if not new else "not in the recorded reading"
            found.append(LiveDifference(group, "host", host, [host], [], False, what))
            continue
        for kind, name in _keys([old, new]):
            before = old.get(kind, {}).get(name, ABSENT)
            after = new.get(kind, {}).get(name, ABSENT)
            if before != after:
                found.append(
                    LiveDifference(
                        group,
                        kind,
                        name,
                        [host],
                        [host],
                        False,
                        "changed since the last gated apply",
                        _diff(kind, name, (before, after), (["then"], ["now"])),
                    )
                )
    return found


def _keys(prints: Iterable[HostPrint]) -> list[tuple[str, str]]:
    keys: set[tuple[str, str]] = set()
    for printed in prints:
        keys.update((kind, name) for kind, items in printed.items() for name in items)
    return sorted(keys)


def _reference(values: dict[str, str], order: list[str]) -> str:
    """The value most hosts hold; on a tie, the first environment's first host's."""
    counts = Counter(values.values())
    top = max(counts.values())
    return next(values[h] for h in order if counts[values[h]] == top)


Contract = dict[str, dict[str, dict[str, str]]]  # group -> variable -> env -> value


def _contract(loaded: LoadedSource, envs: list[str]) -> Contract:
    found: Contract = {}
    for d in parity.differences(loaded, envs):
        if d.allowed:
            found.setdefault(d.group, {})[d.name] = {
                env: str(v.value) for env, v in d.values.items() if v is not None
            }
    return found


def _judge(
    *,
    group: str,
    kind: str,
    hosts: list[str],
    ref_hosts: list[str],
    members: dict[str, list[str]],
    env_of: dict[str, str],
    reference: str,
    value: str,
    contract: Contract,
    sizes_of: dict[str, dict[str, list[str]]],
) -> tuple[bool, str]:
    envs = {env_of[h] for h in hosts}
    ref_envs = {env_of[h] for h in ref_hosts}
    env = next(iter(envs))
    if len(envs) > 1 or hosts != members[env]:
        where = ", ".join(sorted(envs))
        return False, f"hosts of {group} in {where} disagree"
    if kind not in TEXT_KINDS:  # a version, a unit state, a sysctl: no variable explains it
        return False, "not explained by the parity contract"
    ref_env = next(iter(ref_envs))
    sizes = {name: (len(counts[ref_env]), len(counts[env])) for name, counts in sizes_of.items()}
    reasons = _explaining(
        reference,
        value,
        contract.get(group, {}),
        (ref_env, env),
        {name: n for name, n in sizes.items() if n[0] != n[1]},
    )
    if reasons is None:
        return False, "not explained by the parity contract"
    return True, "allowed: " + ", ".join(reasons)


PEER = re.compile(r"<(\w+)\[(\d+)\]")


def _explaining(
    reference: str,
    value: str,
    variables: dict[str, dict[str, str]],
    envs: tuple[str, str],
    resized: dict[str, tuple[int, int]],
) -> list[str] | None:
    """Why every differing line differs, or None if something is left unexplained: each
    environment's own value of a contract variable, or (for a group with more hosts in one
    environment) one line per peer where the other has fewer."""
    ref_env, env = envs
    usable = {
        var: (values[ref_env], values[env])
        for var, values in variables.items()
        if ref_env in values and env in values and values[ref_env] != values[env]
    }
    old, new = reference.splitlines(), value.splitlines()
    reasons: list[str] = []
    if resized:
        wild_old = _peers_collapsed(old, {name: n[0] for name, n in resized.items()})
        wild_new = _peers_collapsed(new, {name: n[1] for name, n in resized.items()})
        if (wild_old, wild_new) != (old, new):
            old, new = wild_old, wild_new
            reasons += [
                f"{ref_env} has {a} {name} host(s), {env} {b}"
                for name, (a, b) in sorted(resized.items())
            ]
    used: set[str] = set()
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        before, after = "\n".join(old[i1:i2]), "\n".join(new[j1:j2])
        for var, (a, b) in usable.items():
            put_a, put_b = _put(before, a, var), _put(after, b, var)
            if put_a != before or put_b != after:
                before, after = put_a, put_b
                used.add(var)
        if before != after:
            return None
    reasons += [
        f"{var} ({ref_env} {usable[var][0]}, {env} {usable[var][1]})" for var in sorted(used)
    ]
    return reasons or None


def _peers_collapsed(lines: list[str], sizes: dict[str, int]) -> list[str]:
    """Each run of lines that lists every peer of a resized group once, in order (<app[0]>,
    <app[1]>, ... as many as this environment has), as one line with <app[*]>. Anything else
    stays as it is: a peer missing, repeated or out of order is still a difference."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        found = _one_peer(lines[i], sizes)
        if found is None:
            out.append(lines[i])
            i += 1
            continue
        group, wild = found
        run = 1
        while i + run < len(lines) and _one_peer(lines[i + run], sizes) == found:
            run += 1
        listed = [PEER.search(line) for line in lines[i : i + run]]
        if [m.group(2) if m else "" for m in listed] == [str(n) for n in range(sizes[group])]:
            out.append(wild)
        else:
            out.extend(lines[i : i + run])
        i += run
    return out


def _one_peer(line: str, sizes: dict[str, int]) -> tuple[str, str] | None:
    """(group, the line with <group[*]>) for a line naming one peer of a resized group."""
    peers = [m for m in PEER.finditer(line) if m.group(1) in sizes]
    if len(peers) != 1 or len(PEER.findall(line)) != 1:
        return None
    return peers[0].group(1), PEER.sub(lambda m: f"<{m.group(1)}[*]", line)


def _put(text: str, literal: str, var: str) -> str:
    return re.sub(rf"(?<![\w.]){re.escape(literal)}(?![\w]|\.\d)", f"<{var}>", text)


def _diff(
    kind: str, name: str, values: tuple[str, str], hosts: tuple[list[str], list[str]]
) -> list[str]:
    """From the first value (on the first hosts) to the second."""
    old, new = values
    if kind not in TEXT_KINDS:
        return [f"-{old}", f"+{new}"]
    lines = list(
        difflib.unified_diff(
            old.splitlines(),
            new.splitlines(),
            fromfile=f"{name} on {', '.join(hosts[0])}",
            tofile=f"{name} on {', '.join(hosts[1])}",
            n=CONTEXT,
            lineterm="",
        )
    )
    # the same lines, different bytes (line endings, a final newline): say what differs
    return lines or [f"-{old[-40:]!r}", f"+{new[-40:]!r}"]
