"""UCI Online Retail importer: contract, mapping rules, and the time-of-purchase profile end to end.

The end-to-end test runs importer → bronze ingest → silver → gold.purchase_time_profile on the real
December 2010 files and checks it against a separate pandas computation straight from the CSVs.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.importers.uci_retail import GBP_TO_IDR, import_uci_retail
from tests.conftest import ci_settings
from tests.importers import PUBLIC_DATA, assert_every_line_follows_its_contract, read_landing, type_counts

SRC = PUBLIC_DATA / "uci_online_retail" / "by-day"
HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


@pytest.fixture(scope="module")
def src() -> Path:
    if not SRC.is_dir():
        pytest.skip(f"UCI Online Retail files not found at {SRC} (public data folder absent)")
    return SRC


@pytest.fixture(scope="module")
def imported(src: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("uci")
    return import_uci_retail(src, out), out


@pytest.fixture(scope="module")
def csv_rows(src: Path) -> pd.DataFrame:
    frames = [pd.read_csv(p, dtype={"InvoiceNo": str, "StockCode": str}) for p in sorted(src.glob("*.csv"))]
    df = pd.concat(frames, ignore_index=True)
    df["InvoiceDate"] = pd.to_datetime(df["InvoiceDate"])
    return df


def test_every_line_follows_its_contract(imported: tuple[dict[str, Any], Path]) -> None:
    summary, out = imported
    assert_every_line_follows_its_contract(out, summary["lines_written"])


def test_orders_and_cancellations_match_the_csv(imported: tuple[dict[str, Any], Path], csv_rows: pd.DataFrame) -> None:
    summary, out = imported
    df = csv_rows
    is_cancel = df["InvoiceNo"].str.startswith("C")
    # Invoices with more than 500 distinct (stock code, price) lines are skipped (the contract's maxItems).
    lines = df.groupby("InvoiceNo")[["StockCode", "UnitPrice"]].apply(lambda g: len(g.drop_duplicates()))
    too_big = set(lines[lines > 500].index)
    sales = df[~is_cancel & (df["Quantity"] > 0) & ~df["InvoiceNo"].isin(too_big)]["InvoiceNo"].nunique()
    cancels = df[is_cancel & (df["Quantity"] < 0) & ~df["InvoiceNo"].isin(too_big)]["InvoiceNo"].nunique()
    assert summary["orders"] == sales
    assert summary["cancellations"] == cancels
    counts = type_counts(read_landing(out))
    assert counts == Counter(
        {("orders", "order_created"): sales, ("orders", "order_paid"): sales, ("orders", "order_cancelled"): cancels}
    )
    assert summary["rows_read"] == len(df)
    assert summary["skipped"]["negative_quantity_in_sale"] == int(((~is_cancel) & (df["Quantity"] < 0)).sum())


def _write(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "retail.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def test_mapping_time_zone_lines_and_cancellations(tmp_path: Path) -> None:
    src = _write(
        tmp_path,
        "536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom",
        "536365,85123A,WHITE HANGING HEART,2,2010-12-01 08:27:00,2.55,17850.0,United Kingdom",
        "536365,71053,WHITE METAL LANTERN,2500,2010-12-01 08:26:00,3.39,17850.0,United Kingdom",
        "C536379,D,Discount,-1,12/1/2010 9:41,27.5,14527.0,United Kingdom",
        "536380,22961,JAM MAKING SET,-3,2010-12-01 09:45:00,1.45,,United Kingdom",
        "536381,22961,JAM MAKING SET,3,not a date,1.45,,United Kingdom",
        "536382,22961,JAM MAKING SET,3,2010-12-01 09:45:00,-1.45,,United Kingdom",
        "A563185,B,Adjust bad debt,1,2011-08-12 14:50:00,11062.06,,United Kingdom",
    )
    summary = import_uci_retail(src, tmp_path / "out")
    assert summary["skipped"] == {
        "negative_quantity_in_sale": 1,
        "bad_invoice_date": 1,
        "bad_price": 1,
        "adjustment_invoice": 1,
    }
    events = {e["event_type"]: e for _, e in read_landing(tmp_path / "out")}
    created, paid, cancelled = events["order_created"], events["order_paid"], events["order_cancelled"]
    # UK wall-clock 08:26 is kept as WIB local time: 01:26 UTC.
    assert created["created_at"].startswith("2010-12-01T01:26:00") and created["timezone"] == "Asia/Jakarta"
    assert created["order_id"] == "uci-536365" and created["user_id"] == "uci-c17850"
    assert created["region"] == "United Kingdom" and paid["status"] == "paid"
    assert [(i["product_id"], i["quantity"], i["unit_price"]) for i in created["items"]] == [
        ("85123A", 8, 51_000),
        ("71053", 1000, 67_800),
        ("71053", 1000, 67_800),
        ("71053", 500, 67_800),
    ]
    assert created["total"] == 8 * 51_000 + 2500 * 67_800 == 8 * 2.55 * GBP_TO_IDR + 2500 * 3.39 * GBP_TO_IDR
    assert cancelled["status"] == "cancelled" and cancelled["cancel_reason"] == "cancellation_invoice"
    assert cancelled["items"][0]["quantity"] == 1 and cancelled["created_at"].startswith("2010-12-01T02:41:00")
    # Same input, same bytes.
    again = import_uci_retail(src, tmp_path / "again")
    assert again == {**summary}
    assert read_landing(tmp_path / "again") == read_landing(tmp_path / "out")


def _expected_profiles(df: pd.DataFrame, customers: list[int]) -> dict[int, dict[str, Any]]:
    """Hour histogram, circular preferred hour and purchase-day gaps, from the CSV alone."""
    sales = df[~df["InvoiceNo"].str.startswith("C") & (df["Quantity"] > 0) & df["CustomerID"].notna()]
    invoices = sales.groupby("InvoiceNo").agg(at=("InvoiceDate", "min"), customer=("CustomerID", "first"))
    out = {}
    for customer in customers:
        times = invoices[invoices["customer"] == customer]["at"]
        hours = [0] * 24
        for t in times:
            hours[t.hour] += 1
        angles = [2 * math.pi * (t.hour + t.minute / 60 + t.second / 3600) / 24 for t in times]
        mean = math.degrees(math.atan2(sum(map(math.sin, angles)), sum(map(math.cos, angles)))) / 15 % 24
        days = sorted({t.date() for t in times})
        gaps = pd.Series([(b - a).days for a, b in itertools.pairwise(days)], dtype=float)
        out[customer] = {
            "purchases": len(times),
            "purchases_by_hour": hours,
            "preferred_hour": mean,
            "mean_gap": gaps.mean() if len(gaps) else None,
            "std_gap": gaps.std(ddof=1) if len(gaps) > 1 else None,
        }
    return out


@pytest.mark.integration
def test_purchase_time_profile_on_real_orders_matches_pandas(
    spark: SparkSession, src: Path, csv_rows: pd.DataFrame, tmp_path: Path
) -> None:
    from jobs.bronze.ingest import ingest_source
    from jobs.common.tables import read_table
    from jobs.gold.purchase_time import build_profiles
    from jobs.silver.daily import run_silver

    home = tmp_path / "home"
    conf = ci_settings(home)
    import_uci_retail(src, home)
    ingest_source(spark, "orders", conf, run_id="uci")
    run_silver(spark, date(2010, 12, 23), conf)

    sales = csv_rows[~csv_rows["InvoiceNo"].str.startswith("C") & csv_rows["CustomerID"].notna()]
    busiest = sales.groupby("CustomerID")["InvoiceNo"].nunique().sort_values(ascending=False, kind="stable")
    customers = [int(c) for c in busiest.index[:4]]
    expected = _expected_profiles(csv_rows, customers)
    # The pseudonym of each customer, through one of their orders (silver never sees the raw id).
    first_invoice = {int(c): sales[sales["CustomerID"] == c]["InvoiceNo"].iloc[0] for c in customers}
    pseudonyms = {
        r.order_id: r.user_id
        for r in read_table(spark, "silver.orders", conf)
        .where(F.col("order_id").isin([f"uci-{n}" for n in first_invoice.values()]))
        .collect()
    }
    profiles = {
        r.user_id: r
        for r in build_profiles(spark, [date(2010, 12, 24)], conf)
        .where(F.col("user_id").isin(list(pseudonyms.values())))
        .collect()
    }
    assert len(profiles) == len(customers)
    for customer in customers:
        got = profiles[pseudonyms[f"uci-{first_invoice[customer]}"]]
        want = expected[customer]
        assert got.purchases == want["purchases"], customer
        assert list(got.purchases_by_hour) == want["purchases_by_hour"], customer
        assert got.preferred_hour == pytest.approx(want["preferred_hour"], abs=1e-5), customer
        for field, key in (("mean_days_between_purchases", "mean_gap"), ("stddev_days_between_purchases", "std_gap")):
            if want[key] is None:
                assert getattr(got, field) is None, (customer, field)
            else:
                assert getattr(got, field) == pytest.approx(want[key]), (customer, field)
        assert got.median_lead_time_hours is None  # the data set has no views
