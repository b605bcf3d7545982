"""``features.user_daily``: point-in-time-correct user features, one row per user × as_of_date.

Convention (Feast's): a row with ``as_of_date`` A holds features *valid from A 00:00 UTC*, computed
only from data strictly before that instant. The daily job for logical date D (the data of day D is
complete) writes ``as_of_date = D + 1``; a range of as-of dates (backfill, benchmark) is built in
one pass by cross-joining per-user daily aggregates with the as-of dates.

Inputs and rules:

* silver.events, human only (``is_bot`` false) and with a ``user_id`` (logged in and consenting:
  silver nulls the id without consent). Bot and non-consented events are counted, not used.
* Sessions: a user's session (``session_id``) starts at its first event carrying the user's id and
  is counted on that UTC date; its channel and device are those of that first event.
* Carts: a cart (``cart_id`` of add_to_cart) belongs to the window of its first add; it is abandoned
  as of A when no order of silver.orders with that ``cart_id`` was created before A. Computed here
  from silver.events and silver.orders (not from gold.cart_abandonment, whose abandonment window
  is a different question).
* Purchases and revenue: as in gold.purchase_time_profile, an order counts when created before A
  and not cancelled before A; its ``total`` is revenue when also paid, and not refunded, before A.
  Order state is read from its milestones (created_at, paid_at, cancelled_at, refunded_at), so
  events after A never change a row of as_of_date A (the leakage test).
* Users: those with any human event or purchase in the ``MIX_WINDOW`` (90) days before A; users
  inactive for longer get no row (point-in-time retrieval then returns nulls for them).
* The time-of-purchase profile (``pt_*``) is joined from gold.purchase_time_profile of the same
  as_of_date.
* Personalisation: favourite categories and the median viewed price come from the user's
  product_view and add_to_cart events of the window, the region from their latest event with one;
  the price band from ``features.price_bands``; the segment is gold.segments' RFM rule over the
  as-of date's users (:func:`jobs.gold.segments.rfm`), the same segment gold.customer_segments
  gives on its weekly as-of dates.

Feature names and descriptions live in :mod:`jobs.features.definitions`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common import manifest
from jobs.common.config import Settings
from jobs.common.dates import day_range, describe
from jobs.common.tables import add_missing_columns, conform, ensure_table, read_table, replace_dates
from jobs.features.definitions import (
    CHANNELS,
    DEVICES,
    MIX_WINDOW,
    PROFILE_FEATURES,
    TABLE,
    WINDOWS,
    channel_name,
    device_name,
    window_name,
)
from jobs.gold import purchase_time, segments
from jobs.gold.purchase_time import as_of_frame, as_of_instant, build_purchase_time, days_between

PROFILE_TABLE = purchase_time.TABLE


def human_user_events(events: DataFrame) -> DataFrame:
    """Events usable for user features: not bots, with a (consenting) user id."""
    return events.where(~F.col("is_bot") & F.col("user_id").isNotNull())


def session_starts(events: DataFrame) -> DataFrame:
    """``(user_id, session_id, started_at, channel, device_type)`` from the user's first event in the session."""
    first = F.struct(F.col("event_time"), F.col("event_id"))
    return (
        events.where(F.col("session_id").isNotNull())
        .groupBy("user_id", "session_id")
        .agg(
            F.min("event_time").alias("started_at"),
            F.min_by("channel", first).alias("channel"),
            F.min_by("device_type", first).alias("device_type"),
        )
    )


def daily_counts(events: DataFrame) -> DataFrame:
    """``(user_id, event_date, product_views, searches, last_event_at)``."""
    return events.groupBy("user_id", "event_date").agg(
        F.count(F.when(F.col("event_type") == "product_view", 1)).alias("product_views"),
        F.count(F.when(F.col("event_type") == "search", 1)).alias("searches"),
        F.max("event_time").alias("last_event_at"),
    )


def cart_starts(events: DataFrame, orders: DataFrame) -> DataFrame:
    """``(user_id, cart_id, first_added_at, ordered_at)``: ordered_at is the first order of the cart, if any."""
    carts = (
        events.where((F.col("event_type") == "add_to_cart") & F.col("cart_id").isNotNull())
        .groupBy("user_id", "cart_id")
        .agg(F.min("event_time").alias("first_added_at"))
    )
    ordered = orders.where(F.col("cart_id").isNotNull()).groupBy("cart_id").agg(F.min("created_at").alias("ordered_at"))
    return carts.join(ordered, "cart_id", "left")


def _in_window(day: Column, days: int) -> Column:
    """``day`` (a date) is one of the ``days`` days before as_of_date."""
    age = F.datediff(F.col("as_of_date"), day)
    return (age >= 1) & (age <= days)


def _with_as_of(df: DataFrame, day: Column, as_of: DataFrame) -> DataFrame:
    return df.join(F.broadcast(as_of), how="cross").where(_in_window(day, MIX_WINDOW))


def _count_in(day: Column, w: int, condition: Column | None = None) -> Column:
    cond = _in_window(day, w) if condition is None else _in_window(day, w) & condition
    return F.count(F.when(cond, 1))


#: Favourite categories kept per user.
TOP_CATEGORIES = 3


def personal(humans: DataFrame, as_of: DataFrame) -> DataFrame:
    """``user_id, as_of_date``, favourite categories and their first one's share, region and the
    median viewed price of the ``MIX_WINDOW`` days before each as-of date."""
    keys = ["user_id", "as_of_date"]
    viewed = humans.where(F.col("event_type").isin("product_view", "add_to_cart"))
    daily_cats = (
        viewed.where(F.col("top_category").isNotNull())
        .groupBy("user_id", "event_date", "top_category")
        .agg(F.count("*").alias("n"))
    )
    cats = (
        _with_as_of(daily_cats, F.col("event_date"), as_of)
        .groupBy(*keys, "top_category")
        .agg(F.sum("n").alias("n"))
        .groupBy(*keys)
        .agg(
            # Most events first, ties by name: sort on (-n, category).
            F.array_sort(F.collect_list(F.struct((-F.col("n")).alias("k"), F.col("top_category").alias("c")))).alias(
                "_cats"
            ),
            F.sum("n").alias("_cat_events"),
        )
        .select(
            *keys,
            F.slice(F.transform("_cats", lambda x: x["c"]), 1, TOP_CATEGORIES).alias(
                f"favourite_categories_{MIX_WINDOW}d"
            ),
            (-F.col("_cats")[0]["k"] / F.col("_cat_events")).alias(f"favourite_category_share_{MIX_WINDOW}d"),
        )
    )
    latest = F.struct(F.col("event_time"), F.col("event_id"))
    daily_region = (
        humans.where(F.col("region").isNotNull())
        .groupBy("user_id", "event_date")
        .agg(F.max_by("region", latest).alias("region"), F.max(latest).alias("_at"))
    )
    region = (
        _with_as_of(daily_region, F.col("event_date"), as_of)
        .groupBy(*keys)
        .agg(F.max_by("region", F.col("_at")).alias("region"))
    )
    prices = (
        _with_as_of(viewed.where(F.col("price").isNotNull()), F.col("event_date"), as_of)
        .groupBy(*keys)
        .agg(F.median("price").alias(f"median_viewed_price_{MIX_WINDOW}d"))
    )
    return cats.join(region, keys, "full").join(prices, keys, "full")


def price_band(price: Column, bands: Sequence[Mapping[str, Any]]) -> Column:
    """The first band of ``features.price_bands`` whose ``below`` ``price`` is under, else the last."""
    out: Any = F
    for band in bands[:-1]:
        out = out.when(price < F.lit(float(band["below"])), F.lit(str(band["band"])))
    last = F.lit(str(bands[-1]["band"]))
    return F.when(price.isNotNull(), out.otherwise(last) if len(bands) > 1 else last)


def transform(
    events: DataFrame, orders: DataFrame, profile: DataFrame, as_of: DataFrame, settings: Settings
) -> DataFrame:
    """features.user_daily rows for each as_of_date of ``as_of`` (pure).

    ``events``: silver.events rows; ``orders``: silver.orders rows; ``profile``:
    gold.purchase_time_profile rows of the same as-of dates; ``settings``: the configuration
    (``features.price_bands``, ``gold.segments``). Rows at or after an as-of instant are ignored for
    that date, so callers may pass more.
    """
    humans = human_user_events(events)
    instant = as_of_instant(F.col("as_of_date"))
    keys = ["user_id", "as_of_date"]

    sess = _with_as_of(session_starts(humans), F.to_date("started_at"), as_of)
    sess_day = F.to_date("started_at")
    sessions = sess.groupBy(*keys).agg(
        *[_count_in(sess_day, w).alias(window_name("sessions", w)) for w in WINDOWS],
        *[_count_in(sess_day, MIX_WINDOW, F.col("channel") == c).alias(f"_ch_{c}") for c in CHANNELS],
        *[_count_in(sess_day, MIX_WINDOW, F.col("device_type") == d).alias(f"_dev_{d}") for d in DEVICES],
    )

    daily = _with_as_of(daily_counts(humans), F.col("event_date"), as_of)
    counts = daily.groupBy(*keys).agg(
        *[
            F.sum(F.when(_in_window(F.col("event_date"), w), F.col(m)).otherwise(0)).alias(window_name(m, w))
            for m in ("product_views", "searches")
            for w in WINDOWS
        ],
        F.max("last_event_at").alias("_last_event_at"),
    )

    cart = _with_as_of(cart_starts(humans, orders), F.to_date("first_added_at"), as_of)
    cart_day = F.to_date("first_added_at")
    abandoned = F.col("ordered_at").isNull() | (F.col("ordered_at") >= instant)
    carts = cart.groupBy(*keys).agg(
        *[_count_in(cart_day, w).alias(window_name("carts", w)) for w in WINDOWS],
        *[_count_in(cart_day, w, abandoned).alias(f"_abandoned_{w}") for w in WINDOWS],
    )

    placed = _with_as_of(orders.where(F.col("user_id").isNotNull()), F.to_date("created_at"), as_of).where(
        (F.col("created_at") < instant) & (F.col("cancelled_at").isNull() | (F.col("cancelled_at") >= instant))
    )
    order_day = F.to_date("created_at")
    paid = (
        (F.col("paid_at") < instant)
        & (F.col("refunded_at").isNull() | (F.col("refunded_at") >= instant))
    )  # fmt: skip
    buys = placed.groupBy(*keys).agg(
        *[_count_in(order_day, w).alias(window_name("purchases", w)) for w in WINDOWS],
        *[
            F.sum(F.when(_in_window(order_day, w) & paid, F.col("total")).otherwise(0)).alias(window_name("revenue", w))
            for w in WINDOWS
        ],
        _count_in(order_day, MIX_WINDOW, paid).alias("_paid_orders"),
        F.count_distinct(order_day).alias(f"purchase_days_{MIX_WINDOW}d"),
        F.max("created_at").alias("_last_order_at"),
    )

    users = (
        sessions.select(*keys)
        .union(counts.select(*keys))
        .union(carts.select(*keys))
        .union(buys.select(*keys))
        .distinct()
    )
    joined = (
        users.join(sessions, keys, "left")
        .join(counts, keys, "left")
        .join(carts, keys, "left")
        .join(buys, keys, "left")
        .join(profile, keys, "left")
        .join(personal(humans, as_of), keys, "left")
    )
    zero_filled = [window_name(m, w) for m in ("sessions", "product_views", "searches", "carts", "purchases", "revenue")
                   for w in WINDOWS] + [f"purchase_days_{MIX_WINDOW}d"]  # fmt: skip
    joined = joined.fillna(0, zero_filled)
    sessions_mix = F.col(window_name("sessions", MIX_WINDOW))
    last_activity = F.greatest(F.col("_last_event_at"), F.col("_last_order_at"))
    out = joined.withColumns(
        {
            **{
                window_name("abandonment_rate", w): F.when(
                    F.col(window_name("carts", w)) > 0, F.col(f"_abandoned_{w}") / F.col(window_name("carts", w))
                )
                for w in WINDOWS
            },
            "days_since_last_activity": days_between(last_activity, instant),
            f"avg_order_value_{MIX_WINDOW}d": F.when(
                F.col("_paid_orders") > 0, F.col(window_name("revenue", MIX_WINDOW)) / F.col("_paid_orders")
            ),
            **{channel_name(c): F.when(sessions_mix > 0, F.col(f"_ch_{c}") / sessions_mix) for c in CHANNELS},
            **{device_name(d): F.when(sessions_mix > 0, F.col(f"_dev_{d}") / sessions_mix) for d in DEVICES},
            **{
                name: (F.col(col) / F.col("purchases") if name.startswith("pt_share_") else F.col(col))
                for name, (col, _, _) in PROFILE_FEATURES.items()
            },
            f"price_band_{MIX_WINDOW}d": price_band(
                F.col(f"median_viewed_price_{MIX_WINDOW}d"), settings["features"]["price_bands"]
            ),
        }
    )
    params = settings["gold"]["segments"]
    bins = int(params["rfm_bins"])
    segments.check_rules(params["rules"], bins)
    rfm = segments.rfm(out, bins).select("user_id", "as_of_date", segments.segment_of(params["rules"]).alias("segment"))
    return conform(out.join(rfm, keys, "left"), TABLE)


# ---------------------------------------------------------------------------------------------
# I/O


def _dates(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def build_user_features(spark: SparkSession, first: date, last: date, settings: Settings) -> dict[str, Any]:
    """Write features.user_daily for as-of dates ``first``..``last`` from silver and the profiles.

    The range's partitions are replaced in one transaction (idempotent). Returns row counts and
    the bot and non-consented events left out of the range's input.
    """
    dates = _dates(first, last)
    for name in ("silver.events", "silver.orders", PROFILE_TABLE, TABLE):
        ensure_table(spark, name, settings)
    # A table made before the personalisation features gains their columns (null on older rows).
    add_missing_columns(spark, TABLE, settings)
    lo = first - timedelta(days=MIX_WINDOW)
    hi = datetime.combine(last, time.min)
    events = read_table(spark, "silver.events", settings).where(
        F.col("event_date").between(F.lit(lo), F.lit(last - timedelta(days=1)))
    )
    orders = read_table(spark, "silver.orders", settings).where(
        (F.col("order_date") >= F.lit(lo)) & (F.col("created_at") < F.lit(hi))
    )
    profile = read_table(spark, PROFILE_TABLE, settings).where(F.col("as_of_date").between(F.lit(first), F.lit(last)))
    out = transform(events, orders, profile, as_of_frame(spark, dates), settings)
    replace_dates(out, TABLE, first, last, settings)

    excluded = events.agg(
        F.count(F.when(F.col("is_bot"), 1)).alias("bot_events"),
        F.count(F.when(~F.col("is_bot") & ~F.col("consent_analytics"), 1)).alias("no_consent_events"),
    ).first()
    in_range = F.col("as_of_date").between(F.lit(first), F.lit(last))
    return {
        "as_of_dates": [str(first), str(last)],
        "rows": {TABLE: read_table(spark, TABLE, settings).where(in_range).count()},
        "bot_events_excluded": int(excluded["bot_events"]) if excluded else 0,
        "no_consent_events_excluded": int(excluded["no_consent_events"]) if excluded else 0,
    }


def build_features(spark: SparkSession, first: date, last: date, settings: Settings) -> dict[str, Any]:
    """Write gold.purchase_time_profile, then features.user_daily, for as-of dates ``first``..``last``."""
    profiles = build_purchase_time(spark, first, last, settings)
    features = build_user_features(spark, first, last, settings)
    return {
        **features,
        "profile_rows": profiles["rows"][PROFILE_TABLE],
        "feature_rows": features["rows"][TABLE],
        "rows": {**profiles["rows"], **features["rows"]},
    }


INPUTS = ("silver.events", "silver.orders", PROFILE_TABLE)


def run_features(
    spark: SparkSession, run_date: date, settings: Settings, since: date | None = None, run_id: str | None = None
) -> dict[str, Any]:
    """Write features.user_daily for every as-of date the changes since the last run reach: those
    after the earliest changed silver date, those the profile job rewrote, and the as-of dates that
    came due (``run_date`` + 1); with ``since``, also ``since`` + 1 .. ``run_date`` + 1."""
    for name in (*INPUTS, TABLE):
        ensure_table(spark, name, settings)
    plan = manifest.plan(spark, settings, "features", run_date, INPUTS, run_id=run_id)
    dates = plan.as_of_dates(plan.dates("silver.events", "silver.orders")) | plan.dates(PROFILE_TABLE)
    dates = {d for d in dates if d <= run_date + timedelta(days=1)}
    if since is not None:
        dates |= {since + timedelta(days=1 + i) for i in range((run_date - since).days + 1)}
    if not dates:
        if plan.has_news():
            manifest.record(spark, settings, plan, {})
        return {"run_date": str(run_date), "dates": "none", "rows": {}, "noop": True}
    first, last = min(dates), max(dates)
    built = build_user_features(spark, first, last, settings)
    written = set(day_range(first, last))
    manifest.record(spark, settings, plan, {TABLE: written}, rows=built["rows"])
    return {"run_date": str(run_date), "dates": describe(written), **built}
