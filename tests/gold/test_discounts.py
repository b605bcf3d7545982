"""Discount integrity: the simulator's planted fake discounts found (precision and recall), the table
recomputed by hand from the product views, the sale days a changed date reaches, and days without
a sale or without data."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.common.config import Settings, load_settings
from jobs.common.tables import read_table
from jobs.gold.discounts import TABLE, affected, run_discounts, transform
from tests.conftest import sim_settings, simulated_silver

#: Ten days up to Harbolnas 12.12: the planted raises (3-10 days before) land inside the window.
START, DAYS, USERS, SEED = date(2026, 12, 3), 10, 300, 7
SALE = date(2026, 12, 12)
PARAMS = load_settings()["gold"]["discounts"]
TZ = "Asia/Jakarta"


@pytest.fixture(scope="module")
def discounts_home(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Settings]:
    home = tmp_path_factory.mktemp("discounts")
    conf = sim_settings(home)
    simulated_silver(spark, conf, START, DAYS, USERS, SEED)
    summary = run_discounts(spark, SALE, conf)
    assert summary["dates"] == "2026-12-12"
    return home, conf


def test_planted_fake_discounts_are_flagged(spark: SparkSession, discounts_home: tuple[Path, Settings]) -> None:
    """Precision and recall >= 0.9 against the simulator's truth, over the rows the table could judge."""
    home, conf = discounts_home
    truth = pq.read_table(home / "truth" / "discounts.parquet").to_pylist()
    misleading = {r["product_id"] for r in truth if r["sale_date"] == SALE and r["misleading"]}
    genuine = {r["product_id"] for r in truth if r["sale_date"] == SALE and r["kind"] == "genuine"}
    rows = read_table(spark, TABLE, conf).where(F.col("sale_date") == SALE).collect()  # one sale day: bounded
    judged = {r["product_id"]: r for r in rows if r["verdict"] in ("misleading", "genuine")}
    flagged = {p for p, r in judged.items() if r["flagged"]}
    true_pos = flagged & misleading
    precision = len(true_pos) / len(flagged)
    recall = len(true_pos) / len(misleading & set(judged))
    print(f"discount integrity: precision {precision:.3f} recall {recall:.3f} of {len(judged)} judged rows")
    assert precision >= 0.9, (precision, sorted(flagged - misleading)[:10])
    assert recall >= 0.9, (recall, sorted((misleading & set(judged)) - flagged)[:10])
    # Enough of each planted kind was judged for the figures to mean something.
    kinds = {r["product_id"]: r["kind"] for r in truth if r["sale_date"] == SALE}
    judged_kinds = defaultdict(int)
    for p in judged:
        judged_kinds[kinds.get(p, "none")] += 1
    print(
        "judged by planted kind:",
        dict(judged_kinds),
        "recall over all shown:",
        len(true_pos) / len(misleading & {r["product_id"] for r in rows}),
    )
    assert min(judged_kinds[k] for k in ("raised_then_cut", "list_inflated", "genuine")) >= 8, dict(judged_kinds)
    # The planted products showed the truth's sale-day prices.
    by_id = {r["product_id"]: r for r in rows}
    for r in truth:
        if r["sale_date"] == SALE and r["kind"] != "standing_markdown" and r["product_id"] in by_id:
            got = by_id[r["product_id"]]
            assert (got["sale_price"], got["list_price"]) == (r["sale_price"], r["sale_list_price"]), r
    assert not genuine & flagged


def _local(ts: datetime) -> date:
    return ts.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(TZ)).date()


def test_table_equals_a_plain_python_recomputation(spark: SparkSession, discounts_home: tuple[Path, Settings]) -> None:
    """Every column of every row, recomputed from the product views without Spark's help."""
    _home, conf = discounts_home
    views = (
        read_table(spark, "silver.events", conf)
        .where((F.col("event_type") == "product_view") & (F.col("price") > 0) & F.col("product_id").isNotNull())
        .select("event_time", "product_id", "category", "brand", "price", "list_price")
        .collect()  # ten small days of product views: bounded
    )
    per_day: dict[tuple[str, date], list[Any]] = defaultdict(list)
    for v in views:
        per_day[(v["product_id"], _local(v["event_time"]))].append(v)
    expected = []
    for (pid, day), vs in per_day.items():
        if day != SALE:
            continue
        listed = [max(v["list_price"] if v["list_price"] is not None else v["price"], v["price"]) for v in vs]
        sale_price, list_price = min(v["price"] for v in vs), max(listed)
        last = max(vs, key=lambda v: v["event_time"])
        hist = [(d, w) for (p, d), ws in per_day.items() if p == pid and 1 <= (SALE - d).days <= 30 for w in ws]
        low = min((w["price"] for _, w in hist), default=None)
        lists = [max(w["list_price"] if w["list_price"] is not None else w["price"], w["price"]) for d, w in hist
                 if (SALE - d).days <= 14]  # fmt: skip
        list_low = min(lists, default=None)
        discounted = list_price > sale_price
        reasons = []
        if discounted and low is not None and sale_price >= low:
            reasons.append("not_below_30d_low")
        if discounted and list_low is not None and list_price > list_low:
            reasons.append("list_price_raised")
        verdict = (
            "no_discount" if not discounted else "no_history" if low is None else "misleading" if reasons else "genuine"
        )
        expected.append(
            (
                SALE,
                "Harbolnas 12.12",
                pid,
                last["category"],
                last["brand"],
                sale_price,
                list_price,
                discounted,
                round(1 - sale_price / list_price, 6),
                len(vs),
                low,
                list_low,
                len({d for d, _ in hist}),
                reasons,
                verdict,
                verdict == "misleading",
            )
        )
    got = read_table(spark, TABLE, conf)
    assertDataFrameEqual(got, spark.createDataFrame(expected, got.schema))
    verdicts = {e[14] for e in expected}
    assert verdicts == {"misleading", "genuine", "no_history", "no_discount"}, verdicts


def test_rerun_and_since_give_the_same_table(spark: SparkSession, discounts_home: tuple[Path, Settings]) -> None:
    _home, conf = discounts_home
    before = read_table(spark, TABLE, conf).localCheckpoint()
    again = run_discounts(spark, SALE, conf)
    assert again["dates"] == "none"  # nothing new in silver since the fixture's run
    rebuilt = run_discounts(spark, SALE, conf, since=START)
    assert rebuilt["dates"] == "2026-12-12"
    assertDataFrameEqual(read_table(spark, TABLE, conf), before)


def test_sale_days_a_changed_date_reaches() -> None:
    cal = load_settings()["calendar"]
    assert affected([], cal, PARAMS) == {}
    assert affected([date(2026, 11, 25)], cal, PARAMS) == {date(2026, 12, 12): "Harbolnas 12.12"}
    # Nov 11's window (31 days back, a day of slack forward) and 12.12's both hold Nov 12.
    assert affected([date(2026, 11, 12)], cal, PARAMS) == {
        date(2026, 11, 11): "11.11",
        date(2026, 12, 12): "Harbolnas 12.12",
    }
    assert affected([date(2026, 12, 14)], cal, PARAMS) == {}
    own = {**cal, "sale_days": [{"date": "2026-07-07", "name": "Ulang tahun toko", "traffic": 2.0}]}
    assert affected([date(2026, 7, 1)], own, PARAMS) == {date(2026, 7, 7): "Ulang tahun toko"}


def test_no_sale_day_and_no_data(spark: SparkSession, tmp_path: Path) -> None:
    conf = sim_settings(tmp_path / "home")
    # A run date far from any sale day with an empty silver: nothing to rewrite, an empty table.
    assert run_discounts(spark, date(2026, 8, 1), conf)["dates"] == "none"
    assert read_table(spark, TABLE, conf).count() == 0
    # A sale day without a single product view: an empty partition, not an error.
    ev = read_table(spark, "silver.events", conf)
    assert transform(ev, {SALE: "Harbolnas 12.12"}, PARAMS, TZ).count() == 0
    assert run_discounts(spark, SALE, conf, since=SALE - timedelta(days=2))["dates"] == "2026-12-12"
    assert read_table(spark, TABLE, conf).count() == 0
