"""Helpers shared by the scikit-learn models: bounded hand-over from Spark, time splits, metrics, saving.

A model is trained on one row per entity (cart, user, ...) that Spark has already aggregated; only
that frame reaches the driver, capped at a configured number of rows. Splits are by date, never at
random across days, so a test set is always later than what the model learned from. A trained model
is saved as ``<home>/models/<name>/<run>/`` with ``model.joblib``, ``metrics.json`` and
``model_card.md``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from pyspark.sql import DataFrame

from jobs.common.config import Settings


def to_pandas_capped(df: DataFrame, max_rows: int, seed: int) -> tuple[pd.DataFrame, int]:
    """``df`` on the driver, at most ``max_rows`` rows (a seeded random sample above that), and its full size.

    Call only on an aggregated frame (one row per entity): this is the one bounded collect.
    """
    total = df.count()
    if total > max_rows:
        # A little over the fraction so the limit, not the sample's randomness, sets the size.
        df = df.sample(fraction=min(1.0, 1.1 * max_rows / total), seed=seed).limit(max_rows)
    return df.toPandas(), total  # bounded: at most max_rows rows


@dataclass(frozen=True)
class TimeSplit:
    """Train on the dates before ``test_start``, test on ``test_start`` .. ``test_end``."""

    train_start: date
    train_end: date
    test_start: date
    test_end: date

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.__dict__.items()}


def time_split(dates: pd.Series, test_days: int) -> TimeSplit:
    """Hold out the last ``test_days`` distinct dates of ``dates``; every earlier date trains."""
    days = sorted(pd.to_datetime(dates).dt.date.unique())
    if len(days) <= test_days:
        raise ValueError(f"need more than {test_days} distinct dates for a time split, got {len(days)}")
    return TimeSplit(days[0], days[-test_days - 1], days[-test_days], days[-1])


def split_mask(dates: pd.Series, split: TimeSplit) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, test) of ``dates`` for ``split``."""
    d = pd.to_datetime(dates).dt.date
    train = ((d >= split.train_start) & (d <= split.train_end)).to_numpy()
    test = ((d >= split.test_start) & (d <= split.test_end)).to_numpy()
    return train, test


def binary_metrics(y_true: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> dict[str, float]:
    """ROC AUC and PR AUC (average precision) with their no-skill baselines (0.5 and the positive rate)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.asarray(y_true)
    s = np.asarray(scores)
    positive_rate = float(y.mean()) if len(y) else float("nan")
    both = len(np.unique(y)) == 2
    return {
        "rows": float(len(y)),
        "positive_rate": positive_rate,
        "roc_auc": float(roc_auc_score(y, s)) if both else float("nan"),
        "roc_auc_baseline": 0.5,
        "pr_auc": float(average_precision_score(y, s)) if both else float("nan"),
        "pr_auc_baseline": positive_rate,
    }


def model_dir(settings: Settings, name: str, run: str) -> Path:
    """``<home>/models/<name>/<run>``."""
    return Path(settings.home) / "models" / name / run


def evaluate_scores(
    y_true: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, base_rate: float, bins: int = 10
) -> dict[str, Any]:
    """:func:`binary_metrics`, plus calibration and lift, each beside the base-rate predictor's figure.

    ``base_rate`` is the positive rate the model learned from: the baseline predicts it for every row,
    which is also the stage-only rate when every row stands at one decision point. Adds ``brier``
    (and ``brier_baseline``), ``top_decile_lift`` (positive rate of the highest-scored tenth over the
    positive rate; baseline 1.0) and ``reliability``: up to ``bins`` bins of equal size by score, each
    with its rows, mean predicted risk and observed rate.
    """
    y = np.asarray(y_true, dtype=float)
    s = np.asarray(scores, dtype=float)
    out: dict[str, Any] = binary_metrics(y, s)
    if not len(y):
        return out
    order = np.argsort(-s, kind="stable")
    top = order[: max(1, int(np.ceil(len(y) / 10)))]
    rate = float(y.mean())
    reliability = []
    for part in np.array_split(np.argsort(s, kind="stable"), min(bins, len(y))):
        reliability.append({"rows": len(part), "predicted": float(s[part].mean()), "observed": float(y[part].mean())})
    out.update(
        {
            "brier": float(np.mean((s - y) ** 2)),
            "brier_baseline": float(np.mean((base_rate - y) ** 2)),
            "top_decile_lift": float(y[top].mean() / rate) if rate > 0 else float("nan"),
            "top_decile_lift_baseline": 1.0,
            "reliability": reliability,
        }
    )
    return out


def validated_span(versions: dict[date, int]) -> str:
    """A model card's line for the gate-passed versions of a date-partitioned table (date → version)."""
    if not versions:
        return "no validated date"
    days = sorted(versions)
    return (
        f"{len(days)} validated dates {days[0]} .. {days[-1]}, "
        f"versions {min(versions.values())} .. {max(versions.values())}"
    )


def no_skill(test: dict[str, Any]) -> str | None:
    """Why held-out ``test`` metrics (of :func:`evaluate_scores`) show no skill, or None.

    A held-out ROC AUC not above 0.5 ranks no better than chance: acting on the top-scored rows would
    do no better than picking rows at random, so such a model's scores are not used.
    """
    auc = float(test.get("roc_auc", float("nan")))
    return f"held-out ROC AUC {auc:.4f} is not above 0.5 (chance)" if auc <= 0.5 else None


def miscalibrated(test: dict[str, Any]) -> str | None:
    """Why held-out scores are worse probabilities than the base rate (Brier score not below it), or None."""
    brier, base = float(test.get("brier", float("nan"))), float(test.get("brier_baseline", float("nan")))
    if brier >= base:
        return f"held-out Brier score {brier:.4f} is not below the base rate's {base:.4f}"
    return None


#: Metric rows of a model card: (label, key, baseline key, what the baseline is).
CARD_METRICS = (
    ("ROC AUC", "roc_auc", "roc_auc_baseline"),
    ("PR AUC", "pr_auc", "pr_auc_baseline"),
    ("Brier score (lower is better)", "brier", "brier_baseline"),
    ("lift in the top decile", "top_decile_lift", "top_decile_lift_baseline"),
)


def model_card(
    title: str,
    purpose: str,
    split: TimeSplit,
    features: dict[str, str],
    metrics: dict[str, Any],
    limits: Sequence[str],
    sources: dict[str, str] | None = None,
    baseline: str = "no-skill baseline",
) -> str:
    """A short markdown model card: purpose, data window and sources, features, metrics against
    baselines (and the reliability curve when measured), why a figure is near perfect, limits."""
    lines = [f"# {title}", "", purpose, "", "## Data window", ""]
    lines += [
        f"- train: {split.train_start} .. {split.train_end}",
        f"- test (held-out days): {split.test_start} .. {split.test_end}",
    ]
    if sources:
        lines += ["", "## Training data (Delta versions)", ""]
        lines += [f"- `{name}`: {text}" for name, text in sources.items()]
    lines += ["", "## Features", ""]
    lines += [f"- `{name}`: {text}" for name, text in features.items()]
    lines += ["", "## Metrics (held-out days)", "", f"| metric | model | {baseline} |", "|---|---|---|"]
    test = metrics.get("test", {})
    for label, key, base in CARD_METRICS:
        if key in test:
            lines.append(f"| {label} | {test[key]:.4f} | {test.get(base, float('nan')):.4f} |")
    lines += [
        "",
        f"Rows: train {int(metrics.get('train', {}).get('rows', 0))}, test {int(test.get('rows', 0))}; "
        f"positive rate in test {test.get('positive_rate', float('nan')):.4f}.",
    ]
    if test.get("reliability"):
        lines += ["", "Reliability (held-out rows in bins of equal size by predicted risk):", ""]
        lines += ["| rows | mean predicted | observed |", "|---|---|---|"]
        lines += [f"| {b['rows']} | {b['predicted']:.3f} | {b['observed']:.3f} |" for b in test["reliability"]]
    if metrics.get("no_skill"):
        lines += ["", "## No skill", "", f"{metrics['no_skill']}: these scores are not acted on."]
    if test and miscalibrated(test):
        lines += ["", "## Calibration", "", f"{miscalibrated(test)}: read the score as a ranking, not a probability."]
    if metrics.get("near_perfect"):
        lines += ["", "## Why a figure is near perfect", "", str(metrics["near_perfect"])]
    lines += ["", "## Limits", ""]
    lines += [f"- {text}" for text in limits]
    return "\n".join(lines) + "\n"


def save_model(folder: Path, model: Any, metrics: dict[str, Any], card: str) -> Path:
    """Write ``model.joblib``, ``metrics.json`` and ``model_card.md`` into ``folder`` (replacing them)."""
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, folder / "model.joblib")
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True, default=str) + "\n")
    (folder / "model_card.md").write_text(card)
    return folder
