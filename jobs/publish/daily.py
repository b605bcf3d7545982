"""The daily publish job: copy to the warehouse what the gate let through since the last publish.

Incremental by data (:mod:`jobs.common.manifest`): for each published table, the dates its jobs
rewrote since the versions the last publish consumed are published at the table's version now,
when the quality gate passed that version for those dates. One table failing its critical
expectations does not hold back the others, but the task fails, naming every blocked table and
why, so the Airflow run shows it; blocked dates stay pending and are published by the first run
after they are rewritten and pass. Which tables are published comes from the registry.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from typing import Any

from pyspark.sql import SparkSession

from jobs.common import manifest
from jobs.common.config import Settings
from jobs.publish.publish import Ledger, PublishFailures, publish
from jobs.publish.warehouse import warehouse

log = logging.getLogger(__name__)


def run_publish(
    spark: SparkSession,
    run_date: date,
    settings: Settings,
    since: date | None = None,
    run_id: str | None = None,
    tables: Sequence[str] = (),
) -> dict[str, Any]:
    """Publish the gated dates of ``tables`` rewritten since the last publish; raise
    :class:`PublishFailures` naming the blocked ones (their dates stay pending)."""
    del since
    target = warehouse(settings)
    # Each warehouse keeps its own place in the manifest: publishing to DuckDB consumes nothing
    # PostgreSQL still needs.
    plan = manifest.plan(spark, settings, f"publish:{target.kind}", run_date, tables, run_id=run_id)
    todo = {name: sorted(plan.dates(name)) for name in tables if plan.dates(name)}
    if not todo:
        if plan.has_news():
            manifest.record(spark, settings, plan, {})
        return {"run_date": str(run_date), "rows": {}, "noop": True}
    results: dict[str, Any] = {}
    failures: dict[str, str] = {}
    pending: set[date] = set()
    # What was published and gated, read once for every table; one publish_log commit at the end.
    ledger = Ledger.read(spark, {name: plan.versions[name] for name in todo}, target.name, settings)
    # One write session: readers see every table of the run change at once, at its end (a DuckDB
    # file is copied, written and renamed over; see Warehouse.session). The log is appended after
    # it: a run that dies inside it published nothing, and its dates are published again.
    with target.session():
        for name, dates in todo.items():
            try:
                results[name] = publish(spark, name, dates, settings, version=plan.versions[name], ledger=ledger)
            except Exception as exc:  # one table's failure must not stop the others
                log.exception("publishing %s failed", name)
                results[name] = {"error": f"{type(exc).__name__}: {exc}"}
                failures[name] = f"{type(exc).__name__}: {exc}"
                pending |= set(dates)
    ledger.append_log(spark, settings)
    published = {name: dates for name, dates in todo.items() if name not in failures}
    manifest.record(spark, settings, plan, {}, pending=pending)
    if failures:
        listed = "\n".join(f"- {name}: {why}" for name, why in failures.items())
        raise PublishFailures(
            f"{len(failures)} of {len(results)} tables not published (see quality.validation_results and the "
            f"Data Docs); their dates stay pending:\n{listed}",
            results,
        )
    return {
        "run_date": str(run_date),
        "rows": {k: v.get("rows", v.get("status", "")) for k, v in results.items()},
        "published": {k: len(v) for k, v in published.items()},
    }
