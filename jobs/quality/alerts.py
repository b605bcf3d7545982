"""Alert callbacks of the quality gate: ``quality.alert_callback`` names one by dotted path."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from jobs.common.config import Settings

log = logging.getLogger(__name__)

Alert = dict[str, Any]


def log_alert(alert: Alert) -> None:
    """The default callback: log the blocked table and its failed expectations at ERROR level."""
    failed = "; ".join(f"{f['date']} {f['expectation']} (observed {f['observed_value']})" for f in alert["failed"])
    log.error(
        "quality gate blocked %s at Delta version %s: %s. Data Docs: %s",
        alert["table"],
        alert["delta_version"],
        failed,
        alert.get("data_docs"),
    )


def load_callback(settings: Settings) -> Callable[[Alert], None]:
    """The callable named by ``quality.alert_callback`` (``module.function``; base.yaml: :func:`log_alert`)."""
    dotted = settings["quality"]["alert_callback"]
    module_name, _, attr = str(dotted).rpartition(".")
    if not module_name:
        raise ValueError(f"quality.alert_callback must be a dotted path module.function, got {dotted!r}")
    func = getattr(importlib.import_module(module_name), attr)
    if not callable(func):
        raise ValueError(f"quality.alert_callback {dotted!r} is not callable")
    return func  # type: ignore[no-any-return]
