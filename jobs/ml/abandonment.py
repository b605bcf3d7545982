"""Cart abandonment models at the moment of decision, evaluated honestly, explained per decision point.

One model per decision point (:data:`jobs.features.decision_points.POINTS`: the cart's first add_to_cart,
begin_checkout and add_payment_info). Each learns from the rows :func:`decision_rows` builds: what
was known at that moment about the cart, its session, the time, the channel and the user (their
features.user_daily row as of the day before). The label is whether the cart was then left
(abandoned or recovered) rather than converted.

- **Time split.** Carts of the last ``model.test_days`` days are held out; earlier days train. Never
  a random split across days.
- **Metrics beside baselines.** On the held-out days: ROC AUC, PR AUC, Brier score, the reliability
  curve and the lift in the top decile, each next to the base-rate predictor's (the training days'
  rate at that point, i.e. the stage-only rate).
- **Drivers.** Permutation importance on the held-out carts, with the direction of each effect from
  partial dependence, goes to gold.abandonment_drivers (one set of rows per decision point).
- **Hygiene.** Every point's pipeline, ``metrics.json`` and ``model_card.md`` (data window, features
  and their point-in-time source, metrics beside baselines, the training data's Delta versions) are
  saved under ``<home>/models/abandonment/<until>/<point>/``. A point without enough carts gets no
  model and says why; when no point has enough, training stops with one line (a :class:`UserError`).

Only validated dates (the quality gate's) of gold.cart_abandonment and features.user_daily are read;
per point, only the cart-level frame reaches the driver, sampled down to ``model.max_rows``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Settings
from jobs.common.errors import UserError
from jobs.common.tables import add_missing_columns, delta_version, ensure_table, read_table, replace_dates, table_path
from jobs.features.decision_points import (
    CATEGORICAL,
    LABEL,
    NUMERIC,
    POINTS,
    decision_rows,
    feature_columns,
    user_feature_doc,
)
from jobs.features.definitions import TABLE as USER_FEATURES
from jobs.ml.common import (
    TimeSplit,
    evaluate_scores,
    model_card,
    model_dir,
    no_skill,
    save_model,
    split_mask,
    time_split,
    to_pandas_capped,
    validated_span,
)
from jobs.quality.gate import validated_table, validated_versions

NAME = "abandonment"
CARTS = "gold.cart_abandonment"
DRIVERS = "gold.abandonment_drivers"
#: A partial dependence moving the risk by less than this is "flat".
FLAT = 0.01


def make_pipeline(numeric: list[str], categorical: list[str], random_state: int) -> Any:
    """ColumnTransformer (numbers as they are, missing allowed; one-hot categories) → gradient-boosted trees."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    prep = ColumnTransformer(
        [
            ("num", "passthrough", numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
        ]
    )
    # Shallow, regularised trees: a decision point of a small shop has a few hundred carts a week.
    model = HistGradientBoostingClassifier(
        max_iter=150,
        learning_rate=0.05,
        max_leaf_nodes=15,
        min_samples_leaf=20,
        l2_regularization=1.0,
        random_state=random_state,
    )
    return Pipeline([("prep", prep), ("model", model)])


def direction_of(pipeline: Any, frame: pd.DataFrame, feature: str, rows: int, seed: int) -> dict[str, Any]:
    """The partial dependence of the predicted risk on ``feature`` over (a sample of) ``frame``, in words."""
    sample = frame.sample(n=min(rows, len(frame)), random_state=seed) if len(frame) > rows else frame
    x = sample.drop(columns=[LABEL], errors="ignore").copy()
    if feature in CATEGORICAL:
        values = sorted(x[feature].astype(str).unique())
        risks = []
        for value in values:
            x[feature] = value
            risks.append(float(pipeline.predict_proba(x)[:, 1].mean()))
        hi, lo = int(np.argmax(risks)), int(np.argmin(risks))
        return {
            "direction": "by_category",
            "effect": risks[hi] - risks[lo],
            "effect_detail": f"highest at {values[hi]} ({risks[hi]:.3f}), lowest at {values[lo]} ({risks[lo]:.3f})",
        }
    column = pd.to_numeric(x[feature], errors="coerce")
    if column.notna().sum() == 0:
        return {"direction": "flat", "effect": 0.0, "effect_detail": "no value in the held-out carts"}
    low, high = float(column.quantile(0.05)), float(column.quantile(0.95))
    risks = []
    for value in (low, high):
        x[feature] = value
        risks.append(float(pipeline.predict_proba(x)[:, 1].mean()))
    effect = risks[1] - risks[0]
    direction = "flat" if abs(effect) < FLAT else ("raises" if effect > 0 else "lowers")
    return {
        "direction": direction,
        "effect": effect,
        "effect_detail": f"risk {risks[0]:.3f} at {low:g} (5th pct) → {risks[1]:.3f} at {high:g} (95th pct)",
    }


def drivers(pipeline: Any, test: pd.DataFrame, features: list[str], params: dict[str, Any]) -> pd.DataFrame:
    """Permutation importance (drop in average precision) on the held-out carts, with each effect's direction."""
    from sklearn.inspection import permutation_importance

    result = permutation_importance(
        pipeline,
        test[features],
        test[LABEL],
        scoring="average_precision",
        n_repeats=int(params["permutation_repeats"]),
        random_state=int(params["random_state"]),
        n_jobs=1,
    )
    order = np.argsort(-result.importances_mean, kind="stable")
    rows = []
    for rank, i in enumerate(order, start=1):
        name = features[i]
        shape = direction_of(
            pipeline, test[features], name, int(params["partial_dependence_rows"]), int(params["random_state"])
        )
        rows.append(
            {
                "feature": name,
                "importance_mean": float(result.importances_mean[i]),
                "importance_std": float(result.importances_std[i]),
                "rank": rank,
                "test_carts": len(test),
                "abandon_rate": float(test[LABEL].mean()),
                **shape,
            }
        )
    return pd.DataFrame(rows)


def too_little(train: pd.DataFrame, test: pd.DataFrame, params: dict[str, Any]) -> str | None:
    """Why a decision point's carts cannot train and test a model, or None when they can."""
    need_train, need_test = int(params["min_train_rows"]), int(params["min_test_rows"])
    if len(train) < need_train or len(test) < need_test:
        return (
            f"{len(train)} carts in the training days and {len(test)} in the held-out days "
            f"(model.min_train_rows {need_train}, model.min_test_rows {need_test})"
        )
    if train[LABEL].nunique() < 2:
        return "the training days hold one outcome only"
    if test[LABEL].nunique() < 2:
        return "the held-out days hold one outcome only"
    return None


def near_perfect(metrics: dict[str, Any], importance: pd.DataFrame, threshold: float) -> str | None:
    """The card's explanation when the held-out ROC AUC is at or above ``threshold``; None otherwise."""
    auc = metrics["test"].get("roc_auc", float("nan"))
    if not auc >= threshold:
        return None
    top = importance.head(3)
    carried = ", ".join(f"`{r.feature}` ({r.importance_mean:.3f})" for r in top.itertuples())
    return (
        f"Held-out ROC AUC {auc:.4f} is at or above {threshold}. Every feature is cut at the decision "
        f"event (tests/ml/test_decision_points.py moves and removes later events and finds no change), "
        f"so this is not leakage from later events; the model leans on {carried}. On simulated data "
        "the planted causes are clean; treat this figure as an upper bound until it holds on a shop's "
        "own later days."
    )


def fit_point(frame: pd.DataFrame, features: list[str], params: dict[str, Any]) -> dict[str, Any]:
    """Train on the earlier days of one point's ``frame``, test on the last ones.

    Returns ``{"skipped": why}`` when the point has too little data; else the pipeline, the split,
    the metrics and the drivers.
    """
    try:
        split = time_split(frame["cart_date"], int(params["test_days"]))
    except ValueError as e:
        return {"skipped": str(e)}
    train_mask, test_mask = split_mask(frame["cart_date"], split)
    train, test = frame[train_mask], frame[test_mask]
    why = too_little(train, test, params)
    if why:
        return {"skipped": why, "split": split.as_dict()}
    numeric = [c for c in features if c not in CATEGORICAL]
    # A number never seen in the training days carries nothing to learn: leave it out, and say so.
    unused = [c for c in numeric if train[c].isna().all()]
    used = [c for c in features if c not in unused]
    pipeline = make_pipeline(
        [c for c in numeric if c not in unused], [c for c in features if c in CATEGORICAL], int(params["random_state"])
    )
    pipeline.fit(train[used], train[LABEL])
    base_rate = float(train[LABEL].mean())
    metrics: dict[str, Any] = {
        "split": split.as_dict(),
        "train": evaluate_scores(train[LABEL], pipeline.predict_proba(train[used])[:, 1], base_rate),
        "test": evaluate_scores(test[LABEL], pipeline.predict_proba(test[used])[:, 1], base_rate),
        "features_used": used,
        "features_unused": unused,
        "base_rate": base_rate,
    }
    # Reference values of a cart at this point (training medians, most common category): a risk
    # reason is a feature whose value, set back to its reference, lowers the cart's risk most.
    metrics["reference"] = {
        c: (str(train[c].mode().iloc[0]) if c in CATEGORICAL else float(train[c].median()))
        for c in used
        if train[c].notna().any()
    }
    importance = drivers(pipeline, test, used, params)
    metrics["near_perfect"] = near_perfect(metrics, importance, float(params["near_perfect_auc"]))
    metrics["no_skill"] = no_skill(metrics["test"])
    return {"pipeline": pipeline, "split": split, "metrics": metrics, "drivers": importance, "test": test}


LIMITS = [
    "Predicts at the decision event from what was known then; what happens later in the cart's life "
    "(a shipping quote, a payment failure after this point) is for the later points' models.",
    "Open and emptied carts have no label and are left out; recovered carts count as left.",
    "User features are null for carts without an account, and for users with no activity in the "
    "90 days before the decision day.",
    "Signals the data does not carry cannot drive the model (REES46 has no checkout, shipping, "
    "payment, coupon or error events).",
]


def _sources(spark: SparkSession, settings: Settings, carts: dict[date, int], users: dict[date, int]) -> dict[str, str]:
    events = delta_version(spark, table_path("silver.events", settings))
    return {
        CARTS: validated_span(carts) + " (labels, decision-point selection)",
        USER_FEATURES: validated_span(users) + " (user features as of the day before)",
        "silver.events": f"version {events} (cart and session so far)",
    }


def train_abandonment(spark: SparkSession, settings: Settings, until: date | None = None) -> dict[str, Any]:
    """Train a model per decision point on validated data up to ``until`` (default: the carts' last
    validated date); save each, write gold.abandonment_drivers for ``until``.

    Returns ``{"run", "until", "points": {point: metrics or {"skipped": why}}, "folder", "drivers_rows"}``.
    Raises :class:`UserError` (one line) when no decision point has enough data to train on.
    """
    params = dict(settings["gold"]["abandonment"]["model"])
    user_names = list(params["user_features"])
    for name in (CARTS, "silver.events", USER_FEATURES):
        ensure_table(spark, name, settings)
    add_missing_columns(spark, DRIVERS, settings)
    cart_versions = validated_versions(spark, CARTS, settings)
    if not cart_versions:
        raise UserError(f"{CARTS} has no validated dates: run the abandonment job, then the gate")
    until = until or max(cart_versions)
    carts = validated_table(spark, CARTS, settings).where(F.col("cart_date") <= F.lit(until))
    users = validated_table(spark, USER_FEATURES, settings)
    events = read_table(spark, "silver.events", settings).where(F.to_date("event_time") <= F.lit(until))
    events = events.where(~F.col("is_bot") & F.col("consent_analytics"))
    features = feature_columns(user_names)
    feature_doc = {**NUMERIC, **user_feature_doc(user_names), **CATEGORICAL}
    sources = _sources(
        spark,
        settings,
        {d: v for d, v in cart_versions.items() if d <= until},
        validated_versions(spark, USER_FEATURES, settings),
    )
    ttl = int(settings["features"]["ttl_days"])
    run = until.isoformat()
    results: dict[str, Any] = {}
    driver_frames = []
    for point, stage in POINTS.items():
        rows = decision_rows(events, carts, point, users, user_names, ttl)
        frame, total = to_pandas_capped(rows, int(params["max_rows"]), int(params["random_state"]))
        frame = frame.sort_values("cart_id", kind="stable").reset_index(drop=True)  # same rows, same order
        fitted = fit_point(frame, features, params)
        if "skipped" in fitted:
            results[point] = {"skipped": fitted["skipped"], "carts_available": int(total)}
            print(f"abandonment model at {point}: skipped, {fitted['skipped']}", flush=True)
            continue
        metrics = fitted["metrics"]
        metrics.update({"run": run, "decision_point": point, "carts_available": int(total), "carts_used": len(frame)})
        card = model_card(
            f"Cart abandonment risk at {point}",
            f"Scores how likely a cart is to be left (abandoned or recovered) rather than converted, at its "
            f"first {point} event, from what was known at that moment (jobs/features/decision_points.py). "
            "Permutation importance on the held-out days, with partial-dependence directions, feeds "
            f"gold.abandonment_drivers (stage {stage}).",
            fitted["split"],
            {k: v for k, v in feature_doc.items() if k in metrics["features_used"]},
            metrics,
            [*LIMITS, f"Trained on {len(frame)} of {total} carts (cap model.max_rows)."],
            sources=sources,
            baseline="base rate at this point (stage-only)",
        )
        folder = save_model(model_dir(settings, NAME, run) / point, fitted["pipeline"], metrics, card)
        metrics["folder"] = str(folder)
        test = metrics["test"]
        print(
            f"abandonment model at {point}: {len(frame)} carts; held-out ROC AUC {test['roc_auc']:.3f} "
            f"(baseline 0.5), PR AUC {test['pr_auc']:.3f} (baseline {test['pr_auc_baseline']:.3f}), "
            f"Brier {test['brier']:.4f} (baseline {test['brier_baseline']:.4f}), "
            f"top-decile lift {test['top_decile_lift']:.2f}"
            + (f"; NO SKILL: {metrics['no_skill']}" if metrics["no_skill"] else ""),
            flush=True,
        )
        results[point] = metrics
        driver_frames.append(fitted["drivers"].assign(stage=stage, decision_point=point))
    if not driver_frames:
        why = "; ".join(f"{p}: {r['skipped']}" for p, r in results.items())
        raise UserError(f"too little data to train the abandonment models up to {until} ({why})")
    importance = pd.concat(driver_frames, ignore_index=True)
    out = spark.createDataFrame(importance.assign(model_date=until, run=run))
    replace_dates(out, DRIVERS, until, until, settings)
    return {
        "run": run,
        "until": run,
        "points": results,
        "folder": str(model_dir(settings, NAME, run)),
        "drivers_rows": len(importance),
    }


def held_out_split(metrics: dict[str, Any]) -> TimeSplit:
    """The split a point's metrics were measured with."""
    s = metrics["split"]
    return TimeSplit(*(date.fromisoformat(s[k]) for k in ("train_start", "train_end", "test_start", "test_end")))
