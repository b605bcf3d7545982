"""When shoppers visit: a local-time hourly profile, a weekly pattern, paydays and sale days.

The expected number of visits of an average user in each UTC hour of the window is computed per
time zone from the visitor's *local* clock and calendar, so an 11.11 flash sale peaks at local
midnight in Jakarta, Makassar and Jayapura alike.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

from jobs.simulate.reference import REGIONS, TZ_OFFSET_HOURS

# Relative visits by local hour: quiet 01-05, a lunch peak and an evening peak 19-22.
HOURLY = np.array(
    [
        1.3,
        0.6,
        0.35,
        0.25,
        0.3,
        0.6,
        1.4,
        2.4,
        3.1,
        3.7,
        4.1,
        4.7,
        5.9,
        5.5,
        4.5,
        4.3,
        4.6,
        5.0,
        5.6,
        7.0,
        8.0,
        8.2,
        6.4,
        3.4,
    ]
)
HOURLY = HOURLY / HOURLY.sum()
# Monday .. Sunday; the weekend and Monday evenings are a little busier.
WEEKLY = np.array([1.02, 0.98, 0.97, 0.97, 0.95, 1.04, 1.07])
WEEKLY = WEEKLY / WEEKLY.mean()
# How a flash sale's crowd spreads over its hours (peak hour, next, next); the crowd's share of the
# day's visits is ``simulator.flash_sale_share``.
FLASH_SHAPE = np.array([0.6, 0.3, 0.1])


@dataclass(frozen=True)
class SaleDay:
    name: str
    traffic: float
    peak_hour: int | None


def sale_days(calendar: dict[str, Any]) -> dict[dt.date, SaleDay]:
    out = {}
    for s in calendar.get("sale_days") or []:
        day = s["date"] if isinstance(s["date"], dt.date) else dt.date.fromisoformat(str(s["date"]))
        out[day] = SaleDay(
            str(s.get("name", day.isoformat())),
            float(s.get("traffic", 1.0)),
            s.get("flash_sale_peak_local_hour"),
        )
    return out


def local_day_profile(
    day: dt.date,
    calendar: dict[str, Any],
    sales: dict[dt.date, SaleDay],
    payday_traffic: float,
    flash_share: float,
) -> np.ndarray:
    """Expected visits of an average user in each local hour of ``day`` (before the base rate).

    Paydays lift the day by ``payday_traffic``; ``flash_share`` of a flash sale day's visits crowd
    into its peak hours.
    """
    factor = WEEKLY[day.weekday()]
    if day.day in set(calendar.get("payday_days") or []):
        factor *= payday_traffic
    sale = sales.get(day)
    if sale is None:
        return factor * HOURLY
    shape = HOURLY.copy()
    if sale.peak_hour is not None:
        peak = np.zeros(24)
        for i, share in enumerate(FLASH_SHAPE):
            peak[(int(sale.peak_hour) + i) % 24] += share
        shape = (1 - flash_share) * HOURLY + flash_share * peak
    return factor * sale.traffic * shape


def hourly_rates(
    start: dt.date,
    days: int,
    calendar: dict[str, Any],
    per_day: float,
    payday_traffic: float,
    flash_share: float,
) -> dict[str, np.ndarray]:
    """Per time zone, expected visits of an activity-1 user in each UTC hour of the window."""
    sales = sale_days(calendar)
    hours = days * 24
    out = {}
    for tz, off in TZ_OFFSET_HOURS.items():
        rates = np.zeros(hours)
        profiles: dict[dt.date, np.ndarray] = {}
        for k in range(hours):
            local = dt.datetime.combine(start, dt.time()) + dt.timedelta(hours=k + off)
            day = local.date()
            if day not in profiles:
                profiles[day] = local_day_profile(day, calendar, sales, payday_traffic, flash_share)
            rates[k] = per_day * profiles[day][local.hour]
        out[tz] = rates
    return out


def expected_visits_per_day(rates: dict[str, np.ndarray], users: int) -> list[float]:
    """Expected human visits per UTC day of the window for ``users`` users (time zones by weight)."""
    total = sum(w for _, _, w in REGIONS)
    share = {tz: sum(w for _, t, w in REGIONS if t == tz) / total for tz in TZ_OFFSET_HOURS}
    combined = sum(share[tz] * r for tz, r in rates.items())
    return [float(x) * users for x in np.asarray(combined).reshape(-1, 24).sum(axis=1)]
