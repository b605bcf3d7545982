"""Date sets and the Spark predicates over them, shared by every layer's jobs.

Incremental jobs rewrite the dates that got new data, which need not be contiguous: a late upload
touches last week, today's files touch today. A plain sorted tuple of dates carries that around;
the helpers here turn it into partition predicates and contiguous runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F


def day_range(start: date, end: date) -> list[date]:
    """Every date from ``start`` to ``end``, both included (empty when ``end`` is before ``start``)."""
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def between(col: str, start: date, end: date) -> Column:
    """``col`` within ``start`` .. ``end`` (both included)."""
    return F.col(col).between(F.lit(start), F.lit(end))


def in_dates(col: str, dates: Iterable[date]) -> Column:
    """``col`` is one of ``dates`` (false for none); an IN list on a partition column prunes partitions."""
    wanted = sorted(set(dates))
    if not wanted:
        return F.lit(False)
    return F.col(col).isin([F.lit(d) for d in wanted])


def sql_in_dates(col: str, dates: Iterable[date]) -> str:
    """The same predicate as SQL text, for Delta's ``replaceWhere``."""
    wanted = sorted(set(dates))
    if not wanted:
        return "false"
    return f"{col} IN ({', '.join(repr(str(d)) for d in wanted)})"


def around(dates: Iterable[date], before: int = 0, after: int = 0) -> set[date]:
    """Each date with the ``before`` days before it and the ``after`` days after it."""
    return {d + timedelta(days=k) for d in dates for k in range(-before, after + 1)}


def runs(dates: Iterable[date]) -> list[tuple[date, date]]:
    """Contiguous runs of ``dates``, e.g. {1, 2, 3, 7} → [(1, 3), (7, 7)]."""
    out: list[tuple[date, date]] = []
    for d in sorted(set(dates)):
        if out and d == out[-1][1] + timedelta(days=1):
            out[-1] = (out[-1][0], d)
        else:
            out.append((d, d))
    return out


def as_date(value: Any) -> date:
    """A date from a date, a datetime or ISO text."""
    if isinstance(value, date):
        return value if type(value) is date else value.date()  # type: ignore[attr-defined]
    return date.fromisoformat(str(value)[:10])


def describe(dates: Iterable[date]) -> str:
    """Dates as short text for logs: ``2026-11-08..2026-11-10, 2026-11-14``."""
    parts = [str(a) if a == b else f"{a}..{b}" for a, b in runs(dates)]
    return ", ".join(parts) if parts else "none"
