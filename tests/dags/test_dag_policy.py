"""DAG policy: every DAG imports, is documented, owned, tagged, retried, and parses without effects."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from jobs.registry import jobs
from tests.dags.conftest import DAGS

SCHEDULE_WORDS = {"@hourly": "hourly", "@daily": "daily", "@weekly": "weekly"}


def test_no_import_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dags) == sorted(p.stem for p in DAGS.glob("detak_*.py"))


@pytest.mark.parametrize("dag_id", sorted(p.stem for p in DAGS.glob("detak_*.py")))
def test_dag_policy(dagbag: Any, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert dag.tags and "detak" in dag.tags
    assert dag.doc_md and dag_id in dag.doc_md
    assert dag.max_active_runs is not None
    assert dag.catchup is False or dag.catchup is True
    word = SCHEDULE_WORDS.get(str(dag.schedule))
    assert word is not None, f"{dag_id}: schedule {dag.schedule} is not one of {list(SCHEDULE_WORDS)}"
    assert word in dag.doc_md.lower(), f"{dag_id}: doc_md does not say it runs {word}"
    for task in dag.tasks:
        assert task.owner == "detak-data-eng", task.task_id
        assert task.retries >= 2, task.task_id


def test_ingest_dag_has_a_task_and_an_asset_per_source(dagbag: Any) -> None:
    dag = dagbag.dags["detak_ingest"]
    expected = {j.task_id: j.outputs[0] for j in jobs("ingest")}
    assert {t.task_id: [a.name for a in t.outlets] for t in dag.tasks} == {k: [v] for k, v in expected.items()}
    task = dag.get_task("ingest_search")
    assert task._conn_id == "spark_default"
    assert task.application.endswith("jobs/__main__.py")
    assert task.application_args[:3] == ["ingest", "--source", "search"]
    assert "io.delta:delta-spark_2.13" in task.packages


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
