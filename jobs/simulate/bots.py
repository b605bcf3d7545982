"""Bots and threats: crawlers, headless browsers, scrapers, card testers and credential stuffers.

Each bot actor is recorded in the truth (anonymous id, IP, kind). Their events carry the tell-tale
signs the pipeline's rules look for: known crawler user agents, ``HeadlessChrome``-like agents,
inhuman and very regular rates, bursts of failed payments from one device, and many failed logins
with different e-mails from one IP.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jobs.simulate.catalogue import Catalogue
from jobs.simulate.collector import Collector
from jobs.simulate.params import int_span, span
from jobs.simulate.population import Device
from jobs.simulate.rand import Draw, Weighted
from jobs.simulate.reference import (
    CRAWLERS,
    DATACENTER_IP_PREFIXES,
    DEVICE_KINDS,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    HEADLESS_AGENTS,
    LAST_NAMES,
    PAYMENT_HARD_ERRORS,
    WEB_ROOT,
)
from jobs.simulate.timefmt import MS_DAY, MS_HOUR, day_string

KINDS = ("crawler", "headless", "scraper", "card_testing", "credential_stuffing")
_CRAWLER = Weighted(CRAWLERS, [c[2] for c in CRAWLERS])
_DESKTOP = next(agents for kind, _, agents in DEVICE_KINDS if kind == "desktop_web")
_ANDROID = next(agents for kind, _, agents in DEVICE_KINDS if kind == "android_web")


class BotFarm:
    """Simulates one UTC day of bot traffic into a collector (``conf`` is ``simulator.bots``)."""

    def __init__(
        self, draw: Draw, catalogue: Catalogue, collector: Collector, day_start: int, conf: Mapping[str, Any]
    ) -> None:
        self.draw = draw
        self.cat = catalogue
        self.col = collector
        self.day_start = day_start
        self.scraper_rate = span(conf, "scraper_events_per_second")
        self.scraper_minutes = int_span(conf, "scraper_minutes")
        self.card_attempts = int_span(conf, "card_tester_attempts")
        self.actors: dict[str, list[Any]] = {
            k: []
            for k in (
                "anonymous_id",
                "ip",
                "kind",
                "actor",
                "user_agent",
                "day",
                "first_seen_utc",
                "n_events",
            )
        }
        self._serial = 0
        self._row: dict[str, int] = {}

    # -- helpers --------------------------------------------------------------------------------
    def _ip(self, prefix: str | None = None) -> str:
        d = self.draw
        return f"{prefix or d.pick(DATACENTER_IP_PREFIXES)}.{d.randint(0, 255)}.{d.randint(1, 254)}"

    def _device(self, kind: str, ua: str, ip: str, actor: str, t: int) -> Device:
        dev = Device(self.draw.uuid(), kind, False, ua, ip, self.draw.u() < 0.5, 0, None, "Asia/Jakarta", 7)
        a = self.actors
        self._row[dev.anonymous_id] = len(a["kind"])
        for k, v in (
            ("anonymous_id", dev.anonymous_id),
            ("ip", ip),
            ("kind", kind),
            ("actor", actor),
            ("user_agent", ua),
            ("day", day_string(self.day_start // MS_DAY)),
            ("first_seen_utc", t),
            ("n_events", 0),
        ):
            a[k].append(v)
        return dev

    def _actor(self, kind: str) -> str:
        self._serial += 1
        return f"{kind}-{day_string(self.day_start // MS_DAY).replace('-', '')}-{self._serial:04d}"

    def _hit(
        self,
        dev: Device,
        kind: str,
        t: int,
        etype: str,
        page_type: str,
        url: str,
        fields: dict[str, Any] | None,
        load: int | None = None,
        source: str = "clickstream",
        user_id: str | None = None,
    ) -> None:
        self.col.hit(source, dev, t, etype, page_type, url, user_id, None, fields, load, None, None, kind)
        self.actors["n_events"][self._row[dev.anonymous_id]] += 1

    def _start(self, margin_ms: int = 0) -> int:
        return self.day_start + self.draw.randint(0, MS_DAY - 1 - margin_ms)

    # -- kinds ----------------------------------------------------------------------------------
    def crawler(self) -> None:
        d = self.draw
        ua, prefix, _ = _CRAWLER(d)
        t = self._start()
        dev = self._device("crawler", ua, self._ip(prefix), self._actor("crawler"), t)
        for _ in range(d.randint(5, 60)):
            r = d.u()
            if r < 0.6:
                p = self.cat.product(d)
                self._hit(dev, "crawler", t, "product_view", "product", p.web_url, p.offer(t))
            elif r < 0.85:
                c = self.cat.pick_category(d)
                self._hit(
                    dev,
                    "crawler",
                    t,
                    "product_list_view",
                    "category",
                    c.web_url,
                    {"list_name": f"kategori: {c.path}", "products_shown": 60},
                )
            else:
                self._hit(dev, "crawler", t, "page_view", "home", WEB_ROOT + "/", None)
            t += d.randint(500, 8_000)

    def headless(self) -> None:
        d = self.draw
        ua = d.pick(HEADLESS_AGENTS)
        t = self._start()
        dev = self._device("headless", ua, self._ip(), self._actor("headless"), t)
        for _ in range(d.randint(10, 80)):
            r = d.u()
            load = d.randint(90, 450)
            if r < 0.55:
                p = self.cat.product(d)
                self._hit(dev, "headless", t, "product_view", "product", p.web_url, p.offer(t), load)
            elif r < 0.8:
                c = self.cat.pick_category(d)
                self._hit(
                    dev,
                    "headless",
                    t,
                    "product_list_view",
                    "category",
                    c.web_url,
                    {"list_name": f"kategori: {c.path}", "products_shown": 60},
                    load,
                )
            else:
                c = self.cat.pick_category(d)
                q = d.pick(c.terms)
                self._hit(
                    dev,
                    "headless",
                    t,
                    "search",
                    "search",
                    f"{WEB_ROOT}/search?q={q.replace(' ', '+')}",
                    {
                        "search_id": d.hex32()[:20],
                        "query": q,
                        "filters": None,
                        "sort": "relevance",
                        "page_number": 1,
                        "results_count": d.randint(50, 3000),
                    },
                    load,
                    source="search",
                )
            t += d.randint(300, 3_000)

    def scraper(self) -> None:
        """Product pages at several per second, at very regular intervals, for the configured minutes."""
        d = self.draw
        ua = d.pick(_DESKTOP)
        minutes = d.randint(*self.scraper_minutes)
        t = self._start(minutes * 60_000)
        dev = self._device("scraper", ua, self._ip(), self._actor("scraper"), t)
        end = t + minutes * 60_000
        step = 1000.0 / d.uniform(*self.scraper_rate)
        products = self.cat.products
        i = d.randint(0, len(products) - 1)
        n = 0
        while t < end:
            if n % 40 == 0:
                c = self.cat.categories[(i // 120) % len(self.cat.categories)]
                self._hit(
                    dev,
                    "scraper",
                    t,
                    "product_list_view",
                    "category",
                    f"{c.web_url}?page={n // 40 + 1}",
                    {"list_name": f"kategori: {c.path}", "products_shown": 40},
                    d.randint(120, 300),
                )
            else:
                p = products[i % len(products)]
                i += 1
                self._hit(dev, "scraper", t, "product_view", "product", p.web_url, p.offer(t), d.randint(120, 300))
            n += 1
            t += int(step * d.uniform(0.97, 1.03))

    def card_tester(self) -> None:
        """One device tries dozens of stolen cards on a cheap cart within minutes."""
        d = self.draw
        ua = d.pick(_DESKTOP + _ANDROID)
        t = self.day_start + d.randint(16 * MS_HOUR, 23 * MS_HOUR)  # small hours in Indonesia
        dev = self._device("card_testing", ua, self._ip(), self._actor("card_testing"), t)
        p = d.pick(self.cat.cheap)
        view = p.offer(t)  # the cart keeps the price of its first minutes
        price = int(view["price"])
        cart_id = f"C{d.hex32()[:15]}"
        account = f"U9{d.randint(10_000_000, 99_999_999)}"
        email = f"{d.hex32()[:8]}@{d.pick(['mailinator.com', 'guerrillamail.com', 'yopmail.com'])}"
        self._hit(dev, "card_testing", t, "page_view", "account", f"{WEB_ROOT}/login", None, d.randint(300, 900))
        t += d.randint(2_000, 6_000)
        self._hit(
            dev,
            "card_testing",
            t,
            "login",
            "account",
            f"{WEB_ROOT}/login",
            {"login_result": "success", "login_method": "password", "email": email},
        )
        t += d.randint(2_000, 6_000)
        self._hit(
            dev,
            "card_testing",
            t,
            "product_view",
            "product",
            p.web_url,
            view,
            d.randint(300, 900),
            user_id=account,
        )
        t += d.randint(2_000, 5_000)
        self._hit(
            dev,
            "card_testing",
            t,
            "add_to_cart",
            "product",
            p.web_url,
            {"cart_id": cart_id, "cart_value": price, **view, "quantity": 1},
            user_id=account,
        )
        t += d.randint(2_000, 5_000)
        url = f"{WEB_ROOT}/checkout"
        self._hit(
            dev,
            "card_testing",
            t,
            "begin_checkout",
            "checkout",
            url,
            {"cart_id": cart_id, "cart_value": price, "items": [p.line(1, price)]},
            d.randint(300, 900),
            user_id=account,
        )
        t += d.randint(3_000, 8_000)
        for _ in range(d.randint(*self.card_attempts)):
            self._hit(
                dev,
                "card_testing",
                t,
                "add_payment_info",
                "checkout",
                url,
                {"cart_id": cart_id, "cart_value": price, "payment_method": "credit_card"},
                user_id=account,
            )
            t += d.randint(800, 3_000)
            self._hit(
                dev,
                "card_testing",
                t,
                "payment_failed",
                "checkout",
                url,
                {
                    "cart_id": cart_id,
                    "cart_value": price,
                    "payment_method": "credit_card",
                    "error_code": d.pick(PAYMENT_HARD_ERRORS),
                    "failure_kind": "hard",
                },
                user_id=account,
            )
            t += d.randint(3_000, 12_000)

    def credential_stuffer(self) -> None:
        """One IP, many failed logins with different e-mails within minutes, rotating cookies."""
        d = self.draw
        ip = self._ip()
        ua = d.pick(_DESKTOP)
        t = self._start(2 * MS_HOUR)
        actor = self._actor("credential_stuffing")
        devices = [self._device("credential_stuffing", ua, ip, actor, t) for _ in range(d.randint(1, 4))]
        url = f"{WEB_ROOT}/login"
        for dev in devices:
            self._hit(dev, "credential_stuffing", t, "page_view", "account", url, None, d.randint(200, 600))
            t += d.randint(300, 1_500)
        for k in range(d.randint(60, 300)):
            dev = devices[k % len(devices)]
            email = (
                f"{d.pick(FIRST_NAMES)}{d.pick(['.', '_', ''])}{d.pick(LAST_NAMES)}"
                f"{d.randint(1, 9999)}@{d.pick(EMAIL_DOMAINS)}"
            )
            self._hit(
                dev,
                "credential_stuffing",
                t,
                "login",
                "account",
                url,
                {"login_result": "failure", "login_method": "password", "email": email},
            )
            t += d.randint(400, 3_000)


def simulate_bot_day(
    farm: BotFarm, n_crawlers: int, n_headless: int, n_scrapers: int, n_card: int, n_stuffers: int
) -> None:
    for _ in range(n_crawlers):
        farm.crawler()
    for _ in range(n_headless):
        farm.headless()
    for _ in range(n_scrapers):
        farm.scraper()
    for _ in range(n_card):
        farm.card_tester()
    for _ in range(n_stuffers):
        farm.credential_stuffer()
