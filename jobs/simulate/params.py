"""Reading the ``simulator`` settings: ranges and weighted choices, checked once when a task starts.

The defaults live in ``conf/base.yaml``; nothing here supplies a value of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jobs.simulate.rand import Weighted


def span(node: Mapping[str, Any], key: str) -> tuple[float, float]:
    """A ``[low, high]`` pair of ``node[key]`` (both ends included)."""
    value = node[key]
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise ValueError(f"simulator setting {key!r} must be a [low, high] pair, got {value!r}")
    lo, hi = float(value[0]), float(value[1])
    if lo > hi:
        raise ValueError(f"simulator setting {key!r}: low {lo} is above high {hi}")
    return lo, hi


def int_span(node: Mapping[str, Any], key: str, unit: int = 1) -> tuple[int, int]:
    """``span`` in whole units of ``unit`` (e.g. milliseconds per hour for a range in hours)."""
    lo, hi = span(node, key)
    return round(lo * unit), round(hi * unit)


def share(node: Mapping[str, Any], key: str) -> float:
    """A probability ``node[key]`` in [0, 1]."""
    value = float(node[key])
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"simulator setting {key!r} must be between 0 and 1, got {value}")
    return value


def weighted(node: Mapping[str, Any], key: str, known: Sequence[str]) -> Weighted:
    """A weighted choice from the mapping ``node[key]`` (name -> weight); zero weights are never drawn."""
    weights = dict(node[key])
    unknown = sorted(set(weights) - set(known))
    if unknown:
        raise ValueError(f"simulator setting {key!r} has unknown names {unknown}; known: {list(known)}")
    if any(float(w) < 0 for w in weights.values()):
        raise ValueError(f"simulator setting {key!r} has a negative weight: {weights}")
    kept = {k: float(w) for k, w in weights.items() if float(w) > 0}
    if not kept:
        raise ValueError(f"simulator setting {key!r} needs at least one positive weight")
    return Weighted(list(kept), list(kept.values()))
