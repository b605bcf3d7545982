"""gold.traffic_forecast_hourly: events, sessions, orders and peak events per second for each hour of
the next ``horizon_days`` days in the shop's local time, with an 80 % interval, and the hours whose
forecast exceeds the shop's capacity.

The model (conf ``forecast``), per target y and local (date d, hour h), made at origin o (the run's
date: everything up to local date o is history):

* **Base.** The mean of y at hour h over the ``base_weeks`` most recent same weekdays that are
  ordinary days (no sale day, no public holiday) and no later than o (in training: no later than a
  week before d). It carries the current level, the weekday and the hour.
* **Ordinary days.** A gradient-boosting model (scikit-learn ``HistGradientBoostingRegressor``) of
  log((y + 1) / (base + 1)) on calendar features — hour, weekday, payday, public holiday, Ramadan,
  day of the month — trained on every non-sale hour of history. Two quantile models (0.1 and 0.9)
  of the same give the 80 % interval.
* **Sale days.** The ratio y / base of the same sale day a year earlier (the calendar's sale day
  with the same name), hour by hour: last season's surge and its flash-sale hours, on this season's
  level. Without last season's day, the mean ratio of the sale days history holds; without any,
  the ordinary model. The interval adds ``sale_day_log_spread`` (a log-scale standard deviation)
  to the ordinary model's.

The seasonal-naive baseline (:func:`seasonal_naive`, for the backtest) is the same day a year
earlier (the same sale day, or 364 days back) scaled by recent growth: the last 28 ordinary days'
mean against the same 28 days a year before.

History is read from the lake's ``gold.traffic_hourly`` (the gated table that is published), summed
per local hour: at most ``history_days`` × 24 rows reach the driver.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from jobs.common.calendar import resolve as resolve_calendar
from jobs.common.calendar import years_between

TABLE = "gold.traffic_forecast_hourly"
INPUT = "gold.traffic_hourly"
TARGETS = ("events", "sessions", "orders", "peak_events_per_second")
Z80 = 1.2815515655446004  # the standard normal's 90th percentile


# ---------------------------------------------------------------------------------------------
# Calendar


@dataclass(frozen=True)
class Calendar:
    """Per local date: payday, public holiday, Ramadan and sale-day name (resolved for any year)."""

    paydays: frozenset[int]
    holidays: frozenset[date]
    ramadan: tuple[tuple[date, date], ...]
    sales: Mapping[date, str]

    @classmethod
    def of(cls, conf: Mapping[str, Any], first: date, last: date) -> Calendar:
        cal = resolve_calendar(conf, years_between(first, last))
        return cls(
            paydays=frozenset(int(d) for d in cal.get("payday_days") or []),
            holidays=frozenset(date.fromisoformat(str(h["date"])) for h in cal["holidays"]),
            ramadan=tuple(
                (date.fromisoformat(str(r["start"])), date.fromisoformat(str(r["end"]))) for r in cal["ramadan"]
            ),
            sales={date.fromisoformat(str(s["date"])): str(s.get("name") or s["date"]) for s in cal["sale_days"]},
        )

    def ordinary(self, d: date) -> bool:
        return d not in self.sales and d not in self.holidays

    def last_season(self, d: date) -> date:
        """The same day a year earlier: the sale day of the same name; else 52 weeks back (the same
        weekday), or 53 when that day was a sale day."""
        name = self.sales.get(d)
        if name is not None:
            for other, other_name in self.sales.items():
                if other_name == name and 300 <= (d - other).days <= 430:
                    return other
        back = d - timedelta(days=364)
        return back if back not in self.sales else back - timedelta(days=7)

    def features(self, days: Sequence[date]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "local_date": list(days),
                "dow": [d.weekday() for d in days],
                "dom": [d.day for d in days],
                "payday": [int(d.day in self.paydays) for d in days],
                "holiday": [int(d in self.holidays) for d in days],
                "ramadan": [int(any(a <= d <= b for a, b in self.ramadan)) for d in days],
                "sale": [int(d in self.sales) for d in days],
            }
        )


# ---------------------------------------------------------------------------------------------
# The model


def _matrix(history: pd.DataFrame, target: str, first: date, last: date) -> pd.DataFrame:
    """y as a (local date × hour) matrix over every date first..last (NaN where history has none)."""
    index = pd.Index([first + timedelta(days=i) for i in range((last - first).days + 1)], name="local_date")
    wide = history.pivot_table(index="local_date", columns="local_hour", values=target, aggfunc="sum")
    return wide.reindex(index=index, columns=range(24))


def _base(y: pd.DataFrame, cal: Calendar, d: date, latest: date, weeks: int) -> np.ndarray | None:
    """The mean hourly row of the ``weeks`` most recent ordinary same weekdays of ``d`` up to ``latest``."""
    rows: list[np.ndarray] = []
    k = max(1, math.ceil((d - latest).days / 7))
    while len(rows) < weeks:
        day = d - timedelta(days=7 * k)
        if day < y.index[0]:
            break
        if cal.ordinary(day):
            row = y.loc[day].to_numpy(dtype=float)
            if not np.isnan(row).all():
                rows.append(np.nan_to_num(row))
        k += 1
    return np.mean(rows, axis=0) if rows else None


def _level(y: pd.DataFrame, cal: Calendar, end: date, days: int = 28) -> float | None:
    """The mean daily total of the ordinary days among the ``days`` days up to ``end``: the level a
    sale day's surge is measured against (four weeks of days: steadier than one weekday's base)."""
    totals = [
        float(np.nansum(y.loc[d].to_numpy(dtype=float)))
        for d in (end - timedelta(days=i) for i in range(days))
        if d in y.index and cal.ordinary(d) and not np.isnan(y.loc[d].to_numpy(dtype=float)).all()
    ]
    return float(np.mean(totals)) if totals else None


@dataclass
class TargetModel:
    """One target's fitted parts."""

    target: str
    y: pd.DataFrame
    median: Any
    low: Any
    high: Any
    sale_ratio: dict[date, tuple[float, np.ndarray]]  # per sale day in history: day surge on its base, hourly shape
    mean_sale_ratio: tuple[float, np.ndarray] | None


FEATURES = ["local_hour", "dow", "dom", "payday", "holiday", "ramadan"]


def _gbm(loss: str, quantile: float | None, params: Mapping[str, Any]) -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor

    kwargs: dict[str, Any] = {
        "loss": loss,
        "max_iter": int(params["max_iter"]),
        "learning_rate": float(params["learning_rate"]),
        "min_samples_leaf": int(params["min_samples_leaf"]),
        "random_state": 0,
    }
    if quantile is not None:
        kwargs["quantile"] = quantile
    return HistGradientBoostingRegressor(**kwargs)


def fit_target(
    history: pd.DataFrame, target: str, cal: Calendar, origin: date, params: Mapping[str, Any]
) -> TargetModel:
    """Fit one target on ``history`` (local_date, local_hour, target) up to ``origin``."""
    first = min(history["local_date"])
    y = _matrix(history, target, first, origin)
    weeks = int(params["base_weeks"])
    rows, ratios = [], {}
    feats = cal.features(list(y.index)).set_index("local_date")
    for d in y.index:
        if np.isnan(y.loc[d].to_numpy(dtype=float)).all():
            continue
        base = _base(y, cal, d, d - timedelta(days=7), weeks)
        if base is None:
            continue
        day = np.nan_to_num(y.loc[d].to_numpy(dtype=float))
        if d in cal.sales:
            # A sale day as a whole-day surge on the base and the day's own hourly shape: the base of
            # one hour is too thin to carry a 30-fold flash-sale hour.
            level = _level(y, cal, d - timedelta(days=7))
            if level is not None:
                ratios[d] = ((day.sum() + 1.0) / (level + 1.0), (day + 0.5) / (day.sum() + 12.0))
            continue
        ratio = (day + 1.0) / (base + 1.0)
        f = feats.loc[d]
        for h in range(24):
            rows.append((h, f["dow"], f["dom"], f["payday"], f["holiday"], f["ramadan"], math.log(ratio[h])))
    train = pd.DataFrame(rows, columns=[*FEATURES, "log_ratio"])
    if len(train) < 24 * 7:
        raise ValueError(f"too little history to forecast {target}: {len(train) // 24} ordinary days with a base")
    x, t = train[FEATURES], train["log_ratio"]
    median = _gbm("squared_error", None, params).fit(x, t)
    low = _gbm("quantile", 0.1, params).fit(x, t)
    high = _gbm("quantile", 0.9, params).fit(x, t)
    mean_ratio = None
    if ratios:
        surge = float(np.exp(np.mean([np.log(r) for r, _ in ratios.values()])))
        mean_ratio = (surge, np.mean([shape for _, shape in ratios.values()], axis=0))
    return TargetModel(target, y, median, low, high, ratios, mean_ratio)


def predict_target(
    model: TargetModel, cal: Calendar, origin: date, days: Sequence[date], params: Mapping[str, Any]
) -> pd.DataFrame:
    """Point and 80 % interval per (local date, hour) of ``days``, made at ``origin``, and its basis."""
    weeks = int(params["base_weeks"])
    spread = float(params["sale_day_log_spread"])
    feats = cal.features(list(days))
    out = []
    for _, f in feats.iterrows():
        d = f["local_date"]
        base = _base(model.y, cal, d, origin, weeks)
        if base is None:
            continue
        x = pd.DataFrame(
            [(h, f["dow"], f["dom"], f["payday"], f["holiday"], f["ramadan"]) for h in range(24)], columns=FEATURES
        )
        mid, lo, hi = model.median.predict(x), model.low.predict(x), model.high.predict(x)
        basis = "ordinary"
        if d in cal.sales:
            ly = cal.last_season(d)
            ratio = model.sale_ratio.get(ly)
            basis = "last_season_sale_day"
            if ratio is None:
                ratio, basis = model.mean_sale_ratio, "sale_days_mean"
            if ratio is not None:
                surge, shape = ratio
                level = _level(model.y, cal, origin)
                point = np.maximum(((base.sum() if level is None else level) + 1.0) * surge * shape - 0.5, 0.0)
                band = Z80 * spread
                low = np.minimum(point * np.exp(np.minimum(lo - mid, 0.0) - band), point)
                high = np.maximum(point * np.exp(np.maximum(hi - mid, 0.0) + band), point)
                for h in range(24):
                    out.append((d, h, float(point[h]), float(low[h]), float(high[h]), basis))
                continue
            basis = "ordinary_no_sale_history"
        point = np.maximum((base + 1.0) * np.exp(mid) - 1.0, 0.0)
        low = np.minimum(np.maximum((base + 1.0) * np.exp(np.minimum(lo, mid)) - 1.0, 0.0), point)
        high = np.maximum((base + 1.0) * np.exp(np.maximum(hi, mid)) - 1.0, point)
        for h in range(24):
            out.append((d, h, float(point[h]), float(low[h]), float(high[h]), basis))
    return pd.DataFrame(out, columns=["local_date", "local_hour", "point", "low", "high", "basis"])


def forecast(
    history: pd.DataFrame, calendar_conf: Mapping[str, Any], origin: date, params: Mapping[str, Any]
) -> pd.DataFrame:
    """The forecast frame for the ``horizon_days`` after ``origin``: one row per (local date, hour)
    with each target's point, ``_low`` and ``_high``, and the sale day's name and basis."""
    horizon = int(params["horizon_days"])
    days = [origin + timedelta(days=i) for i in range(1, horizon + 1)]
    first = min(history["local_date"])
    cal = Calendar.of(calendar_conf, first - timedelta(days=400), days[-1])
    frame: pd.DataFrame | None = None
    for target in TARGETS:
        model = fit_target(history, target, cal, origin, params)
        pred = predict_target(model, cal, origin, days, params)
        pred = pred.rename(columns={"point": target, "low": f"{target}_low", "high": f"{target}_high"})
        frame = pred if frame is None else frame.merge(pred.drop(columns="basis"), on=["local_date", "local_hour"])
    assert frame is not None
    frame["sale_name"] = [cal.sales.get(d) for d in frame["local_date"]]
    frame["horizon_days"] = [(d - origin).days for d in frame["local_date"]]
    return frame


def seasonal_naive(
    history: pd.DataFrame, calendar_conf: Mapping[str, Any], origin: date, days: Sequence[date], target: str = "events"
) -> pd.DataFrame:
    """The baseline: the same day a year earlier, hour by hour, times recent growth (the last 28
    ordinary days' mean against the same 28 days a year earlier)."""
    first = min(history["local_date"])
    cal = Calendar.of(calendar_conf, first, max(days))
    y = _matrix(history, target, first, origin)

    def level(end: date) -> float:
        window = [end - timedelta(days=i) for i in range(28)]
        vals = [y.loc[d].sum() for d in window if d in y.index and cal.ordinary(d)]
        return float(np.mean(vals)) if vals else float("nan")

    growth = level(origin) / level(origin - timedelta(days=364))
    out = []
    for d in days:
        ly = cal.last_season(d)
        row = y.loc[ly].to_numpy(dtype=float) if ly in y.index else np.full(24, np.nan)
        for h in range(24):
            out.append((d, h, float(row[h] * growth)))
    return pd.DataFrame(out, columns=["local_date", "local_hour", target])


# ---------------------------------------------------------------------------------------------
# Scores


def backtest_scores(
    forecast_frame: pd.DataFrame, actual: pd.DataFrame, target: str = "events", day: date | None = None
) -> dict[str, Any]:
    """Daily MAPE over the forecast's days, and on ``day`` (default: the busiest actual day) the
    peak hour's error (hours) and the peak volume's relative error."""
    merged = forecast_frame[["local_date", "local_hour", target]].merge(
        actual[["local_date", "local_hour", target]], on=["local_date", "local_hour"], suffixes=("_f", "_a")
    )
    daily = merged.groupby("local_date")[[f"{target}_f", f"{target}_a"]].sum()
    daily = daily[daily[f"{target}_a"] > 0]
    mape = float((abs(daily[f"{target}_f"] - daily[f"{target}_a"]) / daily[f"{target}_a"]).mean())
    day = day or daily[f"{target}_a"].idxmax()
    one = merged[merged["local_date"] == day].set_index("local_hour")
    hour_f, hour_a = int(one[f"{target}_f"].idxmax()), int(one[f"{target}_a"].idxmax())
    peak_a = float(one[f"{target}_a"].max())
    return {
        "daily_mape": round(mape, 4),
        "day": str(day),
        "peak_hour_forecast": hour_f,
        "peak_hour_actual": hour_a,
        "peak_hour_error_h": min(abs(hour_f - hour_a), 24 - abs(hour_f - hour_a)),
        "peak_volume_error": round((float(one[f"{target}_f"].max()) - peak_a) / peak_a, 4),
        "day_volume_error": round(float(daily.loc[day, f"{target}_f"] / daily.loc[day, f"{target}_a"] - 1), 4),
    }


def utc_hour(local_date: date, hour: int, timezone: str) -> datetime:
    """The UTC start (naive) of a local hour of the shop's time zone."""
    local = datetime.combine(local_date, datetime.min.time()).replace(hour=hour, tzinfo=ZoneInfo(timezone))
    return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


# ---------------------------------------------------------------------------------------------
# The job


def read_history(spark: Any, settings: Any, origin: date, days: int) -> pd.DataFrame:
    """gold.traffic_hourly summed per local hour for the ``days`` local days up to ``origin``
    (bounded: at most ``days`` × 24 rows reach the driver)."""
    from pyspark.sql import functions as F

    from jobs.common.tables import read_table

    first = origin - timedelta(days=days - 1)
    rows: pd.DataFrame = (
        read_table(spark, INPUT, settings)
        .where(F.col("local_date").between(F.lit(first), F.lit(origin)))
        .groupBy("local_date", "local_hour")
        .agg(
            F.sum("events").alias("events"),
            F.sum("sessions").alias("sessions"),
            F.sum("orders").alias("orders"),
            F.max("peak_events_per_second").alias("peak_events_per_second"),
        )
        .toPandas()  # bounded: days × 24 rows
    )
    return rows.astype(
        {"local_hour": int, "events": float, "sessions": float, "orders": float, "peak_events_per_second": float}
    )


def capacity_flags(frame: pd.DataFrame, capacity: Mapping[str, Any]) -> pd.Series:
    """Hours whose upper bound exceeds the capacity: peak events per second, or orders per minute
    averaged over the hour."""
    eps = float(capacity["events_per_second"])
    opm = float(capacity["orders_per_minute"])
    return (frame["peak_events_per_second_high"] > eps) | (frame["orders_high"] / 60.0 > opm)


def capacity_alerts(frame: pd.DataFrame, origin: date, capacity: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One alert per local day with over-capacity hours: the hours and the worst upper bounds."""
    over = frame[frame["over_capacity"]]
    alerts = []
    for day, rows in over.groupby("local_date"):
        alerts.append(
            {
                "forecast_date": str(origin),
                "local_date": str(day),
                "days_ahead": int((day - origin).days),
                "sale_name": rows["sale_name"].iloc[0],
                "hours": [int(h) for h in rows["local_hour"]],
                "peak_events_per_second_high": round(float(rows["peak_events_per_second_high"].max()), 1),
                "orders_per_minute_high": round(float(rows["orders_high"].max()) / 60.0, 1),
                "capacity": {k: float(v) for k, v in capacity.items()},
            }
        )
    return alerts


def _callback(dotted: str) -> Any:
    import importlib

    module_name, _, attr = str(dotted).rpartition(".")
    if not module_name:
        raise ValueError(f"forecast.capacity_alert_callback must be a dotted path module.function, got {dotted!r}")
    return getattr(importlib.import_module(module_name), attr)


def run_forecast(
    spark: Any, run_date: date, settings: Any, since: date | None = None, run_id: str | None = None
) -> dict[str, Any]:
    """Forecast from ``run_date`` when gold.traffic_hourly changed since the last run (with ``since``:
    from every date since..run_date, each on the history up to it); alert on hours over capacity."""
    from jobs.common import manifest
    from jobs.common.dates import describe
    from jobs.common.tables import conform, ensure_table, replace_partitions

    params = settings["forecast"]
    timezone = str(settings["gold"]["browsing"]["shop_timezone"])
    for name in (INPUT, TABLE):
        ensure_table(spark, name, settings)
    plan = manifest.plan(spark, settings, "forecast", run_date, (INPUT,), run_id=run_id)
    origins = {run_date} if plan.dates(INPUT) else set()
    if since is not None:
        origins |= {since + timedelta(days=i) for i in range((run_date - since).days + 1)}
    written: set[date] = set()
    skipped: dict[str, str] = {}
    alerts: list[dict[str, Any]] = []
    for origin in sorted(origins):
        history = read_history(spark, settings, origin, int(params["history_days"]))
        days_held = history["local_date"].nunique()
        if days_held < int(params["min_history_days"]):
            skipped[str(origin)] = f"{days_held} days of gold.traffic_hourly, below forecast.min_history_days"
            replace_partitions(spark.createDataFrame([], _schema(spark)), TABLE, [origin], settings)
            written.add(origin)
            continue
        frame = forecast(history, settings["calendar"], origin, params)
        frame["over_capacity"] = capacity_flags(frame, params["capacity"])
        frame["forecast_date"] = origin
        frame["history_days"] = days_held
        frame["hour_utc"] = [
            utc_hour(d, int(h), timezone) for d, h in zip(frame["local_date"], frame["local_hour"], strict=True)
        ]
        replace_partitions(conform(spark.createDataFrame(frame), TABLE), TABLE, [origin], settings)
        written.add(origin)
        if origin == run_date:
            alerts = capacity_alerts(frame, origin, params["capacity"])
    if written or plan.has_news():
        manifest.record(spark, settings, plan, {TABLE: written} if written else {})
    notify = _callback(params["capacity_alert_callback"])
    for alert in alerts:
        notify(alert)
    return {
        "run_date": str(run_date),
        "dates": describe(written) if written else "none",
        "skipped": skipped,
        "capacity_alerts": alerts,
    }


def _schema(spark: Any) -> Any:
    from jobs.common.contracts import table

    return table(TABLE).spark_schema
