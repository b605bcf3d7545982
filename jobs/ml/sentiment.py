"""Review sentiment in Indonesian: TF-IDF word and character n-grams and a logistic regression.

Trained on PRDECT-ID (Sutoyo, Achmad, Chowanda, Andangsari and Isa, "PRDECT-ID: Indonesian product
reviews dataset for emotions classification tasks", Data in Brief 44 (2022) 108554,
doi:10.1016/j.dib.2022.108554; CC BY 4.0): 5,400 Tokopedia reviews with the annotators'
``Sentiment`` label (Positive/Negative). Rows without a label are left out (two in the published file).

- **Split**: fixed and seeded (``gold.sentiment.model.seed``), stratified by the label;
  ``test_share`` of the rows are held out. The held-out data rows are recorded in ``metrics.json``.
- **Features**: a ``FeatureUnion`` of TF-IDF word n-grams (``word_ngrams``, default 1-2) and
  character n-grams inside word boundaries (``char_wb``, ``char_ngrams``, default 2-5), both
  lower-cased with sublinear term frequency and ``min_df``. Character n-grams carry the slang,
  elongations ("mantappp") and typos of marketplace reviews that whole words miss.
- **Classifier**: ``LogisticRegression`` (liblinear, ``C``), so the weight of each word n-gram
  says how much it pushes a review towards Negative.
- **Baselines**: the majority class of the training rows, scored on the held-out rows. The data
  set's article is a data description: the parts of it read for this module (abstract,
  specifications) report no classification result, so no published figure is given beside ours.

:class:`SentimentScorer` is what is saved (``<home>/models/sentiment/<run>/model.joblib``) and what
gold broadcasts to the executors: the fitted pipeline plus the word n-grams it may name as
*negative terms*, only those that at least ``min_term_reviewers`` distinct reviewers' texts of the
training data hold (PRDECT-ID has no reviewer ids, so each distinct text counts as one reviewer).
A name or a phone number in one review can therefore never be named.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from jobs.common.config import Settings
from jobs.ml.common import model_dir

log = logging.getLogger(__name__)

NAME = "sentiment"
NEGATIVE, POSITIVE = "Negative", "Positive"
LABELS = (NEGATIVE, POSITIVE)
TEXT, LABEL, RATING = "Customer Review", "Sentiment", "Customer Rating"
PAPER = (
    "Sutoyo R., Achmad S., Chowanda A., Andangsari E.W., Isa S.M. PRDECT-ID: Indonesian product reviews "
    "dataset for emotions classification tasks. Data in Brief 44 (2022) 108554. doi:10.1016/j.dib.2022.108554"
)
PAPER_NOTE = (
    "The article describes the data set (collection, annotation, label counts); the parts read for this "
    "model card (abstract and specifications table) report no sentiment classification result, so there "
    "is no published figure to compare with."
)
PAPER_FIGURE: dict[str, Any] = {"accuracy": None, "macro_f1": None, "note": PAPER_NOTE}


# ---------------------------------------------------------------------------------------------
# Data and split


def read_labelled(path: Path) -> tuple[pd.DataFrame, dict[str, int]]:
    """PRDECT-ID rows with a Positive/Negative label and a text: ``row`` (1-based data row), ``text``,
    ``label``, ``rating``; and the counts of rows read and left out."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"PRDECT-ID not found at {path} (set gold.sentiment.training_data)")
    raw = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
    missing = [c for c in (TEXT, LABEL) if c not in raw.columns]
    if missing:
        raise ValueError(f"{path} is not a PRDECT-ID file: no column(s) {', '.join(missing)}")
    frame = pd.DataFrame(
        {
            "row": np.arange(1, len(raw) + 1),
            "text": raw[TEXT].str.strip(),
            "label": raw[LABEL].str.strip(),
            "rating": pd.to_numeric(raw.get(RATING, pd.Series([""] * len(raw))), errors="coerce"),
        }
    )
    keep = frame["label"].isin(LABELS) & (frame["text"] != "")
    counts = {"rows_read": len(raw), "rows_used": int(keep.sum()), "rows_without_label_or_text": int((~keep).sum())}
    return frame[keep].reset_index(drop=True), counts


def fixed_split(frame: pd.DataFrame, test_share: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """A seeded split stratified by label: (train, test, the split's record with the held-out rows)."""
    from sklearn.model_selection import train_test_split

    train_idx, test_idx = train_test_split(
        np.arange(len(frame)), test_size=test_share, random_state=seed, stratify=frame["label"]
    )
    train = frame.iloc[np.sort(train_idx)].reset_index(drop=True)
    test = frame.iloc[np.sort(test_idx)].reset_index(drop=True)
    test_rows = [int(r) for r in test["row"]]
    record = {
        "method": "sklearn.model_selection.train_test_split, stratified by the Sentiment label",
        "seed": int(seed),
        "test_share": float(test_share),
        "train_rows": len(train),
        "test_rows": len(test),
        "train_labels": {k: int(v) for k, v in sorted(train["label"].value_counts().items())},
        "test_labels": {k: int(v) for k, v in sorted(test["label"].value_counts().items())},
        "test_row_numbers_sha256": hashlib.sha256(",".join(map(str, test_rows)).encode()).hexdigest(),
        "test_row_numbers": test_rows,
    }
    return train, test, record


# ---------------------------------------------------------------------------------------------
# Model


def make_pipeline(params: Mapping[str, Any]) -> Any:
    """TF-IDF word and char_wb n-grams in a FeatureUnion, then a logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    min_df = int(params["min_df"])
    word_lo, word_hi = (int(x) for x in params["word_ngrams"])
    char_lo, char_hi = (int(x) for x in params["char_ngrams"])
    features = FeatureUnion(
        [
            (
                "word",
                TfidfVectorizer(analyzer="word", ngram_range=(word_lo, word_hi), sublinear_tf=True, min_df=min_df),
            ),
            (
                "char",
                TfidfVectorizer(analyzer="char_wb", ngram_range=(char_lo, char_hi), sublinear_tf=True, min_df=min_df),
            ),
        ]
    )
    clf = LogisticRegression(C=float(params["C"]), solver="liblinear", max_iter=1000)
    return Pipeline([("features", features), ("clf", clf)])


def classification_metrics(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, float]:
    """Accuracy, macro-F1 and per-class F1 over :data:`LABELS`."""
    from sklearn.metrics import accuracy_score, f1_score

    per_class = f1_score(y_true, y_pred, labels=list(LABELS), average=None, zero_division=0)
    return {
        "rows": float(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=list(LABELS), average="macro", zero_division=0)),
        **{f"f1_{label.lower()}": float(v) for label, v in zip(LABELS, per_class, strict=True)},
    }


def term_reviewers(texts: Sequence[str], analyzer: Any) -> dict[str, int]:
    """For every word n-gram ``analyzer`` yields: how many distinct texts (reviewers) hold it."""
    counts: dict[str, int] = {}
    for text in dict.fromkeys(t.strip().lower() for t in texts):
        for term in set(analyzer(text)):
            counts[term] = counts.get(term, 0) + 1
    return counts


class SentimentScorer:
    """A fitted pipeline plus the word n-grams it may name; picklable, broadcast to the executors."""

    def __init__(self, pipeline: Any, train_texts: Sequence[str], min_term_reviewers: int, run: str) -> None:
        self.pipeline = pipeline
        self.run = run
        self.min_term_reviewers = int(min_term_reviewers)
        union = pipeline.named_steps["features"]
        word = dict(union.transformer_list)["word"]
        clf = pipeline.named_steps["clf"]
        if list(clf.classes_) != list(LABELS):
            raise ValueError(f"expected classes {LABELS}, got {list(clf.classes_)}")
        self.n_word = len(word.vocabulary_)
        self.terms = np.asarray(word.get_feature_names_out(), dtype=object)
        # The column order of the union is word features first: their weights towards Negative.
        self.negative_weights = -np.asarray(clf.coef_[0][: self.n_word], dtype=float)
        seen = term_reviewers(train_texts, word.build_analyzer())
        self.nameable = np.array([seen.get(t, 0) >= self.min_term_reviewers for t in self.terms], dtype=bool)

    def p_negative(self, texts: Sequence[str]) -> np.ndarray:
        """Probability of the Negative class for each text."""
        return np.asarray(self.pipeline.predict_proba(list(texts))[:, 0], dtype=float)

    def score(self, texts: Sequence[str]) -> tuple[np.ndarray, list[list[tuple[str, float]]]]:
        """``p_negative`` per text, and per text its nameable word n-grams that push it towards
        Negative with their contributions (tf-idf value × weight), largest first."""
        union = self.pipeline.named_steps["features"]
        x = union.transform(list(texts)).tocsr()
        p = np.asarray(self.pipeline.named_steps["clf"].predict_proba(x)[:, 0], dtype=float)
        words = x[:, : self.n_word].tocsr()
        out: list[list[tuple[str, float]]] = []
        for i in range(words.shape[0]):
            lo, hi = words.indptr[i], words.indptr[i + 1]
            cols, vals = words.indices[lo:hi], words.data[lo:hi]
            contrib = vals * self.negative_weights[cols]
            keep = (contrib > 0) & self.nameable[cols]
            pairs = sorted(
                ((str(self.terms[c]), float(v)) for c, v in zip(cols[keep], contrib[keep], strict=True)),
                key=lambda tv: (-tv[1], tv[0]),
            )
            out.append(pairs)
        return p, out


def fit(train: pd.DataFrame, params: Mapping[str, Any], min_term_reviewers: int, run: str) -> SentimentScorer:
    """Fit the pipeline on ``train`` (``text``, ``label``) and wrap it as a scorer."""
    pipeline = make_pipeline(params)
    pipeline.fit(train["text"].tolist(), train["label"].tolist())
    return SentimentScorer(pipeline, train["text"].tolist(), min_term_reviewers, run)


def evaluate(scorer: SentimentScorer, train: pd.DataFrame, test: pd.DataFrame, threshold: float) -> dict[str, Any]:
    """Held-out metrics of the model and of the majority-class baseline (the training rows' majority)."""
    predicted = np.where(scorer.p_negative(test["text"].tolist()) >= threshold, NEGATIVE, POSITIVE)
    majority = str(train["label"].value_counts().sort_index().idxmax())
    return {
        "model": classification_metrics(test["label"].tolist(), predicted.tolist()),
        "majority_baseline": {
            "class": majority,
            **classification_metrics(test["label"].tolist(), [majority] * len(test)),
        },
        "paper": PAPER_FIGURE,
    }


# ---------------------------------------------------------------------------------------------
# Training run, model card, loading


def run_name(params: Mapping[str, Any]) -> str:
    """The model's folder name: the data set and the split's seed and share (same name, same model)."""
    return f"prdect-id-seed{int(params['seed'])}-test{float(params['test_share']):g}"


FEATURES = {
    "word": "TF-IDF of word 1-2-grams (lower-cased, sublinear tf, min_df)",
    "char": "TF-IDF of character 2-5-grams inside word boundaries (char_wb, lower-cased, sublinear tf, min_df)",
}
LIMITS = [
    "Trained on PRDECT-ID, Tokopedia reviews chosen by its authors to cover five emotions: the shares of "
    "labels and the vocabulary differ from a shop's own reviews, so held-out accuracy overstates accuracy "
    "on another shop's reviews.",
    "Two classes only (Positive/Negative): mixed or neutral reviews are forced into one of them; rating 3 "
    "reviews are mostly Negative in PRDECT-ID.",
    "Bag of n-grams: negation and sarcasm across words are only caught where a word bigram holds them.",
    "Negative terms are word n-grams with a positive contribution to the Negative class, limited to those "
    "that at least min_term_reviewers distinct training texts hold; a term a product's reviews use in "
    "another sense is still named.",
    "The simulator's reviews are PRDECT-ID rows, some of them in this model's training split: scores on "
    "simulated data are not a held-out evaluation.",
]


def model_card(metrics: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    """The markdown model card: data, split, features, metrics beside baselines, limitations."""
    split, m, b = metrics["split"], metrics["test"]["model"], metrics["test"]["majority_baseline"]
    data = metrics["data"]
    lines = [
        "# Review sentiment (Indonesian)",
        "",
        "Predicts whether a product review is Negative or Positive; gold.product_sentiment_daily uses it "
        "for the share of negative reviews and the top negative terms per product and date.",
        "",
        "## Data",
        "",
        f"- {PAPER}. Licence CC BY 4.0.",
        f"- {data['rows_read']} rows read, {data['rows_used']} used "
        f"({data['rows_without_label_or_text']} without a Positive/Negative label or text).",
        "",
        "## Split",
        "",
        f"- {split['method']}; seed {split['seed']}, test share {split['test_share']}.",
        f"- train {split['train_rows']} rows {split['train_labels']}; test {split['test_rows']} rows "
        f"{split['test_labels']}.",
        f"- held-out data rows: in metrics.json (`split.test_row_numbers`, sha256 {split['test_row_numbers_sha256']}).",
        "",
        "## Features and classifier",
        "",
        *[f"- `{k}`: {v}" for k, v in FEATURES.items()],
        f"- word n-grams {list(params['word_ngrams'])}, character n-grams {list(params['char_ngrams'])}, "
        f"min_df {params['min_df']}; LogisticRegression(C={params['C']}, solver=liblinear).",
        f"- {metrics['vocabulary']['word_terms']} word and {metrics['vocabulary']['char_terms']} character "
        f"n-grams; {metrics['vocabulary']['nameable_terms']} word n-grams nameable as negative terms "
        f"(held by at least {metrics['vocabulary']['min_term_reviewers']} distinct training texts).",
        "",
        "## Metrics (held-out rows)",
        "",
        "| | accuracy | macro-F1 |",
        "|---|---|---|",
        f"| model | {m['accuracy']:.4f} | {m['macro_f1']:.4f} |",
        f"| majority class ({b['class']}) | {b['accuracy']:.4f} | {b['macro_f1']:.4f} |",
        "| PRDECT-ID article | not reported | not reported |",
        "",
        PAPER_NOTE,
        "",
        "## Limitations",
        "",
        *[f"- {x}" for x in LIMITS],
    ]
    return "\n".join(lines) + "\n"


def train_on(
    path: Path, params: Mapping[str, Any], min_term_reviewers: int, threshold: float
) -> tuple[SentimentScorer, dict[str, Any]]:
    """Read, split, fit and evaluate: the scorer and its metrics (nothing written)."""
    frame, counts = read_labelled(path)
    train, test, split = fixed_split(frame, float(params["test_share"]), int(params["seed"]))
    scorer = fit(train, params, min_term_reviewers, run_name(params))
    metrics: dict[str, Any] = {
        "run": scorer.run,
        "data": {"path": str(path), **counts},
        "split": split,
        "params": {k: params[k] for k in sorted(params)},
        "negative_threshold": threshold,
        "vocabulary": {
            "word_terms": scorer.n_word,
            "char_terms": len(dict(scorer.pipeline.named_steps["features"].transformer_list)["char"].vocabulary_),
            "nameable_terms": int(scorer.nameable.sum()),
            "min_term_reviewers": int(min_term_reviewers),
        },
        "test": evaluate(scorer, train, test, threshold),
    }
    return scorer, metrics


def train_sentiment(settings: Settings) -> dict[str, Any]:
    """Train on ``gold.sentiment.training_data``; save the scorer, metrics and model card. Returns the metrics."""
    conf = settings["gold"]["sentiment"]
    params = conf["model"]
    scorer, metrics = train_on(
        Path(conf["training_data"]).resolve(),
        params,
        int(conf["min_term_reviewers"]),
        float(conf["negative_threshold"]),
    )
    folder = model_dir(settings, NAME, scorer.run)
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(scorer, folder / "model.joblib")
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True, default=str) + "\n")
    (folder / "model_card.md").write_text(model_card(metrics, params))
    metrics["folder"] = str(folder)
    return metrics


def load_scorer(settings: Settings) -> SentimentScorer:
    """The saved scorer of the configured run; trained (and saved) first when there is none yet."""
    folder = model_dir(settings, NAME, run_name(settings["gold"]["sentiment"]["model"]))
    path = folder / "model.joblib"
    if not path.is_file():
        log.info("no sentiment model at %s: training it from gold.sentiment.training_data", folder)
        train_sentiment(settings)
    scorer = joblib.load(path)
    if not isinstance(scorer, SentimentScorer):
        raise TypeError(f"{path} does not hold a SentimentScorer")
    return scorer
