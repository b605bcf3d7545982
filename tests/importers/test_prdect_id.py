"""PRDECT-ID importer: every CSV row becomes one review event of our contract, labels go to the truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from jobs.cli import main
from jobs.importers.prdect_id import import_prdect_id
from tests.importers import PUBLIC_DATA, assert_every_line_follows_its_contract, read_landing, tree_bytes

CSV = PUBLIC_DATA / "prdect_id" / "PRDECT-ID Dataset.csv"
HEADER = (
    "Category;Product Name;Location;Price;Overall Rating;Number Sold;Total Review;Customer Rating;"
    "Customer Review;Sentiment;Emotion"
)


@pytest.fixture(scope="module")
def csv_path() -> Path:
    if not CSV.is_file():
        pytest.skip(f"PRDECT-ID not found at {CSV} (public data folder absent)")
    return CSV


@pytest.fixture(scope="module")
def rows(csv_path: Path) -> pd.DataFrame:
    return pd.read_csv(csv_path, sep=";", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def imported(csv_path: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("prdect")
    return import_prdect_id(csv_path, out), out


def test_every_line_follows_its_contract(imported: tuple[dict[str, Any], Path]) -> None:
    summary, out = imported
    assert_every_line_follows_its_contract(out, summary["lines_written"])


def test_one_review_per_csv_row_with_its_fields(imported: tuple[dict[str, Any], Path], rows: pd.DataFrame) -> None:
    summary, out = imported
    events = [e for _, e in read_landing(out)]
    assert len(rows) == 5400
    assert summary["rows_read"] == summary["reviews_imported"] == summary["lines_written"] == len(rows)
    assert summary["skipped"] == {}
    assert summary["events_written"] == {"clickstream": {"review_submitted": len(rows)}}
    assert len({e["event_id"] for e in events}) == len(rows)
    # Rows are a minute apart in file order, so time order is row order.
    events.sort(key=lambda e: e["event_time"])
    assert [e["review_text"] for e in events] == [t.strip() for t in rows["Customer Review"]]
    assert [e["rating"] for e in events] == [int(r) for r in rows["Customer Rating"]]
    assert {e["language"] for e in events} == {"id"}
    assert {e["order_id"] for e in events} == {None}
    assert [e["anonymous_id"] for e in events] == [f"prdect-r{i}" for i in range(1, len(rows) + 1)]
    # One product id per (Category, Product Name), distinct pairs get distinct ids.
    pairs = list(zip(rows["Category"].str.strip(), rows["Product Name"].str.strip(), strict=True))
    ids = {}
    for pair, e in zip(pairs, events, strict=True):
        assert ids.setdefault(pair, e["product_id"]) == e["product_id"]
    assert len(set(ids.values())) == len(ids) == summary["products"]
    counts = rows["Sentiment"].replace("", "none").value_counts().to_dict()
    assert summary["labels"] == counts == {"Negative": 2820, "Positive": 2578, "none": 2}


def test_truth_holds_the_labels_of_each_row(imported: tuple[dict[str, Any], Path], rows: pd.DataFrame) -> None:
    _, out = imported
    truth = pq.read_table(out / "truth" / "prdect_id_reviews.parquet").to_pandas()
    assert list(truth["input_row"]) == list(range(1, len(rows) + 1))
    assert list(truth["sentiment"].fillna("")) == list(rows["Sentiment"])
    assert list(truth["emotion"].fillna("")) == list(rows["Emotion"])
    assert list(truth["rating"]) == [int(r) for r in rows["Customer Rating"]]
    events = {e["event_id"]: e for _, e in read_landing(out)}
    assert set(truth["event_id"]) == set(events)
    assert all(events[i]["product_id"] == p for i, p in zip(truth["event_id"], truth["product_id"], strict=True))


def _tiny(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "tiny.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def test_bad_rows_are_counted_not_landed(tmp_path: Path) -> None:
    good = "Kitchen;Wajan;Jakarta;1000;4.9;10;5;{rating};{text};Positive;Happy"
    src = _tiny(
        tmp_path,
        [
            good.format(rating=5, text="barang bagus, pengiriman cepat"),
            good.format(rating=1, text="  rusak, tidak bisa dipakai  "),
            good.format(rating=6, text="bagus"),  # bad_rating
            good.format(rating="lima", text="bagus"),  # bad_rating
            good.format(rating=4, text="   "),  # empty_review
            "Kitchen;;Jakarta;1000;4.9;10;5;4;bagus;Positive;Happy",  # missing_product
            good.format(rating=3, text="x" * 2001),  # field_too_long
            "Kitchen;Wajan;Jakarta;1000",  # wrong_field_count
        ],
    )
    out = tmp_path / "out"
    summary = import_prdect_id(src, out)
    assert summary["rows_read"] == 8
    assert summary["reviews_imported"] == 2
    assert summary["skipped"] == {
        "bad_rating": 2,
        "empty_review": 1,
        "missing_product": 1,
        "field_too_long": 1,
        "wrong_field_count": 1,
    }
    events = [e for _, e in read_landing(out)]
    assert [(e["rating"], e["review_text"]) for e in events] == [
        (5, "barang bagus, pengiriman cepat"),
        (1, "rusak, tidak bisa dipakai"),
    ]
    assert (
        events[0]["event_time"] == "2022-08-24T00:00:00.000Z" and events[1]["event_time"] == "2022-08-24T00:01:00.000Z"
    )
    # Same input, same bytes.
    again = tmp_path / "again"
    import_prdect_id(src, again)
    assert tree_bytes(out) == tree_bytes(again)


def test_a_file_without_the_columns_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("a;b\n1;2\n")
    with pytest.raises(ValueError, match="not a PRDECT-ID file: no column"):
        import_prdect_id(path, tmp_path / "out")


def test_cli_imports_prdect_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _tiny(tmp_path, ["Kitchen;Wajan;Jakarta;1000;4.9;10;5;2;kurang bagus;Negative;Sadness"])
    assert main(["import", "prdect-id", str(src), "--out", str(tmp_path / "out")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["dataset"] == "prdect_id" and summary["reviews_imported"] == 1
    assert [e["review_text"] for _, e in read_landing(tmp_path / "out")] == ["kurang bagus"]
