"""The registry of detak's jobs, their CLI verbs and the tables they read and write.

It is the single source of the pipeline's graph: the Airflow DAGs build their tasks from it and
the CLI runs the same verbs, so the two cannot drift apart.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from jobs.common.config import Settings
from jobs.common.contracts import event_sources
from jobs.common.errors import UserError


@dataclass(frozen=True)
class Job:
    name: str
    group: str
    args: tuple[str, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    description: str
    #: ``module:function`` taking (spark, run_date, settings, since=None) for the daily jobs; with
    #: ``since`` one run stands for the daily runs since .. run_date (a catch-up or backfill run).
    runner: str = ""
    #: Daily jobs that must have run for the same date first.
    after: tuple[str, ...] = ()
    #: Task group of the daily DAG: silver, gold, features, quality or publish.
    stage: str = ""
    #: Which dates a daily run for D rewrites: ``silver`` (silver's window), ``abandonment`` (the
    #: carts' window) or ``next_day`` (as-of date D + 1 of point-in-time tables).
    window: str = "silver"

    @property
    def task_id(self) -> str:
        return self.name.replace(".", "_").replace("-", "_")

    def load(self) -> Callable[..., dict[str, Any]]:
        """The job's function; imported only when a job runs, never when a DAG file is parsed."""
        module, _, func = self.runner.partition(":")
        return getattr(importlib.import_module(module), func)  # type: ignore[no-any-return]


SILVER = (
    "silver.events",
    "silver.sessions",
    "silver.actor_verdicts",
    "silver.orders",
    "silver.order_items",
    "silver.order_status_history",
    "silver.identity_map",
    "silver.reconciliation",
)
GOLD_ABANDONMENT = ("gold.cart_abandonment", "gold.abandonment_reasons_daily")
PURCHASE_TIME = ("gold.purchase_time_profile",)
FEATURES = ("features.user_daily",)
GOLD_BROWSING = (
    "gold.session_facts",
    "gold.funnel_daily",
    "gold.page_transitions_daily",
    "gold.navigation_paths",
    "gold.search_quality_daily",
    "gold.product_engagement_daily",
    "gold.product_pairs_daily",
    "gold.traffic_hourly",
)


def _daily() -> list[Job]:
    """The daily graph for one logical date, in an order that respects ``after``."""
    return [
        Job(
            name="silver",
            group="daily",
            args=("job", "silver"),
            inputs=tuple(f"bronze.{s}_events" for s in event_sources()),
            outputs=SILVER,
            description="Bronze → silver for the date's window: events, sessions, bots, orders, identity.",
            runner="jobs.silver.daily:run_silver",
            stage="silver",
        ),
        Job(
            name="gold_browsing",
            group="daily",
            args=("job", "gold_browsing"),
            inputs=("silver.events", "silver.sessions", "silver.orders", "silver.order_items"),
            outputs=GOLD_BROWSING,
            description="Silver → browsing patterns: session facts, funnels, paths, search, products, traffic.",
            runner="jobs.gold.browsing:run_browsing",
            after=("silver",),
            stage="gold",
        ),
        Job(
            name="gold_abandonment",
            group="daily",
            args=("job", "gold_abandonment"),
            inputs=("silver.events", "silver.orders", "silver.sessions"),
            outputs=GOLD_ABANDONMENT,
            description="Silver → carts with outcome, stage and reasons, and lost value per reason.",
            runner="jobs.gold.abandonment:run_abandonment",
            after=("silver",),
            stage="gold",
            window="abandonment",
        ),
        Job(
            name="gold_purchase_time",
            group="daily",
            args=("job", "gold_purchase_time"),
            inputs=("silver.orders", "silver.order_items", "silver.events"),
            outputs=PURCHASE_TIME,
            description="Silver → each customer's time-of-purchase profile in local time, as of D + 1.",
            runner="jobs.features.user_daily:run_purchase_time",
            after=("silver",),
            stage="gold",
            window="next_day",
        ),
        Job(
            name="features",
            group="daily",
            args=("job", "features"),
            inputs=("silver.events", "silver.orders", "gold.purchase_time_profile"),
            outputs=FEATURES,
            description="Silver and purchase-time profiles → point-in-time user features as of D + 1.",
            runner="jobs.features.user_daily:run_features",
            after=("gold_purchase_time",),
            stage="features",
            window="next_day",
        ),
        Job(
            name="quality_gate",
            group="daily",
            args=("job", "quality_gate"),
            inputs=(*GOLD_BROWSING, *GOLD_ABANDONMENT, *PURCHASE_TIME, *FEATURES),
            outputs=("quality.validation_results",),
            description="Great Expectations suites on every gold and feature date the day rewrote; results recorded.",
            runner="jobs.publish.daily:run_gate",
            after=("gold_browsing", "gold_abandonment", "features"),
            stage="quality",
        ),
        Job(
            name="publish",
            group="daily",
            args=("job", "publish"),
            inputs=("quality.validation_results", *GOLD_BROWSING, *GOLD_ABANDONMENT, *PURCHASE_TIME, *FEATURES),
            outputs=("quality.publish_log",),
            description="Publish the table versions that passed the gate to the warehouse; fail naming blocked ones.",
            runner="jobs.publish.daily:run_publish",
            after=("quality_gate",),
            stage="publish",
        ),
    ]


def written_dates(j: Job, run_date: date, settings: Settings, since: date | None = None) -> list[date]:
    """The dates a run of ``j`` for ``run_date`` (since ``since``) rewrites: what the gate must check."""
    first = since or run_date
    if j.window == "next_day":
        start, end = first + timedelta(days=1), run_date + timedelta(days=1)
    elif j.window == "abandonment":
        start, end = first - timedelta(days=int(settings["gold"]["abandonment"]["lookback_days"])), run_date
    else:
        start, end = first - timedelta(days=int(settings["silver"]["lookback_days"])), run_date
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def job(name: str) -> Job:
    """One job by name; :class:`UserError` naming the known ones when there is none."""
    for j in jobs():
        if j.name == name:
            return j
    raise UserError(f"no job named {name!r}; known: {', '.join(j.name for j in jobs())}")


def jobs(group: str | None = None) -> list[Job]:
    """Every job, or those of one group (``ingest``, ``daily``), in a stable order."""
    registry = [
        Job(
            name=f"ingest_{source}",
            group="ingest",
            args=("ingest", "--source", source),
            inputs=(f"landing/{source}",),
            outputs=(f"bronze.{source}_events", "bronze.quarantine", "bronze.ingest_runs"),
            description=f"New {source} landing files → bronze.{source}_events, bad lines → bronze.quarantine.",
        )
        for source in event_sources()
    ]
    registry += _daily()
    return [j for j in registry if group is None or j.group == group]
