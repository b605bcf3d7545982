"""Alert callbacks of detak's DAGs. They log loudly; a team points conf at its own pager instead."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("detak.alerts")


def deadline_missed(dag_id: str = "", hours: float = 0, **context: Any) -> None:
    """Called by Airflow when a run is still going ``hours`` after it was queued."""
    run = context.get("context", {}).get("dag_run") if isinstance(context.get("context"), dict) else None
    log.error("DEADLINE MISSED: %s run %s is not done %s hours after it was queued", dag_id, run, hours)
