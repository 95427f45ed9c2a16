"""Splitting an environment's hosts into one slice per execution node."""

from __future__ import annotations

from provisioner.errors import InputError


def slices(hosts_by_group: dict[str, list[str]], count: int) -> list[list[str]]:
    """Split an environment's hosts into `count` slices, like AWX job slicing, but so that the
    first slice holds the first host of every group: `run_once` tasks (database migrations) run
    in that slice only (the others are told `provisioner_run_once_here: false`). The remaining
    hosts go, group by group, to whichever slice is smallest. Deterministic: sorted input.
    """
    if count < 1:
        raise InputError("at least one executor is needed")
    taken: dict[str, int] = {}
    for group in sorted(hosts_by_group):
        members = sorted(hosts_by_group[group])
        if members and members[0] not in taken:
            taken[members[0]] = 0
    result: list[list[str]] = [[] for _ in range(count)]
    for host in taken:
        result[0].append(host)
    for group in sorted(hosts_by_group):
        for host in sorted(hosts_by_group[group]):
            if host not in taken:
                smallest = min(range(count), key=lambda i: (len(result[i]), i))
                taken[host] = smallest
                result[smallest].append(host)
    return [sorted(part) for part in result]
