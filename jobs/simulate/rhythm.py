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

from jobs.simulate.rand import STREAM_TRAFFIC_NOISE
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


@dataclass(frozen=True)
class Seasons:
    """Slow and calendar effects on a day's traffic (``simulator.seasons``)."""

    holiday_traffic: float = 1.0  # factor on a public holiday
    ramadan_traffic: float = 1.0  # factor on a day of Ramadan
    sahur_share: float = 0.0  # share of a Ramadan day's visits moved to the sahur hours (local 02-04)
    yearly_growth: float = 0.0  # traffic grows by this share a year; the window's last day is 1
    daily_noise: float = 0.0  # sigma of a day's log-normal traffic factor (its own random stream)

    @classmethod
    def of(cls, node: dict[str, Any] | None) -> Seasons:
        node = node or {}
        return cls(**{k: float(v) for k, v in node.items()})


#: Sahur: the pre-dawn meal of Ramadan; shoppers browse around it.
SAHUR = np.zeros(24)
SAHUR[[2, 3, 4]] = [0.3, 0.45, 0.25]


def _in_ramadan(day: dt.date, calendar: dict[str, Any]) -> bool:
    return any(str(r["start"]) <= day.isoformat() <= str(r["end"]) for r in calendar.get("ramadan") or [])


def _holidays(calendar: dict[str, Any]) -> set[str]:
    return {str(h["date"]) for h in calendar.get("holidays") or []}


def local_day_profile(
    day: dt.date,
    calendar: dict[str, Any],
    sales: dict[dt.date, SaleDay],
    payday_traffic: float,
    flash_share: float,
    seasons: Seasons | None = None,
    trend: float = 1.0,
) -> np.ndarray:
    """Expected visits of an average user in each local hour of ``day`` (before the base rate).

    Paydays lift the day by ``payday_traffic``; ``flash_share`` of a flash sale day's visits crowd
    into its peak hours. ``seasons`` adds public holidays and Ramadan (with its sahur hours);
    ``trend`` multiplies the day (growth and noise).
    """
    seasons = seasons or Seasons()
    factor = WEEKLY[day.weekday()] * trend
    if day.day in set(calendar.get("payday_days") or []):
        factor *= payday_traffic
    base = HOURLY
    if seasons.holiday_traffic != 1.0 and day.isoformat() in _holidays(calendar):
        factor *= seasons.holiday_traffic
    if (seasons.ramadan_traffic != 1.0 or seasons.sahur_share > 0) and _in_ramadan(day, calendar):
        factor *= seasons.ramadan_traffic
        base = (1 - seasons.sahur_share) * HOURLY + seasons.sahur_share * SAHUR
    sale = sales.get(day)
    if sale is None:
        return factor * base
    shape = base.copy()
    if sale.peak_hour is not None:
        peak = np.zeros(24)
        for i, share in enumerate(FLASH_SHAPE):
            peak[(int(sale.peak_hour) + i) % 24] += share
        shape = (1 - flash_share) * base + flash_share * peak
    return factor * sale.traffic * shape


def trend(day: dt.date, last: dt.date, seasons: Seasons, seed: int) -> float:
    """A day's slow factor: growth up to the window's ``last`` day (1 there) times its noise, drawn
    from a stream keyed by the seed and the day alone (the same day has the same noise in any window)."""
    out = (1.0 + seasons.yearly_growth) ** (-(last - day).days / 365.25)
    if seasons.daily_noise > 0:
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, STREAM_TRAFFIC_NOISE, day.toordinal()])
        out *= float(np.exp(seasons.daily_noise * rng.standard_normal() - seasons.daily_noise**2 / 2))
    return out


def hourly_rates(
    start: dt.date,
    days: int,
    calendar: dict[str, Any],
    per_day: float,
    payday_traffic: float,
    flash_share: float,
    seasons: Seasons | None = None,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Per time zone, expected visits of an activity-1 user in each UTC hour of the window."""
    seasons = seasons or Seasons()
    sales = sale_days(calendar)
    hours = days * 24
    last = start + dt.timedelta(days=days - 1)
    out = {}
    for tz, off in TZ_OFFSET_HOURS.items():
        rates = np.zeros(hours)
        profiles: dict[dt.date, np.ndarray] = {}
        for k in range(hours):
            local = dt.datetime.combine(start, dt.time()) + dt.timedelta(hours=k + off)
            day = local.date()
            if day not in profiles:
                profiles[day] = local_day_profile(
                    day, calendar, sales, payday_traffic, flash_share, seasons, trend(day, last, seasons, seed)
                )
            rates[k] = per_day * profiles[day][local.hour]
        out[tz] = rates
    return out


def expected_visits_per_hour(rates: dict[str, np.ndarray], users: int) -> np.ndarray:
    """Expected human visits in each UTC hour of the window for ``users`` users (time zones by weight)."""
    total = sum(w for _, _, w in REGIONS)
    share = {tz: sum(w for _, t, w in REGIONS if t == tz) / total for tz in TZ_OFFSET_HOURS}
    return np.asarray(sum(share[tz] * np.asarray(r) for tz, r in rates.items())) * users


def expected_visits_per_day(rates: dict[str, np.ndarray], users: int) -> list[float]:
    """Expected human visits per UTC day of the window for ``users`` users (time zones by weight)."""
    return [float(x) for x in expected_visits_per_hour(rates, users).reshape(-1, 24).sum(axis=1)]


def simulator_rates(
    start: dt.date, days: int, calendar: dict[str, Any], sim: dict[str, Any], seed: int
) -> dict[str, np.ndarray]:
    """:func:`hourly_rates` with the ``simulator`` settings' rates, paydays, flash sales and seasons."""
    from jobs.simulate.params import share

    return hourly_rates(
        start,
        days,
        calendar,
        float(sim["visits_per_user_per_day"]),
        payday_traffic=float(sim["payday_traffic"]),
        flash_share=share(sim, "flash_sale_share"),
        seasons=Seasons.of(sim.get("seasons")),
        seed=seed,
    )
