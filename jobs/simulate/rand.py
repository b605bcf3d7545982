"""Seeded random streams and id makers.

``Draw`` hands out scalars from pre-drawn numpy blocks: per-event draws are the hot path of the
simulator and numpy's scalar calls are slow. Every stream is a pure function of its seed key, so a
shard's output never depends on which process runs it.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")
_BLOCK = 8192
# Stream keys: the catalogue, each shard of users (plus its index), each day of bots (plus its index),
# each shard's reviews (plus the shard's index), the products planted with bad reviews, each
# shopper's favourite categories (plus the user's index), each sale day's prices (plus the day's
# ordinal), each day's traffic noise (plus the day's ordinal) and hourly histories. Reviews, tastes,
# prices and noise draw only from their own streams, so turning them on or off leaves every other
# draw as it was.
STREAM_CATALOGUE, STREAM_USERS, STREAM_BOTS, STREAM_REVIEWS, STREAM_REVIEW_PRODUCTS, STREAM_TASTE = 0, 1, 2, 3, 4, 5
STREAM_PRICING, STREAM_TRAFFIC_NOISE, STREAM_HISTORY = 6, 7, 8


def generator(seed: int, *key: int) -> np.random.Generator:
    """A numpy Generator for one named stream of the run (seed plus integer key)."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, *[int(k) for k in key]])


class Draw:
    """Fast scalar draws backed by a numpy Generator."""

    __slots__ = ("_hex", "_norm", "_uni", "rng")

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self._uni: list[float] = []
        self._norm: list[float] = []
        self._hex: list[str] = []

    def u(self) -> float:
        """Uniform in [0, 1)."""
        try:
            return self._uni.pop()
        except IndexError:
            self._uni = self.rng.random(_BLOCK).tolist()
            return self._uni.pop()

    def normal(self) -> float:
        try:
            return self._norm.pop()
        except IndexError:
            self._norm = self.rng.standard_normal(_BLOCK).tolist()
            return self._norm.pop()

    def chance(self, p: float) -> bool:
        return self.u() < p

    def randint(self, lo: int, hi: int) -> int:
        """Uniform integer in [lo, hi] (both included)."""
        return lo + int(self.u() * (hi - lo + 1))

    def uniform(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * self.u()

    def pick(self, seq: Sequence[T]) -> T:
        return seq[int(self.u() * len(seq))]

    def lognormal(self, median: float, sigma: float) -> float:
        return median * math.exp(sigma * self.normal())

    def exp(self, mean: float) -> float:
        return -mean * math.log(1.0 - self.u())

    def geometric(self, p: float) -> int:
        """Number of failures before the first success (0, 1, 2, ...)."""
        return int(math.log(1.0 - self.u()) / math.log(1.0 - p))

    def hex32(self) -> str:
        """32 random hex digits."""
        try:
            return self._hex.pop()
        except IndexError:
            words = self.rng.integers(0, 2**63, size=(1024, 2), dtype=np.int64).tolist()
            self._hex = [f"{a:016x}{b:016x}" for a, b in words]
            return self._hex.pop()

    def uuid(self) -> str:
        h = self.hex32()
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


class Weighted:
    """Choice from a fixed weighted list by bisecting the cumulative weights."""

    __slots__ = ("cum", "items", "total")

    def __init__(self, items: Sequence[Any], weights: Sequence[float]) -> None:
        self.items = list(items)
        self.cum = list(accumulate(float(w) for w in weights))
        self.total = self.cum[-1]

    def __call__(self, draw: Draw) -> Any:
        return self.items[bisect_right(self.cum, draw.u() * self.total)]
