"""The gold browsing job on simulated days around 11.11, cross-checked with plain DuckDB SQL.

The DuckDB queries below are written from the table contracts, independently of the Spark code:
they read the same silver rows (exported to Parquet) and must give exactly the same figures.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.common.calendar import resolve as resolve_calendar
from jobs.common.config import Settings
from jobs.common.tables import read_table
from jobs.gold.browsing import OUTPUTS, run_browsing
from tests.conftest import SIM_DAYS, SIM_START, copy_home, sim_settings

LAST_DAY = SIM_START + timedelta(days=SIM_DAYS - 1)
SALE_DAY = SIM_START + timedelta(days=2)  # 2026-11-11


@pytest.fixture(scope="module")
def gold(spark: SparkSession, sim_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Gold built in one run whose window covers every simulated day."""
    home = copy_home(sim_home, tmp_path_factory.mktemp("gold"))
    conf = sim_settings(home)
    run_browsing(spark, LAST_DAY, conf)
    return conf


@pytest.fixture(scope="module")
def db(spark: SparkSession, gold: Settings, tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    """DuckDB over Parquet copies of the silver inputs and the gold outputs."""
    folder = tmp_path_factory.mktemp("parquet")
    con = duckdb.connect()
    for name in ("silver.events", "silver.sessions", "silver.orders", "silver.order_items", *OUTPUTS):
        path = folder / name.replace(".", "_")
        read_table(spark, name, gold).write.parquet(str(path))
        con.execute(f"CREATE VIEW {name.replace('.', '_')} AS SELECT * FROM read_parquet('{path}/*.parquet')")
    return con


def frame(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    return con.execute(sql).df()


def spark_frame(df: DataFrame, columns: list[str]) -> pd.DataFrame:
    # Bounded: gold tables of four small simulated days.
    return df.select(columns).toPandas()


def same(got: pd.DataFrame, expected: pd.DataFrame, keys: list[str]) -> None:
    for df in (got, expected):
        for col in ("date", "session_date"):
            if col in df:
                df[col] = pd.to_datetime(df[col])
    got = got.sort_values(keys).reset_index(drop=True)
    expected = expected.sort_values(keys).reset_index(drop=True)
    assert len(got) == len(expected)
    pd.testing.assert_frame_equal(got, expected[got.columns], check_dtype=False, check_exact=False, rtol=1e-9)


SCOPE = """
WITH s AS (SELECT * FROM silver_sessions WHERE consent_analytics),
e AS (SELECT ev.* FROM silver_events ev JOIN s USING (session_id) WHERE NOT ev.is_bot),
o AS (
  SELECT * FROM (
    SELECT o.order_id, o.created_at, o.total, s.session_id,
           row_number() OVER (PARTITION BY o.order_id ORDER BY s.session_start DESC, s.session_id) AS n
    FROM silver_orders o JOIN s ON o.anonymous_id = s.anonymous_id
     AND o.created_at >= s.session_start AND o.created_at <= s.session_end + INTERVAL 30 MINUTE
  ) WHERE n = 1
)
"""


@pytest.mark.integration
def test_session_facts_agree_with_duckdb(spark: SparkSession, gold: Settings, db: duckdb.DuckDBPyConnection) -> None:
    sql = (
        SCOPE
        + """
    SELECT s.session_id, s.session_date,
      coalesce(bool_or(e.event_type IN ('add_to_cart', 'cart_view')), false) AS reached_cart,
      coalesce(bool_or(e.event_type = 'begin_checkout'), false) AS reached_checkout,
      coalesce(bool_or(e.event_type = 'add_payment_info'), false) AS reached_payment,
      coalesce(arg_min(e.top_category, (e.event_time, e.event_id))
               FILTER (WHERE e.event_type IN ('product_view', 'add_to_cart') AND e.top_category IS NOT NULL),
               '(none)') AS top_category,
      (SELECT count(*) FROM o WHERE o.session_id = s.session_id) AS orders,
      (SELECT coalesce(sum(total), 0) FROM o WHERE o.session_id = s.session_id) AS revenue,
      CASE WHEN s.session_start > (SELECT min(h.session_start) FROM silver_sessions h
                                   WHERE h.anonymous_id = s.anonymous_id) THEN 'returning' ELSE 'new' END
        AS visitor_type,
      floor((epoch_us(s.session_start) - (SELECT epoch_us(min(h.session_start)) FROM silver_sessions h
                                          WHERE h.anonymous_id = s.anonymous_id)) / 86400e6)::INT
        AS days_since_first_seen,
      (SELECT floor((epoch_us(s.session_start) - epoch_us(min(x.created_at))) / 86400e6)::INT FROM silver_orders x
       WHERE x.anonymous_id = s.anonymous_id AND x.created_at < s.session_start) AS days_since_first_purchase
    FROM s LEFT JOIN e USING (session_id)
    GROUP BY ALL
    """
    )
    tenure = gold["gold"]["browsing"]["tenure"]
    loyal, new = tenure["loyal_min_days_since_first_purchase"], tenure["new_max_days_since_first_seen"]
    sql = f"""SELECT *, CASE WHEN days_since_first_purchase >= {loyal} THEN 'loyal'
      WHEN days_since_first_seen <= {new} THEN 'new' ELSE 'returning' END AS tenure
    FROM ({sql})"""
    expected = frame(db, sql)
    got = spark_frame(read_table(spark, "gold.session_facts", gold), list(expected.columns))
    for df in (got, expected):  # no earlier order: null on both sides, as a float column
        df["days_since_first_purchase"] = df["days_since_first_purchase"].astype("float")
    same(got, expected, ["session_id"])
    assert expected["orders"].sum() > 50
    # The four simulated days hold every tenure.
    assert sorted(expected["tenure"].unique()) == ["loyal", "new", "returning"]


FUNNEL = (
    SCOPE
    + """,
ev AS (SELECT session_id, event_type, event_time FROM e
       UNION ALL SELECT session_id, 'order_created', created_at FROM o),
t0 AS (SELECT session_id, session_start AS t FROM s),
t1 AS (SELECT p.session_id, (SELECT min(event_time) FROM ev WHERE ev.session_id = p.session_id
         AND event_type = 'product_view' AND event_time >= p.t) AS t FROM t0 p),
t2 AS (SELECT p.session_id, (SELECT min(event_time) FROM ev WHERE ev.session_id = p.session_id
         AND event_type = 'add_to_cart' AND event_time >= p.t) AS t FROM t1 p),
t3 AS (SELECT p.session_id, (SELECT min(event_time) FROM ev WHERE ev.session_id = p.session_id
         AND event_type = 'begin_checkout' AND event_time >= p.t) AS t FROM t2 p),
t4 AS (SELECT p.session_id, (SELECT min(event_time) FROM ev WHERE ev.session_id = p.session_id
         AND event_type = 'add_payment_info' AND event_time >= p.t) AS t FROM t3 p),
t5 AS (SELECT p.session_id, (SELECT min(event_time) FROM ev WHERE ev.session_id = p.session_id
         AND event_type = 'order_created' AND event_time >= p.t) AS t FROM t4 p),
steps AS (
  SELECT 0 AS step_index, * FROM t0 UNION ALL SELECT 1, * FROM t1 UNION ALL SELECT 2, * FROM t2
  UNION ALL SELECT 3, * FROM t3 UNION ALL SELECT 4, * FROM t4 UNION ALL SELECT 5, * FROM t5
),
has AS (SELECT session_id, bool_or(event_type = 'product_view') AS h1, bool_or(event_type = 'add_to_cart') AS h2,
               bool_or(event_type = 'begin_checkout') AS h3, bool_or(event_type = 'add_payment_info') AS h4,
               bool_or(event_type = 'order_created') AS h5
        FROM ev GROUP BY session_id),
any_order AS (
  SELECT s.session_id, x.step_index,
         CASE x.step_index WHEN 0 THEN true WHEN 1 THEN h1 WHEN 2 THEN h1 AND h2 WHEN 3 THEN h1 AND h2 AND h3
              WHEN 4 THEN h1 AND h2 AND h3 AND h4 ELSE h1 AND h2 AND h3 AND h4 AND h5 END AS reached
  FROM s LEFT JOIN has USING (session_id) CROSS JOIN range(6) x(step_index)
),
facts AS (
  SELECT s.session_id, s.session_date, s.session_start, s.channel, s.device_type,
         coalesce(s.region, '(unknown)') AS region, f.top_category, f.tenure, f.revenue
  FROM s JOIN gold_session_facts f USING (session_id)
)
SELECT f.session_date AS date, f.channel, f.device_type, f.region, f.top_category, f.tenure, st.step_index,
       count(st.t) AS sessions,
       coalesce(median(epoch_us(st.t) - epoch_us(f.session_start)) / 1e6, 0) AS median_seconds_to_step,
       coalesce(sum(f.revenue) FILTER (WHERE st.t IS NOT NULL), 0) AS revenue,
       count(*) FILTER (WHERE a.reached) AS sessions_any_order
FROM facts f JOIN steps st USING (session_id) JOIN any_order a USING (session_id, step_index)
GROUP BY ALL
"""
)


@pytest.mark.integration
def test_funnel_agrees_with_duckdb_and_never_rises(
    spark: SparkSession, gold: Settings, db: duckdb.DuckDBPyConnection
) -> None:
    expected = frame(db, FUNNEL)
    got = spark_frame(read_table(spark, "gold.funnel_daily", gold), list(expected.columns))
    keys = ["date", "channel", "device_type", "region", "top_category", "tenure", "step_index"]
    same(got, expected, keys)
    rises = got.sort_values(keys).groupby(keys[:-1])["sessions"].diff().fillna(0)
    assert (rises <= 0).all()
    totals = got.groupby("step_index")["sessions"].sum()
    assert totals[5] > 50  # the simulated days do convert
    # The simulator's shoppers follow the funnel's order (its clocks do not jitter across steps), so
    # here both counts agree; the transform test plants the out-of-order session that tells them apart.
    assert (got["sessions_any_order"] >= got["sessions"]).all()


def normalise(text: str, corrections: Mapping[str, str]) -> str | None:
    """An independent Python rendering of the documented query normalisation."""

    def clean(t: str) -> str:
        t = re.sub(r"\b(\w+)-\1\b", r"\1", t.strip().lower())
        t = re.sub(r"\b([^\W\d_]{2,})2\b", r"\1", t)
        return " ".join(re.sub(r"[\W_]+", " ", t).split())

    fixes = {clean(k): clean(v) for k, v in corrections.items()}
    q = " " + clean(text) + " "
    for key in sorted((k for k in fixes if " " in k), key=len, reverse=True):
        q = q.replace(f" {key} ", f" {fixes[key]} ")
    words = [fixes.get(w, w) for w in q.split()]
    return " ".join(words) or None


@pytest.mark.integration
def test_search_quality_agrees_with_duckdb(spark: SparkSession, gold: Settings, db: duckdb.DuckDBPyConnection) -> None:
    corrections = gold["gold"]["browsing"]["query_corrections"]
    if "norm" not in [r[0] for r in db.execute("SELECT function_name FROM duckdb_functions()").fetchall()]:
        db.create_function("norm", lambda q: normalise(q, corrections), ["VARCHAR"], "VARCHAR")
    sql = (
        SCOPE
        + """,
t AS (SELECT e.search_id, e.session_id, s.session_date AS date, e.event_time, e.results_count,
             norm(e.query) AS typed_normalised, coalesce(s.user_id, s.anonymous_id) AS person
      FROM e JOIN s USING (session_id) WHERE e.event_type = 'search' AND norm(e.query) IS NOT NULL),
p AS (SELECT date, typed_normalised, count(DISTINCT person) AS people FROM t GROUP BY ALL),
q AS (SELECT t.*, CASE WHEN p.people >= $k THEN t.typed_normalised ELSE '(rare)' END AS query_normalised
      FROM t JOIN p USING (date, typed_normalised)),
k AS (SELECT c.search_id, c.position FROM e c WHERE c.event_type = 'search_result_click'
      AND c.search_id IN (SELECT search_id FROM q))
SELECT date, query_normalised, count(*) AS searches,
       avg(CASE WHEN results_count = 0 THEN 1.0 ELSE 0.0 END) AS zero_result_rate,
       avg(CASE WHEN EXISTS (SELECT 1 FROM k WHERE k.search_id = q.search_id) THEN 1.0 ELSE 0.0 END)
         AS click_through_rate,
       sum((SELECT sum(position) FROM k WHERE k.search_id = q.search_id))
         / nullif(sum((SELECT count(*) FROM k WHERE k.search_id = q.search_id)), 0) AS mean_click_position
FROM q WHERE query_normalised IS NOT NULL GROUP BY ALL
"""
    )
    k = int(gold["gold"]["browsing"]["min_people_per_query"])
    expected = frame(db, sql.replace("$k", str(k)))
    got = spark_frame(read_table(spark, "gold.search_quality_daily", gold), list(expected.columns))
    same(got, expected, ["date", "query_normalised"])
    assert expected["searches"].sum() > 100
    # Both published queries and rare ones are in the comparison.
    assert 0 < (expected["query_normalised"] == "(rare)").sum() < len(expected)


@pytest.mark.integration
def test_the_sale_day_surge_shows_in_traffic_and_funnel(spark: SparkSession, gold: Settings) -> None:
    # 11.11 is a day of the shoppers' calendar: compare local days (the shop's time zone), not UTC ones.
    days = [SIM_START + timedelta(days=i) for i in range(SIM_DAYS)]
    daily = (
        read_table(spark, "gold.traffic_hourly", gold)
        .where(F.col("local_date").isin(days))
        .groupBy("local_date")
        .agg(F.sum("sessions").alias("sessions"))
        .toPandas()  # bounded: one row per day
        .set_index("local_date")["sessions"]
    )
    normal = daily.drop(SALE_DAY).mean()
    sale_days = resolve_calendar(gold["calendar"], [SALE_DAY.year])["sale_days"]
    planted = next(d["traffic"] for d in sale_days if d["date"] == str(SALE_DAY))
    ratio = daily[SALE_DAY] / normal
    assert planted * 0.75 <= ratio <= planted * 1.25, f"11.11 has {ratio:.2f}x the sessions of a normal day"

    buyers = (
        read_table(spark, "gold.session_facts", gold)
        .groupBy(F.to_date("local_start").alias("day"))
        .agg(F.count_if(F.col("purchased")).alias("buying"), F.count("*").alias("sessions"))
        .toPandas()
        .set_index("day")
    )
    others = buyers.drop(SALE_DAY).loc[lambda df: df.index.isin(days)]
    assert buyers.loc[SALE_DAY, "buying"] > 3 * others["buying"].mean()


def snapshot(spark: SparkSession, conf: Settings) -> dict[str, Any]:
    return {name: read_table(spark, name, conf).collect() for name in OUTPUTS}


@pytest.mark.integration
def test_a_daily_rerun_equals_the_full_build_and_changes_nothing(
    spark: SparkSession, gold: Settings, tmp_path: Path
) -> None:
    # The same silver and gold, the last two days rebuilt: must equal the full build.
    home = copy_home(Path(str(gold["paths"]["lake"])).parent, tmp_path)
    conf = sim_settings(home)
    run_browsing(spark, LAST_DAY, conf, since=LAST_DAY - timedelta(days=1))
    for name in OUTPUTS:
        assertDataFrameEqual(read_table(spark, name, conf), read_table(spark, name, gold))
