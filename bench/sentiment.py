"""Review sentiment on PRDECT-ID's fixed held-out split: accuracy and macro-F1 beside the baselines.

Trains exactly what ``gold.sentiment`` configures (jobs/ml/sentiment.py) on the full fixed split,
and times training and scoring. The data set's own article reports no sentiment classification
result, so the only baseline with a number is the majority class.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from jobs.common.config import Settings
from jobs.ml.sentiment import PAPER, read_labelled, train_on


def bench_sentiment(settings: Settings) -> dict[str, Any]:
    """Train and evaluate the configured model; metrics, timings and a markdown table."""
    conf = settings["gold"]["sentiment"]
    path = Path(conf["training_data"]).resolve()
    # CPU seconds beside wall seconds: on a shared machine the wall clock measures the neighbours too.
    t, c = time.perf_counter(), time.process_time()
    scorer, metrics = train_on(path, conf["model"], int(conf["min_term_reviewers"]), float(conf["negative_threshold"]))
    train_s, train_cpu = time.perf_counter() - t, time.process_time() - c
    texts = read_labelled(path)[0]["text"].tolist()
    t, c = time.perf_counter(), time.process_time()
    scorer.score(texts)
    score_s, score_cpu = time.perf_counter() - t, time.process_time() - c
    model, base = metrics["test"]["model"], metrics["test"]["majority_baseline"]
    split = metrics["split"]
    rows = [
        ["TF-IDF word 1-2 + char_wb 2-5, logistic regression", f"{model['accuracy']:.4f}", f"{model['macro_f1']:.4f}"],
        [f"majority class ({base['class']})", f"{base['accuracy']:.4f}", f"{base['macro_f1']:.4f}"],
        ["PRDECT-ID article", "not reported", "not reported"],
    ]
    table = "\n".join(
        ["| model | accuracy | macro-F1 |", "|---|---:|---:|"] + ["| " + " | ".join(r) + " |" for r in rows]
    )
    markdown = f"""{table}

Split: seed {split["seed"]}, {split["train_rows"]:,} training and {split["test_rows"]:,} held-out rows
(stratified by the Sentiment label; {metrics["data"]["rows_without_label_or_text"]} unlabelled rows left out).
Training {train_s:.1f} s ({train_cpu:.1f} CPU-s); scoring with negative terms {len(texts):,} reviews in
{score_s:.1f} s ({score_cpu:.1f} CPU-s, {len(texts) / score_cpu:,.0f} reviews per CPU-second, one process).
Data: {PAPER}; CC BY 4.0.
"""
    return {
        "run": metrics["run"],
        "accuracy": model["accuracy"],
        "macro_f1": model["macro_f1"],
        "majority_class": base["class"],
        "majority_accuracy": base["accuracy"],
        "majority_macro_f1": base["macro_f1"],
        "paper_accuracy": None,
        "paper_macro_f1": None,
        "train_rows": split["train_rows"],
        "test_rows": split["test_rows"],
        "test_row_numbers_sha256": split["test_row_numbers_sha256"],
        "train_seconds": train_s,
        "train_cpu_seconds": train_cpu,
        "score_seconds": score_s,
        "score_cpu_seconds": score_cpu,
        "scored_reviews": len(texts),
        "markdown": markdown,
    }
