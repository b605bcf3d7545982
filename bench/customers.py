"""Customer tables scored on held-out data and against the simulator's truth (``make bench``, section customers).

* Clusters: adjusted Rand index of gold.customer_segments' cluster ids against the truth's
  customer types (``truth/users.parquet``: the simulator's activity tiers, the one behavioural
  trait it draws per shopper), beside random assignments with the same cluster sizes; and how
  stable the ids are: the share of customers whose clustering features barely moved
  (``gold.segments.clustering.stable_feature_delta`` in the scaled space) who kept their id, and
  the centroid drift of matched clusters.
* Recommendations: :func:`jobs.ml.recommend_eval.evaluate_home` (recall@10, NDCG@10 against
  popularity) on the simulated home and on the public REES46 and OTTO samples.
* Contact time: :func:`jobs.gold.contact_time.backtest_home` against the global peak hour.

``simulate_home`` builds the simulated home (weeks around 11.11) the section measures on.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.common.config import Settings
from jobs.common.tables import read_table
from jobs.silver.privacy import pseudonym_key


def pseudonyms(ids: pd.Series, key: bytes) -> pd.Series:
    """HMAC-SHA256 hex of raw ids, as silver writes them (Python's hmac, not the Spark code)."""
    return ids.map(lambda v: hmac.new(key, str(v).encode(), hashlib.sha256).hexdigest())


def truth_types(truth: Path, settings: Settings) -> pd.DataFrame:
    """``user_id`` (pseudonym), ``customer_type`` of every simulated shopper."""
    users = pd.read_parquet(truth / "users.parquet", columns=["user_id", "customer_type"])
    return users.assign(user_id=pseudonyms(users["user_id"], pseudonym_key(settings)))


def cluster_recovery(
    spark: SparkSession, settings: Settings, as_of: date, truth: Path, seeds: int = 20
) -> dict[str, Any]:
    """ARI of the clusters of ``as_of`` against the truth's customer types, and of random assignments."""
    from sklearn.metrics import adjusted_rand_score

    rows = (
        read_table(spark, "gold.customer_segments", settings)
        .where(F.col("as_of_date") == F.lit(as_of))
        .select("user_id", "cluster_id")
        .toPandas()
    )  # bounded: one row per simulated customer
    joined = rows.merge(truth_types(truth, settings), on="user_id", how="inner")
    labels, types = joined["cluster_id"].to_numpy(), joined["customer_type"].to_numpy()
    rng = np.random.default_rng(0)
    random = [adjusted_rand_score(types, rng.permutation(labels)) for _ in range(seeds)]
    return {
        "as_of_date": str(as_of),
        "users": len(joined),
        "unmatched_users": len(rows) - len(joined),
        "clusters": int(joined["cluster_id"].nunique()),
        "ari": float(adjusted_rand_score(types, labels)),
        "random_ari_mean": float(np.mean(random)),
        "random_ari_max": float(np.max(random)),
        "types": {str(k): int(v) for k, v in joined["customer_type"].value_counts().sort_index().items()},
    }


def cluster_stability(spark: SparkSession, settings: Settings, as_of: date, previous: date) -> dict[str, Any]:
    """Share of customers keeping their cluster id when their features barely moved, and centroid drift."""
    import joblib

    from jobs.ml.segments import feature_matrix, model_folder

    model = joblib.load(model_folder(settings, as_of) / "model.joblib")
    names = model.features
    features = read_table(spark, "features.user_daily", settings).where(F.col("as_of_date").isin(as_of, previous))
    segments = read_table(spark, "gold.customer_segments", settings).select("user_id", "as_of_date", "cluster_id")
    frame = (
        features.select("user_id", "as_of_date", *names).join(segments, ["user_id", "as_of_date"]).toPandas()
    )  # bounded: customers of two as-of dates
    now, before = frame[frame["as_of_date"] == as_of], frame[frame["as_of_date"] == previous]
    both = now.merge(before, on="user_id", suffixes=("", "_prev"))
    previous_rows = both[[f"{n}_prev" for n in names]].set_axis(names, axis=1)
    delta = np.abs(
        model.scaler.transform(feature_matrix(both, names))
        - model.scaler.transform(feature_matrix(previous_rows, names))
    ).max(axis=1)
    still = delta <= float(settings["gold"]["segments"]["clustering"]["stable_feature_delta"])
    kept = (both["cluster_id"] == both["cluster_id_prev"]).to_numpy()
    metrics = json.loads((model_folder(settings, as_of) / "metrics.json").read_text())
    drift = [c["distance"] for c in metrics["clusters"] if c["matched"]]
    return {
        "as_of_date": str(as_of),
        "previous": str(previous),
        "users_both": len(both),
        "barely_changed": int(still.sum()),
        "kept_id_barely_changed": float(kept[still].mean()) if still.any() else float("nan"),
        "kept_id_all": float(kept.mean()) if len(kept) else float("nan"),
        "matched_clusters": len(drift),
        "clusters": len(metrics["clusters"]),
        "centroid_drift_mean": float(np.mean(drift)) if drift else float("nan"),
        "k": metrics["k"],
        "silhouette": metrics["silhouette"],
    }


def simulate_home(spark: SparkSession, home: Path, start: date, days: int, users: int, settings: Settings) -> None:
    """A simulated home with bronze, silver, profiles and features for ``days`` days from ``start``."""
    from jobs.bronze.ingest import ingest_source
    from jobs.features.user_daily import build_features
    from jobs.silver.daily import run_silver
    from jobs.simulate import generate

    generate(home, start, days, users, seed=11, settings=settings, progress=True)
    for source in settings["ingest"]["sources"]:
        ingest_source(spark, source, settings, run_id="bench")
    run_silver(spark, start + timedelta(days=days - 1), settings)
    build_features(spark, start + timedelta(days=1), start + timedelta(days=days), settings)


#: The simulated weeks the section measures on: Monday Nov 2 to Sunday Nov 22, 11.11 inside.
SIM_START = date(2026, 11, 2)
SIM_DAYS = 21
SIM_TEST_DAYS = 3


def public_home(spark: SparkSession, kind: str, source: Path, home: Path, settings: Settings) -> date:
    """Import a public sample into ``home`` and build bronze and silver; returns its last event date."""
    from jobs.bronze.ingest import ingest_source
    from jobs.importers import import_otto, import_rees46
    from jobs.silver.daily import run_silver

    (import_rees46 if kind == "rees46" else import_otto)(source, home)
    for s in settings["ingest"]["sources"]:
        if (home / "landing" / s).exists():
            ingest_source(spark, s, settings, run_id="bench")
    days = sorted(p.name.removeprefix("date=") for s in settings["ingest"]["sources"]
                  for p in (home / "landing" / s).glob("date=*"))  # fmt: skip
    first, last = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
    run_silver(spark, last, settings, since=first)
    return last


def bench_customers(spark: SparkSession, settings_for: Any, root: Path, users: int, shared: Path) -> dict[str, Any]:
    """Every customer measurement of this module; ``settings_for(home, **overrides)`` gives a home's settings."""
    import shutil
    import time

    from jobs.gold.contact_time import backtest_home, run_contact_time
    from jobs.gold.segments import run_segments
    from jobs.ml.recommend_eval import evaluate_home

    out: dict[str, Any] = {"users": users, "days": [str(SIM_START), str(SIM_START + timedelta(days=SIM_DAYS - 1))]}
    home = root / "sim"
    shutil.rmtree(home, ignore_errors=True)
    conf = settings_for(home)
    t = time.perf_counter()
    simulate_home(spark, home, SIM_START, SIM_DAYS, users, conf)
    out["build_s"] = round(time.perf_counter() - t, 1)
    mondays = [SIM_START + timedelta(days=7 * i) for i in (1, 2, 3)]
    t = time.perf_counter()
    run_segments(spark, mondays[-1], conf, as_of_dates=mondays)
    run_contact_time(spark, mondays[-1], conf, as_of_dates=mondays)
    out["segments_s"] = round(time.perf_counter() - t, 1)
    out["recovery"] = [cluster_recovery(spark, conf, d, home / "truth") for d in mondays]
    out["stability"] = [cluster_stability(spark, conf, d, d - timedelta(days=7)) for d in mondays[1:]]
    out["contact_time"] = [backtest_home(spark, conf, d) for d in mondays[:2]]
    t = time.perf_counter()
    params = conf["gold"]["recommendations"]
    # The last SIM_TEST_DAYS days are held out: about a thousand customers with a purchase or an
    # add to cart, enough for the 30 % target to be told apart from noise (one day has ~300).
    held_out = {**params, "evaluation": {**params["evaluation"], "test_days": SIM_TEST_DAYS}}
    out["recommendations"] = {"simulated": evaluate_home(spark, conf, params=held_out)}
    out["recommend_eval_s"] = round(time.perf_counter() - t, 1)
    for kind, source, cutoff, days, by_device in (
        ("rees46", shared / "rees46" / "user_behavior_sample.csv", datetime(2019, 10, 1, 2, 0), 1, False),
        ("otto", shared / "otto" / "train.jsonl", datetime(2022, 8, 22), 7, True),
    ):
        if not source.exists():
            out["recommendations"][kind] = {"skipped": f"{source} is absent"}
            continue
        phome = root / kind
        shutil.rmtree(phome, ignore_errors=True)
        pconf = settings_for(phome)
        public_home(spark, kind, source, phome, pconf)
        p = {**params, "evaluation": {**params["evaluation"], "test_days": days}}
        out["recommendations"][kind] = evaluate_home(spark, pconf, cutoff=cutoff, params=p, by_device=by_device)
    return out
