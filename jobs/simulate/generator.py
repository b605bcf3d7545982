"""``generate``: simulate the shop for a window of days into landing files plus the truth.

Work is split into tasks that do not depend on the number of processes: one per shard of
``SHARD_USERS`` users (all days of those users, so carts and visit spacing span days) and one per
UTC day of bot traffic. Each task draws from its own seeded stream, so ``workers`` changes the
speed only, never a byte of the output.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections import Counter, defaultdict
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from jobs.common.calendar import resolve as resolve_calendar
from jobs.common.calendar import years_between
from jobs.common.config import Settings, load_settings
from jobs.simulate import behaviour, bots, pricing, reviews, rhythm
from jobs.simulate.catalogue import Catalogue
from jobs.simulate.collector import SOURCES, Collector
from jobs.simulate.dirt import REASONS
from jobs.simulate.orders import OrderBook
from jobs.simulate.params import share
from jobs.simulate.population import make_users, user_columns
from jobs.simulate.rand import STREAM_BOTS, STREAM_REVIEWS, STREAM_USERS, Draw, generator
from jobs.simulate.reference import TZ_OFFSET_HOURS
from jobs.simulate.timefmt import MS_DAY, MS_HOUR, date_ms, day_string
from jobs.simulate.writer import TS, write_hours, write_parquet, write_scratch

SHARD_USERS = 250


@dataclass(frozen=True)
class Plan:
    """Everything a task needs; small and picklable."""

    seed: int
    start_ms: int
    end_ms: int
    days: int
    sim: dict[str, Any]
    max_line_bytes: int
    rates: dict[str, list[float]]
    sale_campaigns: dict[int, str]
    bot_rates: list[tuple[float, float]]  # expected crawler and headless visits per day
    scratch: str
    review_texts: str | None = None  # the review data set's path; None: no reviews
    prices: dict[str, list[tuple[int, int, int, int | None]]] | None = None  # pricing.plan_prices's segments


def _planted(plan: Plan) -> frozenset[str]:
    """Products planted with a quality problem (more negative reviews); cached per seed and share."""
    ids = tuple(p.product_id for p in _catalogue(plan.seed).products)
    return reviews.planted_products(plan.seed, ids, share(plan.sim["reviews"], "planted_product_share"))


@cache
def _catalogue(seed: int) -> Catalogue:
    return Catalogue(seed)


@cache
def _filler(seed: int) -> list[dict[str, Any]]:
    """Order lines of every product (for bulk orders among the malformed lines)."""
    return [p.line(1) for p in _catalogue(seed).products]


def _campaign(name: str) -> str:
    return "promo_" + re.sub(r"[^a-z0-9]+", "", name.lower())


# ---------------------------------------------------------------------------------------------
# Tasks


def run_task(job: tuple[Plan, int, str, int, int]) -> dict[str, Any]:
    """Simulate one task (a user shard or a day of bots) and write its scratch file."""
    plan, task_no, kind, a, b = job
    cat = _catalogue(plan.seed)
    cat.set_prices(plan.prices or {})  # the cached catalogue may carry another run's prices
    draw = Draw(generator(plan.seed, STREAM_USERS if kind == "users" else STREAM_BOTS, a))
    col = Collector(draw, plan.sim, plan.max_line_bytes, _filler(plan.seed))
    reviewer = None
    if kind == "users" and plan.review_texts is not None:
        # Reviews draw from a stream and a collector of their own: every other line stays as it was.
        rdraw = Draw(generator(plan.seed, STREAM_REVIEWS, a))
        rcol = Collector(rdraw, plan.sim, plan.max_line_bytes, _filler(plan.seed))
        reviewer = reviews.Reviewer(rdraw, rcol, plan.sim, reviews.load_pool(plan.review_texts), _planted(plan))
    # Truth goes back as plain columns; the parent builds the arrow tables (pyarrow pulls in pandas,
    # a second of start-up that each worker process would pay again).
    tables: dict[str, dict[str, list[Any]]] = {}
    if kind == "users":
        _run_users(plan, draw, cat, col, a * SHARD_USERS, b, tables, reviewer)
    else:
        _run_bots(plan, draw, cat, col, a, tables)
    if reviewer is not None:
        col.absorb(reviewer.col)
    events: dict[str, Any] = col.columns()
    for k in _INT_COLUMNS:  # numbers travel back to the parent as arrays: much cheaper than lists
        events[k] = np.asarray(events[k], dtype=np.int64)
    tables["events"] = events
    tables["malformed"] = {**col.malformed, "_task": [task_no] * len(col.malformed["source"])}
    path = Path(plan.scratch) / f"task-{task_no:05d}.bin"
    index, counts = write_scratch(path, col.l_src, col.l_at, col.l_text)
    return {"task": task_no, "path": str(path), "index": index, "counts": counts, "tables": tables}


def _run_users(
    plan: Plan,
    draw: Draw,
    cat: Catalogue,
    col: Collector,
    lo: int,
    hi: int,
    tables: dict[str, dict[str, list[Any]]],
    reviewer: reviews.Reviewer | None = None,
) -> None:
    sim = plan.sim
    orders = OrderBook(draw, col, sim, plan.end_ms, reviewer)
    world = behaviour.World(draw, cat, col, orders, sim, plan.start_ms, plan.end_ms, plan.sale_campaigns)
    users = make_users(lo, hi, draw, sim, plan.seed, [c.popularity for c in cat.categories])
    rates = {tz: np.asarray(r) for tz, r in plan.rates.items()}
    starts = behaviour.schedule(users, draw.rng, rates, plan.start_ms)
    cm_share = share(sim, "cross_midnight_visit_share")
    sg_share = share(sim, "short_gap_visit_share")
    anon = share(sim, "anonymous_share")
    for user, visits in zip(users, starts, strict=True):
        per_dev: list[list[int]] = [[] for _ in user.devices]
        for s in visits:
            per_dev[user.device_pick(draw)].append(s)  # type: ignore[misc]
        for dev, ss in zip(user.devices, per_dev, strict=True):
            cm = [draw.u() < cm_share for _ in ss]
            sg = [draw.u() < sg_share for _ in ss]
            behaviour.simulate_device(world, dev, ss, cm, sg, anon)
    if reviewer is not None:
        reviewer.write(world.sessions, {d.anonymous_id: d for u in users for d in u.devices})
        tables["reviews"] = reviewer.truth
    tables["users"] = user_columns(users, [c.path for c in cat.categories])
    tables["sessions"] = world.sessions
    tables["carts"] = _cart_columns(world.carts)
    tables["orders"] = orders.truth


def _run_bots(
    plan: Plan, draw: Draw, cat: Catalogue, col: Collector, day: int, tables: dict[str, dict[str, list[Any]]]
) -> None:
    b = plan.sim["bots"]
    lam_crawl, lam_headless = plan.bot_rates[day]
    farm = bots.BotFarm(draw, cat, col, plan.start_ms + day * MS_DAY, b)
    rng = draw.rng
    bots.simulate_bot_day(
        farm,
        int(rng.poisson(lam_crawl)),
        int(rng.poisson(lam_headless)),
        int(b["scrapers_per_day"]),
        int(b["card_testers_per_day"]),
        int(b["credential_stuffers_per_day"]),
    )
    tables["bot_actors"] = farm.actors


# ---------------------------------------------------------------------------------------------
# Truth tables


_INT_COLUMNS = ("event_time_utc", "received_at_utc", "delivered_utc", "clock_skew_ms", "n_duplicates")


def _ms(a: np.ndarray) -> pa.Array:
    return pa.array(a, pa.int64()).view(TS)


def _days(ms: np.ndarray) -> pa.Array:
    return pa.array((ms // MS_DAY).astype(np.int32), pa.int32()).view(pa.date32())


def _events_table(t: dict[str, Any]) -> pa.Table:
    at = t["delivered_utc"]
    delivery = pa.array(t["delivery"], pa.string())
    return pa.table(
        {
            "event_id": pa.array(t["event_id"], pa.string()),
            "source": pa.array(t["source"], pa.string()),
            "event_type": pa.array(t["event_type"], pa.string()),
            "true_session_id": pa.array(t["true_session_id"], pa.string()),
            "actor_id": pa.array(t["actor_id"], pa.string()),
            "user_id": pa.array(t["user_id"], pa.string()),
            "is_bot": pc.is_valid(pa.array(t["bot_kind"], pa.string())),
            "bot_kind": pa.array(t["bot_kind"], pa.string()),
            "event_time_utc": _ms(t["event_time_utc"]),
            "event_date": _days(t["event_time_utc"]),
            "received_at_utc": _ms(t["received_at_utc"]),
            "delivered_utc": _ms(at),
            "delivered_date": _days(at),
            "delivered_hour": pa.array(((at % MS_DAY) // MS_HOUR).astype(np.int8), pa.int8()),
            "delivery": delivery,
            "is_late_day": pc.equal(delivery, "late_day"),
            "clock_skew_ms": pa.array(t["clock_skew_ms"].astype(np.int32), pa.int32()),
            "clock_skew_seconds": pa.array(t["clock_skew_ms"] / 1000.0, pa.float64()),
            "n_duplicates": pa.array(t["n_duplicates"].astype(np.int8), pa.int8()),
            "cart_id": pa.array(t["cart_id"], pa.string()),
            "order_id": pa.array(t["order_id"], pa.string()),
        }
    )


def _bot_actors_table(a: dict[str, list[Any]]) -> pa.Table:
    return pa.table(
        {
            "anonymous_id": pa.array(a["anonymous_id"], pa.string()),
            "ip": pa.array(a["ip"], pa.string()),
            "kind": pa.array(a["kind"], pa.string()),
            "actor": pa.array(a["actor"], pa.string()),
            "user_agent": pa.array(a["user_agent"], pa.string()),
            "day": pa.array([dt.date.fromisoformat(d) for d in a["day"]], pa.date32()),
            "first_seen_utc": pa.array(a["first_seen_utc"], TS),
            "n_events": pa.array(a["n_events"], pa.int32()),
        }
    )


def _users_table(u: dict[str, list[Any]]) -> pa.Table:
    return pa.table(
        {
            "user_id": pa.array(u["user_id"], pa.string()),
            "region": pa.array(u["region"], pa.string()),
            "timezone": pa.array(u["timezone"], pa.string()),
            "activity": pa.array(u["activity"], pa.float64()),
            "customer_type": pa.array(u["customer_type"], pa.string()),
            "devices": pa.array(u["devices"], pa.int32()),
            "favourite_categories": pa.array(u["favourite_categories"], pa.list_(pa.string())),
        }
    )


def _malformed_table(m: dict[str, list[Any]]) -> pa.Table:
    return pa.table(
        {
            "source": pa.array(m["source"], pa.string()),
            "reason": pa.array(m["reason"], pa.string()),
            "delivered_utc": pa.array(m["delivered_utc"], TS),
            "line_bytes": pa.array(m["line_bytes"], pa.int64()),
            "line_sha256": pa.array(m["line_sha256"], pa.string()),
            "derived_from_event_type": pa.array(m["derived_from_event_type"], pa.string()),
            "_task": pa.array(m["_task"], pa.int32()),
        }
    )


def _reviews_table(r: dict[str, list[Any]]) -> pa.Table:
    return pa.table(
        {
            "event_id": pa.array(r["event_id"], pa.string()),
            "order_id": pa.array(r["order_id"], pa.string()),
            "product_id": pa.array(r["product_id"], pa.string()),
            "user_id": pa.array(r["user_id"], pa.string()),
            "anonymous_id": pa.array(r["anonymous_id"], pa.string()),
            "true_session_id": pa.array(r["true_session_id"], pa.string()),
            "event_time_utc": pa.array(r["event_time_utc"], TS),
            "rating": pa.array(r["rating"], pa.int8()),
            "sentiment": pa.array(r["sentiment"], pa.string()),
            "dataset_row": pa.array(r["dataset_row"], pa.int32()),
            "planted_product": pa.array(r["planted_product"], pa.bool_()),
        }
    )


def _sessions_table(s: dict[str, list[Any]]) -> pa.Table:
    start = np.asarray(s["start_utc"], dtype=np.int64)
    off = np.array([TZ_OFFSET_HOURS[tz] for tz in s["timezone"]], dtype=np.int64) * MS_HOUR
    if not len(start):
        off = np.zeros(0, dtype=np.int64)
    return pa.table(
        {
            "true_session_id": pa.array(s["true_session_id"], pa.string()),
            "anonymous_id": pa.array(s["anonymous_id"], pa.string()),
            "user_id": pa.array(s["user_id"], pa.string()),
            "logged_in": pa.array(s["logged_in"], pa.bool_()),
            "timezone": pa.array(s["timezone"], pa.string()),
            "start_utc": pa.array(s["start_utc"], TS),
            "end_utc": pa.array(s["end_utc"], TS),
            "local_start_date": _days(start + off),
            "n_events": pa.array(s["n_events"], pa.int32()),
            "edge_case": pa.array(s["edge_case"], pa.string()),
            "planted": pa.array(s["planted"], pa.string()),
            "crosses_utc_midnight": pa.array(s["crosses_utc_midnight"], pa.bool_()),
            "crosses_local_midnight": pa.array(s["crosses_local_midnight"], pa.bool_()),
            "utm_source": pa.array(s["utm_source"], pa.string()),
            "utm_medium": pa.array(s["utm_medium"], pa.string()),
            "referrer": pa.array(s["referrer"], pa.string()),
        }
    )


def _cart_columns(carts: list[behaviour.Cart]) -> dict[str, list[Any]]:
    return {
        "cart_id": [c.cart_id for c in carts],
        "anonymous_id": [c.dev.anonymous_id for c in carts],
        "user_id": [c.dev.user.user_id if c.dev.user else None for c in carts],
        "timezone": [c.dev.timezone for c in carts],
        "created_utc": [c.created for c in carts],
        "last_activity_utc": [c.last for c in carts],
        "outcome": [c.outcome for c in carts],
        "planted_cause": [c.cause for c in carts],
        "stage_reached": [c.stage for c in carts],
        "cart_value": [c.value for c in carts],
        "n_items": [len(c.items) for c in carts],
        "order_id": [c.order_id for c in carts],
        "ordered_utc": [c.ordered_utc for c in carts],
    }


def _carts_table(c: dict[str, list[Any]]) -> pa.Table:
    types = {
        "created_utc": TS,
        "last_activity_utc": TS,
        "ordered_utc": TS,
        "cart_value": pa.int64(),
        "n_items": pa.int16(),
    }
    return pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in c.items()})


def _orders_table(o: dict[str, list[Any]]) -> pa.Table:
    return pa.table(
        {
            "order_id": pa.array(o["order_id"], pa.string()),
            "cart_id": pa.array(o["cart_id"], pa.string()),
            "user_id": pa.array(o["user_id"], pa.string()),
            "anonymous_id": pa.array(o["anonymous_id"], pa.string()),
            "created_utc": pa.array(o["created_utc"], TS),
            "final_status": pa.array(o["final_status"], pa.string()),
            "subtotal": pa.array(o["subtotal"], pa.int64()),
            "shipping_cost": pa.array(o["shipping_cost"], pa.int64()),
            "discount": pa.array(o["discount"], pa.int64()),
            "total": pa.array(o["total"], pa.int64()),
            "payment_method": pa.array(o["payment_method"], pa.string()),
            "timezone": pa.array(o["timezone"], pa.string()),
            "n_events": pa.array(o["n_events"], pa.int16()),
        }
    )


# ---------------------------------------------------------------------------------------------
# The run


def _pricing(
    start: dt.date, days: int, seed: int, settings: Settings
) -> tuple[dict[str, list[pricing.Segment]], list[dict[str, Any]]]:
    """Sale-day price segments and their truth rows for the window (jobs/simulate/pricing.py)."""
    last = start + dt.timedelta(days=days - 1)
    calendar = resolve_calendar(settings["calendar"], years_between(start, last + dt.timedelta(days=14)))
    sales = pricing.windows_sale_days(((d, s.name) for d, s in rhythm.sale_days(calendar).items()), start, last)
    tz = str(settings["gold"]["browsing"]["shop_timezone"])
    return pricing.plan_prices(_catalogue(seed), seed, sales, settings["simulator"]["pricing"], tz)


def _plan(
    start: dt.date,
    days: int,
    users: int,
    seed: int,
    settings: Settings,
    scratch: Path,
    prices: dict[str, list[pricing.Segment]] | None = None,
) -> Plan:
    sim = settings["simulator"]
    calendar = resolve_calendar(settings["calendar"], years_between(start, start + dt.timedelta(days=days)))
    start_ms = date_ms(start)
    rates = rhythm.simulator_rates(start, days, calendar, sim, seed)
    expected = rhythm.expected_visits_per_day(rates, users)
    b = sim["bots"]
    crawl, headless = float(b["crawler_share_of_visits"]), float(b["headless_share_of_visits"])
    human = max(1e-9, 1.0 - crawl - headless)
    epoch = dt.date(1970, 1, 1)
    campaigns = {(d - epoch).days: _campaign(s.name) for d, s in rhythm.sale_days(calendar).items()}
    return Plan(
        seed=int(seed),
        start_ms=start_ms,
        end_ms=start_ms + days * MS_DAY,
        days=days,
        sim=sim,
        max_line_bytes=int(settings["ingest"]["max_line_bytes"]),
        rates={tz: r.tolist() for tz, r in rates.items()},
        sale_campaigns=campaigns,
        bot_rates=[(e * crawl / human, e * headless / human) for e in expected],
        scratch=str(scratch),
        review_texts=reviews.texts_path(sim),
        prices=prices,
    )


def generate(
    out: Path,
    start: dt.date,
    days: int,
    users: int,
    seed: int,
    settings: Settings | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> dict:
    """Simulate ``days`` days from ``start`` (UTC) for ``users`` shoppers into ``out``.

    Writes ``out/landing/<source>/date=YYYY-MM-DD/hour=HH/part-NNNNN.jsonl.gz`` and the truth
    (``out/truth/*.parquet`` and ``summary.json``), replacing what an earlier run wrote there, and
    returns the summary. Same arguments and seed give byte-identical landing files whatever
    ``workers`` is (``None``: ``simulator.workers`` of the settings).
    """
    if days < 1 or users < 1:
        raise ValueError("days and users must be at least 1")
    settings = settings or load_settings()
    out = Path(out)
    landing, truth, scratch = out / "landing", out / "truth", out / ".simulate-scratch"
    for old in [*(landing / s for s in SOURCES), truth, scratch]:
        if old.exists():
            shutil.rmtree(old)
    scratch.mkdir(parents=True)
    landing.mkdir(parents=True, exist_ok=True)
    prices, price_truth = _pricing(start, days, seed, settings)
    plan = _plan(start, days, users, seed, settings, scratch, prices)
    n_shards = -(-users // SHARD_USERS)
    jobs: list[tuple[Plan, int, str, int, int]] = [
        (plan, i, "users", i, min(users, (i + 1) * SHARD_USERS)) for i in range(n_shards)
    ]
    jobs += [(plan, n_shards + d, "bots", d, 0) for d in range(days)]
    workers = max(1, int(settings["simulator"]["workers"] if workers is None else workers))
    pool: Executor | None = None
    if workers > 1:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
    try:
        mapper = pool.map if pool is not None else map
        bar = tqdm(mapper(run_task, jobs), total=len(jobs), desc="simulate", unit="task", disable=not progress)
        results = [_to_arrow(r) for r in bar]
        # Landing: every hour's chunks, in task order.
        hours: dict[tuple[int, int], list[tuple[int, str, int, int]]] = defaultdict(list)
        for r in results:
            for key, (offset, length) in r["index"].items():
                hours[key].append((r["task"], r["path"], offset, length))
        by_day: dict[tuple[int, int], list[Any]] = defaultdict(list)
        for (src, hour), chunks in sorted(hours.items()):
            by_day[(src, hour // 24)].append((src, hour, chunks))
        write_jobs = [(str(landing), v) for _, v in sorted(by_day.items())]
        part_of: dict[tuple[int, int, int], str] = {}
        files: Counter[str] = Counter()
        for written in tqdm(
            mapper(write_hours, write_jobs),
            total=len(write_jobs),
            desc="write",
            unit="day",
            disable=not progress,
        ):
            for (src, hour), parts in written:
                for task, rel, _size in parts:
                    part_of[(src, hour, task)] = rel
                files[SOURCES[src]] += len({rel for _, rel, _ in parts})
    finally:
        if pool is not None:
            pool.shutdown()
        shutil.rmtree(scratch, ignore_errors=True)
    line_counts: Counter[str] = Counter()
    for r in results:
        for (src, _hour), n in r["counts"].items():
            line_counts[SOURCES[src]] += n
    summary = _write_truth(truth, results, part_of, plan, line_counts, files)
    summary.update(_write_price_truth(truth, price_truth))
    _write_campaign_truth(truth, plan.sim)
    hourly = rhythm.expected_visits_per_hour({tz: np.asarray(r) for tz, r in plan.rates.items()}, users)
    starts = plan.start_ms + np.arange(len(hourly), dtype=np.int64) * MS_HOUR
    write_parquet(
        pa.table({"hour_utc": _ms(starts), "expected_visits": pa.array(hourly, pa.float64())}),
        truth / "traffic_hourly.parquet",
    )
    summary["args"] = {"start": start.isoformat(), "days": days, "users": users, "seed": int(seed)}
    (truth / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary


_BUILDERS = {
    "events": _events_table,
    "users": _users_table,
    "sessions": _sessions_table,
    "carts": _carts_table,
    "orders": _orders_table,
    "bot_actors": _bot_actors_table,
    "malformed": _malformed_table,
    "reviews": _reviews_table,
}


def _to_arrow(result: dict[str, Any]) -> dict[str, Any]:
    """Turn a task's truth columns into arrow tables (in the parent, as results arrive)."""
    result["tables"] = {name: _BUILDERS[name](cols) for name, cols in result["tables"].items()}
    return result


def _concat(results: list[dict[str, Any]], name: str) -> pa.Table:
    """One truth table from every task's part, in task order."""
    return pa.concat_tables([r["tables"][name] for r in results if name in r["tables"]])


def _counts(table: pa.Table, *cols: str) -> dict[str, Any]:
    """Nested {value: {value: count}} of ``cols`` (nulls as "none")."""
    out: dict[str, Any] = {}
    if table.num_rows == 0:
        return out
    grouped = table.group_by(list(cols)).aggregate([([], "count_all")]).to_pylist()
    for row in grouped:
        node = out
        keys = ["none" if row[c] is None else str(row[c]) for c in cols]
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = int(row["count_all"])
    return _sorted(out)


def _sorted(d: Any) -> Any:
    return {k: _sorted(d[k]) for k in sorted(d)} if isinstance(d, dict) else d


def _write_truth(
    truth: Path,
    results: list[dict[str, Any]],
    part_of: dict[tuple[int, int, int], str],
    plan: Plan,
    line_counts: Counter[str],
    files: Counter[str],
) -> dict[str, Any]:
    events = _concat(results, "events")
    users = _concat(results, "users")
    sessions = _concat(results, "sessions")
    carts = _concat(results, "carts")
    orders = _concat(results, "orders")
    actors = _concat(results, "bot_actors")
    malformed = _concat(results, "malformed")
    # Where each malformed line landed.
    src_idx = {s: i for i, s in enumerate(SOURCES)}
    at = pc.cast(malformed["delivered_utc"], pa.int64()).to_numpy(zero_copy_only=False)
    paths = [
        part_of[(src_idx[s], int(a) // MS_HOUR, int(t))]
        for s, a, t in zip(malformed["source"].to_pylist(), at, malformed["_task"].to_pylist(), strict=True)
    ]
    malformed = malformed.drop_columns(["_task"]).append_column("path", pa.array(paths, pa.string()))
    for name, table in (
        ("events", events),
        ("users", users),
        ("sessions", sessions),
        ("carts", carts),
        ("orders", orders),
        ("bot_actors", actors),
        ("malformed", malformed),
    ):
        write_parquet(table, truth / f"{name}.parquet")

    review_summary = _write_review_truth(truth, results, plan) if plan.review_texts is not None else {}
    good = _counts(events, "source")
    dups = {s: int(pc.sum(events.filter(pc.equal(events["source"], s))["n_duplicates"]).as_py() or 0) for s in SOURCES}
    bad = _counts(malformed, "source", "reason")
    delivery = _counts(events, "source", "delivery")
    sources = {}
    for s in SOURCES:
        reasons = {r: int(bad.get(s, {}).get(r, 0)) for r in REASONS}
        n_bad = sum(reasons.values())
        # Every line is a good event, a resent duplicate or a malformed line.
        assert line_counts[s] == int(good.get(s, 0)) + dups[s] + n_bad
        sources[s] = {
            "lines": int(line_counts[s]),
            "good_events": int(good.get(s, 0)),
            "duplicate_lines": dups[s],
            "malformed_lines": n_bad,
            "malformed_by_reason": reasons,
            "late_hour_events": int(delivery.get(s, {}).get("late_hour", 0)),
            "late_day_events": int(delivery.get(s, {}).get("late_day", 0)),
            "files": int(files[s]),
        }

    human = sessions
    actor_kinds = actors.group_by(["kind"]).aggregate([("actor", "count_distinct")]).to_pylist()
    per_day: dict[str, dict[str, int]] = defaultdict(dict)
    for r in actors.group_by(["day", "kind"]).aggregate([("actor", "count_distinct")]).to_pylist():
        per_day[r["day"].isoformat()][r["kind"]] = int(r["actor_count_distinct"])
    return {
        "window": {"start_utc": day_string(plan.start_ms // MS_DAY), "days": plan.days},
        "sources": sources,
        "lines_total": int(sum(line_counts.values())),
        "good_events_total": events.num_rows,
        "events_per_day": _counts(events, "event_date", "source"),
        "events_by_type": _counts(events, "source", "event_type"),
        "lines_by_delivered_date": _counts(events, "delivered_date", "source"),
        "bot_actors_by_kind": _sorted({r["kind"]: int(r["actor_count_distinct"]) for r in actor_kinds}),
        "bot_anonymous_ids_by_kind": _counts(actors, "kind"),
        "bot_actors_per_day": _sorted(dict(per_day)),
        "bot_events_by_kind": _counts(events.filter(events["is_bot"]), "bot_kind"),
        "true_sessions": human.num_rows,
        "sessions_by_edge_case": _counts(human, "edge_case"),
        "sessions_planted": _counts(human, "planted"),
        "sessions_per_local_date": _counts(human, "local_start_date"),
        "carts": carts.num_rows,
        "carts_by_planted_cause": _counts(carts, "planted_cause"),
        "carts_by_outcome": _counts(carts, "outcome"),
        "carts_by_cause_and_stage": _counts(carts, "planted_cause", "stage_reached"),
        "orders": orders.num_rows,
        "orders_by_final_status": _counts(orders, "final_status"),
        **review_summary,
    }


_DISCOUNT_SCHEMA = pa.schema(
    [
        ("sale_date", pa.date32()),
        ("sale_name", pa.string()),
        ("product_id", pa.string()),
        ("category", pa.string()),
        ("kind", pa.string()),
        ("misleading", pa.bool_()),
        ("change_date", pa.date32()),
        ("base_price", pa.int64()),
        ("base_list_price", pa.int64()),
        ("sale_price", pa.int64()),
        ("sale_list_price", pa.int64()),
    ]
)


def _write_price_truth(truth: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``discounts.parquet``: every planted or standing sale-day discount; the summary's counts."""
    table = pa.Table.from_pylist([{**r, "misleading": pricing.MISLEADING[r["kind"]]} for r in rows], _DISCOUNT_SCHEMA)
    write_parquet(table, truth / "discounts.parquet")
    return {"discounts_by_kind": _counts(table, "sale_date", "kind")} if rows else {"discounts_by_kind": {}}


_CAMPAIGN_SCHEMA = pa.schema(
    [
        ("name", pa.string()),
        ("utm_source", pa.string()),
        ("utm_medium", pa.string()),
        ("share", pa.float64()),
        ("lift", pa.float64()),
        ("hour_from", pa.int32()),
        ("hour_to", pa.int32()),
        ("days", pa.string()),
    ]
)


def _write_campaign_truth(truth: Path, sim: dict[str, Any]) -> None:
    """``campaigns.parquet``: the planted campaigns and their true conversion lift."""
    rows = [
        {
            "name": str(c["name"]),
            "utm_source": str(c["source"]),
            "utm_medium": str(c["medium"]),
            "share": float(c["share"]),
            "lift": float(c["lift"]),
            "hour_from": int(c["hours"][0]),
            "hour_to": int(c["hours"][1]),
            "days": str(c["days"]),
        }
        for c in sim.get("campaigns") or []
    ]
    write_parquet(pa.Table.from_pylist(rows, _CAMPAIGN_SCHEMA), truth / "campaigns.parquet")


def _write_review_truth(truth: Path, results: list[dict[str, Any]], plan: Plan) -> dict[str, Any]:
    """``reviews.parquet`` and ``review_products.parquet``; the summary's review counts."""
    table = _concat(results, "reviews")
    write_parquet(table, truth / "reviews.parquet")
    planted = _planted(plan)
    ids = [p.product_id for p in _catalogue(plan.seed).products]
    products = reviews.products_truth(ids, planted)
    write_parquet(
        pa.table({"product_id": pa.array(products["product_id"]), "planted": pa.array(products["planted"])}),
        truth / "review_products.parquet",
    )
    return {
        "reviews": table.num_rows,
        "reviews_by_rating": _counts(table, "rating"),
        "reviews_by_planted_and_sentiment": _counts(table, "planted_product", "sentiment"),
        "review_planted_products": len(planted),
    }
