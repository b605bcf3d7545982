"""The daily quality gate and publish jobs, run after the day's gold and feature jobs.

``quality_gate`` validates, with Great Expectations, exactly the dates each gold and feature job
of the day rewrote, at the tables' current Delta versions, and records every outcome in
``quality.validation_results`` (it fails only when a suite cannot run). ``publish`` then copies
to the warehouse each table version whose dates passed; one table failing its critical
expectations does not hold back the others, but the task fails, naming every blocked table and
why, so the Airflow run shows it.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from pyspark.sql import SparkSession

from jobs.common.config import Settings
from jobs.common.tables import table_path
from jobs.publish.publish import Ledger, PublishFailures, publish
from jobs.publish.warehouse import warehouse
from jobs.quality.gate import build_data_docs, delta_version, gate, write_results

log = logging.getLogger(__name__)

#: Stages of the daily graph whose tables analysts and ML teams read from the warehouse.
PUBLISHED_STAGES = ("gold", "features")


def published_tables(run_date: date, settings: Settings, since: date | None = None) -> list[tuple[str, list[date]]]:
    """Each gold and feature table with the dates the run for ``run_date`` (since ``since``) rewrote."""
    from jobs.registry import jobs, written_dates

    return [
        (name, written_dates(j, run_date, settings, since))
        for j in jobs("daily")
        if j.stage in PUBLISHED_STAGES
        for name in j.outputs
    ]


def run_gate(spark: SparkSession, run_date: date, settings: Settings, since: date | None = None) -> dict[str, Any]:
    """Validate every table the day (or days since ``since``) rewrote, for its dates; record the outcomes."""
    rows: dict[str, str] = {}
    results = []
    for name, dates in published_tables(run_date, settings, since):
        # Recorded and rendered once for all tables below: one Delta append, one Data Docs build.
        result = gate(spark, name, dates, settings, data_docs=False, record=False)
        results.append(result)
        rows[name] = "passed" if result.passed else f"BLOCKED ({len(result.failed_critical)} critical failed)"
    write_results(spark, results, settings)
    docs = build_data_docs(settings, [i for r in results for i in r.validation_ids])
    return {"run_date": str(run_date), "rows": rows, "data_docs": docs}


def run_publish(spark: SparkSession, run_date: date, settings: Settings, since: date | None = None) -> dict[str, Any]:
    """Publish the day's gated table versions; raise :class:`PublishFailures` naming blocked ones."""
    results: dict[str, Any] = {}
    failures: dict[str, str] = {}

    def failed(name: str, exc: Exception) -> None:  # one table's failure must not stop the others
        log.exception("publishing %s failed", name)
        results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        failures[name] = f"{type(exc).__name__}: {exc}"

    tables = published_tables(run_date, settings, since)
    versions: dict[str, int] = {}
    for name, _ in tables:
        try:
            versions[name] = delta_version(spark, table_path(name, settings))
        except Exception as exc:
            failed(name, exc)
    # What was published and gated, read once for every table; one publish_log commit at the end.
    ledger = Ledger.read(spark, versions, warehouse(settings).name, settings)
    try:
        for name, dates in tables:
            if name not in versions:
                continue
            try:
                results[name] = publish(spark, name, dates, settings, version=versions[name], ledger=ledger)
            except Exception as exc:
                failed(name, exc)
    finally:
        ledger.append_log(spark, settings)
    if failures:
        listed = "\n".join(f"- {name}: {why}" for name, why in failures.items())
        raise PublishFailures(
            f"{len(failures)} of {len(results)} tables not published (see quality.validation_results and the "
            f"Data Docs):\n{listed}",
            results,
        )
    return {"run_date": str(run_date), "rows": {k: v.get("rows", v.get("status", "")) for k, v in results.items()}}
