"""Segments, clusters and contact time on the shared simulated days (Nov 9-12, 400 users).

The shared home has four days, so the weekly cadence is replaced by consecutive as-of dates
(``gold.segments.cadence_days = 1``): as-of Nov 12 and Nov 13, each built from the data before
it. Figures the code records are recomputed here from the tables and the simulator's truth with
pandas and scikit-learn directly.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from sklearn.metrics import adjusted_rand_score

from bench.customers import cluster_recovery, cluster_stability
from jobs.common.config import Settings
from jobs.common.contracts import table as table_contract
from jobs.common.tables import read_table, table_path
from jobs.features.retrieval import get_segments_frame
from jobs.features.user_daily import build_features
from jobs.gold.contact_time import backtest_home, run_contact_time
from jobs.gold.segments import run_segments
from jobs.ml.segments import model_folder
from jobs.publish.daily import run_publish
from jobs.silver.privacy import DEMO_KEY
from tests.conftest import copy_home, sim_settings

FIRST, LAST = date(2026, 11, 12), date(2026, 11, 13)


@pytest.fixture(scope="module")
def home(spark: SparkSession, sim_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    conf = sim_settings(
        copy_home(sim_home, tmp_path_factory.mktemp("customers")),
        gold={"segments": {"cadence_days": 1}, "contact_time": {"horizon_days": 1}},
    )
    build_features(spark, FIRST, LAST, conf)
    run_segments(spark, LAST, conf, as_of_dates=[FIRST, LAST])
    run_contact_time(spark, LAST, conf, as_of_dates=[FIRST, LAST])
    return conf


def table(spark: SparkSession, conf: Settings, name: str) -> pd.DataFrame:
    return read_table(spark, name, conf).toPandas()  # bounded: 400 simulated users


def test_every_feature_row_has_a_segment_and_the_card_records_the_best_k(spark: SparkSession, home: Settings) -> None:
    features = read_table(spark, "features.user_daily", home).groupBy("as_of_date").count().toPandas()
    segments = read_table(spark, "gold.customer_segments", home).groupBy("as_of_date").count().toPandas()
    assert (
        features.sort_values("as_of_date").to_numpy().tolist() == segments.sort_values("as_of_date").to_numpy().tolist()
    )
    # features.user_daily carries the same RFM segment every day; on the as-of dates the two agree.
    both = (
        read_table(spark, "features.user_daily", home)
        .select("user_id", "as_of_date", F.col("segment").alias("daily"))
        .join(read_table(spark, "gold.customer_segments", home), ["user_id", "as_of_date"])
    )
    assert both.where(~F.col("daily").eqNullSafe(F.col("segment"))).count() == 0
    assert both.count() == int(segments["count"].sum())
    for as_of in (FIRST, LAST):
        metrics = json.loads((model_folder(home, as_of) / "metrics.json").read_text())
        scores = {int(k): v for k, v in metrics["silhouette_by_k"].items()}
        assert metrics["k"] == max(scores, key=lambda k: (scores[k], -k))
        assert (model_folder(home, as_of) / "model_card.md").read_text().count("| ") > metrics["k"]


def test_clusters_recover_the_simulated_customer_types_better_than_random(
    spark: SparkSession, home: Settings, sim_home: Path
) -> None:
    recorded = cluster_recovery(spark, home, LAST, sim_home / "truth")
    # Own recomputation: the truth's raw ids pseudonymised with the key silver used (the demo key
    # in CI), joined to the table's rows, scored by scikit-learn.
    truth = pd.read_parquet(sim_home / "truth" / "users.parquet")
    truth["user_id"] = [hmac.new(DEMO_KEY.encode(), u.encode(), hashlib.sha256).hexdigest() for u in truth["user_id"]]
    rows = table(spark, home, "gold.customer_segments")
    joined = rows[rows["as_of_date"] == LAST].merge(truth, on="user_id")
    assert recorded["users"] == len(joined) and recorded["unmatched_users"] == 0
    assert recorded["ari"] == adjusted_rand_score(joined["customer_type"], joined["cluster_id"])
    # Random assignments with the same cluster sizes, scored the same way.
    rng = np.random.default_rng(1)
    labels = joined["cluster_id"].to_numpy()
    random = [adjusted_rand_score(joined["customer_type"], rng.permutation(labels)) for _ in range(20)]
    assert recorded["ari"] > max(random)
    assert recorded["ari"] > recorded["random_ari_max"]


def test_cluster_ids_and_migration_between_consecutive_as_of_dates(spark: SparkSession, home: Settings) -> None:
    recorded = cluster_stability(spark, home, LAST, FIRST)
    rows = table(spark, home, "gold.customer_segments")
    now, before = rows[rows["as_of_date"] == LAST], rows[rows["as_of_date"] == FIRST]
    both = now.merge(before, on="user_id", suffixes=("", "_prev"))
    assert recorded["users_both"] == len(both)
    assert recorded["kept_id_all"] == (both["cluster_id"] == both["cluster_id_prev"]).mean()
    # Migration of LAST: every pair of (segment before, segment now), '(none)' on a missing side.
    moves = table(spark, home, "gold.segment_migration_weekly")
    moves = moves[(moves["as_of_date"] == LAST) & (moves["kind"] == "segment")]
    outer = now.merge(before, on="user_id", how="outer", suffixes=("", "_prev")).fillna(
        {"segment": "(none)", "segment_prev": "(none)"}
    )
    expected = outer.groupby(["segment_prev", "segment"]).size().to_dict()
    got = {(r.from_value, r.to_value): r.users for r in moves.itertuples()}
    assert got == expected


def test_segments_serve_ml_teams_point_in_time(spark: SparkSession, home: Settings) -> None:
    rows = table(spark, home, "gold.customer_segments")
    one = rows[rows["as_of_date"] == LAST].sort_values("user_id").iloc[0]
    entities = spark.createDataFrame(
        [(one["user_id"], datetime(2026, 11, 13, 8)), (one["user_id"], datetime(2026, 11, 14, 0))],
        "user_id string, event_timestamp timestamp",
    )
    got = get_segments_frame(spark, entities, home).orderBy("event_timestamp").toPandas()
    # Nov 13 08:00 is served by the row of Nov 13; Nov 14 is past its one-day cadence: nothing.
    assert got["as_of_date"].tolist()[0] == LAST
    assert got["segment"].tolist()[0] == one["segment"]
    assert got["cluster_id"].tolist()[0] == one["cluster_id"]
    assert pd.isna(got["segment"].tolist()[1])


def test_contact_time_backtest_equals_a_recomputation(spark: SparkSession, home: Settings) -> None:
    recorded = backtest_home(spark, home, FIRST)
    contact = table(spark, home, "gold.user_contact_time")
    contact = contact[contact["as_of_date"] == FIRST]
    orders = read_table(spark, "silver.orders", home).where(F.col("user_id").isNotNull()).toPandas()
    nov12 = orders[(orders["created_at"] >= pd.Timestamp(FIRST)) & (orders["created_at"] < pd.Timestamp(LAST))]
    scored = nov12.assign(local_hour=nov12["local_created_at"].dt.hour).merge(contact, on="user_id")
    profile = table(spark, home, "gold.purchase_time_profile")
    by_hour = np.sum(np.stack(profile[profile["as_of_date"] == FIRST]["purchases_by_hour"].to_numpy()), axis=0)
    peak = int(np.argmax(by_hour))

    def near(a: pd.Series, b: pd.Series | int) -> pd.Series:
        d = (a - b).abs() % 24
        return np.minimum(d, 24 - d) <= 2

    assert recorded["purchases"] == len(scored)
    assert recorded["baseline_hour"] == peak
    assert recorded["hits"] == int(near(scored["local_hour"], scored["best_local_hour"]).sum())
    assert recorded["baseline_hits"] == int(near(scored["local_hour"], peak).sum())


@pytest.fixture(scope="module")
def daily(spark: SparkSession, sim_home: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict]:
    """The daily graph's customer job on a home whose silver stops on Nov 11 (the run of D = Nov 11
    before Nov 12's data existed), gated and published; returns the settings and the job's result."""
    from jobs.quality.daily import run_gate
    from jobs.registry import GOLD_CUSTOMERS, run

    conf = sim_settings(
        copy_home(sim_home, tmp_path_factory.mktemp("customers-daily")), gold={"segments": {"cadence_days": 1}}
    )
    for name in ("silver.events", "silver.sessions", "silver.orders", "silver.order_items", "silver.reviews"):
        column = table_contract(name).partition_by[0]
        DeltaTable.forPath(spark, table_path(name, conf)).delete(F.col(column) >= F.lit(LAST - timedelta(days=1)))
    day = LAST - timedelta(days=2)
    for job in ("gold_purchase_time", "features"):
        run(job, spark, day, conf)
    result = run("gold_customers", spark, day, conf)
    run_gate(spark, day, conf, tables=GOLD_CUSTOMERS)
    run_publish(spark, day, conf, tables=GOLD_CUSTOMERS)
    return conf, result


def test_the_daily_job_builds_each_as_of_date_the_features_wrote_then_nothing_until_they_change(
    spark: SparkSession, daily: tuple[Settings, dict]
) -> None:
    from jobs.registry import run

    conf, result = daily
    features = read_table(spark, "features.user_daily", conf).select("as_of_date").distinct().toPandas()
    built = sorted(features["as_of_date"])
    assert result["dates"] == f"{built[0]}..{built[-1]}" and built[-1] == FIRST
    rows = read_table(spark, "gold.customer_segments", conf).groupBy("as_of_date").count().toPandas()
    assert sorted(rows["as_of_date"]) == built
    assert result["rows"]["gold.customer_segments"] == int(rows["count"].sum())
    assert result["rows"]["gold.user_contact_time"] == read_table(spark, "gold.user_contact_time", conf).count()
    assert run("gold_customers", spark, FIRST - timedelta(days=1), conf)["noop"] is True


def test_later_data_leaves_a_segment_row_unchanged(
    spark: SparkSession, home: Settings, daily: tuple[Settings, dict]
) -> None:
    """As of Nov 12, built before Nov 12's data existed (the daily job) and after (the module's home,
    which holds every day): the same RFM scores, segments and clusters (ids aside: the daily run's
    ids follow the earlier as-of dates' models, the other home's start afresh)."""
    conf, _ = daily
    cols = ["user_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "segment"]

    def rows(settings: Settings) -> pd.DataFrame:
        out = table(spark, settings, "gold.customer_segments")
        return out[out["as_of_date"] == FIRST].sort_values("user_id").reset_index(drop=True)

    before, after = rows(conf), rows(home)
    pd.testing.assert_frame_equal(before[cols], after[cols])
    pairs = set(zip(before["cluster_id"], after["cluster_id"], strict=True))
    assert len(pairs) == before["cluster_id"].nunique() == after["cluster_id"].nunique()


def test_the_customer_tables_pass_the_gate_and_reach_the_warehouse(
    spark: SparkSession, daily: tuple[Settings, dict]
) -> None:
    from jobs.registry import GOLD_CUSTOMERS

    conf, _ = daily
    with duckdb.connect(str(conf.path("warehouse")), read_only=True) as con:
        for name in GOLD_CUSTOMERS:
            status = con.execute("SELECT status FROM quality.table_status WHERE table_name = ?", [name]).fetchall()
            assert status == [("published",)], name
            got = con.execute(f"SELECT as_of_date, count(*) FROM {name} GROUP BY 1 ORDER BY 1").fetchall()
            lake = read_table(spark, name, conf).groupBy("as_of_date").count().orderBy("as_of_date").collect()
            assert got == [(r["as_of_date"], r["count"]) for r in lake], name  # bounded: three as-of dates
