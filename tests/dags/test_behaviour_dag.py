"""End to end: detak_ingest and detak_behaviour through Airflow (``dag.test()``) on two simulated days.

One module fixture generates two days around 11.11, runs the ingest DAG and then the behaviour
DAG for each day, all in one Airflow process (tasks in process, one Spark session), into a DuckDB
warehouse. The tests then check that warehouse against the lake,
against the simulator's ground truth, and against one catch-up run of the same jobs without
Airflow, and look at the HTML report in headless Chromium.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from jobs.common.config import Settings
from jobs.common.contracts import table
from jobs.common.tables import read_table
from jobs.orchestration.dag_runs import run_in_airflow
from jobs.registry import jobs, run
from jobs.simulate import generate
from tests.conftest import sim_settings

pytestmark = [pytest.mark.integration, pytest.mark.soak]

FIRST, LAST = date(2026, 11, 10), date(2026, 11, 11)
USERS, SEED = 300, 11
REPO = Path(__file__).resolve().parents[2]


def _clean_environ(home: Path, airflow_home: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DETAK", "AIRFLOW"))}
    return base | {"DETAK_HOME": str(home), "DETAK_ENV": "ci", "AIRFLOW_HOME": str(airflow_home)}


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Settings]]:
    """A home where both daily runs went through Airflow."""
    root = tmp_path_factory.mktemp("behaviour_dag")
    home = root / "home"
    conf = sim_settings(home)
    generate(home, FIRST, (LAST - FIRST).days + 1, USERS, seed=SEED, settings=conf, progress=False)
    runs = [
        f"detak_ingest@{LAST + timedelta(days=1)}T00:00",
        f"detak_behaviour@{FIRST}",
        f"detak_behaviour@{LAST}",
    ]
    run_in_airflow(conf, runs, root / "airflow.log", base=_clean_environ(home, root / "airflow"))
    yield home, conf


def _warehouse_tables(path: Path) -> list[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('gold', 'features') ORDER BY 1"
        ).fetchall()
    return [r[0] for r in rows]


def _warehouse_frame(spark: SparkSession, path: Path, name: str, out: Path) -> DataFrame:
    """A warehouse table as Spark reads it back: exported by DuckDB to Parquet, in contract types."""
    out.mkdir(parents=True, exist_ok=True)
    file = out / f"{name}.parquet"
    with duckdb.connect(str(path), read_only=True) as con:
        con.execute(f"COPY (SELECT * FROM {name}) TO '{file}' (FORMAT parquet)")
    df = spark.read.parquet(str(file))
    exported = dict(df.dtypes)
    columns = []
    for field in table(name).spark_schema.fields:
        nested = isinstance(field.dataType, T.ArrayType | T.MapType | T.StructType)
        col = F.col(field.name)
        # Nested values may come back as JSON text; parse them rather than compare formatting.
        typed = (
            F.from_json(col, field.dataType)
            if nested and exported[field.name] == "string"
            else col.cast(field.dataType)
        )
        columns.append(typed.alias(field.name))
    return df.select(columns)


def _lake_frame(spark: SparkSession, conf: Settings, name: str) -> DataFrame:
    contract = table(name)
    return read_table(spark, name, conf).select([c.name for c in contract.columns])


def test_every_published_table_is_the_lake_table_of_those_dates(
    spark: SparkSession, airflow_home: tuple[Path, Settings], tmp_path: Path
) -> None:
    _, conf = airflow_home
    warehouse = conf.path("warehouse")
    # Every gold and feature table of the daily graph is in the warehouse, nothing else.
    expected = sorted(name for j in jobs("daily") if j.stage in ("gold", "features") for name in j.outputs)
    published = _warehouse_tables(warehouse)
    # A table none of whose dates was ever written (no reviews simulated, no abandonment model
    # trained to score carts) has nothing to publish yet; every other one is there.
    empty = [name for name in expected if read_table(spark, name, conf).limit(1).count() == 0]
    assert published == [name for name in expected if name not in empty]
    assert empty == ["gold.cart_risk", "gold.product_sentiment_daily"]
    # Every date the runs rewrote was published: the warehouse holds the lake tables whole.
    for name in published:
        lake = _lake_frame(spark, conf, name)
        assertDataFrameEqual(_warehouse_frame(spark, warehouse, name, tmp_path), lake, checkRowOrder=False)


def test_orders_and_revenue_per_day_are_the_simulated_ones(airflow_home: tuple[Path, Settings]) -> None:
    """The warehouse's daily orders and revenue against the simulator's ground truth (not the pipeline)."""
    home, conf = airflow_home
    truth = pd.read_parquet(home / "truth" / "orders.parquet")
    truth["day"] = truth["created_utc"].dt.date
    expected = (
        truth[truth["day"].between(FIRST, LAST)]
        .groupby("day")
        .agg(orders=("order_id", "size"), revenue=("total", "sum"))
    )
    with duckdb.connect(str(conf.path("warehouse")), read_only=True) as con:
        got = con.execute(
            "SELECT date AS day, SUM(orders) AS orders, SUM(revenue) AS revenue FROM gold.traffic_hourly "
            f"WHERE date BETWEEN DATE '{FIRST}' AND DATE '{LAST}' GROUP BY date ORDER BY date"
        ).fetchall()
    assert got == [(d, int(r.orders), int(r.revenue)) for d, r in expected.iterrows()]


def test_one_catch_up_run_without_airflow_gives_the_same_warehouse(
    spark: SparkSession, airflow_home: tuple[Path, Settings], tmp_path: Path
) -> None:
    """``detak run --to LAST`` (each job once, on everything ingested) equals the daily DAG runs."""
    home, conf = airflow_home
    other = tmp_path / "home"
    shutil.copytree(home / "lake" / "bronze", other / "lake" / "bronze")
    other_conf = sim_settings(other)
    for j in jobs("daily"):
        run(j.name, spark, LAST, other_conf)
    names = _warehouse_tables(conf.path("warehouse"))
    assert _warehouse_tables(other_conf.path("warehouse")) == names
    # Served snapshots (recommendations) keep one as-of date per run: the daily runs made two, the
    # catch-up one; only the latest is independent of the history of runs.
    snapshots = {t for j in jobs("daily") if j.snapshot for t in j.outputs}
    for name in names:
        mine = _warehouse_frame(spark, other_conf.path("warehouse"), name, tmp_path / "b")
        theirs = _warehouse_frame(spark, conf.path("warehouse"), name, tmp_path / "a")
        if name in snapshots:
            latest = F.lit(LAST + timedelta(days=1))
            mine, theirs = mine.where(F.col("as_of_date") == latest), theirs.where(F.col("as_of_date") == latest)
        assertDataFrameEqual(mine, theirs, checkRowOrder=False)


def test_report_renders_every_chart_in_chromium(airflow_home: tuple[Path, Settings]) -> None:
    """The HTML report opens in headless Chromium with every chart drawn and no console errors."""
    from jobs.report import CHARTS, build_report, render_in_chromium

    home, conf = airflow_home
    out, _ = build_report(conf, home / "reports" / "behaviour.html")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium missing in CI: apt-get install -y chromium")
        pytest.skip("chromium not installed (apt-get install chromium)")
    page = render_in_chromium(out, REPO / "bench" / "artifacts" / "report-e2e.png", browser)
    assert page["errors"] == []
    assert page["charts"] == {chart_id: True for chart_id, _ in CHARTS}
    # One clock: the summary's days are the shop's (Asia/Jakarta, UTC+7), not the UTC session dates.
    with duckdb.connect(str(conf.path("warehouse")), read_only=True) as con:
        sessions = con.execute(
            "SELECT CAST(session_start + INTERVAL 7 HOUR AS DATE) AS d, COUNT(*) FROM gold.session_facts "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()
        status = con.execute("SELECT table_name, status FROM quality.table_status ORDER BY 1").fetchall()
    assert [row[:2] for row in page["summary"]] == [[f"{d} {d:%a}", f"{n:,}"] for d, n in sessions]
    # Every published table is in the gate-status table, each published.
    assert [row[:2] for row in page["status"]] == [[name, "passed, published"] for name, _ in status]
    assert [name for name, _ in status] == _warehouse_tables(conf.path("warehouse"))


def test_every_job_of_the_daily_runs_emitted_its_lineage(airflow_home: tuple[Path, Settings]) -> None:
    """Each Airflow task's job wrote a START and a COMPLETE naming the tables it reads and writes."""
    import json

    from jobs.common.tables import table_path

    home, conf = airflow_home
    lines = (home / "lineage" / "openlineage.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    complete = [e for e in events if e["eventType"] == "COMPLETE"]
    assert not [e for e in events if e["eventType"] == "FAIL"]
    for j in [*jobs("ingest"), *jobs("daily")]:
        runs = [e for e in complete if e["job"]["name"] == j.name]
        # Ingest once; each daily job once per behaviour run.
        assert len(runs) == (1 if j.group == "ingest" else 2), j.name
        for e in runs:
            assert [d["facets"]["symlinks"]["identifiers"][0]["name"] for d in e["inputs"]] == list(j.inputs)
            assert [d["name"] for d in e["outputs"]] == [table_path(t, conf) for t in j.outputs]
