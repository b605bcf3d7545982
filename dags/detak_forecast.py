"""
### detak_forecast — the 14-day surge forecast, its quality gate and publish, daily

Daily at 00:00 UTC for the day D that just ended, and whenever `detak_behaviour` rewrites
`gold.traffic_hourly` (its Asset): `forecast` trains on the hourly history up to D and writes
`gold.traffic_forecast_hourly` for the hours of D + 1 .. D + 14 in the shop's local time (events,
sessions, orders, peak events per second, each with an 80 % interval; model in
`jobs/ml/forecast.py`). Then the quality gate checks it and publish copies it to the warehouse, the
same registry jobs `detak_behaviour` runs, working on what was rewritten since they last ran.

**Capacity alerts, days ahead.** Hours whose upper bound exceeds `forecast.capacity` (events per
second, orders per minute) call `forecast.capacity_alert_callback` (default:
`jobs.orchestration.alerts.capacity_exceeded`, an ERROR log line) with the day, its hours and how
far ahead it is; the run's result lists them too.

A run triggered with `{"since": "YYYY-MM-DD"}` forecasts again from every date since then, each on
the history up to it (a backtest of the published history).
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Asset, AssetOrTimeSchedule, CronDataIntervalTimetable, dag

from jobs.orchestration.airflow import RUN_DATE, asset_uri, default_args, job_task, since_param
from jobs.registry import job


@dag(
    dag_id="detak_forecast",
    schedule=AssetOrTimeSchedule(
        timetable=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
        assets=Asset(name="gold.traffic_hourly", uri=asset_uri("gold.traffic_hourly")),
    ),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["detak", "forecast", "daily"],
    doc_md=__doc__,
    params={
        "since": since_param("Also forecast from every date from this one to the run's date; empty: only the run's.")
    },
)
def detak_forecast() -> None:
    previous = None
    for name in ("forecast", "quality_gate", "publish"):
        j = job(name)
        outputs = ("gold.traffic_forecast_hourly",) if name == "forecast" else j.outputs
        task = job_task(
            j.task_id,
            [*j.args, "--date", RUN_DATE, "--since", "{{ params.since or '' }}"],
            doc_md=j.description,
            inlets=[Asset(name="gold.traffic_hourly", uri=asset_uri("gold.traffic_hourly"))]
            if name == "forecast"
            else [],
            outlets=[Asset(name=table, uri=asset_uri(table)) for table in outputs],
            pool="detak_warehouse" if name == "publish" else "detak_lake",
        )
        if previous is not None:
            previous >> task
        previous = task


detak_forecast()
