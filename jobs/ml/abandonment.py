"""What drives cart abandonment: a propensity model on cart and session features, explained by permutation.

Each cart of gold.cart_abandonment that ended (converted, abandoned or recovered; emptied and open
carts are left out) is one row: label 1 when it was left (abandoned or recovered), 0 when converted.
Features are the cart's own (value, lines, stage, the evidence columns) and its session's (channel,
device, pages and searches, local hour, logged in). Spark aggregates them per cart; only that
cart-level frame reaches the driver, sampled down to ``model.max_rows``.

The model is a scikit-learn ``Pipeline``: a ``ColumnTransformer`` (median-imputed numbers,
one-hot categories) in front of a gradient-boosted tree classifier. It is trained on the earlier
days and tested on the last ``model.test_days`` days (never a random split across days); ROC AUC and
PR AUC on those held-out days are reported next to the no-skill baselines. Permutation importance on
the held-out carts, overall and per stage reached, is written to gold.abandonment_drivers.

This is a descriptive model (what distinguishes left carts), not a real-time predictor: the
evidence columns are only known once the cart's first life is over.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Settings
from jobs.common.tables import ensure_table, read_table, replace_dates
from jobs.ml.common import (
    binary_metrics,
    model_card,
    model_dir,
    save_model,
    split_mask,
    time_split,
    to_pandas_capped,
)
from jobs.quality.gate import validated_table

NAME = "abandonment"
#: Numeric features and what they are (the model card lists them).
NUMERIC = {
    "log_cart_value": "log(1 + cart value in IDR)",
    "items": "cart lines",
    "sessions": "sessions the cart's first life spans",
    "shipping_share": "highest shipping cost quoted / cart value (0 when none quoted)",
    "failed_payments": "payment_failed events",
    "out_of_stock_errors": "out_of_stock errors on the cart",
    "coupon_rejections": "rejected coupons",
    "price_change_pct": "largest unit price change since adding (0 when unknown)",
    "p90_page_load_ms": "p90 page load time on the cart's path (median-imputed)",
    "page_errors": "failing pages on the cart's path",
    "alternatives_viewed": "same-category products viewed after adding",
    "session_page_views": "pages in the cart's first session",
    "session_searches": "searches in the cart's first session",
    "local_hour": "local hour the cart was created",
    "logged_in": "1 when the cart has an account",
}
CATEGORICAL = {
    "stage_reached": "cart, checkout, shipping or payment",
    "channel": "channel of the cart's first session",
    "device_type": "device type",
}
FEATURES = [*NUMERIC, *CATEGORICAL]
LABEL = "left"
ENDED = ("converted", "abandoned", "recovered")


def cart_features(carts: DataFrame, sessions: DataFrame) -> DataFrame:
    """One row per ended cart: ``cart_id``, ``cart_date``, the features and the label (pure)."""
    s = sessions.select(
        "session_id",
        F.col("page_views").alias("session_page_views"),
        F.col("searches").alias("session_searches"),
        F.hour("local_start").alias("local_hour"),
    )
    return (
        carts.where(F.col("outcome").isin(*ENDED))
        .join(s, "session_id", "left")
        .select(
            "cart_id",
            "cart_date",
            F.log1p(F.col("cart_value").cast("double")).alias("log_cart_value"),
            F.col("items").cast("double").alias("items"),
            F.col("sessions").cast("double").alias("sessions"),
            F.coalesce("shipping_share", F.lit(0.0)).alias("shipping_share"),
            F.col("failed_payments").cast("double").alias("failed_payments"),
            F.col("out_of_stock_errors").cast("double").alias("out_of_stock_errors"),
            F.col("coupon_rejections").cast("double").alias("coupon_rejections"),
            F.coalesce("price_change_pct", F.lit(0.0)).alias("price_change_pct"),
            F.col("p90_page_load_ms").cast("double").alias("p90_page_load_ms"),
            F.col("page_errors").cast("double").alias("page_errors"),
            F.col("alternatives_viewed").cast("double").alias("alternatives_viewed"),
            F.col("session_page_views").cast("double").alias("session_page_views"),
            F.col("session_searches").cast("double").alias("session_searches"),
            F.col("local_hour").cast("double").alias("local_hour"),
            F.col("user_id").isNotNull().cast("double").alias("logged_in"),
            "stage_reached",
            "channel",
            "device_type",
            (F.col("outcome") != "converted").cast("int").alias(LABEL),
        )
    )


def make_pipeline(random_state: int) -> Any:
    """ColumnTransformer (imputed numbers, one-hot categories) → gradient-boosted trees."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    prep = ColumnTransformer(
        [
            ("num", SimpleImputer(strategy="median"), list(NUMERIC)),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), list(CATEGORICAL)),
        ]
    )
    model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, random_state=random_state)
    return Pipeline([("prep", prep), ("model", model)])


def drivers(pipeline: Any, test: pd.DataFrame, params: dict[str, Any], stages: list[str] | None = None) -> pd.DataFrame:
    """Permutation importance (drop in average precision) on ``test``: over all carts and per stage.

    A stage with fewer than ``min_test_rows_per_stage`` carts, or with one label only, gets no rows.
    """
    from sklearn.inspection import permutation_importance

    groups: list[tuple[str, pd.DataFrame]] = [("all", test)]
    for stage in stages or sorted(test["stage_reached"].unique()):
        groups.append((stage, test[test["stage_reached"] == stage]))
    rows = []
    for stage, part in groups:
        if len(part) < int(params["min_test_rows_per_stage"]) or part[LABEL].nunique() < 2:
            continue
        result = permutation_importance(
            pipeline,
            part[FEATURES],
            part[LABEL],
            scoring="average_precision",
            n_repeats=int(params["permutation_repeats"]),
            random_state=int(params["random_state"]),
            n_jobs=1,
        )
        order = np.argsort(-result.importances_mean, kind="stable")
        for rank, i in enumerate(order, start=1):
            rows.append(
                {
                    "stage": stage,
                    "feature": FEATURES[i],
                    "importance_mean": float(result.importances_mean[i]),
                    "importance_std": float(result.importances_std[i]),
                    "rank": rank,
                    "test_carts": len(part),
                    "abandon_rate": float(part[LABEL].mean()),
                }
            )
    return pd.DataFrame(rows)


def fit_and_explain(frame: pd.DataFrame, params: dict[str, Any]) -> tuple[Any, dict[str, Any], pd.DataFrame]:
    """Train on the earlier days of ``frame``, test on the last ones; the pipeline, metrics and drivers."""
    split = time_split(frame["cart_date"], int(params["test_days"]))
    train_mask, test_mask = split_mask(frame["cart_date"], split)
    train, test = frame[train_mask], frame[test_mask]
    if train[LABEL].nunique() < 2:
        raise ValueError("the training days hold one outcome only: nothing to learn")
    pipeline = make_pipeline(int(params["random_state"]))
    pipeline.fit(train[FEATURES], train[LABEL])
    metrics = {
        "split": split.as_dict(),
        "train": binary_metrics(train[LABEL], pipeline.predict_proba(train[FEATURES])[:, 1]),
        "test": binary_metrics(test[LABEL], pipeline.predict_proba(test[FEATURES])[:, 1]),
        "test_by_stage": {
            str(stage): {"rows": len(part), "abandon_rate": float(part[LABEL].mean())}
            for stage, part in test.groupby("stage_reached")
        },
    }
    return pipeline, metrics, drivers(pipeline, test, params)


LIMITS = [
    "Descriptive, not real-time: the evidence features are known only once the cart's first life is over.",
    "Stage reached is a feature and separates converted carts (which reach payment) strongly; the per-stage "
    "drivers show what matters within a stage.",
    "Emptied and still-open carts are left out; recovered carts count as left.",
    "Reasons with no signal in the data (e.g. REES46 has no checkout, shipping or payment events) cannot drive "
    "the model there.",
]


def train_abandonment(spark: SparkSession, settings: Settings, until: date | None = None) -> dict[str, Any]:
    """Train on validated gold.cart_abandonment up to ``until`` (default: its last date); save, write drivers.

    Returns the metrics (also saved as ``metrics.json`` beside the model) with the run folder.
    """
    params = dict(settings["gold"]["abandonment"]["model"])
    for name in ("gold.cart_abandonment", "silver.sessions", "gold.abandonment_drivers"):
        ensure_table(spark, name, settings)
    # Only cart dates the quality gate passed, at the version it passed.
    carts = validated_table(spark, "gold.cart_abandonment", settings)
    if until is None:
        last = carts.agg(F.max("cart_date")).first()
        if last is None or last[0] is None:
            raise ValueError("gold.cart_abandonment has no validated dates: run the abandonment job, then the gate")
        until = last[0]
    assert until is not None
    carts = carts.where(F.col("cart_date") <= F.lit(until))
    features = cart_features(carts, read_table(spark, "silver.sessions", settings))
    frame, total = to_pandas_capped(features, int(params["max_rows"]), int(params["random_state"]))
    frame = frame.sort_values("cart_id", kind="stable").reset_index(drop=True)  # same rows, same order
    pipeline, metrics, importance = fit_and_explain(frame, params)

    run = until.isoformat()
    metrics.update({"run": run, "carts_available": int(total), "carts_used": len(frame)})
    split = metrics["split"]
    card = model_card(
        "Cart abandonment propensity",
        "Scores how likely an ended cart was left (abandoned or recovered) rather than converted, from "
        "gold.cart_abandonment and silver.sessions; permutation importance on the held-out days feeds "
        "gold.abandonment_drivers.",
        time_split(frame["cart_date"], int(params["test_days"])),
        {**NUMERIC, **CATEGORICAL},
        metrics,
        [*LIMITS, f"Trained on {len(frame)} of {total} carts (cap model.max_rows); split {split}."],
    )
    folder = save_model(model_dir(settings, NAME, run), pipeline, metrics, card)
    if not importance.empty:
        out = spark.createDataFrame(importance.assign(model_date=until, run=run))
        replace_dates(out, "gold.abandonment_drivers", until, until, settings)
    metrics["folder"] = str(folder)
    metrics["drivers_rows"] = len(importance)
    return metrics
