"""Abandonment at the moment of decision: no leakage from later events, honest time split, clear errors.

One module home: the shared simulated days with gold.cart_abandonment and features.user_daily built
and passed by the gate. The leakage test cuts the data at each cart's decision event (removing, then
moving, every later event of its session and of the cart) and compares whole frames.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.common.config import Settings
from jobs.common.errors import UserError
from jobs.common.tables import read_table
from jobs.features.decision_points import LABEL, POINTS, decision_rows, decisions
from jobs.features.definitions import TABLE as USER_FEATURES
from jobs.gold.abandonment import run_abandonment
from jobs.ml.abandonment import train_abandonment
from jobs.ml.common import evaluate_scores
from jobs.quality.gate import gate, validated_table
from tests.conftest import SIM_DAYS, SIM_START, copy_home, sim_settings

pytestmark = pytest.mark.integration
LAST = SIM_START + timedelta(days=SIM_DAYS - 1)
DAYS = [SIM_START + timedelta(days=i) for i in range(SIM_DAYS)]


@pytest.fixture(scope="module")
def ml_home(spark: SparkSession, sim_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    from jobs.features.user_daily import build_features

    home = copy_home(sim_home, tmp_path_factory.mktemp("decision") / "home")
    conf = sim_settings(home)
    run_abandonment(spark, LAST, conf)
    build_features(spark, SIM_START, LAST, conf)
    assert gate(spark, "gold.cart_abandonment", DAYS, conf).passed
    assert gate(spark, USER_FEATURES, DAYS, conf).passed
    yield conf


@pytest.fixture(scope="module")
def trained(spark: SparkSession, ml_home: Settings) -> dict[str, Any]:
    result = train_abandonment(spark, ml_home, LAST)
    print("decision-point models:", json.dumps(result, indent=1, default=str))
    return result


def _inputs(spark: SparkSession, conf: Settings) -> tuple[DataFrame, DataFrame, DataFrame]:
    events = read_table(spark, "silver.events", conf).where(~F.col("is_bot") & F.col("consent_analytics"))
    carts = validated_table(spark, "gold.cart_abandonment", conf)
    users = validated_table(spark, USER_FEATURES, conf)
    return events.cache(), carts.cache(), users.cache()


USER_NAMES = ["sessions_30d", "carts_30d", "purchases_90d", "days_since_last_activity"]


@pytest.mark.parametrize("point", list(POINTS))
def test_features_do_not_change_when_later_events_move_or_vanish(
    spark: SparkSession, ml_home: Settings, point: str
) -> None:
    events, carts, users = _inputs(spark, ml_home)
    before = decision_rows(events, carts, point, users, USER_NAMES, 1)
    # Carts alone at this point in their decision session: cutting that session at their decision
    # time cannot change what another cart of the same session saw before its own decision.
    cuts = decisions(events, carts, point)
    solo = (
        cuts.groupBy("session_id")
        .agg(F.count("*").alias("n"), F.first("cart_id").alias("cart_id"), F.first("decision_time").alias("t"))
        .where((F.col("n") == 1) & F.col("session_id").isNotNull())
        .select("cart_id", "session_id", "t")
    ).cache()
    n_solo = solo.count()
    assert n_solo >= 20, f"too few carts at {point} to test: {n_solo}"
    by_session = solo.select(F.col("session_id").alias("_s"), F.col("t").alias("_ts"))
    by_cart = solo.select(F.col("cart_id").alias("_c"), F.col("t").alias("_tc"))
    marked = (
        events.join(by_session, F.col("session_id") == F.col("_s"), "left")
        .join(by_cart, F.col("cart_id") == F.col("_c"), "left")
        .withColumn("_cut", F.least("_ts", "_tc"))
    )
    later = F.col("_cut").isNotNull() & (F.col("event_time") > F.col("_cut"))
    n_later = marked.where(later).count()
    assert n_later > 0, "nothing happens after the decision points: the test would prove nothing"
    removed = marked.where(~later).drop("_s", "_ts", "_c", "_tc", "_cut")
    moved = marked.withColumn(
        "event_time", F.when(later, F.col("event_time") + F.expr("INTERVAL 3 HOURS")).otherwise(F.col("event_time"))
    ).drop("_s", "_ts", "_c", "_tc", "_cut")
    keep = solo.select("cart_id")
    expected = before.join(keep, "cart_id")
    for variant in (removed, moved):
        after = decision_rows(variant, carts, point, users, USER_NAMES, 1).join(keep, "cart_id")
        assertDataFrameEqual(after, expected, checkRowOrder=False)
    # User features come from the row valid at the decision time (built from the days before it):
    # poisoning every row dated after a user's decision day changes nothing. Users with one cart at
    # this point only, so one cut per user.
    one = cuts.groupBy("user_id").agg(F.count("*").alias("n"), F.first("decision_time").alias("t"))
    one = one.where((F.col("n") == 1) & F.col("user_id").isNotNull()).select("user_id", "t")
    poisoned = users.join(one, "user_id", "left")
    future = F.col("t").isNotNull() & (F.col("as_of_date") > F.to_date("t"))
    assert poisoned.where(future).count() > 0, "no feature row after a decision: the check would prove nothing"
    for name in USER_NAMES:
        poisoned = poisoned.withColumn(name, F.when(future, F.lit(-1.0)).otherwise(F.col(name)))
    single = one.select("user_id")
    with_users = before.join(cuts.select("cart_id", "user_id").join(single, "user_id").select("cart_id"), "cart_id")
    assert with_users.where(F.col("user_sessions_30d").isNotNull()).count() > 0
    again = decision_rows(events, carts, point, poisoned.drop("t"), USER_NAMES, 1).join(
        with_users.select("cart_id"), "cart_id"
    )
    assertDataFrameEqual(again, with_users, checkRowOrder=False)


def test_evaluation_reports_baselines() -> None:
    y = [0, 0, 0, 0, 1, 0, 1, 1, 1, 1]
    s = [0.1, 0.2, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    m = evaluate_scores(y, s, base_rate=0.4)
    assert m["brier"] == pytest.approx(sum((a - b) ** 2 for a, b in zip(s, y, strict=True)) / 10)
    assert m["brier_baseline"] == pytest.approx(sum((0.4 - b) ** 2 for b in y) / 10)
    assert m["top_decile_lift"] == pytest.approx(1 / 0.5)  # the top tenth (one cart) was left: 1.0 / 0.5
    assert m["top_decile_lift_baseline"] == 1.0
    assert [b["rows"] for b in m["reliability"]] == [1] * 10
    assert [b["observed"] for b in m["reliability"]] == [float(v) for v in y]


def test_models_are_tested_on_later_days_and_saved_with_their_card(
    spark: SparkSession, ml_home: Settings, trained: dict[str, Any]
) -> None:
    result = trained
    assert set(result["points"]) == set(POINTS)
    events, carts, users = _inputs(spark, ml_home)
    trained = 0
    for point, metrics in result["points"].items():
        if "skipped" in metrics:
            continue
        trained += 1
        split = metrics["split"]
        assert split["train_end"] < split["test_start"] == str(LAST)
        # Recompute the held-out metrics from scratch: the carts at this point created on the test
        # days, scored by the saved pipeline, measured by scikit-learn.
        from sklearn.metrics import average_precision_score, roc_auc_score

        folder = Path(metrics["folder"])
        assert folder == Path(ml_home.home) / "models" / "abandonment" / str(LAST) / point
        pipeline = joblib.load(folder / "model.joblib")
        rows = decision_rows(
            events, carts, point, users, list(ml_home["gold"]["abandonment"]["model"]["user_features"]), 1
        )
        test = rows.where(F.col("cart_date") >= F.lit(split["test_start"])).toPandas()  # bounded: a test day's carts
        train_rows = rows.where(F.col("cart_date") <= F.lit(split["train_end"])).count()
        assert metrics["test"]["rows"] == len(test) and metrics["train"]["rows"] == train_rows
        scores = pipeline.predict_proba(test[metrics["features_used"]])[:, 1]
        assert metrics["test"]["roc_auc"] == pytest.approx(roc_auc_score(test[LABEL], scores), abs=1e-12)
        assert metrics["test"]["pr_auc"] == pytest.approx(average_precision_score(test[LABEL], scores), abs=1e-12)
        assert metrics["test"]["positive_rate"] == pytest.approx(test[LABEL].mean())
        # Near-perfect figures are suspect: below the threshold, or the card says why.
        card = (folder / "model_card.md").read_text()
        if metrics["test"]["roc_auc"] >= float(ml_home["gold"]["abandonment"]["model"]["near_perfect_auc"]):
            assert "## Why a figure is near perfect" in card
        else:
            assert metrics["near_perfect"] is None and "near perfect" not in card
        for section in ("## Training data (Delta versions)", "`gold.cart_abandonment`", "Brier score", "top decile"):
            assert section in card
        assert json.loads((folder / "metrics.json").read_text())["test"]["rows"] == len(test)
    assert trained >= 2

    drivers = read_table(spark, "gold.abandonment_drivers", ml_home).toPandas()  # bounded: features × points
    by_point = drivers.groupby("decision_point")
    for point, part in by_point:
        metrics = result["points"][point]
        assert sorted(part["feature"]) == sorted(metrics["features_used"])
        assert list(part.sort_values("rank")["rank"]) == list(range(1, len(part) + 1))
        assert set(part["stage"]) == {POINTS[point]}
        assert set(part["direction"]) <= {"raises", "lowers", "flat", "by_category"}
        # What defines the outcome is not a feature.
        assert not {"stage_reached", "outcome", "reasons", "primary_reason", LABEL} & set(part["feature"])
    assert sorted(by_point.groups) == sorted(p for p, m in result["points"].items() if "skipped" not in m)
    # Directions agree with their effect's sign.
    numeric = drivers[drivers["direction"].isin(["raises", "lowers"])]
    assert ((numeric["effect"] > 0) == (numeric["direction"] == "raises")).all()


def test_too_little_data_stops_with_one_line(
    spark: SparkSession,
    ml_home: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    conf = sim_settings(Path(ml_home.home), gold={"abandonment": {"model": {"min_train_rows": 10**6}}})
    with pytest.raises(UserError, match="too little data to train the abandonment models") as caught:
        train_abandonment(spark, conf, LAST)
    assert "\n" not in str(caught.value)
    # The purchase model on a home without a validated feature date (the demo's week is too short
    # for a 7-day label the same way) says so on one line through the CLI, with status 2.
    from jobs.cli import main

    monkeypatch.setenv("DETAK_ENV", "ci")
    monkeypatch.setenv("DETAK_HOME", str(tmp_path / "empty"))
    capsys.readouterr()
    assert main(["train", "purchase"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "detak: error: too little data to train purchase_next_7d: need at least two labelled as_of_dates "
        "with both outcomes, i.e. validated features.user_daily over more than 7 + 1 days; got 0 labelled as_of_dates"
    ]


def test_frames_hold_one_row_per_ended_cart_at_each_point(spark: SparkSession, ml_home: Settings) -> None:
    events, carts, users = _inputs(spark, ml_home)
    ended = carts.where(F.col("outcome").isin("converted", "abandoned", "recovered"))
    for point in POINTS:
        rows = decision_rows(events, carts, point, users, USER_NAMES, 1)
        # The carts whose first life holds an event of this point, once each.
        life = (
            events.where(F.col("event_type") == point)
            .join(ended.select("cart_id", "last_activity"), "cart_id")
            .where(F.col("event_time") <= F.col("last_activity"))
            .select("cart_id")
            .distinct()
        )
        assertDataFrameEqual(rows.select("cart_id"), life, checkRowOrder=False)
        labels = rows.join(ended.select("cart_id", "outcome"), "cart_id").select(
            (F.col(LABEL) == (F.col("outcome") != "converted").cast("int")).alias("ok")
        )
        assert labels.where(~F.col("ok")).count() == 0


def test_open_carts_are_scored_with_reasons_gated_and_published(
    spark: SparkSession, ml_home: Settings, trained: dict[str, Any]
) -> None:
    from jobs.features.cart_risk import TABLE, explain, latest_models, top_reasons
    from jobs.publish.publish import publish
    from jobs.publish.warehouse import warehouse
    from jobs.registry import run

    # The simulated days leave few carts open at the end of the last day (its last six hours): a
    # 48-hour window keeps the carts of the last two days open, as an hourly run sees them.
    run_abandonment(
        spark, LAST, sim_settings(Path(ml_home.home), gold={"abandonment": {"window_hours": 48}}), since=SIM_START
    )
    result = run("gold_cart_risk", spark, LAST, ml_home)
    assert result["model_run"] == str(LAST)
    risk = read_table(spark, TABLE, ml_home).toPandas()  # bounded: the open carts of a small test run
    # Every open cart of the last lookback days that reached a decision point, once, at its furthest.
    events, _, users = _inputs(spark, ml_home)
    carts = read_table(spark, "gold.cart_abandonment", ml_home)
    lookback = int(ml_home["gold"]["abandonment"]["lookback_days"])
    open_carts = carts.where(
        (F.col("outcome") == "open") & (F.col("cart_date") >= F.lit(LAST - timedelta(days=lookback)))
    )
    names = list(ml_home["gold"]["abandonment"]["model"]["user_features"])
    found = latest_models(ml_home, LAST)
    assert found is not None
    run_name, models = found
    expected = []
    for point in POINTS:
        if point not in models:
            continue
        rows = decision_rows(events, open_carts, point, users, names, 1, outcomes=("open",)).toPandas()  # bounded
        expected.append(rows.assign(_rank=list(POINTS).index(point)))
    frame = pd.concat(expected).sort_values(["cart_id", "_rank"]).groupby("cart_id").tail(1)
    assert len(frame) >= 20, f"too few open carts to test: {len(frame)}"
    assert sorted(risk["cart_id"]) == sorted(frame["cart_id"])
    assert risk["cart_id"].is_unique and set(risk["scored_date"]) == {LAST} and set(risk["model_run"]) == {run_name}
    # Risk and reasons recomputed on the driver with the saved pipelines: the same numbers.
    actions = dict(ml_home["gold"]["cart_risk"]["actions"])
    got = risk.set_index("cart_id")
    for point, part in frame.groupby("decision_point"):
        model = models[str(point)]
        p, drops = explain(model["pipeline"], part[model["features"]], model["reference"])
        reasons = top_reasons(drops, actions)
        mine = got.loc[part["cart_id"]]
        assert (mine["decision_point"] == point).all()
        assert mine["risk"].to_numpy() == pytest.approx(p, abs=1e-9)
        assert mine["value_at_risk"].to_numpy() == pytest.approx(p * part["cart_value"].to_numpy(), rel=1e-9)
        for k in (1, 2, 3):
            assert mine[f"reason_{k}"].tolist() == reasons[f"reason_{k}"].tolist()
            assert mine[f"action_{k}"].tolist() == reasons[f"action_{k}"].tolist()
    assert got["reason_1"].notna().any()
    # Through the gate, then published: the warehouse holds the same rows.
    assert gate(spark, TABLE, [LAST], ml_home).passed
    published = publish(spark, TABLE, [LAST], ml_home)
    assert published["rows"] == len(risk)
    wh = warehouse(ml_home)
    _, rows = wh.query_with_columns(
        "SELECT reason_1, count(*) AS carts, round(sum(value_at_risk)) AS value FROM gold.cart_risk "
        "GROUP BY reason_1 ORDER BY reason_1 NULLS LAST"
    )
    by_reason = risk.groupby("reason_1", dropna=False).agg(carts=("cart_id", "size"), value=("value_at_risk", "sum"))
    want = by_reason.sort_index(na_position="last")
    assert [(r[0], int(r[1]), float(r[2])) for r in rows] == [
        (None if pd.isna(k) else k, int(row.carts), float(round(row.value))) for k, row in want.iterrows()
    ]
    # The report's chart: value at risk per top reason and decision point, as the rows add up; a
    # period without scoring draws an empty chart that says why.
    from jobs.report import cart_risk_figure

    drawn = {(t.name, y): x for t in cart_risk_figure(wh, LAST, LAST).data for x, y in zip(t.x, t.y, strict=True)}
    reason = risk["reason_1"].fillna("no reason above the reference")
    sums = risk.groupby(["decision_point", reason])["value_at_risk"].sum()
    assert drawn == pytest.approx({(str(p), str(r)): float(v) for (p, r), v in sums.items()}, rel=1e-9)
    empty = cart_risk_figure(wh, LAST + timedelta(days=1), LAST + timedelta(days=1))
    assert [len(t.x) for t in empty.data] == [0] * len(empty.data)
    assert "No open carts scored" in empty.layout.annotations[0].text
    # Re-running the date gives the same table (a snapshot of the same data).
    run("gold_cart_risk", spark, LAST, ml_home, since=LAST)
    again = read_table(spark, TABLE, ml_home).toPandas()  # bounded: as above
    pd.testing.assert_frame_equal(
        again.sort_values("cart_id").reset_index(drop=True), risk.sort_values("cart_id").reset_index(drop=True)
    )
