"""DAG policy: every DAG imports, is documented, owned, tagged, retried, and parses without effects."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from jobs.registry import jobs
from tests.dags.conftest import DAGS

SCHEDULE_WORDS = {
    "*/10 * * * *": "every 10 minutes",
    "assets": "new rows",
    "@hourly": "hourly",
    "0 * * * *": "hourly",
    "@daily": "daily",
    "0 0 * * *": "daily",
    "@weekly": "weekly",
    "0 0 * * 0": "weekly",
}


def schedule_of(dag: Any) -> str:
    """A DAG's time schedule as text: a preset, the cron of a timetable (inside an asset-or-time one),
    or ``assets`` for a DAG that only Assets start."""
    from airflow.sdk.definitions.asset import BaseAsset

    schedule = dag.schedule
    if isinstance(schedule, BaseAsset):
        return "assets"
    timetable = getattr(schedule, "timetable", schedule)  # AssetOrTimeSchedule wraps the time part
    return str(getattr(timetable, "expression", timetable))


def declared(dag_id: str) -> dict[str, Any]:
    """``max_active_runs`` and ``catchup`` as the DAG file's ``@dag(...)`` call spells them."""
    tree = ast.parse((DAGS / f"{dag_id}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "dag":
            return {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg in ("max_active_runs", "catchup")}
    raise AssertionError(f"{dag_id}: no @dag(...) call")


def test_no_import_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dags) == sorted(p.stem for p in DAGS.glob("detak_*.py"))


@pytest.mark.parametrize("dag_id", sorted(p.stem for p in DAGS.glob("detak_*.py")))
def test_dag_policy(dagbag: Any, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert dag.tags and "detak" in dag.tags
    assert dag.doc_md and dag_id in dag.doc_md
    # One run at a time (one writer per table; the ingest stream's checkpoint allows one reader), and
    # no automatic catch-up: a backfill is one run with a `since`, not a run per missed interval.
    # Both declared in the DAG file itself, not left to Airflow's defaults.
    assert (dag.max_active_runs, dag.catchup) == (1, False)
    assert declared(dag_id) == {"max_active_runs": 1, "catchup": False}
    word = SCHEDULE_WORDS.get(schedule_of(dag))
    assert word is not None, f"{dag_id}: schedule {schedule_of(dag)} is not one of {list(SCHEDULE_WORDS)}"
    assert word in dag.doc_md.lower(), f"{dag_id}: doc_md does not say it runs {word}"
    for task in dag.tasks:
        assert task.owner == "detak-data-eng", task.task_id
        assert task.retries >= 2, task.task_id


def test_ingest_dag_has_a_task_and_an_asset_per_source(dagbag: Any) -> None:
    dag = dagbag.dags["detak_ingest"]
    # The ingest task writes bronze; its announce task updates the Asset only when rows were written.
    expected = {j.task_id: [] for j in jobs("ingest")} | {
        f"announce_{j.args[-1]}": [j.outputs[0]] for j in jobs("ingest")
    }
    expected["volume_check"] = []
    assert {t.task_id: [a.name for a in t.outlets] for t in dag.tasks} == expected
    # The live volume check runs once every source's ingest is done.
    assert dag.get_task("volume_check").upstream_task_ids == {j.task_id for j in jobs("ingest")}
    for j in jobs("ingest"):
        assert dag.get_task(f"announce_{j.args[-1]}").upstream_task_ids == {j.task_id}
    task = dag.get_task("ingest_search")
    assert task._conn_id == "spark_default"
    assert task.application.endswith("jobs/__main__.py")
    assert task.application_args[:3] == ["ingest", "--source", "search"]
    # The jars `detak prefetch` resolved (or, before any prefetch, their Maven coordinates).
    assert "delta-spark_2.13" in (task.jars or task.packages)


def test_behaviour_dag_is_the_registry_graph(dagbag: Any) -> None:
    """Tasks, groups, dependencies and Assets of detak_behaviour are those of jobs/registry.py."""
    from airflow.sdk import CronDataIntervalTimetable

    from jobs.orchestration.airflow import RUN_DATE

    dag = dagbag.dags["detak_behaviour"]
    daily = jobs("daily")
    by_id = {f"{j.stage}.{j.task_id}": j for j in daily}
    assert sorted(t.task_id for t in dag.tasks) == sorted(by_id)
    for task_id, j in by_id.items():
        task = dag.get_task(task_id)
        assert task.task_group.group_id == j.stage
        upstream = {f"{u.stage}.{u.task_id}" for u in daily if u.name in j.after}
        assert task.upstream_task_ids == upstream, task_id
        assert [a.name for a in task.outlets] == list(j.outputs)
        assert task.application_args == [*j.args, "--date", RUN_DATE, "--since", "{{ params.since or '' }}"]
    # Scheduled for each finished UTC day (detak_live refreshes what is watched during the day).
    assert isinstance(dag.schedule, CronDataIntervalTimetable)
    assert schedule_of(dag) == "0 0 * * *"
    assert dag.max_active_runs == 1
    assert [type(d).__name__ for d in dag.deadline] == ["DeadlineAlert"]
    assert "since" in dag.params


def test_live_dag_is_one_refresh_started_by_new_bronze_rows(dagbag: Any) -> None:
    """detak_live: one task running the live path, started by any bronze table's new rows, updating
    the Assets of the tables it publishes."""
    from airflow.sdk import AssetAny

    from jobs.orchestration.airflow import RUN_DATE, asset_uri
    from jobs.registry import LIVE_TABLES

    dag = dagbag.dags["detak_live"]
    assert isinstance(dag.schedule, AssetAny)
    assert [a.uri for a in dag.schedule.objects] == [asset_uri(j.outputs[0]) for j in jobs("ingest")]
    assert [t.task_id for t in dag.tasks] == ["live"]
    task = dag.get_task("live")
    assert task.application_args == ["live", "--date", RUN_DATE, "--run-id", "{{ run_id }}"]
    assert (
        [a.name for a in task.outlets]
        == list(LIVE_TABLES)
        == [
            "gold.campaign_performance_hourly",
            "gold.threat_actors",
        ]
    )
    # Every 10 minutes, the ingest DAG that starts it.
    assert schedule_of(dagbag.dags["detak_ingest"]) == "*/10 * * * *"


def test_run_date_is_the_logical_date_or_the_day_an_asset_run_starts(dagbag: Any) -> None:
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from jobs.orchestration.airflow import RUN_DATE

    render = dagbag.dags["detak_behaviour"].get_template_env().from_string(RUN_DATE).render
    scheduled = SimpleNamespace(logical_date=datetime(2026, 11, 11, tzinfo=UTC), run_after=datetime(2026, 11, 12))
    by_assets = SimpleNamespace(logical_date=None, run_after=datetime(2026, 11, 12, 9, 5, tzinfo=UTC))
    assert render(dag_run=scheduled) == "2026-11-11"
    assert render(dag_run=by_assets) == "2026-11-12"


PARSE_PROBE = """
import json, os, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
import pyspark
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "dags": sorted(bag.dags),
    "spark_started": pyspark.SparkContext._active_spark_context is not None,
    "home_created": os.path.exists(os.environ["DETAK_HOME"]),
}))
"""


def test_parsing_touches_nothing(tmp_path: Path) -> None:
    """No Spark session, no folders, no connections at parse time: only the YAML config is read."""
    home = tmp_path / "detak_home_must_not_exist"
    env = {
        "PATH": str(Path(sys.executable).parent),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "DETAK_HOME": str(home),
        "DETAK_ENV": "ci",
        # A broken connection would fail any parse-time lookup.
        "AIRFLOW_CONN_SPARK_DEFAULT": "not-a-uri",
    }
    out = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(DAGS)], env=env, capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {
        "errors": {},
        "dags": sorted(p.stem for p in DAGS.glob("detak_*.py")),
        "spark_started": False,
        "home_created": False,
    }
