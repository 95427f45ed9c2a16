"""The Mann-Whitney U test (two-sided), with the normal approximation and the tie correction.

The gate compares a step's latencies with the same step of the last good release, as canary
judges do: a rank test, because latencies are skewed and a mean would follow the slowest few.
scipy is not a dependency of the tool (it would be the only user of it); the test is a few
lines with the textbook normal approximation, exact enough for the gate's sample sizes (tens to
hundreds per step; the approximation is the usual advice from about 20 per sample).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class UTest:
    u: float  # U of the first sample: pairs (x, y) with x > y, ties counting one half
    z: float  # standardised, continuity-corrected; > 0 when the first sample ranks higher
    p: float  # two-sided p-value


def u_test(first: Sequence[float], second: Sequence[float]) -> UTest:
    """Whether `first` and `second` come from the same distribution. Both need values."""
    n1, n2 = len(first), len(second)
    if not n1 or not n2:
        raise ValueError("the U test needs values in both samples")
    ranks = _ranks([*first, *second])
    u = sum(ranks[:n1]) - n1 * (n1 + 1) / 2
    mean = n1 * n2 / 2
    n = n1 + n2
    ties = sum(t**3 - t for t in _tie_sizes([*first, *second]))
    variance = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))) if n > 1 else 0.0
    if variance <= 0:  # every value equal: no evidence of any difference
        return UTest(u, 0.0, 1.0)
    gap = u - mean
    z = math.copysign(max(abs(gap) - 0.5, 0.0), gap) / math.sqrt(variance)
    return UTest(u, z, math.erfc(abs(z) / math.sqrt(2)))


def _ranks(values: list[float]) -> list[float]:
    """1-based ranks in the order of `values`; tied values share their mean rank."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for index in order[start : end + 1]:
            ranks[index] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def _tie_sizes(values: list[float]) -> list[int]:
    counts: dict[float, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return [count for count in counts.values() if count > 1]
