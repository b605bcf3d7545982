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

#: The tables of a warehouse published before the customer and sentiment tables existed.
OLDER_TABLES = (
    "gold.session_facts",
    "gold.traffic_hourly",
    "gold.funnel_daily",
    "gold.cart_abandonment",
    "gold.navigation_paths",
    "gold.search_quality_daily",
    "gold.cart_risk",
)
#: The customer and sentiment charts' tables (gold.product_engagement_daily maps products to categories).
CUSTOMER_TABLES = (
    "gold.customer_segments",
    "gold.segment_migration_weekly",
    "gold.product_sentiment_daily",
    "gold.product_engagement_daily",
)
REPORT_TABLES = (
    *OLDER_TABLES,
    *CUSTOMER_TABLES,
    "gold.threat_actors",
    "gold.discount_integrity",
    "gold.traffic_forecast_hourly",
    "gold.campaign_performance_hourly",
)


def empty_warehouse(home: Path, names: tuple[str, ...] = REPORT_TABLES) -> tuple[Settings, Warehouse]:
    """A DuckDB warehouse under ``home`` whose tables ``names`` exist, from their contracts, with no rows."""
    conf = load_settings("ci", environ={"DETAK_HOME": str(home)})
    wh = warehouse(conf, "duckdb")
    path = conf.path("warehouse")
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA gold")
        for name in names:
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
    # The customer charts hold nothing: no segment bars, a Sankey without nodes, no categories.
    assert rendered["traces"]["segments"] == []
    (sankey,) = rendered["traces"]["segment_migration"]
    assert (sankey["labels"], sankey["value"]) == ([], [])
    assert [(t["name"], t["x"]) for t in rendered["traces"]["sentiment"]] == [
        ("reviews", []),
        ("positive share", []),
        ("negative share", []),
    ]
    assert rendered["traces"]["threats"] == []
    assert rendered["traces"]["discounts"] == []
    assert rendered["traces"]["forecast"] == []
    assert rendered["traces"]["campaigns"] == []


def test_an_older_warehouse_without_the_customer_tables(tmp_path: Path) -> None:
    """A warehouse published before gold.customer_segments and gold.product_sentiment_daily: their
    charts say which table is missing and how it comes; the rest of the page is as before."""
    conf, _ = empty_warehouse(tmp_path, OLDER_TABLES)
    out, days = build_report(conf, tmp_path / "older.html", date(2026, 11, 11), date(2026, 11, 12), target="duckdb")
    assert days == []
    page = out.read_text()
    assert page.count("No rows in 2026-11-11 .. 2026-11-12.") == len(CHARTS) - 8
    assert "No gold.campaign_performance_hourly in this warehouse yet (built by detak job gold_campaigns" in page
    assert "No gold.traffic_forecast_hourly in this warehouse yet (built by detak job forecast" in page
    assert "No gold.threat_actors in this warehouse yet (built by detak job gold_threats" in page
    assert "No gold.discount_integrity in this warehouse yet (built by detak job gold_discounts" in page
    assert "No gold.customer_segments in this warehouse yet (built by detak job gold_customers" in page
    assert "No gold.segment_migration_weekly in this warehouse yet (built by detak job gold_customers" in page
    assert "No gold.product_sentiment_daily in this warehouse yet (built by detak job gold_sentiment" in page
    rendered = render_in_chromium(out, tmp_path / "older.png", _browser())
    assert rendered["errors"] == []
    assert rendered["charts"] == {chart_id: True for chart_id, _ in CHARTS}


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


#: Customers per as-of date (Mondays a week apart): user → segment. 2 November is before the
#: report's period, 9 and 16 November inside it.
SEGMENTS = {
    date(2026, 11, 2): {"u1": "champions", "u2": "loyal", "u3": "lost"},
    date(2026, 11, 9): {"u1": "champions", "u2": "champions", "u3": "at_risk", "u4": "new"},
    date(2026, 11, 16): {"u1": "champions", "u2": "loyal", "u4": "potential", "u5": "new", "u6": "new"},
}

#: gold.segment_migration_weekly into 16 November, worked out by hand from SEGMENTS: u3 left, u5
#: and u6 came; plus the cluster moves of that date and the moves into 9 November, which the
#: chart must leave out.
MOVES = (
    ("2026-11-16", "segment", "champions", "champions", 1),
    ("2026-11-16", "segment", "champions", "loyal", 1),
    ("2026-11-16", "segment", "at_risk", "(none)", 1),
    ("2026-11-16", "segment", "new", "potential", 1),
    ("2026-11-16", "segment", "(none)", "new", 2),
    ("2026-11-16", "cluster", "0", "1", 4),
    ("2026-11-16", "cluster", "(none)", "0", 2),
    ("2026-11-09", "segment", "loyal", "champions", 1),
    ("2026-11-09", "segment", "lost", "at_risk", 1),
)

#: Review aggregates (date, product, reviews, mean rating, predicted positive, predicted negative).
REVIEWS = (
    ("2026-11-11", "p1", 4, 4.5, 3, 1),
    ("2026-11-12", "p2", 6, 3.0, 3, 2),
    ("2026-11-11", "p3", 5, 2.0, 1, 4),
    ("2026-11-12", "p4", 2, 5.0, 2, 0),
    ("2026-11-20", "p1", 10, 1.0, 0, 10),  # after the period
)

#: gold.product_engagement_daily rows naming the products' categories (date, product, top_category):
#: p2 only on a day before the period, p3 once without a category; p4 never viewed.
CATEGORIES = (
    ("2026-11-11", "p1", "fashion"),
    ("2026-10-01", "p2", "fashion"),
    ("2026-11-11", "p3", None),
    ("2026-11-12", "p3", "electronics"),
)


def _customers_and_reviews(con: duckdb.DuckDBPyConnection) -> None:
    for as_of, people in SEGMENTS.items():
        for user, segment in people.items():
            con.execute(
                "INSERT INTO gold.customer_segments (user_id, as_of_date, segment, cluster_id) VALUES (?, ?, ?, 0)",
                [user, as_of, segment],
            )
    for as_of, kind, before, after, users in MOVES:
        con.execute(
            "INSERT INTO gold.segment_migration_weekly (as_of_date, previous_as_of_date, kind, from_value, to_value, "
            "users) VALUES (CAST(? AS DATE), CAST(? AS DATE) - 7, ?, ?, ?, ?)",
            [as_of, as_of, kind, before, after, users],
        )
    for day, product, reviews, rating, positive, negative in REVIEWS:
        con.execute(
            "INSERT INTO gold.product_sentiment_daily (date, product_id, reviews, mean_rating, positive_reviews, "
            "negative_reviews, positive_share, negative_share) VALUES (CAST(? AS DATE), ?, ?, ?, ?, ?, ?, ?)",
            [day, product, reviews, rating, positive, negative, positive / reviews, negative / reviews],
        )
    for day, product, category in CATEGORIES:
        con.execute(
            "INSERT INTO gold.product_engagement_daily (date, product_id, top_category) VALUES (CAST(? AS DATE), ?, ?)",
            [day, product, category],
        )


def test_segment_sizes_migration_and_sentiment_by_category(tmp_path: Path) -> None:
    """The segment bars of the period's as-of dates, the Sankey of the latest one's moves and the
    reviews and sentiment shares per category, as the page carries them in Chromium."""
    from jobs.report import as_of_dates, migration_figure, segments_figure, sentiment_figure

    conf, wh = empty_warehouse(tmp_path)
    with duckdb.connect(str(conf.path("warehouse"))) as con:
        _customers_and_reviews(con)
    first, last = date(2026, 11, 8), date(2026, 11, 16)
    out, _ = build_report(conf, tmp_path / "customers.html", first, last, target="duckdb")
    page = out.read_text()
    assert "these are the reviews of the UTC days 2026-11-08 – 2026-11-16." in page
    assert "the latest as-of dates in 2026-11-08 – 2026-11-16, or the latest before 2026-11-08" in page
    rendered = render_in_chromium(out, tmp_path / "customers.png", _browser())
    assert rendered["errors"] == []
    assert rendered["charts"] == {chart_id: True for chart_id, _ in CHARTS}
    traces = rendered["traces"]

    # Customers per segment on 9 and 16 November (2 November is before the period), stacked in the
    # contract's order; a segment nobody is in has no bars.
    assert [(t["name"], t["x"], t["y"]) for t in traces["segments"]] == [
        ("champions", ["2026-11-09", "2026-11-16"], [2, 1]),
        ("loyal", ["2026-11-16"], [1]),
        ("new", ["2026-11-09", "2026-11-16"], [1, 2]),
        ("potential", ["2026-11-16"], [1]),
        ("at_risk", ["2026-11-09"], [1]),
    ]
    # The moves into 16 November only, segments only: previous segments left, current ones right.
    (sankey,) = traces["segment_migration"]
    assert sankey["labels"] == ["champions", "new", "at_risk", "(none)", "champions", "loyal", "new", "potential",
                                "(none)"]  # fmt: skip
    links = sorted(zip(sankey["source"], sankey["target"], sankey["value"], strict=True))
    assert links == [(0, 4, 1), (0, 5, 1), (1, 7, 1), (2, 8, 1), (3, 6, 2)]
    # Reviews of 11 and 12 November per category, largest first: fashion is p1 (4) and p2 (6), with
    # 3 + 3 positive and 1 + 2 negative; electronics p3; p4 has no category.
    bars, positive, negative = traces["sentiment"]
    assert (bars["name"], bars["x"], bars["y"]) == ("reviews", ["fashion", "electronics", "(unknown)"], [10, 5, 2])
    assert (positive["name"], positive["y"]) == ("positive share", [0.6, 0.2, 1.0])
    assert (negative["name"], negative["y"]) == ("negative share", [0.3, 0.8, 0.0])

    # What the hover says and which dates the Sankey's sides are.
    segments = segments_figure(wh, first, last)
    assert [list(t.customdata) for t in segments.data] == [[0.5, 0.2], [0.2], [0.25, 0.4], [0.2], [0.25]]
    migration = migration_figure(wh, first, last)
    assert [a.text for a in migration.layout.annotations] == ["as of 2026-11-09", "as of 2026-11-16"]
    # Mean rating of fashion's reviews: (4 × 4.5 + 6 × 3.0) / 10.
    assert list(sentiment_figure(wh, first, last).data[0].customdata) == [3.6, 2.0, 5.0]

    # A period between as-of dates shows the latest before it; one before them all, nothing.
    between = segments_figure(wh, date(2026, 11, 17), date(2026, 11, 20))
    assert [(t.name, list(t.x), list(t.y)) for t in between.data] == [
        ("champions", ["2026-11-16"], [1.0]),
        ("loyal", ["2026-11-16"], [1.0]),
        ("new", ["2026-11-16"], [2.0]),
        ("potential", ["2026-11-16"], [1.0]),
    ]
    (later,) = migration_figure(wh, date(2026, 11, 17), date(2026, 11, 20)).data
    assert sum(later.link.value) == 6
    assert segments_figure(wh, date(2026, 10, 1), date(2026, 10, 5)).data == ()
    assert list(migration_figure(wh, date(2026, 10, 1), date(2026, 10, 5)).data[0].node.label) == []
    assert as_of_dates(wh, "gold.customer_segments", date(2026, 11, 1), date(2026, 11, 30), 2) == [
        date(2026, 11, 9),
        date(2026, 11, 16),
    ]

    # Without gold.product_engagement_daily every product's category is unknown.
    with duckdb.connect(str(conf.path("warehouse"))) as con:
        con.execute("DROP TABLE gold.product_engagement_daily")
    bars, positive, negative = sentiment_figure(wh, first, last).data
    assert (list(bars.x), list(bars.y)) == (["(unknown)"], [17.0])
    assert (list(positive.y), list(negative.y)) == ([9 / 17], [7 / 17])


#: gold.threat_actors rows (seen_date, actor_type, actor, kind, bot_events, confidence).
THREATS = (
    ("2026-11-11", "anonymous_id", "d1", "crawler", 10, 0.99),
    ("2026-11-11", "anonymous_id", "d2", "crawler", 5, 0.99),
    ("2026-11-11", "anonymous_id", "d3", "card_testing", 40, 0.9975),
    ("2026-11-11", "ip_prefix", "36.72.1.0/24", "card_testing", 40, 0.6),
    ("2026-11-11", "ip_prefix", "36.72.2.0/24", "crawler", 3, 0.1),  # below the feed's threshold
    ("2026-11-12", "anonymous_id", "d4", "scraper", 300, 0.95),
    ("2026-11-13", "anonymous_id", "d5", "headless", 7, 0.95),  # after the period
)


def test_threat_actors_per_day_and_kind(tmp_path: Path) -> None:
    """Devices per day stacked by kind in the contract's order (most harmful first), with their bot
    events, and the networks confident enough for the feed, as the page carries them in Chromium."""
    conf, _ = empty_warehouse(tmp_path)
    with duckdb.connect(str(conf.path("warehouse"))) as con:
        for day, kind_of_actor, actor, kind, bot_events, confidence in THREATS:
            con.execute(
                "INSERT INTO gold.threat_actors (seen_date, actor_type, actor, kind, bot_events, events, confidence) "
                "VALUES (CAST(? AS DATE), ?, ?, ?, ?, ?, ?)",
                [day, kind_of_actor, actor, kind, bot_events, bot_events, confidence],
            )
    out, _ = build_report(conf, tmp_path / "threats.html", date(2026, 11, 11), date(2026, 11, 12), target="duckdb")
    assert "these are the actors of the UTC days 2026-11-11 – 2026-11-12." in out.read_text()
    rendered = render_in_chromium(out, tmp_path / "threats.png", _browser())
    assert rendered["errors"] == []
    assert [(t["name"], t["x"], t["y"]) for t in rendered["traces"]["threats"]] == [
        ("card_testing", ["2026-11-11"], [1]),
        ("scraper", ["2026-11-12"], [1]),
        ("crawler", ["2026-11-11"], [2]),
        ("networks in the feed", ["2026-11-11"], [1]),
    ]
    from jobs.report import threats_figure

    bars = threats_figure(warehouse(conf, "duckdb"), date(2026, 11, 11), date(2026, 11, 12)).data
    assert [list(t.customdata) for t in bars[:3]] == [[40], [300], [15]]


#: gold.discount_integrity rows: (sale_date, category, verdict).
DISCOUNTS = (
    *[("2026-11-11", "Fashion Wanita > Dress", "misleading")] * 3,
    ("2026-11-11", "Fashion Wanita > Atasan", "genuine"),
    ("2026-11-11", "Elektronik > Audio", "genuine"),
    ("2026-11-11", "Elektronik > Audio", "no_history"),  # not judged
    ("2026-11-11", "Elektronik > Audio", "no_discount"),  # not judged
    ("2026-11-11", "Kecantikan > Skincare", "misleading"),
    ("2026-12-12", "Elektronik > Audio", "misleading"),  # after the period
)


def test_discount_integrity_by_category(tmp_path: Path) -> None:
    """The flagged share of judged discounts per top-level category, lowest first, with the counts
    in the hover, as the page carries them in Chromium."""
    conf, _ = empty_warehouse(tmp_path)
    with duckdb.connect(str(conf.path("warehouse"))) as con:
        for i, (day, category, verdict) in enumerate(DISCOUNTS):
            con.execute(
                "INSERT INTO gold.discount_integrity (sale_date, product_id, category, verdict, flagged) "
                "VALUES (CAST(? AS DATE), ?, ?, ?, ?)",
                [day, f"P{i}", category, verdict, verdict == "misleading"],
            )
    out, _ = build_report(conf, tmp_path / "discounts.html", date(2026, 11, 11), date(2026, 11, 12), target="duckdb")
    rendered = render_in_chromium(out, tmp_path / "discounts.png", _browser())
    assert rendered["errors"] == []
    (bars,) = rendered["traces"]["discounts"]
    assert (bars["name"], bars["y"], bars["x"]) == (
        "flagged share",
        ["Elektronik", "Fashion Wanita", "Kecantikan"],
        [0.0, 0.75, 1.0],
    )
    from jobs.report import discounts_figure

    (trace,) = discounts_figure(warehouse(conf, "duckdb"), date(2026, 11, 11), date(2026, 11, 12)).data
    assert [list(c) for c in trace.customdata] == [[0, 1], [3, 4], [1, 1]]


#: gold.campaign_performance_hourly rows: (local_date, hour, campaign, sessions, converted, control sessions,
#: control converted, orders, revenue).
CAMPAIGN_HOURS = (
    ("2026-11-11", 10, "flash", 100, 30, 400, 40, 31, 3_000_000),
    ("2026-11-11", 11, "flash", 50, 10, 300, 30, 10, 1_000_000),
    ("2026-11-11", 10, "weekly_deals", 40, 4, 400, 40, 4, 200_000),
    ("2026-11-12", 20, "weekly_deals", 60, 3, 500, 50, 3, 100_000),
    ("2026-11-11", 10, "no_buyers", 20, 0, 400, 40, 0, 0),  # no lift to show: left out
    ("2026-11-13", 10, "flash", 500, 400, 500, 50, 400, 9_000_000),  # after the period
)


def test_campaign_leaderboard(tmp_path: Path) -> None:
    """Each campaign's Mantel-Haenszel lift over every hour of the period, lowest first, with its
    interval as error bars and its sessions, orders and revenue in the hover."""
    from jobs.common.stats import mh_lift
    from jobs.report import campaigns_figure

    conf, _ = empty_warehouse(tmp_path)
    with duckdb.connect(str(conf.path("warehouse"))) as con:
        for day, hour, campaign, n1, a, n0, c, orders, revenue in CAMPAIGN_HOURS:
            con.execute(
                "INSERT INTO gold.campaign_performance_hourly (local_date, hour_local, campaign, sessions, "
                "converted_sessions, control_sessions, control_converted, orders, revenue) "
                "VALUES (CAST(? AS DATE), CAST(? AS DATE) + to_hours(?), ?, ?, ?, ?, ?, ?, ?)",
                [day, day, hour, campaign, n1, a, n0, c, orders, revenue],
            )
    expected = {
        name: mh_lift([(r[4], r[3], r[6], r[5]) for r in CAMPAIGN_HOURS if r[2] == name and r[0] < "2026-11-13"])
        for name in ("flash", "weekly_deals")
    }
    out, _ = build_report(conf, tmp_path / "campaigns.html", date(2026, 11, 11), date(2026, 11, 12), target="duckdb")
    rendered = render_in_chromium(out, tmp_path / "campaigns.png", _browser())
    assert rendered["errors"] == []
    (bars,) = rendered["traces"]["campaigns"]
    assert (bars["name"], bars["y"]) == ("conversion lift", ["weekly_deals", "flash"])
    assert bars["x"] == pytest.approx([expected["weekly_deals"][0], expected["flash"][0]])
    (trace,) = campaigns_figure(warehouse(conf, "duckdb"), date(2026, 11, 11), date(2026, 11, 12)).data
    assert [list(c) for c in trace.customdata] == [[100, 7, 300_000], [150, 41, 4_000_000]]
    assert list(trace.error_x.array) == pytest.approx(
        [expected[n][2] - expected[n][0] for n in ("weekly_deals", "flash")]
    )
    assert list(trace.error_x.arrayminus) == pytest.approx(
        [expected[n][0] - expected[n][1] for n in ("weekly_deals", "flash")]
    )


def test_forecast_against_actual(tmp_path: Path) -> None:
    """The newest forecast made before each day (not an older one), its band, the hours over
    capacity, the actual events, and the days the newest forecast covers after the period."""
    conf, _ = empty_warehouse(tmp_path)
    with duckdb.connect(str(conf.path("warehouse"))) as con:
        for made, day, hour, events, over in (
            ("2026-11-09", "2026-11-11", 0, 900.0, False),  # superseded by the forecast of Nov 10
            ("2026-11-10", "2026-11-11", 0, 1000.0, True),
            ("2026-11-10", "2026-11-11", 1, 400.0, False),
            ("2026-11-10", "2026-11-12", 0, 300.0, False),  # after the period: what is coming
            ("2026-11-12", "2026-11-13", 0, 50.0, False),  # made after the period: not shown
        ):
            con.execute(
                "INSERT INTO gold.traffic_forecast_hourly (forecast_date, local_date, local_hour, events, events_low, "
                "events_high, over_capacity) VALUES (CAST(? AS DATE), CAST(? AS DATE), ?, ?, ?, ?, ?)",
                [made, day, hour, events, events * 0.8, events * 1.25, over],
            )
        for hour, events in ((0, 1100), (1, 350)):
            con.execute(
                "INSERT INTO gold.traffic_hourly VALUES (TIMESTAMP '2026-11-10 17:00:00' + ? * INTERVAL 1 HOUR, "
                "DATE '2026-11-10', TIMESTAMP '2026-11-11 00:00:00' + ? * INTERVAL 1 HOUR, DATE '2026-11-11', ?, "
                "0, ?, 0, 0, 0, 0, 0, 0.0, 0)",
                [hour, hour, hour, events],
            )
    out, _ = build_report(conf, tmp_path / "forecast.html", date(2026, 11, 11), date(2026, 11, 11), target="duckdb")
    rendered = render_in_chromium(out, tmp_path / "forecast.png", _browser())
    assert rendered["errors"] == []
    hours = ["2026-11-11 00:00", "2026-11-11 01:00", "2026-11-12 00:00"]
    assert [(t["name"], t["x"], t["y"]) for t in rendered["traces"]["forecast"]] == [
        ("80 % interval", hours, [1250.0, 500.0, 375.0]),
        ("80 % interval", hours, [800.0, 320.0, 240.0]),
        ("forecast", hours, [1000.0, 400.0, 300.0]),
        ("over capacity", ["2026-11-11 00:00"], [1000.0]),
        ("actual", hours[:2], [1100.0, 350.0]),
    ]
