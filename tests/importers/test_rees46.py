"""REES46 importer on the public sample and on tiny hand-written CSVs; the session-agreement scores."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from jobs.importers import import_rees46
from jobs.importers.common import adjusted_rand, pair_precision_recall, session_agreement
from tests.importers import PUBLIC_DATA, assert_every_line_follows_its_contract, read_landing, tree_bytes, type_counts

SAMPLE = PUBLIC_DATA / "rees46" / "user_behavior_sample.csv"
HEADER = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"
S1 = "72d76fde-8bb3-4e00-8c23-a032dfed738c"
S2 = "9333dfbd-b87a-4708-9857-6336556b0fcc"


@pytest.fixture(scope="module")
def sample() -> Path:
    if not SAMPLE.is_file():
        pytest.skip(f"REES46 sample not found at {SAMPLE} (public data folder absent)")
    return SAMPLE


@pytest.fixture(scope="module")
def imported(sample: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("rees46")
    return import_rees46(sample, out), out


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _write_csv(path: Path, *rows: str) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def test_every_line_follows_its_contract(imported: tuple[dict[str, Any], Path]) -> None:
    summary, out = imported
    assert_every_line_follows_its_contract(out, summary["lines_written"])


def test_counts_per_type_match_the_csv(sample: Path, imported: tuple[dict[str, Any], Path]) -> None:
    summary, out = imported
    rows = _csv_rows(sample)
    kinds = Counter(r["event_type"] for r in rows)
    orders = len({(r["user_session"], r["event_time"]) for r in rows if r["event_type"] == "purchase"})
    expected = {
        ("clickstream", "product_view"): kinds["view"],
        ("clickstream", "add_to_cart"): kinds["cart"],
        ("clickstream", "remove_from_cart"): kinds["remove_from_cart"],
        ("clickstream", "page_view"): orders,
        ("orders", "order_created"): orders,
        ("orders", "order_paid"): orders,
    }
    expected = {k: v for k, v in expected.items() if v}
    assert dict(type_counts(read_landing(out))) == expected
    assert summary["rows_read"] == len(rows)
    assert summary["skipped"] == {}
    assert summary["orders"] == orders
    assert summary["purchase_rows"] == kinds["purchase"]
    assert summary["lines_written"] == sum(expected.values())


def test_truth_maps_every_event_to_its_rees46_session(sample: Path, imported: tuple[dict[str, Any], Path]) -> None:
    summary, out = imported
    rows = _csv_rows(sample)
    truth = pq.read_table(out / "truth" / "rees46_sessions.parquet").to_pylist()
    landed = {event["event_id"]: (source, event) for source, event in read_landing(out)}
    assert len({t["event_id"] for t in truth}) == len(truth) == len(landed) == summary["truth_rows"]
    assert {t["event_id"] for t in truth} == set(landed)
    # Exact duplicate CSV rows share an event id: a resend, landed twice.
    lines = sample.read_text().splitlines()[1:]
    assert summary["lines_written"] - len(landed) == len(lines) - len(set(lines))
    assert {t["session"] for t in truth} == {r["user_session"] for r in rows}
    user_of_session = {r["user_session"]: f"rees46-u{r['user_id']}" for r in rows}
    for t in truth:
        source, event = landed[t["event_id"]]
        assert (source, event["event_type"]) == (t["source"], t["event_type"])
        assert event["anonymous_id"] == user_of_session[t["session"]]


def test_same_input_same_bytes(sample: Path, imported: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    _, out = imported
    import_rees46(sample, tmp_path)
    first, second = tree_bytes(out), tree_bytes(tmp_path)
    assert first.keys() == second.keys()
    assert first == second


def test_bad_rows_are_counted_with_their_reason(tmp_path: Path) -> None:
    path = _write_csv(
        tmp_path / "bad.csv",
        f"2019-10-01 00:00:00 UTC,view,1,2,electronics.smartphone,apple,not-a-price,7,{S1}",
        f"2019-10-01 00:00:01 UTC,view,1,2,,,-3.50,7,{S1}",
        f"2019-10-01 00:00:02 UTC,view,1,2,,,NaN,7,{S1}",
        f"yesterday,view,1,2,,,1.00,7,{S1}",
        f"2019-10-01 00:00:03 UTC,wishlist,1,2,,,1.00,7,{S1}",
        f"2019-10-01 00:00:04 UTC,view,1,2,,,1.00,7,{S1},extra",
        f"2019-10-01 00:00:05 UTC,view,,2,,,1.00,7,{S1}",
        "2019-10-01 00:00:06 UTC,view,1,2,,,1.00,7,",
        f"2019-10-01 00:00:07 UTC,view,1,2,,,1.00,7,{S1}",
        f"2019-10-01 00:00:08 UTC,cart,1,2,,,1.00,7,{S1}",
    )
    summary = import_rees46(path, tmp_path / "out")
    assert summary["rows_read"] == 10
    assert summary["skipped"] == {
        "bad_event_time": 1,
        "bad_price": 3,
        "missing_product_id": 1,
        "missing_user_session": 1,
        "unknown_event_type": 1,
        "wrong_field_count": 1,
    }
    assert summary["rows_imported"] == 2
    assert dict(type_counts(read_landing(tmp_path / "out"))) == {
        ("clickstream", "product_view"): 1,
        ("clickstream", "add_to_cart"): 1,
    }


def test_a_file_that_is_not_rees46_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("InvoiceNo,StockCode,Quantity\n1,2,3\n")
    with pytest.raises(ValueError, match="not a REES46 CSV"):
        import_rees46(path, tmp_path / "out")


def test_mapping_of_prices_categories_carts_and_orders(tmp_path: Path) -> None:
    path = _write_csv(
        tmp_path / "shop.csv",
        f"2019-10-01 00:00:00 UTC,view,44600062,2,appliances.environment.water_heater,aqua,35.79,541312140,{S1}",
        f"2019-10-01 00:00:01 UTC,cart,44600062,2,appliances.environment.water_heater,aqua,35.79,541312140,{S1}",
        f"2019-10-01 00:00:02 UTC,remove_from_cart,44600062,2,,,0.0001,541312140,{S1}",
        # One checkout of two products (one of them twice): one order of two lines.
        f"2019-10-01 00:05:00 UTC,purchase,1,2,,,10.00,541312140,{S1}",
        f"2019-10-01 00:05:00 UTC,purchase,1,2,,,10.00,541312140,{S1}",
        f"2019-10-01 00:05:00 UTC,purchase,2,2,,,0.50,541312140,{S1}",
        # Same session, a minute later: another order.
        f"2019-10-01 00:06:00 UTC,purchase,3,2,,,1.00,541312140,{S1}",
        f"2019-10-01 00:06:00 UTC,purchase,3,2,,,1.00,999,{S2}",
    )
    summary = import_rees46(path, tmp_path / "out")
    assert summary["skipped"] == {}
    assert summary["orders"] == 3
    events = {(e["event_type"], e["event_time"], e.get("anonymous_id")): e for _, e in read_landing(tmp_path / "out")}
    user = "rees46-u541312140"
    view = events[("product_view", "2019-10-01T00:00:00.000Z", user)]
    assert view["price"] == 536_850  # 35.79 USD × 15,000
    assert view["category"] == "Appliances > Environment > Water heater"
    assert view["currency"] == "IDR"
    assert view["user_id"] == user
    assert view["sent_at"] == view["received_at"] == view["event_time"]
    cart = events[("add_to_cart", "2019-10-01T00:00:01.000Z", user)]
    assert (cart["cart_id"], cart["quantity"], cart["page_type"]) == (f"rees46-cart-{S1}", 1, "product")
    removed = events[("remove_from_cart", "2019-10-01T00:00:02.000Z", user)]
    assert removed["price"] == 2  # 1.5 rupiah, rounded half up
    assert "category" not in removed and removed["brand"] is None
    created = events[("order_created", "2019-10-01T00:05:00.000Z", user)]
    paid = events[("order_paid", "2019-10-01T00:05:00.001Z", user)]
    assert created["order_id"] == paid["order_id"]
    assert created["cart_id"] == f"rees46-cart-{S1}"
    assert [(i["product_id"], i["quantity"], i["unit_price"]) for i in created["items"]] == [
        ("1", 2, 150_000),
        ("2", 1, 7_500),
    ]
    assert created["subtotal"] == created["total"] == paid["total"] == 307_500
    later = events[("order_created", "2019-10-01T00:06:00.000Z", user)]
    assert later["order_id"] != created["order_id"]
    confirmation = events[("page_view", "2019-10-01T00:05:00.000Z", user)]
    assert confirmation["page_type"] == "order_confirmation"
    assert created["order_id"] in confirmation["page_url"]


def test_rerun_into_the_same_folder_replaces_its_files(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "a.csv", f"2019-10-01 00:00:00 UTC,view,1,2,,,1.00,7,{S1}")
    out = tmp_path / "out"
    import_rees46(path, out)
    before = tree_bytes(out)
    import_rees46(path, out)
    assert tree_bytes(out) == before


# -- session agreement -----------------------------------------------------------------------------


def test_split_session_scores() -> None:
    # Truth: {0,1} {2,3}; predicted: {0,1} {2} {3}. One of two true pairs kept, no false pair.
    # ARI by hand: index 1, expected 2·1/6 = 1/3, max (2+1)/2 = 3/2 → (1 - 1/3) / (3/2 - 1/3) = 4/7.
    truth, predicted = ["a", "a", "b", "b"], ["x", "x", "y", "z"]
    assert adjusted_rand(truth, predicted) == pytest.approx(4 / 7)
    assert pair_precision_recall(truth, predicted) == (1.0, 0.5)


def test_merged_session_scores() -> None:
    # Everything in one session: 6 predicted pairs, 2 true ones; ARI (2 - 2) / (4 - 2) = 0.
    truth, predicted = [1, 1, 2, 2], [7, 7, 7, 7]
    assert adjusted_rand(truth, predicted) == pytest.approx(0.0)
    precision, recall = pair_precision_recall(truth, predicted)
    assert (precision, recall) == (pytest.approx(1 / 3), 1.0)


def test_identical_sessions_under_other_names_score_one() -> None:
    report = session_agreement(["s1", "s1", "s2", "s3", "s3"], [5, 5, 9, 4, 4])
    assert report == {
        "events": 5,
        "truth_sessions": 3,
        "predicted_sessions": 3,
        "adjusted_rand": pytest.approx(1.0),
        "pair_precision": 1.0,
        "pair_recall": 1.0,
        "pair_f1": 1.0,
    }


def test_labels_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        adjusted_rand([1, 2], [1])
