"""
### detak_behaviour — silver → gold → features → quality gate → publish, daily

Daily, at 00:00 UTC, for the day D that just ended (its logical date), and also whenever every
bronze table has new rows (the Assets the hourly `detak_ingest` updates): such an asset-triggered
run has no logical date and refreshes the day it runs on, so the tables fill during the day and
the scheduled run after midnight makes the day final.

Every daily job of detak's registry (`jobs/registry.py`) runs for D, in dependency order, one task
per job (a Spark submission through the `spark_default`
connection, or the job in the task's process when `airflow.task_runner` is `in_process`):

silver → gold (browsing, cart abandonment, time of purchase, in parallel) → features
→ quality_gate → publish

Silver rewrites D's window (D − `silver.lookback_days` .. D) from bronze; the gold groups rebuild
their windows from silver; features are computed as of D + 1; the quality gate validates every
gold and feature date the run rewrote with Great Expectations, and publish copies to the
warehouse the table versions that passed. Each job replaces exactly the date
partitions of its window in one Delta transaction, so re-running a date, or a backfill over a range
(`airflow backfill create --dag-id detak_behaviour --from-date … --to-date …`), gives the same
tables as running each day once.

A run triggered with `{"since": "YYYY-MM-DD"}` stands for every daily run from that date to its
logical date: each job runs once over the union of their windows and writes what those daily runs
would have written (a catch-up or backfill in one run, paying each job's fixed cost once):

    airflow dags trigger detak_behaviour --logical-date 2026-11-14 --conf '{"since": "2026-11-08"}'

Each task updates the Assets of the tables it writes. A run still going
`airflow.behaviour_deadline_hours` after it was queued raises a deadline alert
(`jobs.orchestration.alerts.deadline_missed`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import (
    Asset,
    AssetAll,
    AssetOrTimeSchedule,
    CronDataIntervalTimetable,
    DeadlineAlert,
    DeadlineReference,
    Param,
    SyncCallback,
    TaskGroup,
    dag,
)

from jobs.common.config import settings
from jobs.orchestration.airflow import RUN_DATE, asset_uri, default_args, job_task
from jobs.registry import jobs

DEADLINE_HOURS = float(settings()["airflow"]["behaviour_deadline_hours"])


@dag(
    dag_id="detak_behaviour",
    # A data interval per day: the run for D starts once D is over and its logical date is D.
    schedule=AssetOrTimeSchedule(
        timetable=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
        assets=AssetAll(*[Asset(name=j.outputs[0], uri=asset_uri(j.outputs[0])) for j in jobs("ingest")]),
    ),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["detak", "silver", "gold", "daily"],
    doc_md=__doc__,
    params={
        "since": Param(
            None,
            type=["null", "string"],
            format="date",
            description="First logical date this run stands for (a catch-up or backfill in one run); "
            "empty: the run's own date.",
        )
    },
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(hours=DEADLINE_HOURS),
        callback=SyncCallback(
            "jobs.orchestration.alerts.deadline_missed", kwargs={"dag_id": "detak_behaviour", "hours": DEADLINE_HOURS}
        ),
    ),
)
def detak_behaviour() -> None:
    tasks = {}
    groups: dict[str, TaskGroup] = {}
    for job in jobs("daily"):
        if job.stage not in groups:
            groups[job.stage] = TaskGroup(group_id=job.stage)
        tasks[job.name] = job_task(
            job.task_id,
            [*job.args, "--date", RUN_DATE, "--since", "{{ params.since or '' }}"],
            task_group=groups[job.stage],
            doc_md=job.description,
            outlets=[Asset(name=table, uri=asset_uri(table)) for table in job.outputs],
        )
    for job in jobs("daily"):
        for upstream in job.after:
            tasks[upstream] >> tasks[job.name]


detak_behaviour()
