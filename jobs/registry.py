"""The registry of detak's jobs, their CLI verbs and the tables they read and write.

It is the single source of the pipeline's graph: the Airflow DAGs build their tasks from it and
the CLI runs the same verbs, so the two cannot drift apart.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from jobs.common.config import Settings
from jobs.common.contracts import event_sources
from jobs.common.errors import UserError
from jobs.common.lock import hold


@dataclass(frozen=True)
class Job:
    name: str
    group: str
    args: tuple[str, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    description: str
    #: ``module:function`` taking (spark, run_date, settings, since=None, run_id=None) for the
    #: daily jobs: each rewrites the dates its inputs changed since its last run (and, with
    #: ``since``, every date since .. run_date: a backfill after a change of rules).
    runner: str = ""
    #: Daily jobs that must have run for the same date first.
    after: tuple[str, ...] = ()
    #: Task group of the daily DAG: silver, gold, features, quality or publish.
    stage: str = ""
    #: The runner is given its inputs as ``tables`` (the gate and publish work on every table).
    pass_inputs: bool = False
    #: Its tables are served snapshots (one per as-of date, from the data known at that run), not
    #: history: a later rebuild makes the latest snapshot, not the earlier ones again.
    snapshot: bool = False

    @property
    def task_id(self) -> str:
        return self.name.replace(".", "_").replace("-", "_")

    def load(self, tables: tuple[str, ...] | None = None) -> Callable[..., dict[str, Any]]:
        """The job's function; imported only when a job runs, never when a DAG file is parsed.

        ``tables`` narrows what a gate or publish run works on (default: the job's inputs).
        """
        module, _, func = self.runner.partition(":")
        fn = getattr(importlib.import_module(module), func)
        if not self.pass_inputs:
            if tables is not None:
                raise ValueError(f"job {self.name} does not take tables")
            return fn  # type: ignore[no-any-return]
        return functools.partial(fn, tables=self.inputs if tables is None else tables)

    @property
    def leases(self) -> tuple[str, ...]:
        """What the job must hold while it runs: the lake tables it writes (publish: the warehouse)."""
        if self.name == "publish":
            return ("warehouse",)
        return self.outputs


SILVER = (
    "silver.events",
    "silver.sessions",
    "silver.actor_verdicts",
    "silver.orders",
    "silver.order_items",
    "silver.order_status_history",
    "silver.identity_map",
    "silver.reconciliation",
    "silver.reviews",
)
GOLD_ABANDONMENT = ("gold.cart_abandonment", "gold.abandonment_reasons_daily")
GOLD_SENTIMENT = ("gold.product_sentiment_daily",)
GOLD_RECOMMENDATIONS = ("gold.similar_products", "gold.user_recommendations")
GOLD_COHORTS = ("gold.cohort_retention_weekly",)
GOLD_THREATS = ("gold.threat_actors",)
GOLD_DISCOUNTS = ("gold.discount_integrity",)
GOLD_CAMPAIGNS = ("gold.campaign_performance_hourly",)
FORECAST = ("gold.traffic_forecast_hourly",)
PURCHASE_TIME = ("gold.purchase_time_profile",)
FEATURES = ("features.user_daily",)
CART_RISK = ("gold.cart_risk",)
GOLD_CUSTOMERS = ("gold.customer_segments", "gold.segment_migration_weekly", "gold.user_contact_time")
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

#: The gold and feature tables the gate checks and the warehouse gets.
PUBLISHED = (
    *GOLD_BROWSING,
    *GOLD_ABANDONMENT,
    *GOLD_SENTIMENT,
    *GOLD_RECOMMENDATIONS,
    *GOLD_COHORTS,
    *GOLD_THREATS,
    *GOLD_DISCOUNTS,
    *GOLD_CAMPAIGNS,
    *FORECAST,
    *PURCHASE_TIME,
    *FEATURES,
    *CART_RISK,
    *GOLD_CUSTOMERS,
)


#: The near-real-time path (``detak live``, the detak_live DAG): the sale-day tables watched during
#: the day are refreshed from what reached bronze since the last refresh, without waiting for the
#: daily run. These are the daily jobs on the way from bronze to them, in order; each follows its own
#: watermark in ``ops.manifest`` (the bronze versions silver consumed, the silver versions browsing
#: consumed, ...), so a refresh rewrites only the dates new rows touched, and the daily run that
#: follows finds those dates done and makes the same tables (tests/pipeline/test_incremental.py).
LIVE_JOBS = ("silver", "gold_browsing", "gold_campaigns", "gold_threats")
#: The tables each refresh gates and publishes (the others wait for the daily gate and publish).
LIVE_TABLES = (*GOLD_CAMPAIGNS, *GOLD_THREATS)


def live_steps() -> list[tuple[str, tuple[str, ...] | None]]:
    """A live refresh in order: ``(daily job, tables it is narrowed to or None)``."""
    return [*((name, None) for name in LIVE_JOBS), ("quality_gate", LIVE_TABLES), ("publish", LIVE_TABLES)]


def _daily() -> list[Job]:
    """The daily graph for one logical date, in an order that respects ``after``."""
    return [
        Job(
            name="silver",
            group="daily",
            args=("job", "silver"),
            inputs=tuple(f"bronze.{s}_events" for s in event_sources()),
            outputs=SILVER,
            description="Bronze → silver for the dates with new bronze rows: events, sessions, bots, orders, identity.",
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
        ),
        Job(
            name="gold_sentiment",
            group="daily",
            args=("job", "gold_sentiment"),
            inputs=("silver.reviews",),
            outputs=GOLD_SENTIMENT,
            description="Silver reviews → review sentiment per product and day (the text model; aggregates only).",
            runner="jobs.gold.sentiment:run_product_sentiment",
            after=("silver",),
            stage="gold",
        ),
        Job(
            name="gold_recommendations",
            group="daily",
            args=("job", "gold_recommendations"),
            inputs=("silver.events", "silver.sessions", "silver.orders", "silver.order_items"),
            outputs=GOLD_RECOMMENDATIONS,
            description="Silver → similar products and each customer's top 10, as of D + 1 (served snapshots).",
            runner="jobs.gold.recommendations:run_recommendations",
            after=("silver",),
            stage="gold",
            snapshot=True,
        ),
        Job(
            name="gold_cohorts",
            group="daily",
            args=("job", "gold_cohorts"),
            inputs=("silver.sessions", "silver.orders"),
            outputs=GOLD_COHORTS,
            description="Silver → weekly retention of acquisition cohorts (first visit, first purchase).",
            runner="jobs.gold.cohorts:run_cohorts",
            after=("silver",),
            stage="gold",
        ),
        Job(
            name="gold_threats",
            group="daily",
            args=("job", "gold_threats"),
            inputs=("silver.actor_verdicts", "silver.events"),
            outputs=GOLD_THREATS,
            description="Silver verdicts and events → threat actors (devices and network prefixes) with kind and "
            "confidence, and the JSON threat feed for WAFs and rate limiters.",
            runner="jobs.gold.threats:run_threats",
            after=("silver",),
            stage="gold",
        ),
        Job(
            name="gold_discounts",
            group="daily",
            args=("job", "gold_discounts"),
            inputs=("silver.events",),
            outputs=GOLD_DISCOUNTS,
            description="Silver product views → per sale day and product, the prices shown that day against the "
            "30 days before, and whether the discount was misleading.",
            runner="jobs.gold.discounts:run_discounts",
            after=("silver",),
            stage="gold",
        ),
        Job(
            name="gold_campaigns",
            group="daily",
            args=("job", "gold_campaigns"),
            inputs=("gold.session_facts",),
            outputs=GOLD_CAMPAIGNS,
            description="Session facts → per campaign and local hour: sessions, purchases and revenue by the "
            "last non-direct campaign within 7 days, and the lift against non-campaign traffic with its interval.",
            runner="jobs.gold.campaigns:run_campaigns",
            after=("gold_browsing",),
            stage="gold",
        ),
        Job(
            name="gold_purchase_time",
            group="daily",
            args=("job", "gold_purchase_time"),
            inputs=("silver.orders", "silver.order_items", "silver.events"),
            outputs=PURCHASE_TIME,
            description="Silver → each customer's time-of-purchase profile in local time, as of D + 1.",
            runner="jobs.gold.purchase_time:run_purchase_time",
            after=("silver",),
            stage="gold",
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
        ),
        Job(
            name="gold_customers",
            group="daily",
            args=("job", "gold_customers"),
            inputs=("features.user_daily", "gold.purchase_time_profile", "silver.sessions"),
            outputs=GOLD_CUSTOMERS,
            description="Features → RFM segments and behavioural clusters, their moves, and the best local hour "
            "to reach each customer, on the segments' weekly as-of dates.",
            runner="jobs.gold.customers:run_customers",
            after=("features",),
            stage="features",
        ),
        Job(
            name="gold_cart_risk",
            group="daily",
            args=("job", "gold_cart_risk"),
            inputs=("gold.cart_abandonment", "silver.events", "features.user_daily"),
            outputs=CART_RISK,
            description="Open carts scored at their furthest decision point by the newest abandonment models, "
            "with the top three reasons and an action for each (nothing before a model is trained).",
            runner="jobs.features.cart_risk:run_cart_risk",
            after=("gold_abandonment", "features"),
            stage="features",
            snapshot=True,
        ),
        Job(
            name="quality_gate",
            group="daily",
            args=("job", "quality_gate"),
            inputs=(*PUBLISHED, "silver.reconciliation"),
            outputs=("quality.validation_results",),
            description="Great Expectations suites on every gold and feature date rewritten since the last gate; "
            "results recorded.",
            runner="jobs.quality.daily:run_gate",
            pass_inputs=True,
            after=(
                "gold_browsing",
                "gold_abandonment",
                "gold_sentiment",
                "gold_recommendations",
                "gold_cohorts",
                "gold_threats",
                "gold_discounts",
                "gold_campaigns",
                "features",
                "gold_customers",
                "gold_cart_risk",
            ),
            stage="quality",
        ),
        Job(
            name="publish",
            group="daily",
            args=("job", "publish"),
            inputs=PUBLISHED,
            outputs=("quality.publish_log",),
            description="Publish the dates rewritten since the last publish that passed the gate; "
            "fail naming blocked ones.",
            runner="jobs.publish.daily:run_publish",
            pass_inputs=True,
            after=("quality_gate",),
            stage="publish",
        ),
    ]


def run(
    name: str,
    spark: Any,
    run_date: date,
    settings: Settings,
    since: date | None = None,
    run_id: str | None = None,
    tables: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Run daily job ``name`` for ``run_date`` holding the leases on what it writes (see
    :mod:`jobs.common.lock`): the one way the CLI, the Airflow tasks and the tests run a job.
    ``tables`` narrows a gate or publish run to those tables (the live path's)."""
    from jobs.common.lineage import job_run

    j = job(name)
    inputs = j.inputs if tables is None else tables
    with hold(settings, j.leases, j.name, run_id or ""), job_run(settings, j.name, inputs, j.outputs, run_id):
        return j.load(tables)(spark, run_date, settings, since=since, run_id=run_id)


def run_live(
    spark: Any, run_date: date, settings: Settings, run_id: str | None = None, echo: Callable[[str], None] | None = None
) -> dict[str, dict[str, Any]]:
    """One live refresh for ``run_date`` (see :data:`LIVE_JOBS`): each step's report by job name.

    ``echo`` gets a progress line as each step ends. A gate that blocks a table makes publish raise
    (the table's dates stay pending, as in the daily run).
    """
    import time

    reports: dict[str, dict[str, Any]] = {}
    for name, tables in live_steps():
        t0 = time.monotonic()
        reports[name] = report = run(name, spark, run_date, settings, run_id=run_id, tables=tables)
        if echo is not None:
            rows = report.get("rows")
            what = (
                "nothing new"
                if report.get("noop")
                else f"dates {report['dates']}"
                if report.get("dates")
                else "; ".join(f"{k} {v}" for k, v in rows.items())
                if isinstance(rows, dict)
                else "done"
            )
            echo(f"live {run_date} {name}: {what} in {time.monotonic() - t0:.0f}s")
    return reports


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
            outputs=(
                f"bronze.{source}_events",
                "bronze.quarantine",
                "bronze.quarantine_files",
                "bronze.ingest_files",
                "bronze.ingest_runs",
            ),
            description=f"New {source} landing files → bronze.{source}_events, bad lines → bronze.quarantine, "
            "unreadable files → bronze.quarantine_files.",
        )
        for source in event_sources()
    ]
    registry += _daily()
    registry.append(
        Job(
            name="forecast",
            group="forecast",
            args=("job", "forecast"),
            inputs=("gold.traffic_hourly",),
            outputs=FORECAST,
            description="Published hourly traffic → the next 14 days' hourly events, sessions, orders and peak "
            "events per second with 80 % intervals; capacity alerts for hours over conf forecast.capacity.",
            runner="jobs.ml.forecast:run_forecast",
            stage="forecast",
        )
    )
    registry.append(
        Job(
            name="volume_check",
            group="live",
            args=("job", "volume_check"),
            inputs=("bronze.clickstream_events", "bronze.search_events", "gold.traffic_forecast_hourly"),
            outputs=(),
            description="The last complete hours received in bronze against the forecast's interval: an alert "
            "when a tracker goes quiet or a flood arrives, before silver runs.",
            runner="jobs.quality.volume:run_volume_check",
            stage="live",
        )
    )
    return [j for j in registry if group is None or j.group == group]
