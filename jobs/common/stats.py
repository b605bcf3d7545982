"""Small statistics shared by jobs, the report and tests (plain Python, no Spark)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from statistics import NormalDist


def mh_lift(strata: Iterable[tuple[int, int, int, int]], interval: float = 0.95) -> tuple[float, float, float] | None:
    """The same Mantel-Haenszel lift in plain Python over (purchases, sessions, control purchases,
    control sessions) per hour: what tests check the table against."""
    r = s = p = 0.0
    for a, n1, c, n0 in strata:
        n = n1 + n0
        if n == 0:
            continue
        r += a * n0 / n
        s += c * n1 / n
        p += (n1 * n0 * (a + c) - a * c * n) / (n * n)
    return mh_sums_to_lift(r, s, p, interval)


def mh_sums_to_lift(r: float, s: float, p: float, interval: float = 0.95) -> tuple[float, float, float] | None:
    """(lift, low, high) from the strata sums ΣR, ΣS, ΣP (the report sums them over a period in SQL)."""
    if not (r > 0 and s > 0):
        return None
    z = NormalDist().inv_cdf(0.5 + interval / 2)
    rr = r / s
    se = math.sqrt(max(p, 0.0) / (r * s))
    return rr - 1, rr * math.exp(-z * se) - 1, rr * math.exp(z * se) - 1
