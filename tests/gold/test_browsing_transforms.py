"""Each gold browsing transform on a handful of hand-written rows, against hand-computed results."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.common.config import Settings
from jobs.gold import funnel, paths, search, sessions, traffic
from tests.gold.frames import T0, at, event, rows_of, session

D = T0.date()


@pytest.fixture
def params(conf: Settings) -> dict[str, Any]:
    return dict(conf["gold"]["browsing"])


def order(order_id: str, created: dt.datetime, total: int, device: str | None) -> dict[str, Any]:
    return {"order_id": order_id, "created_at": created, "total": total, "anonymous_id": device, "cart_id": "c"}


def test_orders_belong_to_the_session_they_were_placed_in_or_its_grace_period(spark: SparkSession) -> None:
    s = rows_of(
        spark,
        "silver.sessions",
        [
            session("s1", at(0), at(20), anonymous_id="dev-1"),
            session("s3", at(55), at(70), anonymous_id="dev-1"),
            session("s2", at(0), at(5), anonymous_id="dev-2"),
        ],
    )
    o = rows_of(
        spark,
        "silver.orders",
        [
            order("o1", at(40), 150_000, "dev-1"),  # 20 min after s1 ended: within the 30-minute grace
            order("o2", at(65), 90_000, "dev-1"),  # during s3
            order("o3", at(101), 10_000, "dev-1"),  # 31 min after s3: belongs to no session
            order("o4", at(2), 10_000, None),  # no device
            order("o5", at(3), 20_000, "dev-9"),  # a device without a session in scope
        ],
    )
    got = sessions.session_orders(s, o, 30).select("session_id", "order_id")
    assertDataFrameEqual(got, spark.createDataFrame([("s1", "o1"), ("s3", "o2")], "session_id string, order_id string"))


def test_session_facts_engagement_reach_orders_category_bounce_and_new_visitors(
    spark: SparkSession, params: dict[str, Any]
) -> None:
    events = rows_of(
        spark,
        "silver.events",
        [
            event("a1", at(0), "page_view", "s1", page_type="home"),
            event("a2", at(0, 20), "page_ping", "s1", page_type="home", engaged_ms=8_000),
            event("a3", at(0, 40), "page_ping", "s1", page_type="home", engaged_ms=15_000),
            event("a4", at(1), "product_view", "s1", page_type="product", top_category="Elektronik"),
            event("a5", at(1, 20), "page_ping", "s1", page_type="product", engaged_ms=9_000),
            event("a6", at(2), "add_to_cart", "s1", page_type="product", top_category="Elektronik"),
            event("a7", at(5), "begin_checkout", "s1", page_type="checkout"),
            event("a8", at(6), "add_shipping_info", "s1", page_type="checkout"),
            event("a9", at(7), "add_payment_info", "s1", page_type="checkout"),
            event("b1", at(0), "page_view", "s2", page_type="home"),
            event("c1", at(60), "product_view", "s3", page_type="product"),
            event("c2", at(61), "add_to_cart", "s3", page_type="product", top_category="Fashion"),
        ],
    )
    s = rows_of(
        spark,
        "silver.sessions",
        [
            session("s1", at(0), at(7), anonymous_id="dev-1", page_views=5),
            session("s2", at(0), at(0, 5), anonymous_id="dev-2", page_views=1),
            session("s3", at(60), at(61), anonymous_id="dev-1", page_views=1),
        ],
    )
    owned = spark.createDataFrame(
        [("s1", "o1", at(8), 150_000), ("s1", "o2", at(9), 50_000)],
        "session_id string, order_id string, created_at timestamp, total long",
    )
    seen = spark.createDataFrame(
        [("dev-1", at(0)), ("dev-2", dt.datetime(2026, 11, 1))], "anonymous_id string, first_session_start timestamp"
    )
    # dev-2 first ordered on Nov 3 (loyal by Nov 11); dev-1's first order came during s1, before s3.
    first_orders = spark.createDataFrame(
        [("dev-1", at(8)), ("dev-2", dt.datetime(2026, 11, 3, 12))], "anonymous_id string, first_order_at timestamp"
    )
    got = sessions.transform(s, events, owned, seen, first_orders, params).select(
        "session_id",
        "engaged_seconds",
        "reached_cart",
        "reached_checkout",
        "reached_shipping",
        "reached_payment",
        "purchased",
        "orders",
        "revenue",
        "is_bounce",
        "top_category",
        "visitor_type",
        "days_since_first_seen",
        "days_since_first_purchase",
        "tenure",
    )
    expected = [
        ("s1", 24, True, True, True, True, True, 2, 200_000, False, "Elektronik", "new", 0, None, "new"),
        ("s2", 0, False, False, False, False, False, 0, 0, True, "(none)", "returning", 10, 7, "loyal"),
        # s3: a single page view of a minute is not a bounce; its product had no category, its cart line had.
        # Its device ordered 52 minutes before it: a customer, not yet loyal; still its first day: new.
        ("s3", 0, True, False, False, False, False, 0, 0, False, "Fashion", "returning", 0, 0, "new"),
    ]
    assertDataFrameEqual(got, spark.createDataFrame(expected, got.schema))


def test_behaviour_scope_leaves_out_bots_and_sessions_without_consent(spark: SparkSession) -> None:
    events = rows_of(
        spark,
        "silver.events",
        [
            event("h1", at(0), "page_view", "s1"),
            event("n1", at(0), "page_view", "s2"),
            {**event("b1", at(0), "page_view", "s1"), "is_bot": True, "session_id": None},
        ],
    )
    s = rows_of(
        spark,
        "silver.sessions",
        [session("s1", at(0), at(1)), session("s2", at(0), at(1), consent_analytics=False)],
    )
    scoped, consenting = sessions.behaviour_scope(events, s)
    assert [r.event_id for r in scoped.collect()] == ["h1"]
    assert [r.session_id for r in consenting.collect()] == ["s1"]


FUNNEL_FACTS = [
    {"session_id": "a", "session_date": D, "session_start": at(0), "revenue": 100_000, "region": "Bali"},
    {"session_id": "b", "session_date": D, "session_start": at(0), "revenue": 0, "region": "Bali"},
    {"session_id": "c", "session_date": D, "session_start": at(0), "revenue": 0, "region": "Bali"},
    {"session_id": "d", "session_date": D, "session_start": at(0), "revenue": 0, "channel": "paid_search"},
]


def test_funnel_is_closed_ordered_in_time_and_compared_with_the_previous_period(
    spark: SparkSession, params: dict[str, Any]
) -> None:
    facts = rows_of(
        spark,
        "gold.session_facts",
        [
            {"channel": "direct", "device_type": "mobile", "top_category": "Fashion", "tenure": "new", **f}
            for f in FUNNEL_FACTS
        ],
    )
    events = rows_of(
        spark,
        "silver.events",
        [
            event("a1", at(1), "product_view", "a"),
            event("a2", at(2), "add_to_cart", "a"),
            event("a3", at(3), "begin_checkout", "a"),
            event("a4", at(4), "add_payment_info", "a"),
            # b adds before viewing: its add_to_cart does not count after its product_view.
            event("b1", at(1), "add_to_cart", "b"),
            event("b2", at(2), "product_view", "b"),
            event("d1", at(0, 30), "product_view", "d"),
        ],
    )
    owned = spark.createDataFrame(
        [("a", "o1", at(5), 100_000)], "session_id string, order_id string, created_at timestamp, total long"
    )
    steps = funnel.steps_from(params)
    current = funnel.transform(facts, funnel.step_times(facts, events, owned, steps), steps)
    week_before = D - dt.timedelta(days=7)
    earlier = rows_of(
        spark,
        "gold.funnel_daily",
        [
            {
                "date": week_before,
                "channel": "direct",
                "device_type": "mobile",
                "region": "Bali",
                "top_category": "Fashion",
                "tenure": "new",
                "step": "session",
                "sessions": 5,
                "step_conversion": 1.0,
            }
        ],
    )
    got = funnel.with_previous(current, earlier, params).drop("date", "device_type", "top_category")
    names = ["session", "product_view", "add_to_cart", "begin_checkout", "add_payment_info", "purchase"]
    # The last column counts steps reached in any order: b's add_to_cart before its product_view
    # counts there, not in the ordered count.
    g1 = [  # channel direct, Bali: a, b and c
        (3, 1.0, 1.0, 0, 0.0, 100_000, 5, 1.0, 3),
        (2, 2 / 3, 2 / 3, 1, 90.0, 100_000, None, None, 2),
        (1, 0.5, 1 / 3, 1, 120.0, 100_000, None, None, 2),
        (1, 1.0, 1 / 3, 0, 180.0, 100_000, None, None, 1),
        (1, 1.0, 1 / 3, 0, 240.0, 100_000, None, None, 1),
        (1, 1.0, 1 / 3, 0, 300.0, 100_000, None, None, 1),
    ]
    g2 = [  # channel paid_search, region unknown: d
        (1, 1.0, 1.0, 0, 0.0, 0, None, None, 1),
        (1, 1.0, 1.0, 0, 30.0, 0, None, None, 1),
        (0, 0.0, 0.0, 1, 0.0, 0, None, None, 0),
        (0, None, 0.0, 0, 0.0, 0, None, None, 0),
        (0, None, 0.0, 0, 0.0, 0, None, None, 0),
        (0, None, 0.0, 0, 0.0, 0, None, None, 0),
    ]
    rows = [("direct", "Bali", i, names[i], *g1[i]) for i in range(6)]
    rows += [("paid_search", "(unknown)", i, names[i], *g2[i]) for i in range(6)]
    expected = spark.createDataFrame(
        [(*r[:4], r[4], r[5], r[6], r[7], r[8], r[9], week_before, r[10], r[11], r[12]) for r in rows],
        got.select(
            "channel",
            "region",
            "step_index",
            "step",
            "sessions",
            "step_conversion",
            "overall_conversion",
            "drop_off",
            "median_seconds_to_step",
            "revenue",
            "previous_date",
            "previous_sessions",
            "previous_step_conversion",
            "sessions_any_order",
        ).schema,
    )
    assertDataFrameEqual(got.select(expected.columns), expected, rtol=1e-9)


def test_funnel_steps_must_start_with_an_entry_step(params: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="entry step"):
        funnel.steps_from({"funnel_steps": [{"name": "view", "events": ["product_view"]}]})
    custom = {"funnel_steps": [*params["funnel_steps"][:2], {"name": "cart_view", "events": ["cart_view"]}]}
    assert [s.name for s in funnel.steps_from(custom)] == ["session", "product_view", "cart_view"]


def test_page_transitions_and_top_paths_collapse_repeats(spark: SparkSession, params: dict[str, Any]) -> None:
    pages1 = ["home", "search", "product", "product", "product", "cart", "checkout", "order_confirmation", "home"]
    kinds = {"search": "search", "product": "product_view", "checkout": "begin_checkout"}
    rows = [event(f"a{i}", at(i), kinds.get(p, "page_view"), "s1", page_type=p) for i, p in enumerate(pages1)]
    other = ["home", "product", "home"]
    rows += [event(f"b{i}", at(i), kinds.get(p, "page_view"), "s2", page_type=p) for i, p in enumerate(other)]
    rows.append(event("p1", at(3, 10), "page_ping", "s1", page_type="other"))  # pings are not pages
    facts = rows_of(spark, "gold.session_facts", [{"session_id": s, "session_date": D} for s in ("s1", "s2")])
    seq = paths.page_sequences(rows_of(spark, "silver.events", rows), facts)

    got = paths.transitions(seq).drop("date")
    moves = [
        ("(entrance)", "home", 2, 1.0),
        ("home", "search", 1, 0.25),
        ("home", "product", 1, 0.25),
        ("home", "(exit)", 2, 0.5),
        ("search", "product", 1, 1.0),
        ("product", "cart", 1, 0.5),
        ("product", "home", 1, 0.5),
        ("cart", "checkout", 1, 1.0),
        ("checkout", "order_confirmation", 1, 1.0),
        ("order_confirmation", "home", 1, 1.0),
    ]
    assertDataFrameEqual(got, spark.createDataFrame(moves, got.schema))

    top = paths.top_paths(seq, {**params, "max_path_steps": 3}).drop("date")
    expected = [
        ("purchase", "product > cart > checkout", 3, 1, 1.0, 1),
        ("exit", "home > product > home", 3, 1, 1.0, 1),
    ]
    assertDataFrameEqual(top, spark.createDataFrame(expected, top.schema))


@pytest.mark.parametrize(
    ("typed", "normalised"),
    [
        ("  Sepatu2  Nike!! ", "sepatu nike"),
        ("baju-baju anak", "baju anak"),
        ("HP Samsun", "handphone samsung"),
        ("Skin Care wajah", "skincare wajah"),
        ("T-Shirt polos", "tshirt polos"),
        ("kaos 2 pcs", "kaos 2 pcs"),
        ("iPhone 15 Pro", "iphone 15 pro"),
        ("!!!", None),
        ("", None),
    ],
)
def test_query_normalisation(spark: SparkSession, params: dict[str, Any], typed: str, normalised: str | None) -> None:
    df = spark.createDataFrame([(typed,)], "q string")
    assert df.select(search.normalise_query(F.col("q"), params["query_corrections"])).first()[0] == normalised


def test_search_quality_clicks_refinements_carts_and_purchases(spark: SparkSession, params: dict[str, Any]) -> None:
    rows = [
        event("s-a", at(0), "search", search_id="A", query="Sepatu2", results_count=10),
        event("k-a", at(0, 10), "search_result_click", search_id="A", product_id="P1", position=3),
        event("c-a", at(1), "add_to_cart", product_id="P1"),
        event("s-b", at(1, 30), "search", search_id="B", query="sepatu lari", results_count=0),
        event("s-c", at(10), "search", search_id="C", query="SEPATU", results_count=5),
        event("k-c1", at(10, 5), "search_result_click", search_id="C", product_id="P2", position=1),
        event("k-c2", at(10, 9), "search_result_click", search_id="C", product_id="P3", position=4),
        event("c-x", at(0, 5), "add_to_cart", product_id="P2"),  # before C's click: not C's doing
    ]
    events = rows_of(spark, "silver.events", rows).withColumn("session_date", F.lit(D))
    bought = spark.createDataFrame(
        [("s1", "P1", at(5)), ("s1", "P2", at(5))], "session_id string, product_id string, created_at timestamp"
    )
    people = spark.createDataFrame([("s1", "u1")], "session_id string, person string")
    got = search.transform(events, bought, people, {**params, "min_people_per_query": 1}).drop("date")
    expected = [
        ("sepatu", 2, 2, 0.0, 1.0, 8 / 3, 0.5, 0.5, 0.5),
        ("sepatu lari", 1, 1, 1.0, 0.0, None, 0.0, 0.0, 0.0),
    ]
    # C's P2 is in an order placed before C's click: it does not count for C.
    assertDataFrameEqual(got, spark.createDataFrame(expected, got.schema), rtol=1e-9)


def test_queries_of_fewer_than_k_people_are_published_as_rare(spark: SparkSession, params: dict[str, Any]) -> None:
    """k = 2: "sepatu" is searched by two people (one of them on two devices, counted once), the
    others by one each; those are published together as (rare), their rates over their searches."""
    rows = [
        event("a1", at(0), "search", session="s1", search_id="A1", query="sepatu", results_count=10),
        event("a2", at(1), "search", session="s2", search_id="A2", query="Sepatu", results_count=0),
        event("b1", at(2), "search", session="s3", search_id="B1", query="sepatu", results_count=3),
        event("r1", at(3), "search", session="s1", search_id="R1", query="budi 0812 3456", results_count=0),
        event("r2", at(9), "search", session="s3", search_id="R2", query="jl. mawar 5", results_count=4),
        event("r3", at(20), "search", session="s2", search_id="R3", query="budi 0812 3456", results_count=0),
    ]
    events = rows_of(spark, "silver.events", rows).withColumn("session_date", F.lit(D))
    bought = spark.createDataFrame([], "session_id string, product_id string, created_at timestamp")
    # s1 and s2: one account on two devices; s3: another person.
    people = spark.createDataFrame(
        [("s1", "acct-1"), ("s2", "acct-1"), ("s3", "dev-9")], "session_id string, person string"
    )
    got = search.transform(events, bought, people, {**params, "min_people_per_query": 2})
    got = got.select("query_normalised", "searches", "query_variants", "zero_result_rate")
    expected = [("sepatu", 3, 1, 1 / 3), ("(rare)", 3, 2, 2 / 3)]
    assertDataFrameEqual(got, spark.createDataFrame(expected, got.schema), rtol=1e-9)


def test_traffic_hourly_counts_exclusions_and_peak_load(spark: SparkSession, params: dict[str, Any]) -> None:
    base = dt.datetime(2026, 11, 11, 1, 0, 0)
    all_events = rows_of(
        spark,
        "silver.events",
        [
            event("e1", base + dt.timedelta(milliseconds=100), "page_view", "s1"),
            {**event("e2", base + dt.timedelta(milliseconds=500), "page_view", "x"), "is_bot": True},
            event("e3", base + dt.timedelta(minutes=30), "page_view", "s9", consent_analytics=False),
            event("e4", base + dt.timedelta(minutes=70), "page_view", "s2"),
        ],
    )
    scoped = all_events.where(F.col("event_id").isin("e1", "e4"))
    s = rows_of(
        spark, "silver.sessions", [session("s1", base, base), session("s2", at(70, base=base), at(70, base=base))]
    )
    o = rows_of(
        spark,
        "silver.orders",
        [
            order("o1", base + dt.timedelta(minutes=40), 1000, "d"),
            order("o2", base + dt.timedelta(minutes=60), 500, "d"),
        ],
    )
    got = traffic.transform(all_events, scoped, s, o, params)
    h1, h2 = base, base + dt.timedelta(hours=1)
    expected = [
        (h1, D, dt.datetime(2026, 11, 11, 8), D, 8, 1, 1, 1, 1, 1000, 1, 1, 1 / 3, 2),
        (h2, D, dt.datetime(2026, 11, 11, 9), D, 9, 1, 1, 1, 1, 500, 0, 0, 0.0, 1),
    ]
    assertDataFrameEqual(got, spark.createDataFrame(expected, got.schema), rtol=1e-9)
