"""The daily publish job: gate every gold and feature table the day rewrote, publish those that pass.

It runs after the day's gold and feature jobs (see ``jobs/registry.py``) and checks exactly the
dates each of them rewrote. One table failing its critical expectations does not hold back the
others; the job then fails, naming every blocked table and expectation, so the Airflow task shows
it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pyspark.sql import SparkSession

from jobs.common.config import Settings
from jobs.publish.publish import PublishFailures, gate_and_publish

#: Stages of the daily graph whose tables analysts and ML teams read from the warehouse.
PUBLISHED_STAGES = ("gold", "features")


def run_publish(spark: SparkSession, run_date: date, settings: Settings) -> dict[str, Any]:
    """Gate and publish the gold and feature tables of ``run_date``'s daily run."""
    from jobs.registry import jobs, written_dates

    results: dict[str, Any] = {}
    failures: list[PublishFailures] = []
    for j in jobs("daily"):
        if j.stage not in PUBLISHED_STAGES:
            continue
        dates = written_dates(j, run_date, settings)
        try:
            results.update(gate_and_publish(spark, list(j.outputs), dates, settings))
        except PublishFailures as exc:
            results.update(exc.results)
            failures.append(exc)
    if failures:
        raise PublishFailures("\n".join(str(f) for f in failures), results)
    published = {name: r.get("publish", {}) for name, r in results.items()}
    return {"run_date": str(run_date), "rows": {k: _rows(v) for k, v in published.items()}}


def _rows(publish_result: Any) -> Any:
    if isinstance(publish_result, dict):
        return publish_result.get("rows", publish_result.get("status", ""))
    return publish_result
