"""The decision-point abandonment models on held-out days, beside their baselines.

``bench_abandonment_model`` builds a simulated home (bronze, silver, gold.cart_abandonment,
features.user_daily, all through the gate), trains one model per decision point with
``detak train abandonment``'s code path and keeps, per point, the held-out ROC AUC, PR AUC, Brier
score and top-decile lift beside the base rate's. The same is tried on the public REES46 sample,
whose carts span a few hours of one day: too few, and on too few days, for a time split, which the
training says in its one line (recorded as such, not worked around).
"""

from __future__ import annotations

import shutil
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from bench.customers import public_home, simulate_home
from jobs.common.config import Settings
from jobs.common.errors import UserError
from jobs.common.tables import read_table
from jobs.features.definitions import TABLE as USER_FEATURES
from jobs.features.user_daily import build_features
from jobs.gold.abandonment import run_abandonment
from jobs.ml.abandonment import train_abandonment
from jobs.quality.gate import gate

#: Two simulated weeks (11.11 inside); the last TEST_DAYS are held out.
SIM_START = date(2026, 11, 2)
SIM_DAYS = 14
TEST_DAYS = 3
KEPT = ("rows", "positive_rate", "roc_auc", "pr_auc", "pr_auc_baseline", "brier", "brier_baseline", "top_decile_lift")


def _carts(spark: SparkSession, settings: Settings) -> dict[str, int]:
    rows = read_table(spark, "gold.cart_abandonment", settings).groupBy("outcome").count().collect()  # bounded
    return {r["outcome"]: int(r["count"]) for r in rows}


def train_home(spark: SparkSession, settings: Settings, first: date, last: date) -> dict[str, Any]:
    """Abandonment and features for ``first`` .. ``last``, through the gate, then the models."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    t = time.perf_counter()
    run_abandonment(spark, last, settings, since=first)
    # Feature rows of as_of_date D are built from data before D: the days after first .. last + 1.
    gates = {
        "gold.cart_abandonment": gate(spark, "gold.cart_abandonment", days, settings).passed,
        USER_FEATURES: gate(spark, USER_FEATURES, [d + timedelta(days=1) for d in days], settings).passed,
    }
    out: dict[str, Any] = {"days": [str(first), str(last)], "carts": _carts(spark, settings), "gates_passed": gates}
    t_train = time.perf_counter()
    try:
        result = train_abandonment(spark, settings, last)
    except UserError as e:
        out["stopped"] = str(e)
        return out
    out["train_s"] = round(time.perf_counter() - t_train, 1)
    out["build_s"] = round(t_train - t, 1)
    points: dict[str, Any] = {}
    for point, m in result["points"].items():
        if "skipped" in m:
            points[point] = {"skipped": m["skipped"], "carts_available": m["carts_available"]}
            continue
        points[point] = {
            "split": m["split"],
            "train_rows": int(m["train"]["rows"]),
            "near_perfect": m["near_perfect"],
            "no_skill": m["no_skill"],
            **{k: m["test"][k] for k in KEPT},
        }
    out["points"] = points
    return out


def bench_abandonment_model(
    spark: SparkSession, settings_for: Any, root: Path, users: int, shared: Path
) -> dict[str, Any]:
    """Both homes' results: ``{"simulated": ..., "rees46": ...}``."""
    model = {"gold": {"abandonment": {"model": {"test_days": TEST_DAYS}, "lookback_days": SIM_DAYS}}}
    home = root / "sim"
    shutil.rmtree(home, ignore_errors=True)
    conf = settings_for(home, **model)
    t = time.perf_counter()
    simulate_home(spark, home, SIM_START, SIM_DAYS, users, conf)  # features included
    last = SIM_START + timedelta(days=SIM_DAYS - 1)
    sim = {"users": users, "simulate_s": round(time.perf_counter() - t, 1)}
    out: dict[str, Any] = {"simulated": {**sim, **train_home(spark, conf, SIM_START, last)}}
    source = shared / "rees46" / "user_behavior_sample.csv"
    if not source.exists():
        out["rees46"] = {"skipped": f"{source} is absent"}
        return out
    phome = root / "rees46"
    shutil.rmtree(phome, ignore_errors=True)
    pconf = settings_for(phome, **model)
    plast = public_home(spark, "rees46", source, phome, pconf)
    events = read_table(spark, "silver.events", pconf)
    pfirst = events.select(F.min(F.to_date("event_time"))).first()[0]  # bounded: one value
    build_features(spark, pfirst + timedelta(days=1), plast + timedelta(days=1), pconf)
    out["rees46"] = {"source": str(source.name), **train_home(spark, pconf, pfirst, plast)}
    return out
