"""The Mann-Whitney U test against textbook values (scipy's documented example, hand-worked
ties), and the properties the gate relies on."""

from __future__ import annotations

import math

import pytest

from provisioner.deploy.mannwhitney import u_test

# scipy.stats.mannwhitneyu's documented example (Conover's ages of men and women): U1 = 17,
# the asymptotic two-sided p with the continuity correction 0.11134688653314041.
MALES = [19, 22, 16, 29, 24]
FEMALES = [20, 11, 17, 12]


def test_textbook_example() -> None:
    result = u_test(MALES, FEMALES)
    assert result.u == 17
    assert result.p == pytest.approx(0.11134688653314041, abs=1e-9)
    assert result.z > 0  # the men are older


def test_swapping_the_samples_mirrors_u_and_keeps_p() -> None:
    there, back = u_test(MALES, FEMALES), u_test(FEMALES, MALES)
    assert back.u == len(MALES) * len(FEMALES) - there.u
    assert back.p == pytest.approx(there.p)
    assert back.z == pytest.approx(-there.z)


def test_ties_share_ranks_and_shrink_the_variance() -> None:
    # By hand: ranks of [1, 2, 2, 3 | 2, 3, 4, 4] are 1, 3, 3, 5.5 | 3, 5.5, 7.5, 7.5;
    # R1 = 12.5, U1 = 12.5 - 10 = 2.5; ties: three 2s (24), two 3s (6), two 4s (6) -> 36;
    # variance = 16/12 * (9 - 36/56) = 11.142857; z = (2.5 - 8 + 0.5) / sqrt(11.142857).
    result = u_test([1, 2, 2, 3], [2, 3, 4, 4])
    assert result.u == 2.5
    z = -5 / math.sqrt(16 / 12 * (9 - 36 / 56))
    assert result.z == pytest.approx(z)
    assert result.p == pytest.approx(math.erfc(abs(z) / math.sqrt(2)))


def test_clear_shift_is_significant_and_identical_samples_are_not() -> None:
    slow = [float(v) for v in range(100, 150)]
    fast = [float(v) for v in range(50, 100)]
    assert u_test(slow, fast).p < 1e-10
    assert u_test(fast, list(fast)).p == pytest.approx(1.0, abs=0.02)
    assert u_test([5.0] * 10, [5.0] * 10).p == 1.0


def test_empty_sample_is_refused() -> None:
    with pytest.raises(ValueError, match="both samples"):
        u_test([], [1.0])
