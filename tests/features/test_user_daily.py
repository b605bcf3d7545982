"""features.user_daily: generated contract, windowed features, point-in-time retrieval, no leakage."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from jobs.common.contracts import table
from jobs.common.tables import read_table, table_path
from jobs.features.definitions import contract_path, feature_names, render_contract
from jobs.features.retrieval import get_training_frame, latest_features, point_in_time_join
from jobs.features.user_daily import TABLE, build_features, price_band, run_features, transform
from jobs.gold.purchase_time import as_of_frame
from tests.conftest import ci_settings, copy_home, sim_settings

EVENTS = (
    "event_id string, event_type string, event_time timestamp, event_date date, user_id string, session_id string, "
    "is_bot boolean, consent_analytics boolean, channel string, device_type string, cart_id string, "
    "region string, top_category string, price long"
)
ORDERS = (
    "order_id string, user_id string, cart_id string, created_at timestamp, paid_at timestamp, "
    "cancelled_at timestamp, refunded_at timestamp, total long"
)
A = date(2026, 11, 12)


def test_committed_contract_is_the_generated_one() -> None:
    assert contract_path().read_text() == render_contract(), "run: python -m jobs.features.definitions"
    assert [c.name for c in table(TABLE).columns] == ["user_id", *feature_names(), "as_of_date"]


def ev(eid: str, etype: str, at: datetime, user: str | None, session: str | None, **kw: object) -> tuple:
    return (
        eid,
        etype,
        at,
        at.date(),
        user,
        session,
        kw.get("bot", False),
        True,
        kw.get("channel", "direct"),
        kw.get("device", "desktop"),
        kw.get("cart"),
        kw.get("region"),
        kw.get("category"),
        kw.get("price"),
    )


def od(oid: str, user: str, at: datetime, cart: str | None = None, total: int = 100, **kw: datetime) -> tuple:
    paid = kw.get("paid", at + timedelta(minutes=1))
    return (oid, user, cart, at, paid, kw.get("cancelled"), kw.get("refunded"), total)


def profile_frame(spark: SparkSession, rows: list[dict]) -> DataFrame:
    contract = table("gold.purchase_time_profile").spark_schema
    schema = T.StructType([T.StructField(f.name, f.dataType, True) for f in contract])
    defaults = {f.name: None for f in schema.fields}
    return spark.createDataFrame([{**defaults, **r} for r in rows], schema)


def test_windows_abandonment_rfm_mix_profile_and_personalisation(spark: SparkSession, tmp_path: Path) -> None:
    d = datetime
    events = spark.createDataFrame(
        [
            ev(
                "e1",
                "product_view",
                d(2026, 11, 11, 10, 0),
                "u",
                "s1",
                channel="organic_search",
                device="mobile",
                region="Jawa Barat",
                category="Fashion",
                price=150_000,
            ),
            ev("e2", "search", d(2026, 11, 11, 10, 5), "u", "s1", channel="direct", device="mobile", region="Bali"),
            ev("e3", "add_to_cart", d(2026, 11, 11, 10, 10), "u", "s1", cart="c1", category="Fashion", price=150_000),
            ev(
                "e4",
                "product_view",
                d(2026, 11, 1, 9, 0),
                "u",
                "s2",
                region="DKI Jakarta",
                category="Elektronik",
                price=2_000_000,
            ),
            ev("e5", "add_to_cart", d(2026, 11, 1, 9, 5), "u", "s2", cart="c2", category="Elektronik", price=2_000_000),
            # On the as-of date itself, by a bot, without a user, or too old: not used.
            ev("e6", "product_view", d(2026, 11, 12, 1, 0), "u", "s3", region="Papua", category="Buku", price=1),
            ev("e7", "product_view", d(2026, 11, 11, 20, 0), "u", None, bot=True),
            ev("e8", "product_view", d(2026, 11, 11, 20, 0), None, "s4"),
            ev("e9", "product_view", d(2026, 8, 1, 20, 0), "x", "s5"),
            ev("e10", "product_view", d(2026, 11, 12, 0, 0), "z", "s6"),
        ],
        EVENTS,
    )
    orders = spark.createDataFrame(
        [
            od("o1", "u", d(2026, 11, 11, 11, 0), "c1"),
            od("o2", "u", d(2026, 10, 1, 8, 0), total=50, cancelled=d(2026, 11, 12, 3, 0)),  # cancelled after A
            od("o3", "u", d(2026, 11, 10, 8, 0), refunded=d(2026, 11, 11, 8, 0)),  # a purchase without revenue
            od("o4", "u", d(2026, 11, 11, 15, 0), cancelled=d(2026, 11, 11, 16, 0)),  # not a purchase
            od("o5", "w", d(2026, 11, 5, 12, 0), total=70),
        ],
        ORDERS,
    )
    profile = profile_frame(
        spark,
        [{"user_id": "u", "as_of_date": A, "purchases": 2, "purchases_night": 1, "preferred_hour": 3.0}],
    )
    out = transform(events, orders, profile, as_of_frame(spark, [A]), ci_settings(tmp_path))
    cols = [
        "user_id", "sessions_7d", "sessions_30d", "product_views_30d", "searches_7d", "carts_7d", "carts_30d",
        "abandonment_rate_7d", "abandonment_rate_30d", "purchases_7d", "purchases_90d", "revenue_7d", "revenue_90d",
        "purchase_days_90d", "avg_order_value_90d", "days_since_last_activity", "channel_share_organic_search_90d",
        "channel_share_direct_90d", "device_share_mobile_90d", "pt_share_night", "pt_preferred_hour",
    ]  # fmt: skip
    expected = spark.createDataFrame(
        [
            ("u", 1, 2, 2, 1, 1, 2, 0.0, 0.5, 2, 3, 100, 150, 3, 75.0, 13 / 24, 0.5, 0.5, 0.5, 0.5, 3.0),
            ("w", 0, 0, 0, 0, 0, 0, None, None, 1, 1, 70, 70, 1, 70.0, 6.5, None, None, None, None, None),
        ],
        "user_id string, sessions_7d long, sessions_30d long, product_views_30d long, searches_7d long, "
        "carts_7d long, carts_30d long, abandonment_rate_7d double, abandonment_rate_30d double, purchases_7d long, "
        "purchases_90d long, revenue_7d long, revenue_90d long, purchase_days_90d long, avg_order_value_90d double, "
        "days_since_last_activity double, channel_share_organic_search_90d double, channel_share_direct_90d double, "
        "device_share_mobile_90d double, pt_share_night double, pt_preferred_hour double",
    )
    assertDataFrameEqual(out.select(cols), expected, checkRowOrder=False, atol=1e-9)
    # u: Elektronik and Fashion twice each (ties by name), the latest region Bali (e3 has none), the
    # median of 150,000 ×2 and 2,000,000 ×2; best of both users on R, F and M: champions; w: lost.
    personal = ["user_id", "favourite_categories_90d", "favourite_category_share_90d", "region",
                "median_viewed_price_90d", "price_band_90d", "segment"]  # fmt: skip
    assertDataFrameEqual(
        out.select(personal),
        spark.createDataFrame(
            [
                ("u", ["Elektronik", "Fashion"], 0.5, "Bali", 1_075_000.0, "premium", "champions"),
                ("w", None, None, None, None, None, "lost"),
            ],
            out.select(personal).schema,
        ),
        checkRowOrder=False,
    )


def test_point_in_time_join_takes_the_latest_valid_row(spark: SparkSession) -> None:
    feats = spark.createDataFrame(
        [("u", date(2026, 11, 10), 1), ("u", date(2026, 11, 11), 2), ("u", date(2026, 11, 13), 3)],
        "user_id string, as_of_date date, f long",
    )
    entities = spark.createDataFrame(
        [
            ("u", datetime(2026, 11, 11, 0, 0), 1),  # valid from 00:00: the row of that day
            ("u", datetime(2026, 11, 11, 23, 59), 0),
            ("u", datetime(2026, 11, 11, 23, 59), 0),  # duplicates stay
            ("u", datetime(2026, 11, 12, 6, 0), 1),  # no row of Nov 12: the Nov 11 row is one day old
            ("u", datetime(2026, 11, 10, 23, 0), 0),
            ("u", datetime(2026, 11, 9, 12, 0), 1),  # before any row
            ("v", datetime(2026, 11, 11, 12, 0), 0),  # unknown user
        ],
        "user_id string, event_timestamp timestamp, label int",
    )
    schema = "user_id string, event_timestamp timestamp, label int, as_of_date date, f long"
    ttl1 = [
        ("u", datetime(2026, 11, 11, 0, 0), 1, date(2026, 11, 11), 2),
        ("u", datetime(2026, 11, 11, 23, 59), 0, date(2026, 11, 11), 2),
        ("u", datetime(2026, 11, 11, 23, 59), 0, date(2026, 11, 11), 2),
        ("u", datetime(2026, 11, 12, 6, 0), 1, None, None),
        ("u", datetime(2026, 11, 10, 23, 0), 0, date(2026, 11, 10), 1),
        ("u", datetime(2026, 11, 9, 12, 0), 1, None, None),
        ("v", datetime(2026, 11, 11, 12, 0), 0, None, None),
    ]
    out = point_in_time_join(entities, feats, 1, ["f"]).select(*[c.split()[0] for c in schema.split(", ")])
    assertDataFrameEqual(out, spark.createDataFrame(ttl1, schema), checkRowOrder=False)
    ttl2 = [r if r[1] != datetime(2026, 11, 12, 6, 0) else (*r[:3], date(2026, 11, 11), 2) for r in ttl1]
    out2 = point_in_time_join(entities, feats, 2, ["f"]).select(*[c.split()[0] for c in schema.split(", ")])
    assertDataFrameEqual(out2, spark.createDataFrame(ttl2, schema), checkRowOrder=False)


def _feature_rows(spark: SparkSession, conf, upto: date) -> DataFrame:  # type: ignore[no-untyped-def]
    return read_table(spark, TABLE, conf).where(F.col("as_of_date") <= F.lit(upto))


@pytest.mark.integration
def test_events_after_d_leave_rows_up_to_d_unchanged(spark: SparkSession, sim_home: Path, tmp_path: Path) -> None:
    home = copy_home(sim_home, tmp_path / "home")
    conf = sim_settings(home)
    first, last, d = date(2026, 11, 10), date(2026, 11, 13), date(2026, 11, 11)
    metrics = build_features(spark, first, last, conf)
    assert metrics["feature_rows"] > 0 and metrics["profile_rows"] > 0
    before = {name: read_table(spark, name, conf).where(F.col("as_of_date") <= F.lit(d)).collect() for name in
              (TABLE, "gold.purchase_time_profile")}  # fmt: skip
    later_before = read_table(spark, TABLE, conf).where(F.col("as_of_date") > F.lit(d)).collect()

    # Change the world from D on: new human events for every user (copies of their events shifted to
    # D and later), events of D deleted, orders placed on D 00:00 and every open earlier order cancelled after D.
    events = read_table(spark, "silver.events", conf)
    shifted = (
        events.where(F.col("user_id").isNotNull() & (F.col("event_date") < F.lit(d)))
        .withColumn("event_id", F.concat(F.col("event_id"), F.lit("-later")))
        .withColumn("event_time", F.col("event_time") + F.expr("INTERVAL 2 DAYS"))
        .withColumn("event_date", F.to_date("event_time"))
        .where(F.col("event_date") >= F.lit(d))
    )
    path = table_path("silver.events", conf)
    DeltaTable.forPath(spark, path).delete(F.col("event_date") == F.lit(d))
    shifted.write.format("delta").mode("append").save(path)
    orders_path = table_path("silver.orders", conf)
    orders = DeltaTable.forPath(spark, orders_path)
    orders.update(
        # Only orders still open at D: moving an existing cancellation would rewrite the past, not add to it.
        (F.col("created_at") < F.lit(datetime(2026, 11, 11))) & F.col("cancelled_at").isNull(),
        {"status": F.lit("cancelled"), "cancelled_at": F.lit(datetime(2026, 11, 11, 0, 0, 1)).cast("timestamp")},
    )
    new_orders = (
        read_table(spark, "silver.orders", conf)
        .where(F.col("user_id").isNotNull())
        .limit(50)
        .withColumn("order_id", F.concat(F.col("order_id"), F.lit("-later")))
        .withColumn("created_at", F.lit(datetime(2026, 11, 11)).cast("timestamp"))
        .withColumn("paid_at", F.col("created_at"))
        .withColumn("cancelled_at", F.lit(None).cast("timestamp"))
        .withColumn("order_date", F.lit(d))
    )
    new_orders.write.format("delta").mode("append").save(orders_path)

    build_features(spark, first, last, conf)
    for name, rows in before.items():
        after = read_table(spark, name, conf).where(F.col("as_of_date") <= F.lit(d))
        assertDataFrameEqual(after, spark.createDataFrame(rows, after.schema), checkRowOrder=False)
    later_after = read_table(spark, TABLE, conf).where(F.col("as_of_date") > F.lit(d))
    assert sorted(map(tuple, later_after.collect()), key=str) != sorted(map(tuple, later_before), key=str)

    # The daily job rewrites one date, the same rows as the range build did (idempotent too).
    run_features(spark, date(2026, 11, 12), conf)
    run_features(spark, date(2026, 11, 12), conf)
    assertDataFrameEqual(
        read_table(spark, TABLE, conf).where(F.col("as_of_date") == F.lit(date(2026, 11, 13))),
        later_after.where(F.col("as_of_date") == F.lit(date(2026, 11, 13))),
        checkRowOrder=False,
    )

    # Point-in-time retrieval on the real table and the scoring snapshot share the definitions.
    users = read_table(spark, TABLE, conf).where(F.col("as_of_date") == F.lit(d)).select("user_id").limit(5)
    entities = users.withColumn("event_timestamp", F.lit(datetime(2026, 11, 11, 15, 0))).withColumn("label", F.lit(1))
    frame = get_training_frame(spark, entities, conf)
    assert frame.where(F.col("as_of_date") == F.lit(d)).count() == users.count()
    snapshot = latest_features(spark, conf)
    assert snapshot.columns == ["user_id", "as_of_date", *feature_names()]
    assert {r.as_of_date for r in snapshot.select("as_of_date").distinct().collect()} == {last}

    # The ML example's training path on the same table: labels one day ahead (the data is four days).
    # It trains on validated dates only: none before the gate, all of them after it.
    from jobs.ml.purchase import train_purchase
    from jobs.quality.gate import gate

    ml_conf = sim_settings(home, features={"ml": {"horizon_days": 1}})
    with pytest.raises(ValueError, match="at least two labelled"):
        train_purchase(spark, ml_conf, save=False)
    assert gate(spark, TABLE, [first + timedelta(days=i) for i in range(4)], conf).passed
    metrics = train_purchase(spark, ml_conf, save=True)
    assert metrics["test_dates"] == ["2026-11-12", "2026-11-12"]
    assert metrics["train_dates"] == ["2026-11-10", "2026-11-11"]
    assert metrics["train_rows"] > 0 and metrics["test_rows"] > 0
    # The held-out ROC AUC, recomputed from scratch: every user with a feature row on the test day,
    # label 1 when silver.orders has an order of theirs created that day (horizon: one day), scored
    # by the saved model, measured by scikit-learn.
    import joblib
    from sklearn.metrics import roc_auc_score

    saved_to = Path(metrics["saved_to"])
    saved = joblib.load(saved_to)
    test_day = pd.Timestamp(date(2026, 11, 12))
    rows = read_table(spark, TABLE, ml_conf).where(F.col("as_of_date") == F.lit(test_day.date())).toPandas()
    orders = read_table(spark, "silver.orders", ml_conf).select("user_id", "created_at").toPandas()  # test data
    bought = orders[(orders["created_at"] >= test_day) & (orders["created_at"] < test_day + pd.Timedelta(days=1))]
    labels = rows["user_id"].isin(set(bought["user_id"].dropna())).astype(int)
    scores = saved["model"].predict_proba(rows[saved["features"]].astype(float).to_numpy())[:, 1]
    assert metrics["test_rows"] == len(rows)
    assert metrics["test_positive_rate"] == pytest.approx(labels.mean(), abs=1e-12)
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    from sklearn.metrics import average_precision_score, brier_score_loss

    assert metrics["test"]["pr_auc"] == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
    assert metrics["test"]["brier"] == pytest.approx(brier_score_loss(labels, scores), abs=1e-12)
    # The card beside the model names the data window, the baselines and the Delta versions learned from.
    card = (saved_to.parent / "model_card.md").read_text()
    assert "- train: 2026-11-10 .. 2026-11-11\n- test (held-out days): 2026-11-12 .. 2026-11-12" in card
    assert f"- `{TABLE}`: 4 validated dates 2026-11-10 .. 2026-11-13" in card
    assert json.loads((saved_to.parent / "metrics.json").read_text())["roc_auc"] == metrics["roc_auc"]

    # Scoring the newest snapshot on the executors gives the saved model's own predictions.
    from jobs.ml.purchase import score_latest

    expected = snapshot.toPandas()  # test data: a few hundred users
    expected["score"] = saved["model"].predict_proba(expected[saved["features"]].astype(float).to_numpy())[:, 1]
    got = score_latest(spark, ml_conf, saved_to).toPandas().sort_values("user_id").reset_index(drop=True)
    want = expected[["user_id", "as_of_date", "score"]].sort_values("user_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)


def test_price_bands_take_the_first_band_the_price_is_under(spark: SparkSession, tmp_path: Path) -> None:
    bands = ci_settings(tmp_path)["features"]["price_bands"]
    prices = spark.createDataFrame([(None,), (99_999.0,), (100_000.0,), (499_999.5,), (500_000.0,)], "p double")
    got = [r[0] for r in prices.select(price_band(F.col("p"), bands)).collect()]  # bounded: five rows
    assert got == [None, "budget", "mid", "mid", "premium"]
    one = [r[0] for r in prices.select(price_band(F.col("p"), [{"band": "any"}])).collect()]  # bounded: five rows
    assert one == [None, "any", "any", "any", "any"]


def test_recommendations_are_served_point_in_time_and_as_the_latest_snapshot(
    spark: SparkSession, tmp_path: Path
) -> None:
    from jobs.features.retrieval import get_recommendations_frame, latest_recommendations

    conf = ci_settings(tmp_path)
    nov = [date(2026, 11, d) for d in (11, 12)]
    recs = spark.createDataFrame(
        [
            ("u", 2, "p2", nov[0]), ("u", 1, "p1", nov[0]), ("u", 10, "p10", nov[0]),
            ("u", 1, "p9", nov[1]), ("v", 1, "p3", nov[1]),
        ],
        "user_id string, rank int, product_id string, as_of_date date",
    )  # fmt: skip
    entities = spark.createDataFrame(
        [
            ("u", datetime(2026, 11, 11, 23, 0), 1),
            ("u", datetime(2026, 11, 12, 0, 0), 0),
            ("v", datetime(2026, 11, 11), 1),
        ],
        "user_id string, event_timestamp timestamp, label int",
    )
    got = get_recommendations_frame(spark, entities, conf, recs)
    expected = [
        ("u", datetime(2026, 11, 11, 23, 0), 1, nov[0], ["p1", "p2", "p10"]),  # rank order, not text order
        ("u", datetime(2026, 11, 12, 0, 0), 0, nov[1], ["p9"]),
        ("v", datetime(2026, 11, 11), 1, None, None),  # v's first snapshot is of the day after
    ]
    cols = ["user_id", "event_timestamp", "label", "as_of_date", "recommended_products"]
    assertDataFrameEqual(
        got.select(cols), spark.createDataFrame(expected, got.select(cols).schema), checkRowOrder=False
    )
    latest = latest_recommendations(spark, conf, recommendations=recs)
    assert sorted(map(tuple, latest.collect())) == [("u", nov[1], ["p9"]), ("v", nov[1], ["p3"])]  # bounded: two rows
    first = latest_recommendations(spark, conf, as_of=nov[0], recommendations=recs).collect()  # bounded: one row
    assert [tuple(r) for r in first] == [("u", nov[0], ["p1", "p2", "p10"])]
