"""The review sentiment model on a small stratified sample of PRDECT-ID (a few hundred rows, seconds).

Baselines and metrics are recomputed here from the labels with plain numpy, not with the module's
own metric code.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jobs.ml.sentiment import (
    NEGATIVE,
    POSITIVE,
    SentimentScorer,
    evaluate,
    fit,
    fixed_split,
    load_scorer,
    model_card,
    read_labelled,
    train_on,
)
from tests.conftest import SHARED_DATA, ci_settings

CSV = SHARED_DATA / "prdect_id" / "PRDECT-ID Dataset.csv"
PARAMS = {"test_share": 0.25, "seed": 7, "word_ngrams": [1, 2], "char_ngrams": [2, 5], "min_df": 2, "C": 4.0}
SAMPLE_PER_LABEL = {NEGATIVE: 180, POSITIVE: 140}


@pytest.fixture(scope="module")
def sample_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """320 rows of PRDECT-ID (180 negative, 140 positive, a fixed pandas sample), as a CSV of the same form."""
    if not CSV.is_file():
        pytest.skip(f"PRDECT-ID not found at {CSV} (public data folder absent)")
    raw = pd.read_csv(CSV, sep=";", dtype=str, keep_default_na=False)
    parts = [raw[raw["Sentiment"] == label].sample(n, random_state=3) for label, n in SAMPLE_PER_LABEL.items()]
    # Two unlabelled rows, which training must leave out.
    parts.append(raw[raw["Sentiment"] == ""])
    sample = pd.concat(parts).sort_index()
    path = tmp_path_factory.mktemp("prdect-sample") / "sample.csv"
    sample.to_csv(path, sep=";", index=False)
    return path


def test_split_is_fixed_stratified_and_recorded(sample_csv: Path) -> None:
    frame, counts = read_labelled(sample_csv)
    assert counts == {"rows_read": 322, "rows_used": 320, "rows_without_label_or_text": 2}
    train, test, record = fixed_split(frame, 0.25, 7)
    again = fixed_split(frame, 0.25, 7)[2]
    assert record == again
    assert record["test_labels"] == {NEGATIVE: 45, POSITIVE: 35} and record["train_labels"] == {
        NEGATIVE: 135,
        POSITIVE: 105,
    }
    assert sorted(record["test_row_numbers"]) == sorted(test["row"].tolist())
    assert not set(train["row"]) & set(test["row"])
    assert fixed_split(frame, 0.25, 8)[2]["test_row_numbers"] != record["test_row_numbers"]


def test_model_beats_the_majority_baseline_on_held_out_rows(sample_csv: Path) -> None:
    frame, _ = read_labelled(sample_csv)
    train, test, _ = fixed_split(frame, 0.25, 7)
    scorer = fit(train, PARAMS, 5, "test")
    metrics = evaluate(scorer, train, test, 0.5)

    truth = test["label"].to_numpy()
    # Majority baseline by hand: the training majority is Negative (135 of 240).
    share = float(np.mean(truth == NEGATIVE))
    assert metrics["majority_baseline"]["class"] == NEGATIVE
    assert metrics["majority_baseline"]["accuracy"] == pytest.approx(45 / 80)
    # F1 of the predicted class is 2p/(1+p), of the other 0: macro-F1 = p/(1+p).
    assert metrics["majority_baseline"]["macro_f1"] == pytest.approx(share / (1 + share))

    predicted = np.where(scorer.p_negative(test["text"].tolist()) >= 0.5, NEGATIVE, POSITIVE)
    accuracy = float(np.mean(predicted == truth))
    f1 = []
    for label in (NEGATIVE, POSITIVE):
        tp = np.sum((predicted == label) & (truth == label))
        f1.append(2 * tp / (np.sum(predicted == label) + np.sum(truth == label)))
    assert metrics["model"]["accuracy"] == pytest.approx(accuracy)
    assert metrics["model"]["macro_f1"] == pytest.approx(float(np.mean(f1)))
    assert accuracy >= metrics["majority_baseline"]["accuracy"] + 0.25
    assert metrics["model"]["macro_f1"] >= metrics["majority_baseline"]["macro_f1"] + 0.4


def test_negative_terms_are_only_words_many_reviewers_used(sample_csv: Path) -> None:
    frame, _ = read_labelled(sample_csv)
    # A made-up name and phone number in four negative training reviews: under the threshold of 5.
    rare = frame[frame["label"] == NEGATIVE].index[:4]
    frame.loc[rare, "text"] = frame.loc[rare, "text"] + " hubungi pakzulkifliyanto 081299887766"
    scorer = fit(frame, PARAMS, 5, "test")
    _, terms = scorer.score(["barang rusak tidak sesuai, hubungi pakzulkifliyanto 081299887766"])
    named = [t for t, _ in terms[0]]
    assert named and all("zulkifliyanto" not in t and "081299887766" not in t for t in named)
    # A word of at least five distinct negative texts may be named ("rusak": broken).
    holders = frame[frame["text"].str.lower().str.contains(r"\brusak\b")]
    assert holders["text"].str.strip().str.lower().nunique() >= 5
    assert "rusak" in named
    weights = [w for _, w in terms[0]]
    assert weights == sorted(weights, reverse=True) and all(w > 0 for w in weights)
    # Same threshold, raised: nothing under it is named.
    strict = SentimentScorer(scorer.pipeline, frame["text"].tolist(), 10_000, "test")
    assert strict.score(["barang rusak tidak sesuai"])[1] == [[]]


def test_training_run_saves_scorer_metrics_and_card(sample_csv: Path, tmp_path: Path) -> None:
    settings = ci_settings(
        tmp_path / "home",
        gold={"sentiment": {"training_data": str(sample_csv), "model": PARAMS, "min_term_reviewers": 5}},
    )
    scorer = load_scorer(settings)  # none saved yet: trained and saved first
    folder = tmp_path / "home" / "models" / "sentiment" / "prdect-id-seed7-test0.25"
    metrics = json.loads((folder / "metrics.json").read_text())
    card = (folder / "model_card.md").read_text()
    assert isinstance(scorer, SentimentScorer) and scorer.run == "prdect-id-seed7-test0.25"
    assert metrics["split"]["test_rows"] == 80 and metrics["data"]["rows_used"] == 320
    assert f"| model | {metrics['test']['model']['accuracy']:.4f} |" in card
    assert f"| majority class (Negative) | {45 / 80:.4f} |" in card
    assert "not reported" in card and "CC BY 4.0" in card
    assert model_card(metrics, PARAMS) == card
    again = train_on(sample_csv, PARAMS, 5, 0.5)[1]
    assert again["test"] == metrics["test"]


def test_missing_training_data_is_a_clear_error(tmp_path: Path) -> None:
    settings = ci_settings(tmp_path / "home", gold={"sentiment": {"training_data": str(tmp_path / "absent.csv")}})
    with pytest.raises(FileNotFoundError, match=r"PRDECT-ID not found at .*absent\.csv"):
        load_scorer(settings)
