"""The daily quality gate: validate what the gold and feature jobs rewrote since the gate last ran.

Incremental by data (:mod:`jobs.common.manifest`): for each gated table the gate validates, at the
table's version now, exactly the dates the jobs writing it recorded as rewritten since the versions
the gate last consumed, and records every outcome in ``quality.validation_results`` (it fails only
when a suite cannot run). A table the gate blocks stays blocked until it is rewritten and passes.
Nothing new: nothing validated. Which tables are gated comes from the registry (the job's inputs).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from typing import Any

from pyspark.sql import SparkSession

from jobs.common import manifest
from jobs.common.config import Settings
from jobs.common.dates import describe
from jobs.common.tables import ensure_table
from jobs.quality.gate import RESULTS, build_data_docs, gate, write_results

log = logging.getLogger(__name__)


def run_gate(
    spark: SparkSession,
    run_date: date,
    settings: Settings,
    since: date | None = None,
    run_id: str | None = None,
    tables: Sequence[str] = (),
) -> dict[str, Any]:
    """Validate every date of ``tables`` rewritten since the last gate run; record the outcomes.

    ``since`` is accepted for a uniform job signature: the gate follows what the jobs rewrote.
    """
    del since
    plan = manifest.plan(spark, settings, "quality_gate", run_date, tables, run_id=run_id)
    todo = {name: sorted(plan.dates(name)) for name in tables if plan.dates(name)}
    if not todo:
        if plan.has_news():
            manifest.record(spark, settings, plan, {})
        return {"run_date": str(run_date), "rows": {}, "noop": True}
    rows: dict[str, str] = {}
    results = []
    for name, dates in todo.items():
        # Recorded and rendered once for all tables below: one Delta append, one Data Docs build.
        result = gate(spark, name, dates, settings, version=plan.versions[name], data_docs=False, record=False)
        results.append(result)
        status = "passed" if result.passed else f"BLOCKED ({len(result.failed_critical)} critical failed)"
        if result.warnings:
            status += f", {len(result.warnings)} warnings"
        rows[name] = f"{status} ({describe(dates)})"
    ensure_table(spark, RESULTS, settings)
    write_results(spark, results, settings)
    docs = build_data_docs(settings, [i for r in results for i in r.validation_ids])
    validated = {d for dates in todo.values() for d in dates}
    manifest.record(spark, settings, plan, {RESULTS: validated})
    return {"run_date": str(run_date), "rows": rows, "data_docs": docs}
