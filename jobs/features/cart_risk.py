"""gold.cart_risk: the carts still open, scored at the decision point each has reached, with reasons.

For run date D, the carts of gold.cart_abandonment created D - ``lookback_days`` .. D whose outcome
is ``open`` (no order yet, window not closed at the end of D's data) are scored by the newest
abandonment models trained up to D (:mod:`jobs.ml.abandonment`, ``<home>/models/abandonment/<run>/``):
each cart by the model of the furthest decision point it has reached (a model whose held-out ROC AUC
is not above 0.5 is not used: its carts are scored at the furthest earlier point), from the row
:func:`jobs.features.decision_points.decision_rows` builds for it, the same as in training.

Reasons are local explanations: for each feature, the cart's risk minus its risk with that feature set
back to the model's reference value (training median, or most common category). The three largest
positive differences are the reasons, each with the action ``gold.cart_risk.actions`` maps it to.
Scoring runs on the executors (``mapInPandas`` with the saved pipelines broadcast once), so open carts
never come to the driver.

The table is a served snapshot per ``scored_date``: the job rewrites D's partition when its inputs
changed. Before any model is trained it writes nothing and says so.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common import manifest
from jobs.common.config import Settings
from jobs.common.contracts import table
from jobs.common.tables import ensure_table, read_table, replace_dates
from jobs.features.decision_points import KEYS, POINTS, decision_rows
from jobs.features.definitions import TABLE as USER_FEATURES

TABLE = "gold.cart_risk"
INPUTS = ("gold.cart_abandonment", "silver.events", USER_FEATURES)
REASONS = 3


def latest_models(settings: Settings, until: date) -> tuple[str, dict[str, dict[str, Any]]] | None:
    """The newest abandonment run trained on data up to ``until``: its name and, per decision point
    with a model, the pipeline, the features it uses and their reference values."""
    import joblib

    root = Path(settings.home) / "models" / "abandonment"
    runs = sorted(
        p.name for p in root.glob("*") if p.is_dir() and _is_date(p.name) and date.fromisoformat(p.name) <= until
    )
    for run in reversed(runs):
        models = {}
        for point in POINTS:
            folder = root / run / point
            if (folder / "model.joblib").is_file() and (folder / "metrics.json").is_file():
                metrics = json.loads((folder / "metrics.json").read_text())
                if metrics.get("no_skill"):
                    # Ranks no better than chance on its held-out days: its carts fall back to the
                    # furthest earlier point whose model has skill.
                    print(f"gold.cart_risk: the {run} model at {point} is not used: {metrics['no_skill']}", flush=True)
                    continue
                models[point] = {
                    "pipeline": joblib.load(folder / "model.joblib"),
                    "features": list(metrics["features_used"]),
                    "reference": dict(metrics["reference"]),
                }
        if models:
            return run, models
    return None


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def explain(pipeline: Any, x: pd.DataFrame, reference: dict[str, Any]) -> tuple[np.ndarray, pd.DataFrame]:
    """Risk of each row of ``x`` and, per feature, how much lower it is with the feature at its reference."""
    risk = pipeline.predict_proba(x)[:, 1] if len(x) else np.zeros(0)
    drops = {}
    for feature, value in reference.items():
        if feature not in x.columns:
            continue
        changed = x.copy()
        changed[feature] = value
        drops[feature] = risk - pipeline.predict_proba(changed)[:, 1]
    return risk, pd.DataFrame(drops, index=x.index)


def top_reasons(drops: pd.DataFrame, actions: dict[str, str], n: int = REASONS) -> pd.DataFrame:
    """``reason_k``, ``contribution_k``, ``action_k`` (k = 1..n) per row: the largest positive drops."""
    out: dict[str, list[Any]] = {f"{c}_{k}": [] for k in range(1, n + 1) for c in ("reason", "contribution", "action")}
    names = list(drops.columns)
    values = drops.to_numpy() if len(names) else np.zeros((len(drops), 0))
    for row in values:
        order = [i for i in np.argsort(-row, kind="stable") if row[i] > 0][:n]
        for k in range(1, n + 1):
            i = order[k - 1] if k <= len(order) else None
            out[f"reason_{k}"].append(names[i] if i is not None else None)
            out[f"contribution_{k}"].append(float(row[i]) if i is not None else None)
            out[f"action_{k}"].append(actions.get(names[i], actions["default"]) if i is not None else None)
    return pd.DataFrame(out, index=drops.index)


def furthest_point(rows: DataFrame) -> DataFrame:
    """Each cart once, at the furthest decision point it reached."""
    rank = F.create_map(*[x for i, p in enumerate(POINTS) for x in (F.lit(p), F.lit(i))])
    best = rows.groupBy("cart_id").agg(F.max(rank[F.col("decision_point")]).alias("_best"))
    return rows.join(best, "cart_id").where(rank[F.col("decision_point")] == F.col("_best")).drop("_best")


def score(
    spark: SparkSession,
    rows: DataFrame,
    models: dict[str, dict[str, Any]],
    actions: dict[str, str],
    run: str,
    scored: date,
) -> DataFrame:
    """gold.cart_risk rows for ``rows`` (decision rows of open carts, one per cart), on the executors."""
    shared = spark.sparkContext.broadcast({p: m for p, m in models.items()})
    schema = table(TABLE).spark_schema
    columns = [f.name for f in schema.fields]

    def batches(parts: Any) -> Any:
        for part in parts:
            frames = []
            for point, group in part.groupby("decision_point"):
                model = shared.value[point]
                x = group[model["features"]]
                risk, drops = explain(model["pipeline"], x, model["reference"])
                reasons = top_reasons(drops, actions)
                value = group["cart_value"].fillna(0).astype("int64")
                frames.append(
                    pd.concat(
                        [
                            pd.DataFrame(
                                {
                                    "cart_id": group["cart_id"],
                                    "cart_date": group["cart_date"],
                                    "user_id": group["user_id"],
                                    "decision_point": point,
                                    "decision_time": group["decision_time"],
                                    "risk": risk,
                                    "cart_value": value,
                                    "value_at_risk": risk * value,
                                },
                                index=group.index,
                            ),
                            reasons,
                        ],
                        axis=1,
                    ).assign(model_run=run, scored_date=scored)
                )
            if frames:
                yield pd.concat(frames)[columns]

    scorable = rows.where(F.col("decision_point").isin(*models))
    return scorable.mapInPandas(batches, schema)


def open_cart_rows(
    events: DataFrame, carts: DataFrame, users: DataFrame, points: list[str], names: list[str], ttl: int
) -> DataFrame:
    """Decision rows of the open carts at each of ``points``, each cart once, at its furthest point."""
    parts = [decision_rows(events, carts, p, users, names, ttl, outcomes=("open",)) for p in points]
    rows = parts[0]
    for part in parts[1:]:
        rows = rows.unionByName(part)
    return furthest_point(rows)


def run_cart_risk(
    spark: SparkSession, run_date: date, settings: Settings, since: date | None = None, run_id: str | None = None
) -> dict[str, Any]:
    """Rewrite gold.cart_risk for ``run_date`` when its inputs changed (or with ``since``)."""
    for name in (*INPUTS, TABLE):
        ensure_table(spark, name, settings)
    plan = manifest.plan(spark, settings, "gold_cart_risk", run_date, INPUTS, run_id=run_id)
    if not plan.has_news() and since is None:
        return {"run_date": str(run_date), "dates": "none", "rows": {}, "noop": True}
    found = latest_models(settings, run_date)
    if found is None:
        print("gold.cart_risk: no abandonment model trained yet (detak train abandonment): nothing scored", flush=True)
        manifest.record(spark, settings, plan, {})
        return {"run_date": str(run_date), "dates": "none", "rows": {}, "noop": True, "reason": "no model"}
    run, models = found
    params = settings["gold"]["abandonment"]
    lookback = int(params["lookback_days"])
    names = list(params["model"]["user_features"])
    first = run_date - timedelta(days=lookback)
    carts = plan.read(spark, "gold.cart_abandonment", settings).where(
        F.col("cart_date").between(F.lit(first), F.lit(run_date)) & (F.col("outcome") == "open")
    )
    events = plan.read(spark, "silver.events", settings).where(
        F.col("event_date").between(F.lit(first), F.lit(run_date)) & ~F.col("is_bot") & F.col("consent_analytics")
    )
    users = plan.read(spark, USER_FEATURES, settings)
    rows = open_cart_rows(events, carts, users, list(models), names, int(settings["features"]["ttl_days"]))
    actions = {str(k): str(v) for k, v in dict(settings["gold"]["cart_risk"]["actions"]).items()}
    out = score(spark, rows.select(*KEYS, *_feature_union(models)), models, actions, run, run_date)
    replace_dates(out, TABLE, run_date, run_date, settings)
    written = read_table(spark, TABLE, settings).where(F.col("scored_date") == F.lit(run_date))
    n = written.count()
    manifest.record(spark, settings, plan, {TABLE: {run_date}}, rows={TABLE: n})
    print(f"gold.cart_risk {run_date}: {n} open carts scored with the models of {run}", flush=True)
    return {"run_date": str(run_date), "dates": str(run_date), "rows": {TABLE: n}, "model_run": run}


def _feature_union(models: dict[str, dict[str, Any]]) -> list[str]:
    seen: list[str] = []
    for model in models.values():
        seen += [f for f in model["features"] if f not in seen]
    return seen
