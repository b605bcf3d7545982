"""Weekly acquisition cohorts on the shared simulated days, cross-checked with plain DuckDB SQL.

The SQL below is written from the table contract, independently of the Spark code: it reads the
same silver rows (exported to Parquet) and must give exactly the same rows.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from pyspark.sql import SparkSession

from jobs.common.config import Settings
from jobs.common.tables import read_table
from jobs.gold.cohorts import TABLE, run_cohorts
from tests.conftest import SIM_DAYS, SIM_START, copy_home, sim_settings

LAST_DAY = SIM_START + timedelta(days=SIM_DAYS - 1)


@pytest.fixture(scope="module")
def built(spark: SparkSession, sim_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    conf = sim_settings(copy_home(sim_home, tmp_path_factory.mktemp("cohorts")))
    report = run_cohorts(spark, LAST_DAY, conf, since=SIM_START)
    # The weeks rewritten: from the week of the earliest changed silver date (the simulated days
    # start on Monday Nov 9) to the run date's week.
    assert report["dates"] == "2026-11-09"
    return conf


def duckdb_cohorts(spark: SparkSession, conf: Settings, folder: Path, first: date, last: date) -> pd.DataFrame:
    con = duckdb.connect()
    for name in ("silver.sessions", "silver.orders"):
        path = folder / name.replace(".", "_")
        read_table(spark, name, conf).write.parquet(str(path))
        con.execute(f"CREATE VIEW {name.replace('.', '_')} AS SELECT * FROM read_parquet('{path}/*.parquet')")
    sql = f"""
    WITH v AS (SELECT user_id, session_date AS day FROM silver_sessions
               WHERE consent_analytics AND user_id IS NOT NULL AND session_date <= DATE '{LAST_DAY}'),
    o AS (SELECT user_id, order_date AS day, total FROM silver_orders
          WHERE user_id IS NOT NULL AND order_date <= DATE '{LAST_DAY}'),
    c AS (SELECT user_id, 'first_visit' AS cohort_kind, CAST(date_trunc('week', min(day)) AS DATE) AS cohort_week
          FROM v GROUP BY user_id
          UNION ALL
          SELECT user_id, 'first_purchase', CAST(date_trunc('week', min(day)) AS DATE) FROM o GROUP BY user_id),
    weeks AS (SELECT CAST(w AS DATE) AS activity_week
              FROM generate_series(DATE '{first}', DATE '{last}', INTERVAL 7 DAY) t(w)),
    act AS (SELECT DISTINCT user_id, CAST(date_trunc('week', day) AS DATE) AS activity_week FROM v),
    buy AS (SELECT user_id, CAST(date_trunc('week', day) AS DATE) AS activity_week, count(*) AS n, sum(total) AS revenue
            FROM o GROUP BY ALL),
    grid AS (SELECT c.cohort_kind, c.cohort_week, w.activity_week, count(*) AS cohort_size
             FROM c, weeks w WHERE w.activity_week >= c.cohort_week GROUP BY ALL)
    SELECT g.cohort_kind, g.cohort_week, g.activity_week,
           CAST((g.activity_week - g.cohort_week) / 7 AS INTEGER) AS weeks_since, g.cohort_size,
           count(a.user_id) AS active_users, count(b.user_id) AS buying_users,
           coalesce(sum(b.n), 0) AS orders, coalesce(sum(b.revenue), 0) AS revenue
    FROM grid g
    JOIN c ON c.cohort_kind = g.cohort_kind AND c.cohort_week = g.cohort_week
    LEFT JOIN act a ON a.user_id = c.user_id AND a.activity_week = g.activity_week
    LEFT JOIN buy b ON b.user_id = c.user_id AND b.activity_week = g.activity_week
    GROUP BY ALL
    """
    out = con.execute(sql).df()
    return out.assign(
        active_share=out["active_users"] / out["cohort_size"],
        buying_share=out["buying_users"] / out["cohort_size"],
        revenue_per_customer=out["revenue"] / out["cohort_size"],
    )


def test_cohorts_equal_an_independent_duckdb_computation(spark: SparkSession, built: Settings, tmp_path: Path) -> None:
    first = last = date(2026, 11, 9)
    expected = duckdb_cohorts(spark, built, tmp_path, first, last)
    got = read_table(spark, TABLE, built).toPandas()  # bounded: a few cohorts of four simulated days
    keys = ["cohort_kind", "cohort_week", "activity_week"]
    for df in (got, expected):
        for col in ("cohort_week", "activity_week"):
            df[col] = pd.to_datetime(df[col])
    got = got.sort_values(keys).reset_index(drop=True)
    expected = expected.sort_values(keys).reset_index(drop=True)[got.columns]
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_exact=True)
    # The simulated days fall in one week, so each kind has its one cohort there, of everyone.
    assert sorted(set(zip(got["cohort_kind"], got["weeks_since"], strict=True))) == [
        ("first_purchase", 0),
        ("first_visit", 0),
    ]
