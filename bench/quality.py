"""How long the quality gate takes: its share of the daily pipeline's time.

``bench_gate(spark, tables, dates, settings)`` gates each table for ``dates`` (at its current Delta
version, writing validation results and Data Docs as the daily run does) and returns the seconds
per table and in total.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from pyspark.sql import SparkSession

from jobs.common.config import Settings
from jobs.quality.gate import gate


def bench_gate(spark: SparkSession, tables: list[str], dates: list[date], settings: Settings) -> dict[str, Any]:
    """Gate ``tables`` for ``dates``; return ``{"seconds": total, "tables": {name: {...}}}``."""
    out: dict[str, Any] = {"tables": {}}
    started = time.perf_counter()
    for name in tables:
        t0 = time.perf_counter()
        result = gate(spark, name, dates, settings)
        out["tables"][name] = {
            "seconds": round(time.perf_counter() - t0, 2),
            "expectations": len({o.expectation for o in result.outcomes}),
            "rows": sum({o.date: o.rows for o in result.outcomes}.values()),
            "passed": result.passed,
        }
    out["seconds"] = round(time.perf_counter() - started, 2)
    return out
