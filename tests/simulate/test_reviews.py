"""Simulated reviews: texts from PRDECT-ID, a planted product effect, and no other line changed.

Expected values come from the data set's CSV (read here with pandas), the configuration and the
landing files read back with gzip; the simulator's own code computes none of them.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from jobs.common.config import Settings, load_settings
from jobs.simulate import generate
from tests.conftest import SHARED_DATA

CSV = SHARED_DATA / "prdect_id" / "PRDECT-ID Dataset.csv"
START = dt.date(2026, 11, 9)
DAYS = 4
USERS = 300
SEED = 7
QUIET_BOTS = {"scrapers_per_day": 0, "card_testers_per_day": 0, "credential_stuffers_per_day": 0}
# Dense reviews (every delivered order, due within a day) and a strong planted effect, so that four
# days of 300 users hold enough reviews to compare planted and ordinary products.
REVIEWS = {
    "texts": str(CSV),
    "order_share": 1.0,
    "after_paid_days": [0.25, 1.0],
    "negative_share": 0.1,
    "planted_product_share": 0.5,
    "planted_negative_share": 0.9,
}


def settings(**reviews: Any) -> Settings:
    return load_settings("ci", environ={}, overrides={"simulator": {"bots": QUIET_BOTS, "reviews": reviews}})


def lines_by_file(out: Path) -> dict[str, list[str]]:
    files = {}
    for path in sorted((out / "landing").rglob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            files[str(path.relative_to(out))] = f.read().splitlines()
    return files


@pytest.fixture(scope="module")
def csv_rows() -> pd.DataFrame:
    if not CSV.is_file():
        pytest.skip(f"PRDECT-ID not found at {CSV} (public data folder absent)")
    return pd.read_csv(CSV, sep=";", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def runs(csv_rows: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for name, enabled in (("off", False), ("on", True)):
        home = tmp_path_factory.mktemp(f"reviews-{name}")
        generate(
            home, START, DAYS, USERS, SEED, settings=settings(**REVIEWS, enabled=enabled), progress=False, workers=1
        )
        out[name] = home
    return out


@pytest.fixture(scope="module")
def review_events(runs: dict[str, Path]) -> list[dict[str, Any]]:
    """Every well-formed review line of the run with reviews (resent copies included)."""
    events = []
    for lines in lines_by_file(runs["on"]).values():
        for line in lines:
            if '"review_submitted"' in line:
                try:
                    d = json.loads(line)
                except ValueError:
                    continue
                if d.get("event_type") == "review_submitted":
                    events.append(d)
    return events


def test_every_other_line_is_byte_identical(runs: dict[str, Path]) -> None:
    off, on = lines_by_file(runs["off"]), lines_by_file(runs["on"])
    malformed = pq.read_table(runs["on"] / "truth" / "malformed.parquet").to_pylist()
    from_reviews = {m["line_sha256"] for m in malformed if m["derived_from_event_type"] == "review_submitted"}

    def is_review(line: str) -> bool:
        if hashlib.sha256(line.encode()).hexdigest() in from_reviews:
            return True
        try:
            return json.loads(line).get("event_type") == "review_submitted"
        except ValueError:
            return False

    kept = {path: [x for x in lines if not is_review(x)] for path, lines in on.items()}
    kept = {path: lines for path, lines in kept.items() if lines}
    assert not any(is_review(x) for lines in off.values() for x in lines)
    assert kept == off
    n_review_lines = sum(len(lines) for lines in on.values()) - sum(len(lines) for lines in off.values())
    summary = json.loads((runs["on"] / "truth" / "summary.json").read_text())
    assert summary["reviews"] > 50
    assert n_review_lines >= summary["reviews"]


def test_review_texts_and_ratings_are_rows_of_the_data_set(
    runs: dict[str, Path], review_events: list[dict[str, Any]], csv_rows: pd.DataFrame
) -> None:
    from jobs.common.contracts import json_validator

    truth = {r["event_id"]: r for r in pq.read_table(runs["on"] / "truth" / "reviews.parquet").to_pylist()}
    validator = json_validator("clickstream", "review_submitted")
    seen = set()
    for d in review_events:
        validator.validate(d)
        row = csv_rows.iloc[truth[d["event_id"]]["dataset_row"] - 1]
        assert d["review_text"] == row["Customer Review"].strip()
        assert d["rating"] == int(row["Customer Rating"])
        assert truth[d["event_id"]]["sentiment"] == row["Sentiment"]
        assert d["language"] == "id" and d["page_type"] == "account"
        seen.add(d["event_id"])
    assert seen == set(truth)


def test_planted_products_get_lower_ratings(runs: dict[str, Path], review_events: list[dict[str, Any]]) -> None:
    planted = {
        r["product_id"]
        for r in pq.read_table(runs["on"] / "truth" / "review_products.parquet").to_pylist()
        if r["planted"]
    }
    ratings: dict[bool, dict[str, int]] = defaultdict(dict)
    for d in review_events:  # a resent copy has the same event_id: counted once
        ratings[d["product_id"] in planted][d["event_id"]] = d["rating"]
    mean = {k: sum(v.values()) / len(v) for k, v in ratings.items()}
    assert len(ratings[True]) >= 20 and len(ratings[False]) >= 20
    # 90% negative reviews against 10%: PRDECT-ID's negative rows average under 2 stars, its positive ones over 4.
    assert mean[True] < 2.5 < 3.5 < mean[False]


def test_reviews_are_inside_the_buyers_logged_in_visits_after_payment(runs: dict[str, Path]) -> None:
    truth = runs["on"] / "truth"
    reviews = pq.read_table(truth / "reviews.parquet").to_pylist()
    sessions = {s["true_session_id"]: s for s in pq.read_table(truth / "sessions.parquet").to_pylist()}
    orders = {o["order_id"]: o for o in pq.read_table(truth / "orders.parquet").to_pylist()}
    for r in reviews:
        s = sessions[r["true_session_id"]]
        assert s["start_utc"] < r["event_time_utc"] < s["end_utc"]
        assert s["logged_in"] and s["user_id"] == r["user_id"] == orders[r["order_id"]]["user_id"]
        assert orders[r["order_id"]]["final_status"] == "paid"
        assert r["event_time_utc"] - orders[r["order_id"]]["created_utc"] >= dt.timedelta(hours=6)
    # Inserted inside visits, reviews move no session boundary; the counts grow by the reviews.
    off = pq.read_table(runs["off"] / "truth" / "sessions.parquet").to_pylist()
    on = pq.read_table(truth / "sessions.parquet").to_pylist()
    assert [(s["true_session_id"], s["start_utc"], s["end_utc"]) for s in off] == [
        (s["true_session_id"], s["start_utc"], s["end_utc"]) for s in on
    ]
    assert sum(s["n_events"] for s in on) - sum(s["n_events"] for s in off) == len(reviews)


def test_without_the_data_set_there_are_no_reviews(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    summary = generate(
        tmp_path,
        START,
        1,
        40,
        SEED,
        settings=settings(**{**REVIEWS, "texts": str(tmp_path / "absent.csv"), "enabled": True}),
        progress=False,
        workers=1,
    )
    assert "review texts not found" in capsys.readouterr().out
    assert "reviews" not in summary
    assert not any('"review_submitted"' in x for lines in lines_by_file(tmp_path).values() for x in lines)
