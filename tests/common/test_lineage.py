"""OpenLineage from Spark jobs: off by default; when on, a job's run names what it read and wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

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
    by_path = {table_path(t, settings): t for t in (*silver.inputs, *silver.outputs)}
    read = {by_path.get(d["name"], d["name"]) for e in events for d in e.get("inputs", []) if d["namespace"] == "file"}
    written = {
        by_path.get(d["name"], d["name"]) for e in events for d in e.get("outputs", []) if d["namespace"] == "file"
    }
    assert set(silver.inputs) <= read
    assert written == set(silver.outputs)
