"""Performance profiles (Dolan & More 2002, as AlgoPerf scores its submissions): for each
problem p and option s, r(p, s) = t(p, s) / min over s of t(p, s), t the steps (or seconds)
to the problem's target, infinite when never reached; rho_s(tau) = the fraction of problems
with r(p, s) <= tau, over tau in [1, TAU_MAX]; the score is the area under rho_s over that
range, normalised to [0, 1] (1: the fastest on every problem)."""

from __future__ import annotations

import math

TAU_MAX = 4.0


def ratios(times: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """problem -> option -> r(p, s): each time over the problem's best (inf when the option
    never reached the target, and for every option of a problem none reached)."""
    out = {}
    for problem, by_option in times.items():
        best = min(by_option.values(), default=math.inf)
        out[problem] = {
            s: (t / best if math.isfinite(t) and math.isfinite(best) and best > 0 else
                (1.0 if t == best == 0 else math.inf))
            for s, t in by_option.items()
        }  # fmt: skip
    return out


def rho(r: dict[str, dict[str, float]], option: str, tau: float) -> float:
    """The fraction of problems on which `option` is within a factor tau of the best."""
    problems = list(r)
    return sum(r[p].get(option, math.inf) <= tau for p in problems) / max(len(problems), 1)


def score(r: dict[str, dict[str, float]], option: str, tau_max: float = TAU_MAX) -> float:
    """The area under rho(tau) over [1, tau_max], over (tau_max - 1): rho is a step function,
    so each problem adds (tau_max - r) / (tau_max - 1) where its r is at most tau_max."""
    problems = list(r)
    area = sum(
        (tau_max - max(r[p].get(option, math.inf), 1.0)) / (tau_max - 1)
        for p in problems
        if r[p].get(option, math.inf) <= tau_max
    )
    return area / max(len(problems), 1)
