"""
### detak_behaviour — silver → gold → features → quality gate → publish, daily

Once a day, for its logical date D, every daily job of detak's registry (`jobs/registry.py`) runs
for D, in dependency order, one Spark submission per job through the `spark_default` connection:
silver rewrites D's window (D − `silver.lookback_days` .. D) from bronze, then the gold groups
(browsing patterns, …) rebuild the same window from silver. Each job replaces exactly the date
partitions of its window in one Delta transaction, so re-running a date, or a backfill over a range
(`airflow backfill create --dag-id detak_behaviour --from-date … --to-date …`), gives the same
tables as running each day once.

Each task updates the Assets of the tables it writes. A run still going
`airflow.behaviour_deadline_hours` after it was queued raises a deadline alert
(`jobs.orchestration.alerts.deadline_missed`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import Asset, DeadlineAlert, DeadlineReference, SyncCallback, TaskGroup, dag

from jobs.common.config import settings
from jobs.orchestration.airflow import asset_uri, default_args, spark_task_kwargs
from jobs.registry import jobs

DEADLINE_HOURS = float(settings()["airflow"]["behaviour_deadline_hours"])


@dag(
    dag_id="detak_behaviour",
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["detak", "silver", "gold", "daily"],
    doc_md=__doc__,
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
        tasks[job.name] = SparkSubmitOperator(
            task_id=job.task_id,
            task_group=groups[job.stage],
            doc_md=job.description,
            application_args=[*job.args, "--date", "{{ ds }}"],
            outlets=[Asset(name=table, uri=asset_uri(table)) for table in job.outputs],
            **spark_task_kwargs(),
        )
    for job in jobs("daily"):
        for upstream in job.after:
            tasks[upstream] >> tasks[job.name]


detak_behaviour()
