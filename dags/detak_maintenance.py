"""
### detak_maintenance — OPTIMIZE, VACUUM, retention and forget requests, weekly

Once a week, one Spark submission (`detak maintain --today D`, D the run's date) works on every lake table
whose contract is in `schemas/tables/` and whose Delta folder exists: people in
`maintenance.forget_requests` are erased again from data that arrived after their request; bronze
partitions and landing folders older than the retention of `conf/base.yaml` (`maintenance:`) are
deleted; tables are compacted with OPTIMIZE (Z-ordered by their contract's `zorder_by`) and
VACUUMed with the configured retention. New forget requests run through `detak forget`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag

from jobs.orchestration.airflow import RUN_DATE, default_args, job_task


@dag(
    dag_id="detak_maintenance",
    schedule="@weekly",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["detak", "maintenance", "weekly"],
    doc_md=__doc__,
)
def detak_maintenance() -> None:
    job_task(
        "maintain",
        ["maintain", "--today", RUN_DATE],
        doc_md="Forget again, retention, OPTIMIZE with Z-order and VACUUM on every lake table.",
    )


detak_maintenance()
