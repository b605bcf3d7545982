"""Purchase propensity: will a user buy in the next ``horizon_days``? Trained from features.user_daily.

The worked example of the feature store's contract for ML teams:

1. Entities and labels: every (user, as_of_date A) of features.user_daily whose label window
   ``[A 00:00, A + horizon)`` lies inside the data gives one entity row ``(user_id,
   event_timestamp = A 00:00 UTC, label)``; label 1 when silver.orders has an order of the user
   created in that window (whatever became of it later: labels may look ahead, features may not).
2. Features: :func:`jobs.features.retrieval.get_training_frame`, point in time (the row of A, built
   from data before A), exactly as a team with its own label events would call it.
3. Split by time: the last ``test_share`` of the labelled as-of dates (at least one) are held out;
   earlier dates train. A scikit-learn HistGradientBoostingClassifier (missing values allowed:
   ``pt_*`` are null for users who never bought) is scored by ROC AUC on the held-out days, next to
   a one-feature baseline (purchases in the last 30 days), with PR AUC, Brier score, a reliability
   curve and the lift in the top decile beside the base rate (:func:`jobs.ml.common.evaluate_scores`).
4. Saved as ``<home>/models/purchase_next_7d/`` with ``model.joblib`` (model, features, metrics),
   ``metrics.json`` and ``model_card.md``: the data window, each feature and its point-in-time
   source, the metrics beside baselines and the Delta versions of the data it learned from.

Only the aggregated entity × feature frame reaches the driver, capped at ``max_rows`` rows.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Settings
from jobs.common.errors import UserError
from jobs.common.tables import delta_version, ensure_table, read_table, table_path
from jobs.features.definitions import TABLE, numeric_feature_names, user_daily_features
from jobs.features.retrieval import get_training_frame
from jobs.ml.common import TimeSplit, evaluate_scores, model_card, no_skill, validated_span
from jobs.quality.gate import validated_table, validated_versions

MODEL = "purchase_next_7d"
BASELINE_FEATURE = "purchases_30d"


def _params(settings: Settings) -> dict[str, Any]:
    return dict(settings["features"]["ml"])


def label_entities(features: DataFrame, orders: DataFrame, horizon_days: int) -> DataFrame:
    """``(user_id, event_timestamp, label)`` for the feature rows whose label window is complete.

    The data is taken as complete up to the newest as_of_date of ``features`` (exclusive), so A is
    labelled when ``A + horizon_days`` is at most that date.
    """
    newest = features.agg(F.max("as_of_date").alias("_newest"))
    rows = (
        features.select("user_id", "as_of_date")
        .crossJoin(newest)
        .where(F.date_add("as_of_date", horizon_days) <= F.col("_newest"))
        .withColumn("event_timestamp", F.to_timestamp("as_of_date"))
    )
    bought = orders.where(F.col("user_id").isNotNull()).select(F.col("user_id").alias("_uid"), "created_at")
    hits = (
        rows.join(
            bought,
            (F.col("user_id") == F.col("_uid"))
            & (F.col("created_at") >= F.col("event_timestamp"))
            & (F.col("created_at") < F.to_timestamp(F.date_add("as_of_date", horizon_days))),
        )
        .select("user_id", "event_timestamp")
        .distinct()
        .withColumn("label", F.lit(1))
    )
    return (
        rows.select("user_id", "event_timestamp")
        .join(hits, ["user_id", "event_timestamp"], "left")
        .fillna(0, ["label"])
    )


def _auc(y: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, scores)) if len(np.unique(y)) == 2 else float("nan")


def train_purchase(spark: SparkSession, settings: Settings, save: bool = True) -> dict[str, Any]:
    """Train and evaluate the purchase-in-the-next-``horizon_days`` model; returns its metrics.

    Keys: horizon_days, train/test rows and date ranges, positive rates, roc_auc (model) and
    roc_auc_baseline (purchases_30d alone) on the held-out days, and the saved model's path.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    params = _params(settings)
    horizon = int(params["horizon_days"])
    for name in (TABLE, "silver.orders"):
        ensure_table(spark, name, settings)
    # Only feature dates the quality gate passed, at the version it passed.
    features = validated_table(spark, TABLE, settings)
    orders = read_table(spark, "silver.orders", settings)
    entities = label_entities(features, orders, horizon)
    frame = get_training_frame(spark, entities, settings, features=features)
    total = frame.count()
    max_rows = int(params["max_rows"])
    if total > max_rows:
        frame = frame.sample(fraction=min(1.0, 1.1 * max_rows / total), seed=int(params["seed"])).limit(max_rows)
    # Bounded: one row per user and date, capped above.
    pdf: pd.DataFrame = frame.select("as_of_date", "label", *numeric_feature_names()).toPandas()  # bounded: max_rows
    dates = sorted(pdf["as_of_date"].unique())
    if len(dates) < 2 or pdf["label"].nunique() < 2:
        # Too little history is the user's to fix (run more days), not a failure: one line, no traceback.
        got = f"{len(dates)} labelled as_of_date{'s' if len(dates) != 1 else ''}"
        if len(dates) >= 2:
            got += " with one outcome only"
        raise UserError(
            f"too little data to train {MODEL}: need at least two labelled as_of_dates with both outcomes, "
            f"i.e. validated features.user_daily over more than {horizon} + 1 days; got {got}"
        )
    n_test = min(len(dates) - 1, max(1, math.ceil(len(dates) * float(params["test_share"]))))
    test_start = dates[-n_test]
    test = (pdf["as_of_date"] >= test_start).to_numpy()
    # A feature with no value at all in the training days (e.g. purchase gaps in a short history)
    # carries nothing to learn and breaks the model's binning: leave it out, and say so.
    used = [c for c in numeric_feature_names() if pdf.loc[~test, c].notna().any()]
    if not used or len(np.unique(pdf.loc[~test, "label"])) < 2:
        raise UserError(
            f"too little data to train {MODEL}: the training dates {dates[0]} .. {dates[-n_test - 1]} hold "
            f"{'no feature values' if not used else 'one outcome only'}"
        )
    x = pdf[used].astype(float).to_numpy()
    y = pdf["label"].astype(int).to_numpy()
    model = HistGradientBoostingClassifier(random_state=int(params["seed"]), max_iter=200, learning_rate=0.05)
    model.fit(x[~test], y[~test])
    scores = model.predict_proba(x[test])[:, 1] if len(np.unique(y[~test])) == 2 else np.zeros(int(test.sum()))
    baseline = np.nan_to_num(pdf.loc[test, BASELINE_FEATURE].astype(float).to_numpy())
    metrics: dict[str, Any] = {
        "model": MODEL,
        "horizon_days": horizon,
        "rows": total,
        "train_rows": int((~test).sum()),
        "test_rows": int(test.sum()),
        "train_dates": [str(dates[0]), str(dates[-n_test - 1])],
        "test_dates": [str(test_start), str(dates[-1])],
        "train_positive_rate": float(y[~test].mean()),
        "test_positive_rate": float(y[test].mean()),
        "roc_auc": _auc(y[test], scores),
        "roc_auc_baseline": _auc(y[test], baseline),
        "baseline_feature": BASELINE_FEATURE,
        "features_used": len(used),
        "features_unused": [c for c in numeric_feature_names() if c not in used],
    }
    evaluation = evaluate_scores(y[test], scores, float(y[~test].mean()))
    metrics["test"] = evaluation
    metrics["pr_auc"] = evaluation["pr_auc"]
    metrics["no_skill"] = no_skill(evaluation)
    if save:
        import joblib

        folder = Path(settings.home) / "models" / MODEL
        folder.mkdir(parents=True, exist_ok=True)
        metrics["sources"] = _sources(spark, settings)
        joblib.dump({"model": model, "features": used, "metrics": metrics}, folder / "model.joblib")
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True, default=str) + "\n")
        (folder / "model_card.md").write_text(_card(metrics, used, dates, n_test, horizon))
        metrics["saved_to"] = str(folder / "model.joblib")
    return metrics


def _sources(spark: SparkSession, settings: Settings) -> dict[str, str]:
    """The Delta versions the model learned from: the gate-passed version of each feature date, and
    the orders table's version (labels)."""
    return {
        TABLE: validated_span(validated_versions(spark, TABLE, settings)) + " (features, point in time)",
        "silver.orders": f"version {delta_version(spark, table_path('silver.orders', settings))} (labels)",
    }


def _card(metrics: dict[str, Any], used: list[str], dates: list[Any], n_test: int, horizon: int) -> str:
    split = TimeSplit(dates[0], dates[-n_test - 1], dates[-n_test], dates[-1])
    features = {f.name: f.description for f in user_daily_features() if f.name in used}
    test = dict(metrics["test"])
    # The card's ROC AUC baseline is the one-feature model's, which says more than a coin's 0.5.
    test["roc_auc_baseline"] = metrics["roc_auc_baseline"]
    return model_card(
        f"Purchase in the next {horizon} days",
        f"Scores how likely a user is to place an order in the {horizon} days from as_of_date 00:00 UTC, "
        f"from the user's {TABLE} row of that date (point in time: every feature is built from data before "
        f"as_of_date). Baselines: {BASELINE_FEATURE} alone (ROC AUC) and the "
        "training days' purchase rate (PR AUC, Brier score, lift).",
        split,
        features,
        {**metrics, "test": test, "train": {"rows": metrics["train_rows"]}},
        [
            "Labels look ahead (orders in the horizon, whatever became of them); features never do.",
            f"Trained on {metrics['train_rows'] + metrics['test_rows']} of {metrics['rows']} rows "
            "(cap features.ml.max_rows).",
            f"Features with no value in the training days are left out: {metrics['features_unused'] or 'none'}.",
        ],
        sources=metrics["sources"],
        baseline=f"baseline ({BASELINE_FEATURE} for ROC AUC, else the base rate)",
    )


def score_latest(spark: SparkSession, settings: Settings, model_path: Path) -> DataFrame:
    """Score the newest feature snapshot with a saved model: ``user_id``, ``as_of_date``, ``score``.

    The model is broadcast once and applied per partition (``mapInPandas``), so the snapshot (one
    row per user) never comes to the driver.
    """
    import joblib

    from jobs.features.retrieval import latest_features

    saved = joblib.load(model_path)
    used: list[str] = list(saved["features"])
    model = spark.sparkContext.broadcast(saved["model"])

    def score(batches: Any) -> Any:
        for batch in batches:
            x = batch[used].astype(float).to_numpy()
            proba = model.value.predict_proba(x)[:, 1] if len(batch) else np.zeros(0)
            yield pd.DataFrame({"user_id": batch["user_id"], "as_of_date": batch["as_of_date"], "score": proba})

    snapshot = latest_features(spark, settings).select("user_id", "as_of_date", *used)
    return snapshot.mapInPandas(score, "user_id string, as_of_date date, score double")
