"""OpenLineage from Spark jobs: off by default; when on, a job's run names what it read and wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from jobs.common.config import load_settings
from jobs.common.spark import lineage_conf, spark_conf
from jobs.common.tables import table_path
from jobs.registry import job

REPO = Path(__file__).resolve().parents[2]


def test_lineage_is_off_by_default(tmp_path: Path) -> None:
    conf = spark_conf(load_settings("ci", environ={"DETAK_HOME": str(tmp_path)}), resolve=True)
    assert not [k for k in conf if "openlineage" in k or k == "spark.extraListeners"]
    assert "openlineage" not in conf["spark.jars.packages"]


def test_lineage_on_adds_the_listener_and_its_file_transport(tmp_path: Path) -> None:
    settings = load_settings(
        "ci",
        environ={"DETAK_HOME": str(tmp_path)},
        overrides={"lineage": {"enabled": True}, "spark": {"conf": {"spark.extraListeners": "com.example.Mine"}}},
    )
    assert lineage_conf(settings) == {
        "spark.extraListeners": "io.openlineage.spark.agent.OpenLineageSparkListener",
        "spark.openlineage.namespace": "detak",
        "spark.openlineage.transport.type": "file",
        "spark.openlineage.transport.location": f"{tmp_path}/lineage/openlineage.jsonl",
    }
    conf = spark_conf(settings)
    assert conf["spark.extraListeners"] == "com.example.Mine,io.openlineage.spark.agent.OpenLineageSparkListener"
    assert conf["spark.jars.packages"].split(",")[-1] == "io.openlineage:openlineage-spark_2.13:1.53.0"


def _events(home: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (home / "lineage" / "openlineage.jsonl").read_text().splitlines()]


def test_a_job_run_emits_start_and_complete_with_its_declared_tables(tmp_path: Path) -> None:
    """Job-level events, on by default: the registry's inputs and outputs, named as the Spark
    listener names datasets (file namespace, the table's path) with the table name beside."""
    from jobs.common.lineage import job_run

    settings = load_settings("ci", environ={"DETAK_HOME": str(tmp_path)})
    silver = job("silver")
    with job_run(settings, "silver", silver.inputs, silver.outputs, run_id="manual__2026-11-11") as run:
        pass
    with pytest.raises(ValueError, match="bad day"), job_run(settings, "gold_browsing", ["silver.events"], []):
        raise ValueError("bad day")
    start, complete, started, failed = _events(tmp_path)
    assert [e["eventType"] for e in (start, complete, started, failed)] == ["START", "COMPLETE", "START", "FAIL"]
    assert start["run"]["runId"] == complete["run"]["runId"] == run != started["run"]["runId"]
    assert complete["job"] == {"namespace": "detak", "name": "silver", "facets": {}}
    assert complete["run"]["facets"]["detak_run"]["runId"] == "manual__2026-11-11"
    for e, declared in ((complete["inputs"], silver.inputs), (complete["outputs"], silver.outputs)):
        assert [(d["namespace"], d["name"]) for d in e] == [("file", table_path(t, settings)) for t in declared]
        assert [d["facets"]["symlinks"]["identifiers"] for d in e] == [
            [{"namespace": "detak", "name": t, "type": "TABLE"}] for t in declared
        ]
    assert failed["run"]["facets"]["errorMessage"]["message"] == "bad day"
    assert failed["inputs"][0]["name"] == table_path("silver.events", settings)


def test_datasets_in_object_storage_take_the_bucket_as_namespace(tmp_path: Path) -> None:
    from jobs.common.lineage import dataset

    settings = load_settings(
        "ci", environ={"DETAK_HOME": str(tmp_path)}, overrides={"paths": {"lake": "s3a://shop-lake/detak"}}
    )
    got = dataset("silver.events", settings)
    assert (got["namespace"], got["name"]) == ("s3a://shop-lake", "detak/silver/events")


def test_job_events_can_be_turned_off(tmp_path: Path) -> None:
    from jobs.common.lineage import job_run

    settings = load_settings("ci", environ={"DETAK_HOME": str(tmp_path)}, overrides={"lineage": {"job_events": False}})
    with job_run(settings, "silver", ["bronze.clickstream_events"], ["silver.events"]):
        pass
    assert not (tmp_path / "lineage").exists()


@pytest.mark.integration
@pytest.mark.soak
def test_a_job_run_emits_the_datasets_it_read_and_wrote(tmp_path: Path) -> None:
    """The silver job on a small simulated day, in its own Spark process with the listener on."""
    from jobs.simulate import generate

    day = "2026-11-11"
    settings = load_settings("ci", environ={"DETAK_HOME": str(tmp_path)})
    generate(tmp_path, date.fromisoformat(day), 1, 30, 7, settings=settings, progress=False, workers=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DETAK")}
    env.update(PYTHONPATH=str(REPO), DETAK_ENV="ci", DETAK_HOME=str(tmp_path))
    for argv, lineage in ((["ingest"], "false"), (["job", "silver", "--date", day], "true")):
        subprocess.run(
            [sys.executable, "-m", "jobs", *argv],
            env={**env, "DETAK__LINEAGE__ENABLED": lineage},
            check=True,
            capture_output=True,
            timeout=900,
        )
    events = [json.loads(line) for line in (tmp_path / "lineage" / "openlineage.jsonl").read_text().splitlines()]
    assert {e["job"]["namespace"] for e in events} == {"detak"}
    silver = job("silver")
    by_path = {table_path(t, settings): t for t in (*silver.inputs, *silver.outputs, "ops.manifest")}
    # The silver run's events: its job-level pair and the listener's (the ingest before it has its
    # own job-level events). Data is written by execute_* commands; create_table events are the
    # CREATE TABLE IF NOT EXISTS of every table the job opens, inputs included.
    ours = [e for e in events if e["job"]["name"] == "silver" or e["job"]["name"].startswith("detak_silver")]
    writes = [e for e in ours if e["job"]["name"] == "silver" or e["job"]["name"].startswith("detak_silver.execute_")]

    def tables(evs: list[dict], side: str) -> set[str]:
        return {by_path.get(d["name"], d["name"]) for e in evs for d in e.get(side, []) if d["namespace"] == "file"}

    assert set(silver.inputs) <= tables(ours, "inputs")
    # The job writes its declared tables and the run manifest (jobs.common.manifest).
    assert tables(writes, "outputs") == {*silver.outputs, "ops.manifest"}


def test_every_daily_job_run_through_the_registry_names_its_declared_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one way every job runs (jobs.registry.run: CLI, Airflow tasks, tests) emits its events.

    The jobs' work is replaced by a no-op here (the soak test_behaviour_dag checks the events of a
    real daily run through Airflow); what is checked is that each job's START and COMPLETE name
    exactly the tables the registry declares, in one OpenLineage run per job.
    """
    from jobs.registry import Job, jobs, run

    monkeypatch.setattr(Job, "load", lambda self, tables=None: lambda spark, day, settings, since=None, run_id=None: {})
    settings = load_settings("ci", environ={"DETAK_HOME": str(tmp_path)})
    daily = jobs("daily")
    for j in daily:
        run(j.name, None, date(2026, 11, 11), settings, run_id="scheduled__2026-11-12")
    events = _events(tmp_path)
    assert [(e["eventType"], e["job"]["name"]) for e in events] == [
        (kind, j.name) for j in daily for kind in ("START", "COMPLETE")
    ]
    for j, (start, complete) in zip(daily, zip(events[::2], events[1::2], strict=True), strict=True):
        assert start["run"]["runId"] == complete["run"]["runId"]
        names = [d["facets"]["symlinks"]["identifiers"][0]["name"] for d in complete["inputs"]]
        assert (names, [d["name"] for d in complete["outputs"]]) == (
            list(j.inputs),
            [table_path(t, settings) for t in j.outputs],
        )
