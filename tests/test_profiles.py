"""Performance profiles (report/profiles.py) against a hand-worked example."""

from __future__ import annotations

import math

import pytest

from dltricks.report import profiles

# steps to the target: on p1 A is best (100), B takes 2x, C never; on p2 B is best (50), A
# takes 3x (150), C 5x (250); on p3 nobody reaches it.
TIMES = {
    "p1": {"A": 100.0, "B": 200.0, "C": math.inf},
    "p2": {"A": 150.0, "B": 50.0, "C": 250.0},
    "p3": {"A": math.inf, "B": math.inf, "C": math.inf},
}


def test_ratios_are_each_time_over_the_problems_best():
    r = profiles.ratios(TIMES)
    assert r["p1"] == {"A": 1.0, "B": 2.0, "C": math.inf}
    assert r["p2"] == {"A": 3.0, "B": 1.0, "C": 5.0}
    assert all(v == math.inf for v in r["p3"].values())


@pytest.mark.parametrize(
    ("option", "tau", "expected"),
    [("A", 1.0, 1 / 3), ("A", 2.9, 1 / 3), ("A", 3.0, 2 / 3), ("B", 1.0, 1 / 3),
     ("B", 2.0, 2 / 3), ("C", 4.0, 0.0)],
)  # fmt: skip
def test_rho_is_the_fraction_of_problems_within_tau(option, tau, expected):
    assert profiles.rho(profiles.ratios(TIMES), option, tau) == pytest.approx(expected)


def test_the_score_is_the_area_under_rho_over_1_to_4_normalised():
    r = profiles.ratios(TIMES)
    # A: p1 at r=1 adds (4-1)/3 = 1, p2 at r=3 adds (4-3)/3; over 3 problems
    assert profiles.score(r, "A") == pytest.approx((1 + 1 / 3) / 3)
    # B: p1 at 2 adds 2/3, p2 at 1 adds 1
    assert profiles.score(r, "B") == pytest.approx((2 / 3 + 1) / 3)
    assert profiles.score(r, "C") == 0.0  # 5x is outside [1, 4]
    # the same by integrating rho numerically
    taus = [1 + 3 * i / 30000 for i in range(30001)]
    area = sum(profiles.rho(r, "A", t) for t in taus[1:]) * 3 / 30000 / 3
    assert area == pytest.approx(profiles.score(r, "A"), abs=1e-3)
