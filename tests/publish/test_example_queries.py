"""The example questions of docs/queries/, asked of a published warehouse and answered right.

The shared simulated days (tests/conftest.py) go through the gold jobs the questions read (through
jobs.registry.run, as every job runs) and are published to a DuckDB warehouse in one write session.
The gate is not run here: its verdicts are the quality tests' business, and these tables pass it
in the end-to-end soak (tests/dags/test_behaviour_dag.py).
"""

from __future__ import annotations

import re
import statistics
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Settings
from jobs.common.tables import delta_version, read_table, table_path
from jobs.publish.publish import Ledger, publish
from jobs.publish.warehouse import warehouse
from jobs.registry import job, run
from tests.conftest import SIM_DAYS, SIM_START, copy_home, sim_settings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DAYS = [SIM_START + timedelta(days=i) for i in range(SIM_DAYS)]
JOBS = ("gold_browsing", "gold_abandonment", "gold_purchase_time", "gold_discounts", "gold_campaigns")


@pytest.fixture(scope="module")
def published(spark: SparkSession, sim_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = copy_home(sim_home, tmp_path_factory.mktemp("queries") / "home")
    conf = sim_settings(home)
    for name in JOBS:
        run(name, spark, DAYS[-1], conf)
    tables = [t for name in JOBS for t in job(name).outputs]
    versions = {t: delta_version(spark, table_path(t, conf)) for t in tables}
    wh = warehouse(conf, "duckdb")
    ledger = Ledger.read(spark, versions, wh.name, conf)
    with wh.session():
        for t in tables:
            publish(spark, t, DAYS, conf, "duckdb", version=versions[t], require_gate=False, ledger=ledger)
    return conf


QUERIES = REPO / "docs" / "queries"


def _declared(sql: str, field: str) -> str:
    found = re.search(rf"^-- {field}: (.+)$", sql, re.MULTILINE)
    assert found, f"the query's header has no '-- {field}:' line"
    return found.group(1).strip()


def _approx(rows: list[tuple]) -> list[tuple]:
    """Rows with every number as a float rounded to 9 places (DuckDB returns decimals for some ratios)."""
    return [tuple(round(float(v), 9) if isinstance(v, int | float | Decimal) else v for v in row) for row in rows]


def test_example_queries_answer_with_their_declared_columns(spark: SparkSession, published: Settings) -> None:
    """Every docs/queries/*.sql runs on the published warehouse and returns the columns its header declares;
    the answers are checked against Spark computations on the lake where that is cheap."""
    conf = published
    files = sorted(QUERIES.glob("*.sql"))
    assert len(files) == 14
    answers: dict[str, list[tuple]] = {}
    with duckdb.connect(str(conf.path("warehouse")), read_only=True) as con:
        for file in files:
            sql = file.read_text()
            assert _declared(sql, "Question").endswith("?"), file.name
            cursor = con.execute(sql)
            columns = [d[0] for d in cursor.description]
            assert columns == [c.strip() for c in _declared(sql, "Columns").split(",")], file.name
            answers[file.stem] = cursor.fetchall()  # bounded: every query aggregates or has a LIMIT
    # Four simulated days hold data for every question (a week-over-week one has no last week).
    assert [stem for stem, rows in answers.items() if not rows] == []

    def lake(name: str) -> DataFrame:
        return read_table(spark, name, conf)

    # Zero-result searches of the last 7 days, from the lake's gold.search_quality_daily.
    search = lake("gold.search_quality_daily")
    last = search.agg(F.max("date")).first()[0]
    zero = (
        search.where(F.col("date") > F.date_sub(F.lit(last), 7))
        .withColumn("zero", F.round(F.col("searches") * F.col("zero_result_rate")).cast("long"))
        .groupBy("query_normalised")
        .agg(F.sum("zero").alias("zero"), F.sum("searches").alias("searches"), F.countDistinct("date").alias("days"))
        .where(F.col("zero") > 0)
        .collect()  # bounded: distinct queries of a week of two small simulated days
    )
    expected = sorted(
        ((r["query_normalised"], r["zero"], r["searches"], r["zero"] / r["searches"], r["days"]) for r in zero),
        key=lambda r: (-r[1], r[0]),
    )[:20]
    assert _approx(answers["zero_result_searches"]) == _approx(expected)

    # Misleading discounts per top-level category on the latest sale day, from the lake's rows.
    judged = (
        lake("gold.discount_integrity")
        .where(F.col("verdict").isin("misleading", "genuine"))
        .select("sale_date", "sale_name", "category", "flagged", "discount_share")
        .collect()  # bounded: the products shown on one simulated sale day
    )
    newest = max(r["sale_date"] for r in judged)
    groups: dict[tuple, list] = {}
    for r in judged:
        if r["sale_date"] == newest:
            groups.setdefault((r["sale_date"], r["sale_name"], r["category"].split(" > ")[0]), []).append(r)
    expected_discounts = sorted(
        (
            (
                *key,
                len(rows),
                sum(r["flagged"] for r in rows),
                sum(r["flagged"] for r in rows) / len(rows),
                float(statistics.median(r["discount_share"] for r in rows)),
            )
            for key, rows in groups.items()
        ),
        key=lambda r: (-r[4], r[2]),
    )
    assert _approx(answers["misleading_discounts_by_category"]) == _approx(expected_discounts)

    # Bot share per day, from the lake's hourly traffic.
    traffic = (
        lake("gold.traffic_hourly")
        .groupBy("date")
        .agg(
            F.sum(F.col("events") + F.col("no_consent_events") + F.col("bot_events")).alias("all"),
            F.sum("bot_events").alias("bots"),
            F.sum("no_consent_events").alias("no_consent"),
        )
        .orderBy("date")
        .collect()  # bounded: one row per date
    )
    assert _approx(answers["bot_share_by_day"]) == _approx(
        [(r["date"], r["all"], r["bots"], r["no_consent"], r["bots"] / r["all"]) for r in traffic]
    )

    # New against returning visitors, from the lake's session facts.
    sessions = lake("gold.session_facts")
    visitors = (
        sessions.groupBy("session_date", "visitor_type")
        .agg(
            F.count("*").alias("n"),
            F.sum(F.col("purchased").cast("long")).alias("bought"),
            F.sum("revenue").alias("revenue"),
        )
        .orderBy("session_date", "visitor_type")
        .collect()  # bounded: dates × two visitor types
    )
    assert _approx(answers["new_vs_returning_conversion"]) == _approx(
        [(r[0], r[1], r["n"], r["bought"], r["bought"] / r["n"], r["revenue"] / r["n"]) for r in visitors]
    )

    # Value lost per primary reason, from the carts themselves (not from the daily reasons table).
    carts = lake("gold.cart_abandonment")
    reasons_last = lake("gold.abandonment_reasons_daily").agg(F.max("date")).first()[0]
    left = (
        carts.where(
            F.col("outcome").isin("abandoned", "recovered") & (F.col("cart_date") > F.date_sub(F.lit(reasons_last), 7))
        )
        .groupBy("primary_reason")
        .agg(
            F.sum((F.col("outcome") == "abandoned").cast("long")).alias("abandoned"),
            F.sum(F.when(F.col("outcome") == "abandoned", F.col("cart_value")).otherwise(0)).alias("lost"),
            F.sum((F.col("outcome") == "recovered").cast("long")).alias("recovered"),
            F.sum(F.when(F.col("outcome") == "recovered", F.col("cart_value")).otherwise(0)).alias("won_back"),
        )
        .collect()  # bounded: one row per reason
    )
    total = sum(r["lost"] for r in left)
    assert _approx(answers["top_abandonment_reasons_by_value_lost"]) == _approx(
        sorted(
            ((r[0], r["abandoned"], r["lost"], r["lost"] / total, r["recovered"], r["won_back"]) for r in left),
            key=lambda r: (-r[2], r[0]),
        )
    )
