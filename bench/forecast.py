"""The surge forecast's backtests on two simulated seasons (``make bench``, section forecast).

History is the simulator's traffic model at the hour level (jobs/simulate/history.py): 1 August 2024
to 31 December 2026, growth of 30 % a year and 5 % daily noise, for ``users`` shoppers. For each seed,
the forecast of 11.11 made on 1 November and of 12.12 made on 1 December (14 days each, from the
history up to the origin), beside the seasonal-naive baseline: daily MAPE over the 14 days, the sale
day's peak hour and peak volume, its day volume, and how many hours fell inside the 80 % intervals.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jobs.common.config import Settings
from jobs.ml.forecast import TARGETS, backtest_scores, forecast, seasonal_naive
from jobs.simulate.history import hourly_history

FIRST, LAST = date(2024, 8, 1), date(2026, 12, 31)
SEASONS = {"yearly_growth": 0.3, "daily_noise": 0.05}
ORIGINS = ((date(2026, 11, 1), date(2026, 11, 11)), (date(2026, 12, 1), date(2026, 12, 12)))


def bench_forecast(settings_for: Any, home: Path, users: int, seeds: list[int]) -> dict[str, Any]:
    conf: Settings = settings_for(home, simulator={"seasons": SEASONS})
    rows = []
    for seed in seeds:
        history = hourly_history(FIRST, (LAST - FIRST).days + 1, users, seed, conf)
        actual = history.groupby(["local_date", "local_hour"], as_index=False).agg(
            {"events": "sum", "sessions": "sum", "orders": "sum", "peak_events_per_second": "max"}
        )
        for origin, sale in ORIGINS:
            past = actual[actual["local_date"] <= origin]
            t0 = time.monotonic()
            got = forecast(past, conf["calendar"], origin, conf["forecast"])
            seconds = time.monotonic() - t0
            days = [origin + timedelta(days=i) for i in range(1, 15)]
            model = backtest_scores(got, actual, day=sale)
            naive = backtest_scores(seasonal_naive(past, conf["calendar"], origin, days), actual, day=sale)
            both = got.merge(actual, on=["local_date", "local_hour"], suffixes=("", "_actual"))
            coverage = {
                t: float(both[f"{t}_actual"].between(both[f"{t}_low"], both[f"{t}_high"]).mean()) for t in TARGETS
            }
            rows.append({"seed": seed, "origin": str(origin), "sale": str(sale), "model": model, "naive": naive,
                         "coverage": coverage, "seconds": round(seconds, 1)})  # fmt: skip
            print(
                f"forecast: seed {seed} {sale}: MAPE {model['daily_mape']:.3f} vs {naive['daily_mape']:.3f}", flush=True
            )
    frame = pd.DataFrame(
        [
            {
                "mape": r["model"]["daily_mape"],
                "naive": r["naive"]["daily_mape"],
                "peak_hour": r["model"]["peak_hour_error_h"],
                "peak_volume": abs(r["model"]["peak_volume_error"]),
            }
            for r in rows
        ]
    )
    summary = {
        "runs": len(rows),
        "mape_max": float(frame["mape"].max()),
        "beats_naive": int((frame["mape"] < frame["naive"]).sum()),
        "peak_hour_within_1h": int((frame["peak_hour"] <= 1).sum()),
        "peak_volume_within_20pct": int((frame["peak_volume"] <= 0.2).sum()),
        "coverage_mean": float(np.mean([np.mean(list(r["coverage"].values())) for r in rows])),
    }
    return {
        "users": users,
        "first": str(FIRST),
        "last": str(LAST),
        "seasons": SEASONS,
        "rows": rows,
        "summary": summary,
    }
