"""Alert callbacks of detak's DAGs. They log loudly; a team points conf at its own pager instead."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("detak.alerts")


def deadline_missed(dag_id: str = "", hours: float = 0, **context: Any) -> None:
    """Called by Airflow when a run is still going ``hours`` after it was queued."""
    run = context.get("context", {}).get("dag_run") if isinstance(context.get("context"), dict) else None
    log.error("DEADLINE MISSED: %s run %s is not done %s hours after it was queued", dag_id, run, hours)


def capacity_exceeded(alert: dict[str, Any]) -> None:
    """The default capacity alert of the forecast (``forecast.capacity_alert_callback``): log it."""
    log.error(
        "CAPACITY ALERT: %s (%s, %s days ahead) hours %s forecast up to %s events/s and %s orders/min "
        "(upper 80%% bounds) against capacity %s",
        alert["local_date"],
        alert.get("sale_name") or "no sale day",
        alert["days_ahead"],
        alert["hours"],
        alert["peak_events_per_second_high"],
        alert["orders_per_minute_high"],
        alert["capacity"],
    )


def volume_anomaly(alert: dict[str, Any]) -> None:
    """The default live volume alert (``forecast.live.alert_callback``): log it."""
    cause = "a broken tracker or an outage?" if alert["verdict"] == "below" else "a bot flood or an unforecast surge?"
    log.error(
        "VOLUME ALERT: %s UTC received %s events (%s), %s the forecast range %s..%s: %s",
        alert["hour_utc"],
        alert["events"],
        alert["by_source"],
        alert["verdict"],
        alert["low"],
        alert["high"],
        cause,
    )
