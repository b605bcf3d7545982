"""Shoppers and their devices: region and time zone, 1-3 devices each with a user agent, an IP,
an analytics-consent flag and (for a configured share) a skewed clock."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jobs.simulate.rand import STREAM_TASTE, Draw, Weighted, generator
from jobs.simulate.reference import (
    CONSUMER_IP6_PREFIXES,
    CONSUMER_IP_PREFIXES,
    DEVICE_KINDS,
    REGIONS,
    TZ_OFFSET_HOURS,
)

_REGION = Weighted(REGIONS, [w for _, _, w in REGIONS])
#: The one behavioural trait that tells shoppers apart is ``activity`` (their visit rate, Gamma(2,
#: 0.5), mean 1). The truth (``truth/users.parquet``) names three tiers of it, with these upper
#: bounds, so that customer clustering can be scored against them (about 34 %, 43 % and 23 %).
ACTIVITY_TIERS: tuple[tuple[str, float], ...] = (("light", 0.6), ("regular", 1.4), ("heavy", math.inf))
_KIND = Weighted(DEVICE_KINDS, [w for _, w, _ in DEVICE_KINDS])


@dataclass(slots=True)
class Device:
    anonymous_id: str
    kind: str
    is_app: bool
    user_agent: str
    ip: str
    consent: bool
    skew_ms: int
    region: str | None
    timezone: str
    offset: int  # hours east of UTC
    user: User | None = None
    # Collector fields that never change for this device, in envelope order.
    base: dict[str, Any] = field(default_factory=dict, repr=False)
    # Simulation state across visits.
    last_end_ms: int = -(10**15)
    to_recover: list[Any] = field(default_factory=list, repr=False)
    # Categories of the device's last cart and until when later visits keep away from them: three
    # views of one cart's category within the hour are the planted "browsing alternatives" signal.
    shun: frozenset[int] = frozenset()
    shun_until_ms: int = -(10**15)
    # The device's last campaign and when it was tagged (planted campaigns only; None after a
    # visit from another non-direct source, which takes the credit instead).
    touch: tuple[str, int] | None = None

    def __post_init__(self) -> None:
        self.base = {"user_agent": self.user_agent, "ip": self.ip}
        if self.region is not None:
            self.base["region"] = self.region
        self.base["timezone"] = self.timezone
        self.base["consent_analytics"] = self.consent


@dataclass(slots=True)
class User:
    index: int
    user_id: str
    email: str
    phone: str
    region: str
    timezone: str
    offset: int
    activity: float
    devices: list[Device] = field(default_factory=list)
    device_pick: Weighted | None = None
    # Taste: the categories this shopper favours (indexes into the catalogue's categories) and the
    # weighted choice of a category for their browsing and searching (see :func:`taste`).
    favourites: tuple[int, ...] = ()
    taste: Weighted | None = None


def activity_tier(activity: float) -> str:
    """The truth's customer type of a shopper: the tier of ``ACTIVITY_TIERS`` their activity falls in."""
    return next(name for name, upper in ACTIVITY_TIERS if activity < upper)


def user_columns(users: list[User], paths: Sequence[str] = ()) -> dict[str, list[Any]]:
    """The users truth: one row per shopper with the traits the simulation drew (no landing effect).

    ``paths``: the catalogue's category paths, naming each shopper's favourite categories.
    """
    return {
        "user_id": [u.user_id for u in users],
        "region": [u.region for u in users],
        "timezone": [u.timezone for u in users],
        "activity": [u.activity for u in users],
        "customer_type": [activity_tier(u.activity) for u in users],
        "devices": [len(u.devices) for u in users],
        "favourite_categories": [[paths[i] for i in u.favourites] for u in users],
    }


def taste(
    seed: int, lo: int, hi: int, popularity: Sequence[float], sim: dict[str, Any]
) -> list[tuple[tuple[int, ...], Weighted | None]]:
    """Favourite categories and category choice of users ``lo..hi-1`` (conf ``simulator.taste``).

    Each shopper favours ``favourite_categories`` distinct categories, drawn by the catalogue's
    category ``popularity``; ``favourite_share`` of their category choices go to those (equally),
    the rest follow the catalogue's popularity. Drawn from the shard's own stream, so the other
    draws of the run do not move; a choice costs one uniform draw, as the catalogue's does.
    """
    conf = sim.get("taste") or {}
    k, fav_share = int(conf.get("favourite_categories", 0)), float(conf.get("favourite_share", 0.0))
    if k <= 0 or fav_share <= 0.0:
        return [((), None)] * (hi - lo)
    if not 0.0 < fav_share <= 1.0 or k >= len(popularity):
        raise ValueError(
            f"simulator.taste: favourite_share must be in (0, 1] and favourite_categories below {len(popularity)}"
        )
    rng = generator(seed, STREAM_TASTE, lo)
    p = np.asarray(popularity, dtype=float) / float(sum(popularity))
    out: list[tuple[tuple[int, ...], Weighted | None]] = []
    for _ in range(lo, hi):
        favs = tuple(int(i) for i in rng.choice(len(p), size=k, replace=False, p=p))
        weights = p * (1.0 - fav_share)
        weights[list(favs)] += fav_share / k
        out.append((favs, Weighted(range(len(p)), weights.tolist())))
    return out


def consumer_ip(draw: Draw) -> str:
    if draw.chance(0.08):
        p = draw.pick(CONSUMER_IP6_PREFIXES)
        return f"{p}:{draw.randint(0, 0xFFFF):x}:{draw.randint(0, 0xFFFF):x}::{draw.randint(1, 0xFFFF):x}"
    return f"{draw.pick(CONSUMER_IP_PREFIXES)}.{draw.randint(0, 255)}.{draw.randint(1, 254)}"


def make_users(
    lo: int, hi: int, draw: Draw, sim: dict[str, Any], seed: int = 0, popularity: Sequence[float] = ()
) -> list[User]:
    """Users ``lo..hi-1`` (global indexes) with their devices, and their taste when the catalogue's
    category ``popularity`` is given (:func:`taste`)."""
    tastes = taste(seed, lo, hi, popularity, sim) if popularity else [((), None)] * (hi - lo)
    dmin, dmax = sim["devices_per_user"]
    skew_share = float(sim["clock_skew_device_share"])
    skew_max_ms = int(float(sim["clock_skew_max_minutes"]) * 60_000)
    consent_false = float(sim["consent_false_share"])
    # Most shoppers use one device; fewer use two or three.
    n_dev = Weighted(list(range(dmin, dmax + 1)), [0.6**k for k in range(dmax - dmin + 1)])
    users = []
    for idx in range(lo, hi):
        region, tz, _ = _REGION(draw)
        off = TZ_OFFSET_HOURS[tz]
        # Gamma(2, 0.5): mean 1, a long tail of heavy shoppers.
        activity = -0.5 * (math.log(1.0 - draw.u()) + math.log(1.0 - draw.u()))
        user = User(
            idx,
            f"U{idx + 1:08d}",
            f"user{idx + 1}@example.id",
            f"+628{draw.randint(11, 59)}{draw.randint(10_000_000, 99_999_999)}",
            region,
            tz,
            off,
            activity,
        )
        for _ in range(n_dev(draw)):
            kind, _, agents = _KIND(draw)
            if draw.chance(skew_share):
                skew = draw.randint(60_000, skew_max_ms) * (1 if draw.chance(0.5) else -1)
            else:
                skew = draw.randint(-2_000, 2_000)  # ordinary device clocks are a second or two off
            dev = Device(
                draw.uuid(),
                kind,
                kind.endswith("_app"),
                draw.pick(agents),
                consumer_ip(draw),
                not draw.chance(consent_false),
                skew,
                region,
                tz,
                off,
                user,
            )
            user.devices.append(dev)
        # The first device is the shopper's main one.
        user.device_pick = Weighted(range(len(user.devices)), [1.0, 0.45, 0.2][: len(user.devices)])
        user.favourites, user.taste = tastes[idx - lo]
        users.append(user)
    return users
