"""Long traffic histories at the hour level: the simulator's traffic model without the events.

A forecast needs a season or two of history; simulating every event of two years costs hours of
ingest and silver. ``hourly_history`` draws the hourly aggregates of ``gold.traffic_hourly`` (visits,
events, sessions, orders, peak events per second) straight from the rates the event simulator uses
(:func:`jobs.simulate.rhythm.hourly_rates`: hour, weekday, paydays, holidays, Ramadan, sale days,
growth and daily noise), with Poisson noise, so a forecast can be trained and backtested on years of
history in seconds. The events-per-visit and orders-per-visit ratios are parameters, not measured
from the event simulator; the event-level path is benchmarked separately (bench/forecast.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from jobs.common.calendar import resolve as resolve_calendar
from jobs.common.calendar import years_between
from jobs.common.config import Settings
from jobs.simulate import rhythm
from jobs.simulate.rand import STREAM_HISTORY, generator


def hourly_history(
    start: dt.date,
    days: int,
    users: int,
    seed: int,
    settings: Settings,
    events_per_visit: float = 12.0,
    orders_per_visit: float = 0.1,
) -> pd.DataFrame:
    """One row per UTC hour of ``days`` days from ``start``: the columns of gold.traffic_hourly that
    the forecast reads, plus ``expected_visits`` (the truth)."""
    sim = settings["simulator"]
    calendar = resolve_calendar(settings["calendar"], years_between(start, start + dt.timedelta(days=days)))
    rates = rhythm.simulator_rates(start, days, calendar, sim, seed)
    expected = rhythm.expected_visits_per_hour(rates, users)
    rng = generator(seed, STREAM_HISTORY)
    visits = rng.poisson(expected)
    events = rng.poisson(visits * events_per_visit)
    orders = rng.binomial(visits, orders_per_visit)
    # The busiest second of each hour: events spread over its 3,600 seconds.
    peak = np.array([int(rng.poisson(e / 3600.0, 3600).max()) if e > 0 else 0 for e in events])
    hours = [dt.datetime.combine(start, dt.time()) + dt.timedelta(hours=k) for k in range(days * 24)]
    tz = ZoneInfo(str(settings["gold"]["browsing"]["shop_timezone"]))
    local = [h.replace(tzinfo=dt.UTC).astimezone(tz).replace(tzinfo=None) for h in hours]
    frame: dict[str, Any] = {
        "hour_utc": hours,
        "date": [h.date() for h in hours],
        "hour_local": local,
        "local_date": [h.date() for h in local],
        "local_hour": [h.hour for h in local],
        "sessions": visits,
        "events": events,
        "unique_visitors": visits,
        "orders": orders,
        "revenue": orders * 250_000,
        "bot_events": np.zeros(len(hours), dtype=np.int64),
        "no_consent_events": np.zeros(len(hours), dtype=np.int64),
        "bot_share": np.zeros(len(hours)),
        "peak_events_per_second": peak,
        "expected_visits": expected,
    }
    return pd.DataFrame(frame)
