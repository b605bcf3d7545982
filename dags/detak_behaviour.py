"""
### detak_behaviour — silver → gold → features → quality gate → publish, daily

Daily, at 00:00 UTC, for the day D that just ended (its logical date). During the day,
`detak_live` keeps silver, the session facts and the sale-day tables (campaigns, threats) fresh
within minutes of new bronze rows; this run makes every table of the day final and publishes them.

Every daily job of detak's registry (`jobs/registry.py`) runs, in dependency order, one task per
job (a Spark submission through the `spark_default` connection, or the job in the task's process
when `airflow.task_runner` is `in_process`):

silver → gold (browsing, cart abandonment, time of purchase, in parallel) → features
→ quality_gate → publish

Incremental by data, not by calendar: each job rewrites exactly the dates its inputs changed since
its last run (recorded in `ops.manifest`), whatever their age: silver the event dates of the
bronze rows ingested since, the gold jobs the dates silver rewrote (and what those reach), features
the as-of dates after them; the gate validates what was rewritten, publish copies what passed.
Dates after the run's date wait for a later run. A run with nothing new does nothing, in seconds.
Re-running, a catch-up after an outage and a backfill all give the tables one full rebuild gives.

A run triggered with `{"since": "YYYY-MM-DD"}` also rebuilds every date from that one to its
logical date (a backfill after a change of rules):

    airflow dags trigger detak_behaviour --logical-date 2026-11-14 --conf '{"since": "2026-11-08"}'

Spark tasks take a slot of the `detak_lake` pool, publish the single slot of `detak_warehouse`;
leases on the tables they write keep two writers of one table apart (`jobs/common/lock.py`).
Each task updates the Assets of the tables it writes. A run still going
`airflow.behaviour_deadline_hours` after it was queued raises a deadline alert
(`jobs.orchestration.alerts.deadline_missed`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import (
    Asset,
    CronDataIntervalTimetable,
    DeadlineAlert,
    DeadlineReference,
    SyncCallback,
    TaskGroup,
    dag,
)

from jobs.common.config import settings
from jobs.orchestration.airflow import RUN_DATE, asset_uri, default_args, job_task, since_param
from jobs.registry import jobs

DEADLINE_HOURS = float(settings()["airflow"]["behaviour_deadline_hours"])


@dag(
    dag_id="detak_behaviour",
    # A data interval per day: the run for D starts once D is over and its logical date is D.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["detak", "silver", "gold", "daily"],
    doc_md=__doc__,
    params={
        "since": since_param(
            "Also rebuild every date from this one to the run's date (a backfill after a change of rules); "
            "empty: only what is new."
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
            pool="detak_warehouse" if job.name == "publish" else "detak_lake",
        )
    for job in jobs("daily"):
        for upstream in job.after:
            tasks[upstream] >> tasks[job.name]


detak_behaviour()
