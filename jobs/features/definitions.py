"""Feature definitions of ``features.user_daily``: the one place that names and describes each feature.

The table contract ``schemas/tables/features/user_daily.yaml`` is generated from this module
(:func:`render_contract`; ``python -m jobs.features.definitions`` rewrites it) and a test fails when
the committed file differs, so the contract, the Spark schema built from it, the job's output
(:mod:`jobs.features.user_daily`) and point-in-time retrieval (:mod:`jobs.features.retrieval`)
cannot drift apart.

Families: activity counts per trailing window (``WINDOWS`` days before as_of_date), recency /
frequency / monetary value, channel and device mix of sessions, the time-of-purchase profile
(``pt_*``, from ``gold.purchase_time_profile``), and personalisation: favourite categories, region,
price band and RFM segment (strings and arrays; :func:`numeric_feature_names` leaves them out for
models that take numbers only).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from jobs.common.config import schemas_dir
from jobs.silver.channels import CHANNELS as SILVER_CHANNELS

TABLE = "features.user_daily"
#: Trailing windows, in days before as_of_date.
WINDOWS: tuple[int, ...] = (7, 30, 90)
#: Window of the mix and RFM features (the longest).
MIX_WINDOW = max(WINDOWS)
#: Channel groups of silver.events (the silver rules' own list) and human device types.
CHANNELS: tuple[str, ...] = tuple(SILVER_CHANNELS)
DEVICES: tuple[str, ...] = ("desktop", "mobile", "tablet", "other")
HOUR_BUCKETS: tuple[str, ...] = ("night", "morning", "afternoon", "evening")


@dataclass(frozen=True)
class Feature:
    """One column of the feature table."""

    name: str
    type: str
    description: str
    nullable: bool = True
    group: str = ""

    def column(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "nullable": self.nullable, "description": self.description}


#: Counted per window: (measure, type, description with ``{w}`` for the window length).
WINDOW_MEASURES: tuple[tuple[str, str, str, bool], ...] = (
    ("sessions", "long", "Sessions of the user that started in the {w} days before as_of_date.", False),
    ("product_views", "long", "product_view events of the user in the {w} days before as_of_date.", False),
    ("searches", "long", "search events of the user in the {w} days before as_of_date.", False),
    ("carts", "long", "Carts (distinct cart_id) the user first added to in the {w} days before as_of_date.", False),
    (
        "purchases",
        "long",
        "Orders the user created in the {w} days before as_of_date and had not cancelled before as_of_date.",
        False,
    ),
    (
        "revenue",
        "long",
        "Total (IDR) of those orders already paid and neither cancelled nor refunded before as_of_date.",
        False,
    ),
    (
        "abandonment_rate",
        "double",
        "Share of those carts without an order (silver.orders.cart_id) created before as_of_date; null without carts.",
        True,
    ),
)


def window_name(measure: str, days: int) -> str:
    return f"{measure}_{days}d"


def channel_name(channel: str) -> str:
    return f"channel_share_{channel}_{MIX_WINDOW}d"


def device_name(device: str) -> str:
    return f"device_share_{device}_{MIX_WINDOW}d"


#: Time-of-purchase features: feature name → (profile column, type, description).
PROFILE_FEATURES: dict[str, tuple[str, str, str]] = {
    "pt_purchases": ("purchases", "long", "Purchases in the history window (gold.purchase_time.history_days)."),
    "pt_preferred_hour": ("preferred_hour", "double", "Circular mean local hour of purchase [0, 24)."),
    "pt_hour_concentration": ("hour_concentration", "double", "1 = always buys at the same time of day, 0 = none."),
    **{
        f"pt_share_{b}": (f"purchases_{b}", "double", f"Share of purchases in the local {b} (six-hour bucket).")
        for b in HOUR_BUCKETS
    },
    "pt_weekend_share": ("weekend_share", "double", "Share of purchases on a local Saturday or Sunday."),
    "pt_payday_share": ("payday_share", "double", "Share of purchases on a local payday (calendar.payday_days)."),
    "pt_sale_day_share": (
        "sale_day_share",
        "double",
        "Share of purchases on a local sale day (the double dates 9.9 to 12.12 and the shop's own; "
        "jobs/common/calendar.py).",
    ),
    "pt_ramadan_share": (
        "ramadan_share",
        "double",
        "Share of purchases in Ramadan (the days before Eid al-Fitr; jobs/common/calendar.py).",
    ),
    "pt_days_since_last_purchase": (
        "days_since_last_purchase",
        "double",
        "Days from the last purchase to as_of_date 00:00 UTC.",
    ),
    "pt_mean_days_between_purchases": (
        "mean_days_between_purchases",
        "double",
        "Mean gap in days between distinct local purchase dates.",
    ),
    "pt_stddev_days_between_purchases": (
        "stddev_days_between_purchases",
        "double",
        "Sample standard deviation of the gaps between purchase dates.",
    ),
    "pt_median_lead_time_hours": (
        "median_lead_time_hours",
        "double",
        "Median hours from first view of an ordered product to the order.",
    ),
}


def user_daily_features() -> list[Feature]:
    """Every feature of features.user_daily, in table order (keys excluded)."""
    out: list[Feature] = []
    for measure, kind, text, nullable in WINDOW_MEASURES:
        for w in WINDOWS:
            out.append(Feature(window_name(measure, w), kind, text.format(w=w), nullable, "activity"))
    out += [
        Feature(
            "days_since_last_activity",
            "double",
            "Recency: days from the user's last human event or purchase to as_of_date 00:00 UTC.",
            False,
            "rfm",
        ),
        Feature(
            f"purchase_days_{MIX_WINDOW}d",
            "long",
            f"Frequency: distinct UTC dates with a purchase in the {MIX_WINDOW} days before as_of_date.",
            False,
            "rfm",
        ),
        Feature(
            f"avg_order_value_{MIX_WINDOW}d",
            "double",
            f"Monetary: revenue_{MIX_WINDOW}d per paid order (IDR); null without one.",
            True,
            "rfm",
        ),
    ]
    out += [
        Feature(
            channel_name(c),
            "double",
            f"Share of the user's sessions of the last {MIX_WINDOW} days whose first event came from channel "
            f"{c}; null without sessions.",
            True,
            "mix",
        )
        for c in CHANNELS
    ]
    out += [
        Feature(
            device_name(d),
            "double",
            f"Share of the user's sessions of the last {MIX_WINDOW} days on a {d} device; null without sessions.",
            True,
            "mix",
        )
        for d in DEVICES
    ]
    out += [
        Feature(
            name,
            kind,
            f"{text} From gold.purchase_time_profile ({col}); null without a purchase in its history.",
            True,
            "purchase_time",
        )
        for name, (col, kind, text) in PROFILE_FEATURES.items()
    ]
    out += PERSONAL_FEATURES
    return out


#: Personalisation: what a campaign or a recommender keys on. Strings and arrays, not numbers.
PERSONAL_FEATURES: list[Feature] = [
    Feature(
        f"favourite_categories_{MIX_WINDOW}d",
        "array<string>",
        f"Up to 3 top-level categories of the user's product views and adds to cart of the last {MIX_WINDOW} days, "
        "most events first (ties by name); null without such events.",
        True,
        "personal",
    ),
    Feature(
        f"favourite_category_share_{MIX_WINDOW}d",
        "double",
        "Share of those events in the first favourite category; null without such events.",
        True,
        "personal",
    ),
    Feature(
        "region",
        "string",
        f"Province of the user's latest human event with a known region in the last {MIX_WINDOW} days; null "
        "without one.",
        True,
        "personal",
    ),
    Feature(
        f"median_viewed_price_{MIX_WINDOW}d",
        "double",
        f"Median unit price (IDR) of the products the user viewed or added to cart in the last {MIX_WINDOW} days; "
        "null without priced views.",
        True,
        "personal",
    ),
    Feature(
        f"price_band_{MIX_WINDOW}d",
        "string",
        f"median_viewed_price_{MIX_WINDOW}d banded by features.price_bands (the first band whose `below` it is "
        "under, else the last); null without priced views.",
        True,
        "personal",
    ),
    Feature(
        "segment",
        "string",
        "RFM segment by the rules of gold.segments over this as-of date's users (the segment gold.customer_segments "
        "gives on its as-of dates), every day; null on rows written before the column existed.",
        True,
        "personal",
    ),
]


def feature_names() -> list[str]:
    return [f.name for f in user_daily_features()]


def numeric_feature_names() -> list[str]:
    """The features a model that takes numbers can use as they are (long and double columns)."""
    return [f.name for f in user_daily_features() if f.type in ("long", "double")]


def contract_doc() -> dict[str, Any]:
    """The table contract of features.user_daily as a YAML document."""
    keys = [
        {"name": "user_id", "type": "string", "nullable": False, "description": "Keyed pseudonym of the account."},
    ]
    partition = {
        "name": "as_of_date",
        "type": "date",
        "nullable": False,
        "description": (
            "Features valid from this date 00:00 UTC, computed only from data strictly before it; the daily job "
            "for logical date D writes as_of_date D + 1. The partition column."
        ),
    }
    return {
        "name": TABLE,
        "path": "features/user_daily",
        "description": (
            "Point-in-time-correct user features for ML: activity in trailing windows of "
            + ", ".join(str(w) for w in WINDOWS)
            + " days, recency/frequency/monetary value, channel and device mix, the time-of-purchase profile "
            "and personalisation (favourite categories, region, price band, RFM segment), "
            "each computed only from data before as_of_date (bots excluded, logged-in consenting users only). "
            "GENERATED from jobs/features/definitions.py (python -m jobs.features.definitions): do not edit."
        ),
        "grain": (
            f"one row per user with any human event or purchase in the {MIX_WINDOW} days before as_of_date, "
            "per as_of_date"
        ),
        "partition_by": ["as_of_date"],
        "key": ["user_id", "as_of_date"],
        "columns": keys + [f.column() for f in user_daily_features()] + [partition],
    }


def contract_path() -> Path:
    return schemas_dir() / "tables" / "features" / "user_daily.yaml"


def render_contract() -> str:
    """The YAML text of the generated contract, stable byte for byte."""
    header = "# GENERATED by `python -m jobs.features.definitions` from jobs/features/definitions.py; do not edit.\n"
    return header + yaml.safe_dump(contract_doc(), sort_keys=False, width=1000, allow_unicode=True)


def write_contract(path: Path | None = None) -> Path:
    """(Re)write the committed contract file from the definitions."""
    path = path or contract_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_contract())
    return path


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(f"wrote {write_contract()}\n")
