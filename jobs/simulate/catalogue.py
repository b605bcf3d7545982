"""The shop's product catalogue: a few thousand products with Indonesian categories, brands and
whole-rupiah prices (log-normal around each category's median, list price above for discounts)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from jobs.simulate.rand import STREAM_CATALOGUE, Draw, Weighted, generator
from jobs.simulate.reference import APP_ROOT, CATEGORIES, CURRENCY, WEB_ROOT

PRODUCTS_PER_CATEGORY = 120
MIN_PRICE, MAX_PRICE = 5_000, 15_000_000


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass(slots=True)
class Product:
    product_id: str
    name: str
    category: str
    cat: int
    brand: str
    price: int
    list_price: int | None
    web_url: str
    app_url: str
    view: dict = field(repr=False)  # product fields as they appear on product events
    # Price segments (from ms, until ms, price, list price) that replace the catalogue's prices
    # (jobs/simulate/pricing.py); empty: the catalogue's prices all the time.
    schedule: tuple = field(default=(), repr=False)
    _views: tuple = field(default=(), repr=False)

    def offer(self, t_ms: int) -> dict:
        """The product fields a shopper sees at ``t_ms``: ``view`` with that moment's prices."""
        for (lo, hi, _p, _l), view in zip(self.schedule, self._views, strict=True):
            if lo <= t_ms < hi:
                return view
        return self.view

    def price_at(self, t_ms: int) -> int:
        return int(self.offer(t_ms)["price"])

    def set_schedule(self, segments: list | tuple) -> None:
        self.schedule = tuple(segments)
        self._views = tuple({**self.view, "price": p, "list_price": lp} for _lo, _hi, p, lp in segments)

    def line(self, quantity: int, unit_price: int | None = None) -> dict:
        """A cart or order line of this product."""
        return {
            "product_id": self.product_id,
            "product_name": self.name,
            "category": self.category,
            "brand": self.brand,
            "quantity": quantity,
            "unit_price": self.price if unit_price is None else unit_price,
        }


@dataclass(slots=True)
class Category:
    index: int
    path: str
    web_url: str
    app_url: str
    products: list[Product]
    pick: Weighted  # popularity-weighted product choice
    terms: list[str]
    popularity: float  # weight of the category in the shop's traffic


def round_price(p: float) -> int:
    p = min(max(p, MIN_PRICE), MAX_PRICE)
    if p < 100_000:
        return round(p / 500.0) * 500
    if p < 1_000_000:
        return round(p / 1000.0) * 1000 - 100  # Rp 149.900 style
    return round(p / 10_000.0) * 10_000 - 1_000


class Catalogue:
    """Products by category, with popularity-weighted choice."""

    def __init__(self, seed: int) -> None:
        draw = Draw(generator(seed, STREAM_CATALOGUE))
        self.categories: list[Category] = []
        self.products: list[Product] = []
        weights = []
        for ci, (path, brands, nouns, variants, median, sigma, popularity, terms) in enumerate(CATEGORIES):
            prods: list[Product] = []
            leaf = slug(path.split(" > ")[-1])
            for k in range(PRODUCTS_PER_CATEGORY):
                brand = draw.pick(brands)
                name = f"{brand} {draw.pick(nouns)} {draw.pick(variants)}"
                price = round_price(draw.lognormal(median, sigma))
                if draw.chance(0.45):
                    off = draw.uniform(0.05, 0.6)
                    list_price: int | None = max(price, round(price / (1 - off) / 1000.0) * 1000)
                else:
                    list_price = price if draw.chance(0.5) else None
                pid = f"P{ci:02d}{k:04d}{draw.randint(10, 99)}"
                p = Product(
                    pid,
                    name,
                    path,
                    ci,
                    brand,
                    price,
                    list_price,
                    f"{WEB_ROOT}/p/{slug(name)}-{pid}",
                    f"{APP_ROOT}product/{pid}",
                    {},
                )
                p.view = {
                    "product_id": pid,
                    "product_name": name,
                    "category": path,
                    "brand": brand,
                    "price": price,
                    "list_price": list_price,
                    "currency": CURRENCY,
                }
                prods.append(p)
            ranks = np.arange(1, len(prods) + 1, dtype=float) ** -0.9
            self.categories.append(
                Category(
                    ci,
                    path,
                    f"{WEB_ROOT}/c/{leaf}",
                    f"{APP_ROOT}category/{leaf}",
                    prods,
                    Weighted(prods, ranks.tolist()),
                    terms,
                    popularity,
                )
            )
            self.products.extend(prods)
            weights.append(popularity)
        self.pick_category = Weighted(self.categories, weights)
        self.cheap = [p for p in self.products if p.price <= 60_000]

    def set_prices(self, schedule: dict[str, list]) -> None:
        """Give each product its price segments (none: the catalogue's prices), replacing earlier ones."""
        for p in self.products:
            p.set_schedule(schedule.get(p.product_id, ()))

    def category_for(self, draw: Draw, taste: Weighted | None) -> Category:
        """A category by the shopper's ``taste`` (category indexes), or by popularity without one."""
        return self.pick_category(draw) if taste is None else self.categories[taste(draw)]

    def product(self, draw: Draw, category: Category | None = None) -> Product:
        cat = category if category is not None else self.pick_category(draw)
        return cat.pick(draw)
