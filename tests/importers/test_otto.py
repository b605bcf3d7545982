"""OTTO importer on the public sessions and on tiny hand-written files."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from jobs.importers import import_otto
from tests.importers import PUBLIC_DATA, assert_every_line_follows_its_contract, read_landing, tree_bytes, type_counts

SAMPLE = PUBLIC_DATA / "otto" / "train.jsonl"


@pytest.fixture(scope="module")
def sample() -> Path:
    if not SAMPLE.is_file():
        pytest.skip(f"OTTO sessions not found at {SAMPLE} (public data folder absent)")
    return SAMPLE


@pytest.fixture(scope="module")
def imported(sample: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("otto")
    return import_otto(sample, out), out


def _sessions(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _write(path: Path, *docs: object) -> Path:
    path.write_text("".join((d if isinstance(d, str) else json.dumps(d)) + "\n" for d in docs))
    return path


def test_every_line_follows_its_contract(imported: tuple[dict[str, Any], Path]) -> None:
    summary, out = imported
    assert_every_line_follows_its_contract(out, summary["lines_written"])


def test_counts_per_type_match_the_sessions(sample: Path, imported: tuple[dict[str, Any], Path]) -> None:
    summary, out = imported
    docs = _sessions(sample)
    kinds = Counter(e["type"] for d in docs for e in d["events"])
    orders = len({(d["session"], e["ts"]) for d in docs for e in d["events"] if e["type"] == "orders"})
    assert dict(type_counts(read_landing(out))) == {
        ("clickstream", "product_view"): kinds["clicks"],
        ("clickstream", "add_to_cart"): kinds["carts"],
        ("clickstream", "page_view"): orders,
        ("orders", "order_created"): orders,
        ("orders", "order_paid"): orders,
    }
    assert (summary["lines_read"], summary["events_read"]) == (len(docs), sum(kinds.values()))
    assert summary["skipped"] == summary["skipped_lines"] == {}
    assert summary["order_events"] == kinds["orders"]
    assert summary["orders"] == orders


def test_order_lines_hold_every_ordered_article(sample: Path, imported: tuple[dict[str, Any], Path]) -> None:
    _, out = imported
    ordered = Counter(
        (d["session"], str(e["aid"])) for d in _sessions(sample) for e in d["events"] if e["type"] == "orders"
    )
    landed: Counter[tuple[int, str]] = Counter()
    for source, event in read_landing(out):
        if event["event_type"] == "order_created":
            assert source == "orders"
            assert event["total"] == 0 and event["currency"] == "IDR"
            session = int(event["anonymous_id"].removeprefix("otto-s"))
            for item in event["items"]:
                landed[(session, item["product_id"])] += item["quantity"]
    assert landed == ordered


def test_truth_maps_every_event_to_its_otto_session(sample: Path, imported: tuple[dict[str, Any], Path]) -> None:
    summary, out = imported
    docs = _sessions(sample)
    truth = pq.read_table(out / "truth" / "otto_sessions.parquet").to_pylist()
    landed = {event["event_id"]: event for _, event in read_landing(out)}
    assert len({t["event_id"] for t in truth}) == len(truth) == len(landed) == summary["truth_rows"]
    assert {t["event_id"] for t in truth} == set(landed)
    assert Counter(t["session"] for t in truth if t["event_type"] in ("product_view", "add_to_cart")) == Counter(
        {d["session"]: sum(e["type"] != "orders" for e in d["events"]) for d in docs}
    )
    for t in truth:
        assert landed[t["event_id"]]["anonymous_id"] == f"otto-s{t['session']}"


def test_same_input_same_bytes(sample: Path, imported: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    _, out = imported
    import_otto(sample, tmp_path)
    first, second = tree_bytes(out), tree_bytes(tmp_path)
    assert first.keys() == second.keys()
    assert first == second


def test_bad_lines_and_events_are_counted_with_their_reason(tmp_path: Path) -> None:
    ts = 1659304800025
    path = _write(
        tmp_path / "bad.jsonl",
        '{"session": 1, "events": [',
        "",
        "[1, 2, 3]",
        {"session": "one", "events": []},
        {"session": 2, "events": "clicks"},
        {
            "session": 3,
            "events": [
                {"aid": 10, "ts": ts, "type": "clicks"},
                {"aid": "10", "ts": ts, "type": "clicks"},
                {"aid": 10, "ts": -1, "type": "clicks"},
                {"aid": 10, "ts": True, "type": "clicks"},
                "clicks",
                {"aid": 10, "ts": ts, "type": "wishlist"},
                {"aid": 11, "ts": ts + 5, "type": "carts"},
                {"aid": 11, "ts": ts + 9, "type": "orders"},
                {"aid": 12, "ts": ts + 9, "type": "orders"},
                {"aid": 11, "ts": ts + 9, "type": "orders"},
            ],
        },
    )
    summary = import_otto(path, tmp_path / "out")
    assert summary["lines_read"] == 6
    assert summary["skipped_lines"] == {"bad_events": 1, "bad_session": 1, "empty_line": 1, "malformed_json": 2}
    assert summary["events_read"] == 10
    assert summary["skipped"] == {"bad_event": 4, "unknown_event_type": 1}
    assert summary["orders"] == 1
    events = read_landing(tmp_path / "out")
    assert dict(type_counts(events)) == {
        ("clickstream", "product_view"): 1,
        ("clickstream", "add_to_cart"): 1,
        ("clickstream", "page_view"): 1,
        ("orders", "order_created"): 1,
        ("orders", "order_paid"): 1,
    }
    created = next(e for _, e in events if e["event_type"] == "order_created")
    assert [(i["product_id"], i["quantity"]) for i in created["items"]] == [("11", 2), ("12", 1)]
    assert created["cart_id"] == "otto-cart-3"
    assert created["user_id"] is None


def test_validation_only_checks(sample: Path, imported: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    summary, out = imported
    unchecked = import_otto(sample, tmp_path, validate=False)
    assert unchecked["validated"] is False and summary["validated"] is True
    assert tree_bytes(tmp_path) == tree_bytes(out)
