"""Behavioural customer clusters for gold.customer_segments: KMeans whose ids stay stable week to week.

* Features: ``gold.segments.clustering.features`` of features.user_daily (counts, revenue and
  recency), null as 0 (no activity), ``log1p`` (heavy tails), then a StandardScaler.
* k: the best silhouette score among ``k_min .. k_max`` on a seeded sample of at most
  ``silhouette_rows`` rows; KMeans itself trains on at most ``max_rows`` rows brought to the driver.
* Stable ids: the new centroids and the previous as-of date's (both mapped back to the log1p
  space, then scaled with the *new* scaler) are matched by the Hungarian algorithm
  (``scipy.optimize.linear_sum_assignment``) on Euclidean distance. A matched pair no further
  apart than ``max_match_distance`` keeps the old id; every other new cluster gets an id never
  used before (``next_id`` is carried from model to model), so an id never changes meaning by
  being reused.
* Assignment runs where the rows are (``mapInPandas`` with the model broadcast); only the
  training sample reaches the driver.

Pure functions here take pandas/numpy; :mod:`jobs.gold.segments` does the Spark I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from jobs.common.config import Settings

MODEL = "segments"


def feature_matrix(frame: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    """``log1p`` of the features (null = 0, negatives clipped to 0) as a float matrix."""
    values = frame[list(features)].astype(float).fillna(0.0).clip(lower=0.0).to_numpy()
    return np.log1p(values)


@dataclass
class ClusterModel:
    """A fitted scaler and KMeans with the stable id of each KMeans label."""

    features: list[str]
    scaler: Any
    kmeans: Any
    ids: list[int]
    next_id: int
    metrics: dict[str, Any] = field(default_factory=dict)

    def centroids_log(self) -> np.ndarray:
        """Centroids in the unscaled log1p space (comparable across as-of dates)."""
        return np.asarray(self.scaler.inverse_transform(self.kmeans.cluster_centers_))

    def assign(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(stable cluster id, distance to its centroid in the scaled space) of each row."""
        if len(frame) == 0:
            return np.zeros(0, dtype=np.int32), np.zeros(0)
        x = self.scaler.transform(feature_matrix(frame, self.features))
        labels = self.kmeans.predict(x)
        dist = np.linalg.norm(x - self.kmeans.cluster_centers_[labels], axis=1)
        return np.asarray(self.ids, dtype=np.int32)[labels], dist


def choose_k(
    x: np.ndarray, k_min: int, k_max: int, silhouette_rows: int, n_init: int, random_state: int
) -> tuple[int, dict[int, float]]:
    """The k in ``k_min..k_max`` with the best silhouette (the smaller k on ties) and every k's score.

    A k needs at least k + 1 distinct rows; with fewer than ``k_min + 1`` distinct rows the answer
    is 1 (one cluster, no score).
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    distinct = len(np.unique(x, axis=0)) if len(x) else 0
    rng = np.random.default_rng(random_state)
    sample = x if len(x) <= silhouette_rows else x[rng.choice(len(x), silhouette_rows, replace=False)]
    scores: dict[int, float] = {}
    for k in range(k_min, k_max + 1):
        if distinct < k + 1 or len(np.unique(sample, axis=0)) < k + 1:
            break
        labels = KMeans(n_clusters=k, n_init=n_init, random_state=random_state).fit(x).predict(sample)
        if len(np.unique(labels)) < 2:
            continue
        scores[k] = float(silhouette_score(sample, labels))
    if not scores:
        return 1, scores
    best = max(scores.values())
    return min(k for k, s in scores.items() if s == best), scores


def match_ids(
    previous: np.ndarray | None,
    previous_ids: Sequence[int],
    current: np.ndarray,
    scale: Any,
    max_distance: float,
    next_id: int,
) -> tuple[list[int], int, list[dict[str, Any]]]:
    """Stable ids for ``current`` centroids (log1p space) from the ``previous`` ones.

    ``scale`` maps log1p rows to the scaled space where distances are measured (the new model's
    scaler ``transform``). Returns the ids in the order of ``current``, the next unused id and one
    record per current centroid (``id``, ``matched``, ``distance`` to the previous centroid of that
    id or null).
    """
    from scipy.optimize import linear_sum_assignment

    ids: list[int | None] = [None] * len(current)
    dist_of: list[float | None] = [None] * len(current)
    if previous is not None and len(previous) and len(current):
        a, b = np.asarray(scale(current)), np.asarray(scale(previous))
        cost = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
        rows, cols = linear_sum_assignment(cost)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            if cost[r, c] <= max_distance:
                ids[r] = int(previous_ids[c])
                dist_of[r] = float(cost[r, c])
    out: list[int] = []
    records = []
    for i, got in enumerate(ids):
        if got is None:
            got, next_id = next_id, next_id + 1
        out.append(got)
        records.append({"id": got, "matched": dist_of[i] is not None, "distance": dist_of[i]})
    return out, next_id, records


def train_clusters(frame: pd.DataFrame, params: dict[str, Any], previous: ClusterModel | None) -> ClusterModel:
    """Fit scaler and KMeans on ``frame`` (the bounded sample) and give its clusters stable ids."""
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    features = [str(f) for f in params["features"]]
    seed = int(params["random_state"])
    n_init = int(params["n_init"])
    x_log = feature_matrix(frame, features)
    if len(x_log) == 0:
        raise ValueError("no users to cluster: features.user_daily has no rows for this as-of date")
    scaler = StandardScaler().fit(x_log)
    x = scaler.transform(x_log)
    k, scores = choose_k(x, int(params["k_min"]), int(params["k_max"]), int(params["silhouette_rows"]), n_init, seed)
    kmeans = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(x)
    centroids = np.asarray(scaler.inverse_transform(kmeans.cluster_centers_))
    ids, next_id, records = match_ids(
        previous.centroids_log() if previous is not None else None,
        previous.ids if previous is not None else [],
        centroids,
        scaler.transform,
        float(params["max_match_distance"]),
        previous.next_id if previous is not None else 0,
    )
    sizes = np.bincount(kmeans.labels_, minlength=k)
    metrics = {
        "k": k,
        "silhouette_by_k": {str(key): value for key, value in scores.items()},
        "silhouette": scores.get(k),
        "train_rows": len(frame),
        "features": features,
        "clusters": [
            {**rec, "train_users": int(sizes[i]), "centroid": _named(features, np.expm1(centroids[i]))}
            for i, rec in enumerate(records)
        ],
        "previous_ids": list(previous.ids) if previous is not None else [],
    }
    return ClusterModel(features, scaler, kmeans, ids, next_id, metrics)


def _named(features: Sequence[str], values: np.ndarray) -> dict[str, float]:
    return {f: round(float(v), 4) for f, v in zip(features, values, strict=True)}


def assign_batches(model: Any, keys: Sequence[str]) -> Any:
    """A ``mapInPandas`` function: ``keys`` plus ``cluster_id`` and ``cluster_distance`` per row.

    ``model`` is a broadcast of a :class:`ClusterModel` (read on the executors).
    """

    def assign(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            ids, dist = model.value.assign(batch)
            out = batch[list(keys)].copy()
            out["cluster_id"] = ids.astype("int32")
            out["cluster_distance"] = dist.astype(float)
            yield out

    return assign


# ---------------------------------------------------------------------------------------------
# Saving


def model_folder(settings: Settings, as_of: date) -> Path:
    """``<home>/models/segments/<as_of>``."""
    return Path(settings.home) / "models" / MODEL / str(as_of)


def previous_model(settings: Settings, as_of: date) -> ClusterModel | None:
    """The newest saved model of an as-of date before ``as_of`` (None on the first run)."""
    root = Path(settings.home) / "models" / MODEL
    earlier = sorted(p for p in root.glob("*/model.joblib") if p.parent.name < str(as_of)) if root.exists() else []
    return joblib.load(earlier[-1]) if earlier else None


def model_card(model: ClusterModel, as_of: date, population: int) -> str:
    """Markdown card: purpose, data, features, k and silhouettes, clusters and their ids."""
    m = model.metrics
    lines = [
        f"# Customer clusters as of {as_of}",
        "",
        "Behavioural clusters of gold.customer_segments (jobs/ml/segments.py): KMeans on log1p-scaled "
        "features.user_daily features of this as_of_date (data strictly before it).",
        "",
        "## Data",
        "",
        f"- users on this as-of date: {population}; trained on {m['train_rows']} (seeded sample above "
        "gold.segments.clustering.max_rows)",
        "",
        "## Features (log1p, then standardised)",
        "",
        *[f"- `{f}`" for f in model.features],
        "",
        "## k by silhouette",
        "",
        "| k | silhouette |",
        "|---:|---:|",
        *[f"| {k} | {s:.4f} |" for k, s in m["silhouette_by_k"].items()],
        "",
        f"Chosen k = {m['k']}.",
        "",
        "## Clusters",
        "",
        "| id | matched previous id | centroid distance to it | training users | centroid |",
        "|---:|---|---:|---:|---|",
    ]
    for c in m["clusters"]:
        dist = "" if c["distance"] is None else f"{c['distance']:.3f}"
        centroid = ", ".join(f"{k} {v:g}" for k, v in c["centroid"].items())
        lines.append(f"| {c['id']} | {'yes' if c['matched'] else 'new'} | {dist} | {c['train_users']} | {centroid} |")
    lines += [
        "",
        "## Limits",
        "",
        "- Clusters describe behaviour in the windows of features.user_daily; they are not personas.",
        "- Ids are stable only while clusters stay within gold.segments.clustering.max_match_distance "
        "of last week's; a new id means a cluster that did not exist before.",
    ]
    return "\n".join(lines) + "\n"


def save(settings: Settings, as_of: date, model: ClusterModel, population: int) -> Path:
    """Write ``model.joblib``, ``metrics.json`` and ``model_card.md`` for ``as_of`` (replacing them)."""
    folder = model_folder(settings, as_of)
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, folder / "model.joblib")
    metrics = {**model.metrics, "as_of_date": str(as_of), "population": population, "ids": model.ids}
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True, default=str) + "\n")
    (folder / "model_card.md").write_text(model_card(model, as_of, population))
    return folder
