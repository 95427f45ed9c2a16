"""Per-host stats as the summary and the ledger show them, from Ansible's final stats event."""

from __future__ import annotations

from provisioner.run.events import host_stats
from provisioner.run.request import HostStats


def test_ansible_stats_become_per_host_counts() -> None:
    stats = {
        "ok": {"a": 5, "b": 3},
        "changed": {"a": 2},
        "failures": {"b": 1},
        "dark": {"c": 1},
        "skipped": {"a": 1},
        "ignored": {"d": 1},
    }
    hosts = host_stats(stats)
    assert list(hosts) == ["a", "b", "c", "d"]
    assert hosts["a"] == HostStats(ok=5, changed=2, skipped=1)
    assert hosts["b"] == HostStats(ok=3, failed=1)
    assert not hosts["b"].succeeded
    assert hosts["c"] == HostStats(unreachable=1)
    assert hosts["d"] == HostStats()
