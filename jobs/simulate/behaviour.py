"""Human shoppers: visits (true sessions), browsing, search, carts with planted fates, checkout.

A visit is a run of events of one device with human gaps (seconds to minutes, with page_ping
heartbeats), always far shorter than the session timeout; visits of one device are kept more than
the timeout apart, except a planted, counted share of short gaps. Every cart gets one fate when it
is created: converted, emptied, or abandoned with exactly one cause whose evidence is in the events
(and no other cause's evidence), some abandoned carts being recovered a day or more later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

import numpy as np

from jobs.simulate.catalogue import Catalogue, Category, Product
from jobs.simulate.collector import Collector
from jobs.simulate.orders import OrderBook
from jobs.simulate.params import share, weighted
from jobs.simulate.population import Device, User
from jobs.simulate.rand import Draw, Weighted
from jobs.simulate.reference import (
    APP_ROOT,
    CART_REMINDER,
    CHANNELS,
    COUPONS_BAD,
    COUPONS_OK,
    DELIVERY_METHODS,
    FILTER_LOCATIONS,
    PAYMENT_METHODS,
    PAYMENT_SOFT_ERRORS,
    SORTS,
    WEB_ROOT,
    ZERO_RESULT_QUERIES,
)
from jobs.simulate.timefmt import MS_DAY, MS_HOUR

# Behaviour shares that are part of the model rather than of the configuration (the configured ones
# are read from ``simulator`` in ``World``).
LOGIN_TYPO_SHARE = 0.04  # logins that fail once before succeeding
NOISE_ERROR_SHARE = 0.02  # visits without a cart that hit a failing page
# Abandonment causes the model can plant (their weights are ``simulator.abandonment_causes``).
CAUSES = (
    "no_checkout_started",
    "browsing_alternatives",
    "shipping_cost_shock",
    "payment_failure",
    "slow_pages",
    "coupon_rejected",
    "out_of_stock",
    "price_increase",
)
SLOW_MS = 8_000  # page loads at or above this are "slow" evidence
MAX_NORMAL_LOAD_MS = 6_500  # ordinary pages never reach the slow threshold
_PAYMENT = Weighted([m for m, _ in PAYMENT_METHODS], [w for _, w in PAYMENT_METHODS])
_CHANNEL = Weighted(CHANNELS, [c[0] for c in CHANNELS])
_KEYS = "qwertyuiopasdfghjklzxcvbnm"


@dataclass(slots=True)
class Cart:
    cart_id: str
    dev: Device
    created: int
    fate: str  # converted, emptied, abandoned
    cause: str | None
    recover: bool
    items: list[list[Any]] = field(default_factory=list)  # [product, quantity, unit price]
    stage: str = "cart"
    outcome: str = ""
    last: int = 0
    order_id: str | None = None
    ordered_utc: int | None = None

    @property
    def value(self) -> int:
        return sum(q * p for _, q, p in self.items)

    def lines(self) -> list[dict[str, Any]]:
        return [prod.line(q, p) for prod, q, p in self.items]


def misspell(text: str, draw: Draw) -> str:
    """A typo of ``text``: a dropped, doubled, swapped or wrong letter."""
    for _ in range(5):
        i = draw.randint(1, max(1, len(text) - 2))
        op = draw.randint(0, 3)
        if op == 0:
            out = text[:i] + text[i + 1 :]
        elif op == 1:
            out = text[:i] + text[i] + text[i:]
        elif op == 2 and i + 1 < len(text):
            out = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        else:
            out = text[:i] + draw.pick(_KEYS) + text[i + 1 :]
        if out != text and out.strip():
            return out
    return text + text[-1]


class World:
    """Everything a shard's shoppers share: catalogue, collector, order book, settings, clock."""

    def __init__(
        self,
        draw: Draw,
        catalogue: Catalogue,
        collector: Collector,
        orders: OrderBook,
        sim: dict[str, Any],
        start_ms: int,
        end_ms: int,
        sale_campaigns: dict[int, str],
    ) -> None:
        self.draw = draw
        self.cat = catalogue
        self.col = collector
        self.orders = orders
        self.sim = sim
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.timeout_ms = int(float(sim["session_timeout_minutes"]) * 60_000)
        self.max_gap_ms = int(self.timeout_ms * 0.6)
        self.misspell_share = float(sim["search_misspelling_share"])
        self.zero_share = float(sim["zero_result_query_share"])
        self.conversion = share(sim, "cart_conversion_share")
        self.cart_add = share(sim, "cart_add_share")
        self.emptied = share(sim, "cart_emptied_share")
        self.recovered = share(sim, "cart_recovered_share")
        self.login_at_start = share(sim, "login_at_visit_start_share")
        self.pick_cause = weighted(sim, "abandonment_causes", CAUSES)
        self.sale_campaigns = sale_campaigns  # local day number -> campaign name
        # Planted campaigns (simulator.campaigns; none by default, and then no draw changes).
        self.campaigns: list[dict[str, Any]] = [dict(c) for c in sim.get("campaigns") or []]
        self.campaign_lift = {str(c["name"]): 1.0 + float(c["lift"]) for c in self.campaigns}
        self.attribution_ms = int(float(sim["campaign_attribution_days"]) * MS_DAY)
        self.sessions: dict[str, list[Any]] = {
            k: []
            for k in (
                "true_session_id",
                "anonymous_id",
                "user_id",
                "logged_in",
                "timezone",
                "start_utc",
                "end_utc",
                "n_events",
                "edge_case",
                "crosses_utc_midnight",
                "crosses_local_midnight",
                "planted",
                "utm_source",
                "utm_medium",
                "referrer",
            )
        }
        self.carts: list[Cart] = []


class Visit:
    """One true session of a human on one device."""

    __slots__ = (
        "cart",
        "dev",
        "draw",
        "landing_ref",
        "last",
        "n",
        "page_ref",
        "page_type",
        "page_url",
        "ref",
        "sid",
        "t",
        "user",
        "user_id",
        "utm",
        "viewed",
        "w",
        "web",
    )

    def __init__(self, w: World, dev: Device, start: int, user_id: str | None) -> None:
        self.w = w
        self.draw = w.draw
        self.dev = dev
        assert dev.user is not None  # human devices always belong to a shopper
        self.user: User = dev.user
        self.t = start
        self.sid = w.draw.uuid()
        self.user_id = user_id
        self.n = 0
        self.last = start
        self.landing_ref: str | None = None
        self.web = not dev.is_app
        self.ref: str | None = None  # referrer of the next page (previous page's URL)
        self.page_ref: str | None = None  # referrer of the current page
        self.page_url: str | None = None
        self.page_type = "home"
        self.utm: tuple[str | None, str | None, str | None] | None = None
        self.viewed: list[Product] = []
        self.cart: Cart | None = None

    # -- primitives -----------------------------------------------------------------------------
    def url(self, web: str, app: str) -> str:
        return web if self.web else app

    def gap(self, median_s: float, sigma: float = 0.8) -> None:
        ms = int(median_s * 1000 * math.exp(sigma * self.draw.normal()))
        self.t += min(max(ms, 300), self.w.max_gap_ms)

    def load_ms(self, slow: bool = False) -> int:
        if slow:
            return self.draw.randint(SLOW_MS, 30_000)
        base = 450.0 if self.web is False else 1100.0
        return min(int(base * math.exp(0.55 * self.draw.normal())) + 80, MAX_NORMAL_LOAD_MS)

    def page(
        self,
        etype: str,
        page_type: str,
        url: str,
        fields: dict[str, Any] | None,
        source: str = "clickstream",
        slow: bool = False,
    ) -> None:
        """An event that opens a page (or app screen)."""
        utm = None
        if self.n == 0:
            utm = self.utm
            self.landing_ref = self.ref
        self.page_ref = self.ref
        self.page_url = url
        self.page_type = page_type
        self.w.col.hit(
            source,
            self.dev,
            self.t,
            etype,
            page_type,
            url,
            self.user_id,
            self.page_ref,
            fields,
            self.load_ms(slow),
            utm,
            self.sid,
        )
        self.ref = url if self.web else None
        self.last = self.t
        self.n += 1

    def act(
        self,
        etype: str,
        fields: dict[str, Any] | None,
        source: str = "clickstream",
        page_type: str | None = None,
    ) -> None:
        """An event inside the current page."""
        self.w.col.hit(
            source,
            self.dev,
            self.t,
            etype,
            page_type or self.page_type,
            self.page_url,
            self.user_id,
            self.page_ref,
            fields,
            None,
            None,
            self.sid,
        )
        self.last = self.t
        self.n += 1

    def dwell(self, median_s: float, pings: bool) -> None:
        """Time on the current page, with page_ping heartbeats while engaged."""
        draw = self.draw
        stay = min(median_s * math.exp(0.9 * draw.normal()), 600.0)
        if pings and stay >= 20 and draw.u() < 0.6:
            engaged = 0
            depth = 0
            for _ in range(min(int(stay // 20), 5)):
                self.t += draw.randint(18_000, 22_000)
                engaged += draw.randint(8_000, 20_000)
                depth = min(100, depth + draw.randint(5, 35))
                self.act("page_ping", {"engaged_ms": engaged, "scroll_depth": depth})
            stay = max(stay - 20 * min(int(stay // 20), 5), 1.0)
        self.t += min(max(int(stay * 1000), 400), self.w.max_gap_ms)

    # -- pages ----------------------------------------------------------------------------------
    def home(self) -> None:
        self.page("page_view", "home", self.url(WEB_ROOT + "/", APP_ROOT + "home"), None)
        self.dwell(10, True)

    def promo(self) -> None:
        name = self.w.sale_campaigns.get((self.t + self.dev.offset * MS_HOUR) // MS_DAY, "flash-sale")
        slug = name.replace("_", "-")
        self.page("page_view", "promo", self.url(f"{WEB_ROOT}/promo/{slug}", f"{APP_ROOT}promo/{slug}"), None)
        self.dwell(15, True)

    def product(self, p: Product, slow: bool = False) -> None:
        self.page("product_view", "product", self.url(p.web_url, p.app_url), p.offer(self.t), slow=slow)
        self.viewed.append(p)
        self.dwell(30, True)

    def category_list(self, cat: Category, click: bool = True) -> Product | None:
        draw = self.draw
        list_name = f"kategori: {cat.path}"
        self.page(
            "product_list_view",
            "category",
            self.url(cat.web_url, cat.app_url),
            {"list_name": list_name, "products_shown": draw.randint(20, 60)},
        )
        self.gap(8)
        if not click or draw.u() < 0.3:
            return None
        p = cat.pick(draw)
        self.act(
            "product_list_click",
            {
                "list_name": list_name,
                "position": 1 + int(draw.exp(6.0)),
                "product_id": p.product_id,
                "price": p.price_at(self.t),
            },
        )
        self.t += draw.randint(300, 2500)
        self.product(p)
        return p

    def search(self, cat: Category | None = None) -> Product | None:
        draw = self.draw
        w = self.w
        cat = cat or self.pick_category()
        r = draw.u()
        if r < w.zero_share:
            query = draw.pick(ZERO_RESULT_QUERIES)
            results = 0
        else:
            query = draw.pick(cat.terms)
            if draw.u() < 0.2:
                query += draw.pick([" murah", " original", " promo", " terbaru", " cod"])
            if r < w.zero_share + w.misspell_share:
                query = misspell(query, draw)
                results = 1 + int(draw.lognormal(60, 1.0))
            else:
                results = 1 + int(draw.lognormal(400, 1.1))
        filters: dict[str, str] | None = None
        f = draw.u()
        if f < 0.08:
            filters = {"category": cat.path}
        elif f < 0.14:
            lo = draw.pick([50_000, 100_000, 500_000, 1_000_000])
            filters = {"min_price": str(lo), "max_price": str(lo * draw.pick([2, 5, 10]))}
        elif f < 0.18:
            filters = {"location": draw.pick(FILTER_LOCATIONS)}
        page_no = 1 if draw.u() < 0.88 else draw.randint(2, 4)
        search_id = draw.hex32()[:20]
        q = quote_plus(query)
        self.page(
            "search",
            "search",
            self.url(f"{WEB_ROOT}/search?q={q}&page={page_no}", f"{APP_ROOT}search?q={q}"),
            {
                "search_id": search_id,
                "query": query,
                "filters": filters,
                "sort": draw.pick(SORTS),
                "page_number": page_no,
                "results_count": results,
            },
            source="search",
        )
        self.gap(9)
        if results == 0 or draw.u() < 0.3:
            return None
        p = cat.pick(draw)
        pos = min(results, 1 + int(draw.exp(4.0)) + 20 * (page_no - 1))
        self.act(
            "search_result_click",
            {"search_id": search_id, "product_id": p.product_id, "position": pos},
            source="search",
        )
        self.t += draw.randint(300, 2500)
        self.product(p)
        return p

    def pick_category(self) -> Category:
        """A category by the shopper's taste (one draw), kept away from the device's last cart for an hour."""
        cats = self.w.cat.categories
        cat = self.w.cat.category_for(self.draw, self.user.taste)
        if self.t < self.dev.shun_until_ms:
            while cat.index in self.dev.shun:
                cat = cats[(cat.index + 1) % len(cats)]
        return cat

    def browse(self, steps: int) -> None:
        draw = self.draw
        for _ in range(steps):
            r = draw.u()
            if r < 0.34:
                self.category_list(self.pick_category())
            elif r < 0.64:
                self.search()
            elif r < 0.88:
                # A recommendation: usually the same category as the last product seen.
                last = self.viewed[-1] if self.viewed else None
                same = last is not None and draw.u() < 0.6
                cat = self.w.cat.categories[last.cat] if same and last is not None else self.pick_category()
                self.t += draw.randint(500, 3000)
                self.product(cat.pick(draw))
            elif r < 0.95:
                self.home()
            else:
                self.promo()

    def ensure_login(self) -> None:
        """Checkout needs an account: an anonymous shopper logs in first."""
        if self.user_id is not None:
            return
        self.login()

    def login(self) -> None:
        draw = self.draw
        user = self.user
        self.page("page_view", "account", self.url(f"{WEB_ROOT}/login", f"{APP_ROOT}account/login"), None)
        self.gap(12)
        method = "password" if draw.u() < 0.7 else draw.pick(["google", "otp_sms", "apple"])
        if method == "password" and draw.u() < LOGIN_TYPO_SHARE:
            self.act("login", {"login_result": "failure", "login_method": method, "email": user.email})
            self.gap(10)
        self.act("login", {"login_result": "success", "login_method": method, "email": user.email})
        self.user_id = user.user_id
        self.t += draw.randint(800, 4000)

    # -- cart pages -----------------------------------------------------------------------------
    def cart_fields(self, cart: Cart) -> dict[str, Any]:
        return {"cart_id": cart.cart_id, "cart_value": cart.value}

    def add(self, cart: Cart, p: Product, qty: int) -> None:
        view = p.offer(self.t)
        cart.items.append([p, qty, int(view["price"])])
        self.act(
            "add_to_cart",
            {"cart_id": cart.cart_id, "cart_value": cart.value, **view, "quantity": qty},
            page_type="product",
        )
        cart.last = self.t
        self.gap(5)

    def cart_view(self, cart: Cart, slow: bool = False) -> None:
        self.page(
            "cart_view",
            "cart",
            self.url(f"{WEB_ROOT}/cart", f"{APP_ROOT}cart"),
            {"cart_id": cart.cart_id, "cart_value": cart.value, "items": cart.lines()},
            slow=slow,
        )
        cart.last = self.t
        self.gap(14)

    def begin_checkout(self, cart: Cart, slow: bool = False) -> None:
        self.page(
            "begin_checkout",
            "checkout",
            self.url(f"{WEB_ROOT}/checkout", f"{APP_ROOT}checkout"),
            {"cart_id": cart.cart_id, "cart_value": cart.value, "items": cart.lines()},
            slow=slow,
        )
        cart.stage = "checkout"
        cart.last = self.t
        self.gap(12)

    def shipping(self, cart: Cart, shock: bool = False) -> int:
        draw = self.draw
        value = cart.value
        if shock:
            cost = max(math.ceil(value * draw.uniform(0.36, 0.9) / 1000.0) * 1000, 12_000)
        else:
            far = {7: 0, 8: 8_000, 9: 22_000}[self.user.offset]
            cost = draw.pick([9_000, 10_000, 12_000, 15_000, 18_000, 22_000]) + far
            if draw.u() < 0.3:
                cost = 0  # free-shipping voucher
            cost = min(cost, int(value * 0.3) // 500 * 500)
        self.act(
            "add_shipping_info",
            {
                "cart_id": cart.cart_id,
                "cart_value": value,
                "shipping_cost": cost,
                "delivery_method": draw.pick(DELIVERY_METHODS),
            },
        )
        cart.stage = "shipping"
        cart.last = self.t
        self.gap(15)
        return cost

    def coupon(self, cart: Cart, accepted: bool) -> int:
        draw = self.draw
        if accepted:
            discount = min(int(cart.value * 0.1) // 500 * 500, 50_000)
            self.act(
                "apply_coupon",
                {
                    "cart_id": cart.cart_id,
                    "cart_value": cart.value,
                    "coupon_code": draw.pick(COUPONS_OK),
                    "coupon_result": "accepted",
                    "coupon_reason": None,
                    "discount": discount,
                },
            )
        else:
            code, why = draw.pick(COUPONS_BAD)
            discount = 0
            self.act(
                "apply_coupon",
                {
                    "cart_id": cart.cart_id,
                    "cart_value": cart.value,
                    "coupon_code": code,
                    "coupon_result": "rejected",
                    "coupon_reason": why,
                    "discount": 0,
                },
            )
        cart.last = self.t
        self.gap(10)
        return discount

    def pay(self, cart: Cart, method: str) -> None:
        self.act("add_payment_info", {"cart_id": cart.cart_id, "cart_value": cart.value, "payment_method": method})
        cart.stage = "payment"
        cart.last = self.t
        self.gap(8)

    def payment_failed(self, cart: Cart, method: str) -> None:
        draw = self.draw
        self.act(
            "payment_failed",
            {
                "cart_id": cart.cart_id,
                "cart_value": cart.value,
                "payment_method": method,
                "error_code": draw.pick(PAYMENT_SOFT_ERRORS),
                "failure_kind": "soft",
            },
        )
        cart.last = self.t
        self.gap(12)

    def error(self, code: str, message: str, cart: Cart | None = None, product: Product | None = None) -> None:
        self.act(
            "error",
            {
                "error_code": code,
                "error_message": message,
                "cart_id": cart.cart_id if cart else None,
                "product_id": product.product_id if product else None,
            },
        )
        if cart is not None:
            cart.last = self.t
        self.gap(8)

    def checkout_and_order(self, cart: Cart, noise: bool) -> None:
        """The happy path from the cart page to a placed order."""
        draw = self.draw
        self.ensure_login()
        self.begin_checkout(cart)
        cost = self.shipping(cart)
        discount = 0
        voucher = None
        if noise and draw.u() < 0.03:
            self.coupon(cart, accepted=False)
        if draw.u() < 0.12:
            discount = self.coupon(cart, accepted=True)
            voucher = draw.pick(COUPONS_OK)
        method = _PAYMENT(draw)
        self.pay(cart, method)
        if noise and method not in ("cod", "bank_transfer") and draw.u() < 0.04:
            self.payment_failed(cart, method)
            self.pay(cart, method)
        self.t += draw.randint(1_500, 6_000)
        cart.order_id = self.w.orders.place(
            self.t, cart.cart_id, self.user, self.dev, cart.lines(), cost, discount, voucher, method
        )
        cart.ordered_utc = self.t
        cart.last = self.t
        self.t += draw.randint(500, 2_000)
        self.page(
            "page_view",
            "order_confirmation",
            self.url(f"{WEB_ROOT}/checkout/success?order={cart.order_id}", f"{APP_ROOT}checkout/success"),
            None,
        )
        self.dwell(12, False)

    # -- a cart's life in this visit -------------------------------------------------------------
    def new_cart(self) -> None:
        draw = self.draw
        w = self.w
        r = draw.u()
        if r < w.conversion:
            fate, cause = "converted", None
        elif r < w.conversion + w.emptied:
            fate, cause = "emptied", None
        else:
            fate, cause = "abandoned", w.pick_cause(draw)
        cart = Cart(
            f"C{draw.hex32()[:15]}",
            self.dev,
            self.t,
            fate,
            cause,
            fate == "abandoned" and draw.u() < w.recovered,
        )
        self.cart = cart
        w.carts.append(cart)
        if cause == "shipping_cost_shock":
            # Shipping shocks hit cheap, single-item carts.
            p = draw.pick(w.cat.cheap)
            self.t += draw.randint(1_000, 5_000)
            self.product(p)
            self.add(cart, p, 1)
        else:
            if not self.viewed:
                self.product(w.cat.product(draw))
            p = self.viewed[-1]
            qty = 1 if draw.u() < 0.82 else draw.randint(2, 4)
            if p.price * qty > 20_000_000:
                qty = 1
            self.add(cart, p, qty)
            if draw.u() < 0.25:
                # Often bought together: another category, so no "alternatives" are browsed.
                other = w.cat.categories[(p.cat + draw.randint(1, len(w.cat.categories) - 1)) % len(w.cat.categories)]
                q = other.pick(draw)
                self.t += draw.randint(1_000, 4_000)
                self.product(q)
                self.add(cart, q, 1)
        self.dev.shun = frozenset(item[0].cat for item in cart.items)
        self.dev.shun_until_ms = self.t + 3_600_000
        self.run_fate(cart)

    def run_fate(self, cart: Cart) -> None:
        draw = self.draw
        cause = cart.cause
        if cart.fate == "converted":
            if draw.u() < 0.7:
                self.cart_view(cart)
            self.checkout_and_order(cart, noise=True)
            cart.outcome = "converted"
            cart.stage = "payment"
            return
        if cart.fate == "emptied":
            self.cart_view(cart)
            for item in list(cart.items):
                p, q, price = item
                cart.items.remove(item)
                self.act(
                    "remove_from_cart",
                    {
                        "cart_id": cart.cart_id,
                        "cart_value": cart.value,
                        **p.offer(self.t),
                        "price": price,
                        "quantity": q,
                    },
                )
                cart.last = self.t
                self.gap(4)
            cart.outcome = "emptied"
            return
        cart.outcome = "abandoned"
        if cause == "no_checkout_started":
            if draw.u() < 0.5:
                self.cart_view(cart)
        elif cause == "browsing_alternatives":
            p = cart.items[0][0]
            cat = self.w.cat.categories[p.cat]
            seen = {p.product_id}
            for _ in range(draw.randint(3, 6)):
                alt = cat.pick(draw)
                for _ in range(8):
                    if alt.product_id not in seen:
                        break
                    alt = cat.pick(draw)
                else:
                    alt = next(x for x in cat.products if x.product_id not in seen)
                seen.add(alt.product_id)
                self.t += draw.randint(1_000, 6_000)
                self.product(alt)
        elif cause == "price_increase":
            self.cart_view(cart)
            self.t += draw.randint(2 * 60_000, 10 * 60_000)
            item = cart.items[draw.randint(0, len(cart.items) - 1)]
            item[2] = max(item[2] + 1_000, int(item[2] * draw.uniform(1.06, 1.3)) // 500 * 500)
            self.cart_view(cart)
        elif cause == "out_of_stock":
            self.cart_view(cart)
            gone = cart.items[draw.randint(0, len(cart.items) - 1)][0]
            if draw.u() < 0.5:
                self.ensure_login()
                self.begin_checkout(cart)
            self.error("out_of_stock", "Stok produk habis", cart, gone)
        elif cause == "slow_pages":
            self.cart_view(cart, slow=True)
            if draw.u() < 0.5:
                self.ensure_login()
                if draw.u() < 0.5:
                    self.begin_checkout(cart, slow=True)
                else:
                    self.begin_checkout(cart)
                    self.error("page_error", "Gagal memuat halaman (HTTP 504)", cart)
        elif cause == "coupon_rejected":
            self.cart_view(cart)
            self.ensure_login()
            self.begin_checkout(cart)
            for _ in range(draw.randint(1, 2)):
                self.coupon(cart, accepted=False)
        elif cause == "shipping_cost_shock":
            self.cart_view(cart)
            self.ensure_login()
            self.begin_checkout(cart)
            self.shipping(cart, shock=True)
        elif cause == "payment_failure":
            self.cart_view(cart)
            self.ensure_login()
            self.begin_checkout(cart)
            self.shipping(cart)
            method = draw.pick(["gopay", "ovo", "dana", "credit_card", "paylater", "shopeepay"])
            for _ in range(draw.randint(1, 3)):
                self.pay(cart, method)
                self.payment_failed(cart, method)
        if cart.recover:
            self.dev.to_recover.append(cart)

    def resume(self, cart: Cart) -> None:
        """A shopper comes back to an abandoned cart and orders it."""
        stage = cart.stage  # the truth keeps the stage the cart was abandoned at
        self.cart_view(cart)
        self.checkout_and_order(cart, noise=False)
        cart.stage = stage
        cart.outcome = "recovered"


def simulate_device(
    w: World,
    dev: Device,
    starts: list[int],
    planted_cm: list[bool],
    short_gap: list[bool],
    anonymous_share: float,
) -> None:
    """All visits of one device, in time order, with the spacing rules."""
    draw = w.draw
    user = dev.user
    assert user is not None
    first = True
    for start, cm, sg in zip(starts, planted_cm, short_gap, strict=True):
        planted = None
        if cm:
            day = start // MS_DAY
            midnight = (day + 1) * MS_DAY if start - day * MS_DAY > MS_DAY // 2 else day * MS_DAY
            if midnight <= w.start_ms:
                midnight += MS_DAY
            if midnight < w.end_ms:
                start = midnight - draw.randint(2 * 60_000, 9 * 60_000)
                planted = "cross_midnight"
        if not first and sg:
            start = dev.last_end_ms + int(w.timeout_ms * draw.uniform(0.15, 0.8))
            planted = "short_gap"
        elif start < dev.last_end_ms + w.timeout_ms + 60_000:
            start = dev.last_end_ms + w.timeout_ms + 60_000 + draw.randint(0, 45 * 60_000)
        if start >= w.end_ms:
            break
        prev_end = dev.last_end_ms
        run_visit(w, dev, user, start, planted, prev_end, anonymous_share)
        first = False


def run_visit(
    w: World, dev: Device, user: User, start: int, planted: str | None, prev_end: int, anonymous_share: float
) -> None:
    draw = w.draw
    logged = draw.u() >= anonymous_share
    explicit = logged and draw.u() < w.login_at_start
    v = Visit(w, dev, start, user.user_id if logged and not explicit else None)
    # Acquisition.
    recover = None
    for c in dev.to_recover:
        if c.last + MS_DAY <= start:
            recover = c
            break
    local_day = (start + dev.offset * MS_HOUR) // MS_DAY
    landing = "home"
    if recover is not None and draw.u() < 0.5:
        v.utm = CART_REMINDER
        landing = "cart"
    elif dev.is_app:
        if draw.u() < 0.2:
            v.utm = ("push", "notification", w.sale_campaigns.get(local_day, "flash_sale_reminder"))
            landing = "promo"
    else:
        planted_campaign = _planted_campaign(w, local_day, start + dev.offset * MS_HOUR) if w.campaigns else None
        if planted_campaign is not None:
            v.utm = (str(planted_campaign["source"]), str(planted_campaign["medium"]), str(planted_campaign["name"]))
            landing = "promo"
        else:
            _, source, medium, campaigns, referrers, landing = _CHANNEL(draw)
            v.ref = draw.pick(referrers)
            if source is not None:
                camp = draw.pick(campaigns)
                if camp == "{sale}":
                    camp = w.sale_campaigns.get(local_day, campaigns[0])
                v.utm = (source, medium, camp)
    lift = _campaign_lift(w, v, start) if w.campaign_lift else 1.0
    if landing == "home":
        v.home()
    elif landing == "promo":
        v.promo()
    elif landing == "category":
        v.category_list(v.pick_category())
    elif landing == "product":
        v.product(w.cat.product(draw, v.pick_category()))
    if explicit:
        v.login()
    if recover is not None:
        dev.to_recover.remove(recover)
        v.resume(recover)
        v.browse(draw.randint(0, 2))
    else:
        steps = 1 + min(draw.geometric(0.2), 30)
        if planted == "cross_midnight":
            steps = max(steps, 12)
        wants_cart = draw.u() < min(1.0, w.cart_add * lift)
        if wants_cart:
            v.browse(max(0, steps // 2))
            v.new_cart()
        else:
            v.browse(steps)
            if draw.u() < NOISE_ERROR_SHARE:
                v.error(draw.pick(["page_error", "not_found"]), "Halaman tidak dapat ditampilkan")
    dev.last_end_ms = v.last
    _record_session(w, v, start, v.last, planted, prev_end)


def _planted_campaign(w: World, local_day: int, local_ms: int) -> dict[str, Any] | None:
    """The planted campaign that brings this web visit, if one runs at its local time and its draw says so."""
    hour = (local_ms % MS_DAY) // MS_HOUR
    for c in w.campaigns:
        lo, hi = (int(h) for h in c["hours"])
        if lo <= hour < hi and (c["days"] == "all" or local_day in w.sale_campaigns) and w.draw.u() < float(c["share"]):
            return c
    return None


def _campaign_lift(w: World, v: Visit, start: int) -> float:
    """The add-to-cart multiplier of a visit: 1 + the planted lift of the campaign it is attributed to.

    The rule of gold.campaign_performance_hourly: a tagged visit belongs to its own campaign; a
    direct one (no campaign, no referrer) to the device's last campaign within
    ``campaign_attribution_days``; any other visit to none, and it ends the last campaign's claim.
    """
    dev = v.dev
    camp = v.utm[2] if v.utm is not None else None
    if camp:
        dev.touch = (camp, start)
    elif v.ref is not None:
        dev.touch = None
    elif dev.touch is not None and start - dev.touch[1] <= w.attribution_ms:
        camp = dev.touch[0]
    return w.campaign_lift.get(camp or "", 1.0)


def _record_session(w: World, v: Visit, start: int, end: int, planted: str | None, prev_end: int) -> None:
    s = w.sessions
    dev = v.dev
    off = dev.offset * MS_HOUR
    cross_utc = start // MS_DAY != end // MS_DAY
    cross_local = (start + off) // MS_DAY != (end + off) // MS_DAY
    edge = None
    if start - prev_end < w.timeout_ms:
        edge = "short_gap"
    elif cross_utc:
        edge = "cross_midnight"
    utm = v.utm or (None, None, None)
    for k, val in (
        ("true_session_id", v.sid),
        ("anonymous_id", dev.anonymous_id),
        ("user_id", v.user.user_id if v.user else None),
        ("logged_in", v.user_id is not None),
        ("timezone", dev.timezone),
        ("start_utc", start),
        ("end_utc", end),
        ("n_events", v.n),
        ("edge_case", edge),
        ("crosses_utc_midnight", cross_utc),
        ("crosses_local_midnight", cross_local),
        ("planted", planted),
        ("utm_source", utm[0]),
        ("utm_medium", utm[1]),
        ("referrer", v.landing_ref),
    ):
        s[k].append(val)


def schedule(
    users: list[User], rng: np.random.Generator, rates: dict[str, np.ndarray], start_ms: int
) -> list[list[int]]:
    """Visit start times (UTC ms) of each user over the window, from the hourly rates."""
    out: list[list[int]] = [[] for _ in users]
    for tz, r in rates.items():
        idx = [i for i, u in enumerate(users) if u.timezone == tz]
        if not idx:
            continue
        total = float(r.sum())
        act = np.array([users[i].activity for i in idx])
        counts = rng.poisson(act * total)
        n = int(counts.sum())
        hours = rng.choice(len(r), size=n, p=r / total)
        ms = start_ms + hours.astype(np.int64) * MS_HOUR + rng.integers(0, MS_HOUR, size=n)
        pos = 0
        for i, c in zip(idx, counts.tolist(), strict=True):
            out[i] = sorted(ms[pos : pos + c].tolist())
            pos += c
    return out
