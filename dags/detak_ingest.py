"""
### detak_ingest — landing → bronze, every 10 minutes

Every 10 minutes (conf `airflow.ingest_every_minutes`), one task per event source (clickstream,
search, orders) submits detak's bronze ingestion job through the `spark_default` connection
(`local[*]` by default; a cluster master from `conf/cluster.yaml`). Each run ingests every landing
file not ingested before — exactly once, whatever happened to earlier runs — into
`bronze.<source>_events`; bad lines go to `bronze.quarantine` with a reason, unreadable files to
`bronze.quarantine_files`. Then a small `announce_<source>` task updates the Asset of the bronze
table, which starts the downstream live DAG (`detak_live`: campaigns and the threat feed within
minutes), only when the run wrote rows: it is skipped otherwise, so a run without new files starts
nothing downstream.

After the ingest tasks, `volume_check` compares the last complete hours received in bronze with the
surge forecast's interval (`jobs/quality/volume.py`, conf `forecast.live`): an hour far below (a
broken tracker, an outage) or above (a bot flood) calls the volume alert, before silver has run.

Runs are independent of the logical time (new files are found through the streaming checkpoint), so
retries, catch-up and manual runs are all safe.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Asset, dag, task

from jobs.common.config import settings
from jobs.orchestration.airflow import RUN_DATE, announce_new_rows, asset_uri, default_args, job_task
from jobs.registry import jobs

EVERY_MINUTES = int(settings()["airflow"]["ingest_every_minutes"])
if EVERY_MINUTES < 1 or 60 % EVERY_MINUTES:
    raise ValueError(f"airflow.ingest_every_minutes must divide an hour (5, 10, 15, 30, 60), not {EVERY_MINUTES}")


@dag(
    dag_id="detak_ingest",
    schedule=f"*/{EVERY_MINUTES} * * * *" if EVERY_MINUTES < 60 else "@hourly",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["detak", "bronze", "ingest"],
    doc_md=__doc__,
)
def detak_ingest() -> None:
    ingests = []
    for job in jobs("ingest"):
        source = job.args[-1]
        ingest = job_task(job.task_id, [*job.args, "--run-id", "{{ run_id }}"], doc_md=job.description)
        announce = task(
            announce_new_rows,
            task_id=f"announce_{source}",
            outlets=[Asset(name=table, uri=asset_uri(table)) for table in job.outputs[:1]],
            doc_md=f"Updates the Asset of bronze.{source}_events when the ingest wrote rows; skipped otherwise.",
        )(source, "{{ run_id }}")
        ingest >> announce
        ingests.append(ingest)
    (check,) = jobs("live")
    ingests >> job_task(check.task_id, [*check.args, "--date", RUN_DATE], doc_md=check.description)


detak_ingest()
