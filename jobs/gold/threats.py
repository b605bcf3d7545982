"""gold.threat_actors and the threat feed: who attacked or scraped the shop, in a form a WAF or rate
limiter can load.

Rules (conf ``gold.threats``, docs/threat-feed.md), per UTC day D of silver:

* **Devices.** Every verdict of silver.actor_verdicts on an ``anonymous_id`` (its keyed pseudonym)
  is a row: the verdict's reasons, events, first and last seen, and the network prefixes
  (``silver.events.ip_prefix``) its events came from that day.
* **Networks.** Every ``ip_prefix`` with at least one bot event (``silver.events.is_bot``) that day
  is a row: the union of those events' reasons, its bot events, all its events and the share of
  bots among them. IPs appear only as the truncated prefixes silver keeps (/24, /48); a single
  hostile address's verdict reaches the feed through its prefix.
* **Kind.** Reasons map to kinds by ``kinds`` (known_crawler → crawler, headless → headless,
  inhuman_rate and regular_timing → scraper, card_testing, credential_stuffing); ``kind`` is the
  first of ``kind_priority`` the row has (the most harmful), ``kinds`` all of them.
* **Confidence.** Each reason has a prior (``reason_confidence``, the chance a verdict for that
  reason alone is right); a device's confidence is 1 - Π(1 - prior) over its reasons. A network's
  is that times its bot share, because a prefix also carries the humans behind the same carrier
  NAT: a WAF that blocks prefixes should take only the confident ones.

The feed (:func:`export_feed`): the rows of the last ``feed_days`` days up to the run date with
confidence >= ``feed_min_confidence``, merged per actor (first and last seen over those days,
events summed, reasons united, the highest confidence), the most confident ``feed_max_actors``
of them, written as JSON to ``paths.threat_feed`` atomically (a temporary file renamed over the old
one), so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.common import manifest
from jobs.common.config import Settings
from jobs.common.dates import describe
from jobs.common.tables import conform, ensure_table, read_table, replace_partitions

TABLE = "gold.threat_actors"
INPUTS = ("silver.actor_verdicts", "silver.events")
FEED_SCHEMA = "detak.threat_feed/1"


def _kinds(reasons: Column, params: Mapping[str, Any]) -> Column:
    """Sorted distinct kinds of an array of reason codes."""
    mapping = F.create_map(*[F.lit(x) for pair in dict(params["kinds"]).items() for x in pair])
    return F.array_sort(F.array_distinct(F.filter(F.transform(reasons, lambda r: mapping[r]), lambda k: k.isNotNull())))


def _primary(kinds: Column, params: Mapping[str, Any]) -> Column:
    """The first kind of ``kind_priority`` in ``kinds``."""
    out: Any = F
    for kind in params["kind_priority"]:
        out = out.when(F.array_contains(kinds, kind), F.lit(kind))
    return out.otherwise(F.lit(None).cast("string"))


def _confidence(reasons: Column, params: Mapping[str, Any]) -> Column:
    """1 - Π(1 - prior(reason)) over distinct reasons."""
    priors = F.create_map(*[F.lit(x) for pair in dict(params["reason_confidence"]).items() for x in pair])
    miss = F.aggregate(
        F.array_distinct(reasons), F.lit(1.0), lambda acc, r: acc * (F.lit(1.0) - F.coalesce(priors[r], F.lit(0.0)))
    )
    return F.round(F.lit(1.0) - miss, 6)


def transform(verdicts: DataFrame, events: DataFrame, params: Mapping[str, Any]) -> DataFrame:
    """gold.threat_actors rows from silver.actor_verdicts and silver.events rows of the same dates (pure)."""
    devices = verdicts.where(F.col("actor_type") == "anonymous_id").select(
        F.col("verdict_date").alias("seen_date"), F.col("actor").alias("actor"), "reasons", "events",
        "first_seen", "last_seen",
    )  # fmt: skip
    prefixes = (
        events.where(F.col("ip_prefix").isNotNull())
        .groupBy(F.col("event_date").alias("seen_date"), F.col("anonymous_id").alias("actor"))
        .agg(F.array_sort(F.collect_set("ip_prefix")).alias("ip_prefixes"))
    )
    device_rows = devices.join(prefixes, ["seen_date", "actor"], "left").withColumns(
        {
            "actor_type": F.lit("anonymous_id"),
            "ip_prefixes": F.coalesce("ip_prefixes", F.array().cast("array<string>")),
            "bot_events": F.col("events"),
            "bot_share": F.lit(1.0),
            "confidence": _confidence(F.col("reasons"), params),
        }
    )
    networks = (
        events.where(F.col("ip_prefix").isNotNull())
        .groupBy(F.col("event_date").alias("seen_date"), F.col("ip_prefix").alias("actor"))
        .agg(
            F.count("*").alias("events"),
            F.count(F.when(F.col("is_bot"), 1)).alias("bot_events"),
            F.array_sort(
                F.array_distinct(F.flatten(F.collect_list(F.when(F.col("is_bot"), F.col("bot_reasons")))))
            ).alias("reasons"),
            F.min(F.when(F.col("is_bot"), F.col("event_time"))).alias("first_seen"),
            F.max(F.when(F.col("is_bot"), F.col("event_time"))).alias("last_seen"),
        )
        .where(F.col("bot_events") > 0)
        .withColumns(
            {
                "actor_type": F.lit("ip_prefix"),
                "ip_prefixes": F.array(F.col("actor")),
                "bot_share": F.round(F.col("bot_events") / F.col("events"), 6),
            }
        )
        .withColumn("confidence", F.round(_confidence(F.col("reasons"), params) * F.col("bot_share"), 6))
    )
    rows = device_rows.unionByName(networks)
    kinds = _kinds(F.col("reasons"), params)
    return conform(rows.withColumn("kinds", kinds).withColumn("kind", _primary(F.col("kinds"), params)), TABLE)


# ---------------------------------------------------------------------------------------------
# The feed


def feed_rows(table: DataFrame, run_date: date, params: Mapping[str, Any]) -> DataFrame:
    """The feed's actors from gold.threat_actors rows (pure): see the module's docstring."""
    first = run_date - timedelta(days=int(params["feed_days"]) - 1)
    recent = table.where(F.col("seen_date").between(F.lit(first), F.lit(run_date))).where(
        F.col("confidence") >= float(params["feed_min_confidence"])
    )
    merged = recent.groupBy("actor_type", "actor").agg(
        F.min("first_seen").alias("first_seen"),
        F.max("last_seen").alias("last_seen"),
        F.sum("events").alias("events"),
        F.sum("bot_events").alias("bot_events"),
        F.array_sort(F.array_distinct(F.flatten(F.collect_list("reasons")))).alias("reasons"),
        F.array_sort(F.array_distinct(F.flatten(F.collect_list("ip_prefixes")))).alias("ip_prefixes"),
        F.max("confidence").alias("confidence"),
    )
    kinds = _kinds(F.col("reasons"), params)
    return (
        merged.withColumn("kinds", kinds)
        .withColumn("kind", _primary(F.col("kinds"), params))
        .orderBy(F.col("confidence").desc(), F.col("last_seen").desc(), "actor_type", "actor")
        .limit(int(params["feed_max_actors"]))
    )


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def export_feed(spark: SparkSession, settings: Settings, run_date: date) -> dict[str, Any]:
    """Write the threat feed JSON for ``run_date`` atomically; returns its path and counts.

    Streams the (bounded: ``feed_max_actors``) rows to a temporary file in the feed's folder and
    renames it over the old feed.
    """
    params = settings["gold"]["threats"]
    path = settings.path("threat_feed")
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = feed_rows(read_table(spark, TABLE, settings), run_date, params)
    first = run_date - timedelta(days=int(params["feed_days"]) - 1)
    header = {
        "schema": FEED_SCHEMA,
        "generated_at": _iso(datetime.now(UTC).replace(tzinfo=None, microsecond=0)),
        "window": {"from": str(first), "to": str(run_date)},
        "min_confidence": float(params["feed_min_confidence"]),
    }
    counts: dict[str, int] = {}
    fd, tmp = tempfile.mkstemp(prefix=".threat-feed-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(header, ensure_ascii=False)[:-1] + ', "actors": [')
            for i, r in enumerate(rows.toLocalIterator()):
                actor = {
                    "actor_type": r["actor_type"],
                    "actor": r["actor"],
                    "kind": r["kind"],
                    "kinds": list(r["kinds"]),
                    "reasons": list(r["reasons"]),
                    "ip_prefixes": list(r["ip_prefixes"]),
                    "first_seen": _iso(r["first_seen"]),
                    "last_seen": _iso(r["last_seen"]),
                    "events": int(r["events"]),
                    "bot_events": int(r["bot_events"]),
                    "confidence": float(r["confidence"]),
                }
                out.write(("\n  " if i == 0 else ",\n  ") + json.dumps(actor, ensure_ascii=False))
                counts[r["kind"]] = counts.get(r["kind"], 0) + 1
            out.write("\n]}\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {"path": str(path), "actors": sum(counts.values()), "by_kind": dict(sorted(counts.items()))}


# ---------------------------------------------------------------------------------------------
# I/O


def run_threats(
    spark: SparkSession, run_date: date, settings: Settings, since: date | None = None, run_id: str | None = None
) -> dict[str, Any]:
    """Rewrite the dates of silver's verdicts and events that changed since the last run (with ``since``:
    every date from it to ``run_date``), then export the feed."""
    params = settings["gold"]["threats"]
    for name in (*INPUTS, TABLE):
        ensure_table(spark, name, settings)
    plan = manifest.plan(spark, settings, "gold_threats", run_date, INPUTS, run_id=run_id)
    changed = {d for d in plan.dates(*INPUTS) if d <= run_date}
    if since is not None:
        changed |= {since + timedelta(days=i) for i in range((run_date - since).days + 1)}
    rows: dict[str, int] = {}
    if changed:
        dates = sorted(changed)
        verdicts = read_table(spark, "silver.actor_verdicts", settings).where(F.col("verdict_date").isin(*dates))
        events = read_table(spark, "silver.events", settings).where(F.col("event_date").isin(*dates))
        replace_partitions(transform(verdicts, events, params), TABLE, dates, settings)
        rows[TABLE] = read_table(spark, TABLE, settings).where(F.col("seen_date").isin(*dates)).count()
    if changed or plan.has_news():
        manifest.record(spark, settings, plan, {TABLE: changed} if changed else {}, rows=rows)
    # Exported on every run, even with nothing new: the feed's window moves with the run date.
    feed = export_feed(spark, settings, run_date)
    report = {"run_date": str(run_date), "dates": describe(changed) if changed else "none", "rows": rows, "feed": feed}
    return report | ({"noop": True} if not changed else {})
