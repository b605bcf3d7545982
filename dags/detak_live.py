"""
### detak_live — the sale-day tables within minutes: campaigns and the threat feed

Runs whenever a bronze table got new rows: the Assets `detak_ingest` (every 10 minutes) updates only
when an ingest wrote rows. One task, `detak live --date D` (D: the UTC day the run starts on), refreshes
in one Spark application, so a refresh pays for one JVM start:

silver → gold_browsing → gold_campaigns, gold_threats → quality gate and publish of
`gold.campaign_performance_hourly` and `gold.threat_actors`

Each step is the daily job itself, following its own watermark in `ops.manifest`: silver reads only
the bronze rows newer than the versions it last consumed and rewrites the dates they touch, and so on
down. So the path never waits for the daily run, and the daily run after midnight (`detak_behaviour`)
finds those dates done, builds the other tables from them, and leaves the two sale-day tables as the
refreshes made them: the same tables a single full rebuild makes (tests/pipeline/test_incremental.py).
The threat feed's JSON file is rewritten, atomically, by every refresh.

From a file landing to its rows in the warehouse: at most the ingest interval plus one ingest and
one refresh (measured in bench/RESULTS.md, "Live path").
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Asset, AssetAny, dag

from jobs.orchestration.airflow import RUN_DATE, asset_uri, default_args, job_task
from jobs.registry import LIVE_TABLES, jobs


@dag(
    dag_id="detak_live",
    # Started by new bronze rows; no time schedule: with nothing new there is nothing to refresh.
    schedule=AssetAny(*[Asset(name=j.outputs[0], uri=asset_uri(j.outputs[0])) for j in jobs("ingest")]),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["detak", "live", "sale-day"],
    doc_md=__doc__,
)
def detak_live() -> None:
    job_task(
        "live",
        ["live", "--date", RUN_DATE, "--run-id", "{{ run_id }}"],
        doc_md="Bronze rows newer than each job's watermark → silver → session facts → campaign performance "
        "and threat actors (and the JSON threat feed) → gate → publish those two tables.",
        outlets=[Asset(name=table, uri=asset_uri(table)) for table in LIVE_TABLES],
    )


detak_live()
