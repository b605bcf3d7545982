"""The report on a period without rows: every chart still draws (saying there is nothing), no errors.

A warehouse whose report tables exist, made from their contracts, but hold no rows: what a shop sees
before its first publish of a period, or for a period with no searches, no carts or no scoring.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from jobs.common.config import Settings, load_settings
from jobs.common.contracts import table
from jobs.publish.warehouse import Warehouse, warehouse
from jobs.report import CHARTS, KPIS, build_report, render_in_chromium

REPORT_TABLES = (
    "gold.session_facts",
    "gold.traffic_hourly",
    "gold.funnel_daily",
    "gold.cart_abandonment",
    "gold.navigation_paths",
    "gold.search_quality_daily",
    "gold.cart_risk",
)


def empty_warehouse(home: Path) -> tuple[Settings, Warehouse]:
    """A DuckDB warehouse under ``home`` whose report tables exist, from their contracts, with no rows."""
    conf = load_settings("ci", environ={"DETAK_HOME": str(home)})
    wh = warehouse(conf, "duckdb")
    path = conf.path("warehouse")
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA gold")
        for name in REPORT_TABLES:
            columns = ", ".join(f'"{c.name}" {wh.column_type(c)}' for c in table(name).columns)
            con.execute(f"CREATE TABLE {name} ({columns})")
    return conf, wh


def _browser() -> str:
    """The system's Chromium; missing, the test fails in CI and is skipped elsewhere."""
    import os

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium missing in CI: apt-get install -y chromium")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return browser


def test_every_chart_survives_a_period_without_rows(tmp_path: Path) -> None:
    conf, _ = empty_warehouse(tmp_path)
    out, days = build_report(conf, tmp_path / "empty.html", date(2026, 11, 11), date(2026, 11, 12), target="duckdb")
    assert days == []
    page = out.read_text()
    # Every chart without data says so in its own words (gold.cart_risk: why it is empty).
    assert page.count("No rows in 2026-11-11 .. 2026-11-12.") == len(CHARTS) - 1
    assert "No open carts scored in this period" in page
    # No machine path in the page: the warehouse by kind, the Data Docs by a relative link.
    assert str(tmp_path) not in page
    assert 'href="file:' not in page
    assert "Read from the duckdb warehouse" in page and 'href="quality/data_docs/index.html"' in page
    rendered = render_in_chromium(out, tmp_path / "empty.png", _browser())
    assert rendered["errors"] == []
    assert rendered["charts"] == {chart_id: True for chart_id, _ in CHARTS}
    assert rendered["summary"] == []
    assert rendered["tiles"] == {key: "–" for key, _, _ in KPIS}
    assert rendered["status"] == []


def test_the_funnel_reads_as_conversion_in_order_and_in_any_order(tmp_path: Path) -> None:
    """One day, one segment, three steps: each step's share of the first step, both ways."""
    from jobs.report import clock_of, report_figures

    conf, wh = empty_warehouse(tmp_path)
    with duckdb.connect(str(conf.path("warehouse"))) as con:
        for i, (step, n, any_order) in enumerate(
            (("session_start", 200, 200), ("product_view", 80, 90), ("purchase", 5, 8))
        ):
            con.execute(
                "INSERT INTO gold.funnel_daily (date, step_index, step, sessions, sessions_any_order) "
                "VALUES (DATE '2026-11-11', ?, ?, ?, ?)",
                [i, step, n, any_order],
            )
    figs = report_figures(wh, date(2026, 11, 11), date(2026, 11, 11), 15, clock_of(conf))
    ordered, any_order = figs["funnel"].data
    assert (ordered.name, any_order.name) == ("in order", "in any order")
    assert list(ordered.x) == ["session_start", "product_view", "purchase"]
    assert list(ordered.y) == [1.0, 0.4, 0.025]
    assert list(any_order.y) == [1.0, 0.45, 0.04]


def _sparse_shop(con: duckdb.DuckDBPyConnection) -> None:
    """Three sessions, three carts and two paths to purchase, around the edge of a shop day.

    Asia/Jakarta is UTC+7: a session that starts at 20:00 UTC on 10 November is on the shop's
    11 November, and a cart made at 18:00 UTC on the 10th too.
    """
    sessions = (
        ("s1", "2026-11-10", "2026-11-10 20:00:00+00", True),
        ("s2", "2026-11-11", "2026-11-11 10:00:00+00", False),
        ("s3", "2026-11-04", "2026-11-04 10:00:00+00", False),  # the week before
    )
    for sid, day, start, purchased in sessions:
        con.execute(
            "INSERT INTO gold.session_facts (session_id, session_date, session_start, purchased, channel, "
            "device_type) VALUES (?, CAST(? AS DATE), CAST(? AS TIMESTAMPTZ), ?, 'organic_search', 'mobile')",
            [sid, day, start, purchased],
        )
    carts = (
        ("c1", "2026-11-10", "2026-11-10 18:00:00+00", "abandoned", "high_shipping_cost", 150_000),
        ("c2", "2026-11-11", "2026-11-11 05:00:00+00", "converted", None, 90_000),
        ("c3", "2026-11-11", "2026-11-11 06:00:00+00", "open", None, 40_000),
    )
    for cid, day, created, outcome, reason, value in carts:
        con.execute(
            "INSERT INTO gold.cart_abandonment (cart_id, cart_date, created, outcome, primary_reason, cart_value) "
            "VALUES (?, CAST(? AS DATE), CAST(? AS TIMESTAMPTZ), ?, ?, ?)",
            [cid, day, created, outcome, reason, value],
        )
    for path, outcome, n in (("home > product > cart", "purchase", 3), ("search > product > cart", "purchase", 2),
                             ("home > product", "exit", 40)):  # fmt: skip
        con.execute(
            "INSERT INTO gold.navigation_paths (date, outcome, path, sessions) VALUES (DATE '2026-11-11', ?, ?, ?)",
            [outcome, path, n],
        )


def test_one_clock_tiles_paths_and_gate_status_on_a_sparse_shop(tmp_path: Path) -> None:
    """Shop days (not UTC ones) in the summary and the tiles, the Sankey's links, and the gate table."""
    from jobs.common.contracts import table as contract
    from jobs.report import clock_of, daily_summary, report_figures, week_over_week

    conf, wh = empty_warehouse(tmp_path)
    with duckdb.connect(str(conf.path("warehouse"))) as con:
        _sparse_shop(con)
    day = date(2026, 11, 11)
    clock = clock_of(conf)
    (summary,) = daily_summary(wh, day, day, clock)
    assert (summary.date, summary.sessions, summary.buying, summary.carts, summary.abandoned) == (day, 2, 1, 2, 1)
    assert (summary.value_lost, summary.top_reasons) == (150_000, [("high_shipping_cost", 1)])
    kpis = {k.key: (k.value, k.previous, k.change) for k in week_over_week(wh, day, clock)}
    assert kpis["sessions"] == (2, 1, 1.0)
    assert kpis["conversion"] == (0.5, 0.0, 0.5)
    assert kpis["abandonment_rate"] == (0.5, None, None)

    (sankey,) = report_figures(wh, day, day, 15, clock)["paths"].data
    assert list(sankey.node.label) == ["home", "product", "cart", "order", "search"]
    links = sorted(zip(sankey.link.source, sankey.link.target, sankey.link.value, strict=True))
    assert links == [(0, 1, 3.0), (1, 2, 5.0), (2, 3, 5.0), (4, 1, 2.0)]

    # The warehouse's own record of the gate: one table published, one blocked.
    with wh.transaction() as cur:
        wh._write_status(cur, contract("gold.session_facts"), "published", 7, "")
    wh.record_status(contract("gold.funnel_daily"), "blocked", 3, "2026-11-11 funnel_non_increasing")
    out, _ = build_report(conf, tmp_path / "sparse.html", day, day, target="duckdb")
    page = out.read_text()
    assert "Every day and hour on this page is the shop's local time (Asia/Jakarta)." in page
    rendered = render_in_chromium(out, tmp_path / "sparse.png", _browser())
    assert rendered["errors"] == []
    assert rendered["charts"] == {chart_id: True for chart_id, _ in CHARTS}
    assert rendered["summary"] == [
        ["2026-11-11 Wed", "2", "50.00%", "0", "0", "50.0% of 2", "150,000", "0.0%", "high_shipping_cost 1"]
    ]
    assert rendered["tiles"]["sessions"] == "2" and rendered["tiles"]["conversion"] == "50.0%"
    blocked, published = rendered["status"]
    assert blocked[:4] == ["gold.funnel_daily", "blocked: 2026-11-11 funnel_non_increasing", "", ""]
    assert published[:4] == ["gold.session_facts", "passed, published", "2026-11-11", "3"]
