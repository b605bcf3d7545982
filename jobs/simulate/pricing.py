"""Prices that move around sale days: genuine cuts and planted fake discounts.

Conf ``simulator.pricing``. For each sale day D of the window (the calendar's, in the shop's time
zone), among each category's ``candidates`` most popular products:

* ``genuine`` products are cut by ``genuine_cut`` on D only; the list price stays as it was.
* ``raised_then_cut`` products are raised by ``raise`` (price and list price) ``raise_days``
  before D; on D they are "cut" to a price still at or above the one they had before the raise,
  showing the raised price as the list price.
* ``list_inflated`` products keep their price but show a list price raised by ``raise``
  ``raise_days`` before D; on D a shallow cut of ``shallow_cut``.

After D every price returns to the catalogue's. A product that always shows a list price above its
price (the catalogue's standing markdowns) and is not planted is, on a sale day, a "discount" that
never was one: the truth lists it as ``standing_markdown``. ``truth/discounts.parquet`` holds one row
per (sale day, product) planted or standing, with the kind and whether the sale-day discount is
misleading. Prices draw from a stream of their own (keyed by the sale day), so every other draw of
a run stays as it was.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from jobs.simulate.catalogue import Catalogue, round_price
from jobs.simulate.params import span
from jobs.simulate.rand import STREAM_PRICING, Draw, generator

PLANTED = ("genuine", "raised_then_cut", "list_inflated")
MISLEADING = {"raised_then_cut": True, "list_inflated": True, "standing_markdown": True, "genuine": False}

#: A product's price segments: (from ms, until ms, price, list price) in UTC epoch milliseconds.
Segment = tuple[int, int, int, int | None]


def _midnight_ms(day: dt.date, tz: ZoneInfo) -> int:
    return int(dt.datetime.combine(day, dt.time(), tzinfo=tz).timestamp() * 1000)


def plan_prices(
    cat: Catalogue, seed: int, sale_days: Mapping[dt.date, str], params: Mapping[str, Any], timezone: str
) -> tuple[dict[str, list[Segment]], list[dict[str, Any]]]:
    """Price segments per product id and the truth rows, for ``sale_days`` (local date -> name)."""
    tz = ZoneInfo(timezone)
    n = int(params["candidates"])
    counts = {k: int(params[k]) for k in PLANTED}
    if sum(counts.values()) > n:
        raise ValueError(f"simulator.pricing plants {sum(counts.values())} products per category, above candidates={n}")
    raise_lo, raise_hi = span(params, "raise")
    days_lo, days_hi = (int(x) for x in span(params, "raise_days"))
    cut = span(params, "genuine_cut")
    shallow = span(params, "shallow_cut")
    schedule: dict[str, list[Segment]] = {}
    truth: list[dict[str, Any]] = []
    taken: set[str] = set()
    for day in sorted(sale_days):
        draw = Draw(generator(seed, STREAM_PRICING, day.toordinal()))
        planted: dict[str, str] = {}
        for category in cat.categories:
            pool = [p for p in category.products[:n] if p.product_id not in taken]
            order = [pool[i] for i in draw.rng.permutation(len(pool))]
            at = 0
            for planted_kind in PLANTED:
                for p in order[at : at + counts[planted_kind]]:
                    planted[p.product_id] = planted_kind
                at += counts[planted_kind]
        start, end = _midnight_ms(day, tz), _midnight_ms(day + dt.timedelta(days=1), tz)
        for p in cat.products:
            kind = planted.get(p.product_id)
            listed = p.list_price if p.list_price is not None else p.price
            row = {"sale_date": day, "sale_name": sale_days[day], "product_id": p.product_id, "category": p.category}
            if kind is None:
                if p.list_price is not None and p.list_price > p.price:
                    truth.append({**row, "kind": "standing_markdown", "change_date": None, "base_price": p.price,
                                  "base_list_price": p.list_price, "sale_price": p.price,
                                  "sale_list_price": p.list_price})  # fmt: skip
                continue
            taken.add(p.product_id)
            segments: list[Segment] = []
            change = day
            if kind == "genuine":
                price = min(p.price - 500, round_price(p.price * (1 - draw.uniform(*cut))))
                shown = max(listed, p.price)
            else:
                change = day - dt.timedelta(days=draw.randint(days_lo, days_hi))
                up = draw.uniform(raise_lo, raise_hi)
                since = _midnight_ms(change, tz)
                if kind == "raised_then_cut":
                    raised = max(p.price + 1_000, round_price(p.price * (1 + up)))
                    raised_list = max(raised, round_price(listed * (1 + up)))
                    segments.append((since, start, raised, raised_list if p.list_price is not None else None))
                    price = max(p.price, round_price(p.price * (1 + up * draw.uniform(0.0, 0.5))))
                    shown = raised_list
                else:
                    shown = max(listed + 1_000, round_price(listed * (1 + up)))
                    segments.append((since, start, p.price, shown))
                    price = min(p.price - 500, round_price(p.price * (1 - draw.uniform(*shallow))))
            price = max(price, 500)
            segments.append((start, end, price, shown))
            schedule[p.product_id] = segments
            truth.append({**row, "kind": kind, "change_date": None if kind == "genuine" else change,
                          "base_price": p.price, "base_list_price": p.list_price, "sale_price": price,
                          "sale_list_price": shown})  # fmt: skip
    return schedule, truth


def windows_sale_days(sale_days: Iterable[tuple[dt.date, str]], first: dt.date, last: dt.date) -> dict[dt.date, str]:
    """The sale days whose prices show inside [first, last]: from first up to two weeks after last
    (their raises start before them)."""
    return {d: name for d, name in sale_days if first <= d <= last + dt.timedelta(days=14)}
