"""The collectors: turn simulated happenings into JSON lines, stamp the clocks, and deliver them
with the configured dirt (duplicates, late lines, malformed lines). Also keeps the event truth.

Clocks: ``event_time`` and ``sent_at`` are the device's clock (true time plus the device's skew,
written with the visitor's UTC offset); ``received_at`` is the collector's clock, in UTC, always
at or after the true time. A late line keeps its ``received_at`` but lands in a later hour's (or
day's) folder, as when a collector's buffer is flushed late.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from jobs.simulate.dirt import REASONS, make_malformed
from jobs.simulate.params import int_span, share, weighted
from jobs.simulate.rand import Draw
from jobs.simulate.reference import SCHEMA_VERSION
from jobs.simulate.timefmt import MS_DAY, MS_HOUR, iso

SOURCES = ("clickstream", "search", "orders")
SOURCE_INDEX = {s: i for i, s in enumerate(SOURCES)}
DELIVERY = ("on_time", "late_hour", "late_day")
TRUTH_COLUMNS = (
    "event_id",
    "source",
    "event_type",
    "true_session_id",
    "actor_id",
    "user_id",
    "bot_kind",
    "event_time_utc",
    "received_at_utc",
    "delivered_utc",
    "delivery",
    "clock_skew_ms",
    "n_duplicates",
    "cart_id",
    "order_id",
)

encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


class Collector:
    """Accumulates one shard's landing lines and truth rows."""

    def __init__(self, draw: Draw, sim: dict[str, Any], max_line_bytes: int, filler: list[dict[str, Any]]) -> None:
        self.draw = draw
        dirt = sim["dirt"]
        self.dup = share(dirt, "duplicate_share")
        self.late_hour = share(dirt, "late_hour_share")
        self.late_day = share(dirt, "late_day_share")
        self.late_hours = int_span(dirt, "late_hour_delay_hours")
        self.late_days = int_span(dirt, "late_day_delay_days")
        self.pick_reason = weighted(dirt, "malformed_reasons", REASONS)
        mal = share(dirt, "malformed_share")
        # Malformed lines are extra lines: make them the configured share of *all* lines.
        self.mal = mal * (1.0 + self.dup) / (1.0 - mal) if mal < 1 else 1.0
        self.max_line_bytes = max_line_bytes
        self.filler = filler
        # Landing lines: source index, delivery ms, line text (one list each, same length).
        self.l_src: list[int] = []
        self.l_at: list[int] = []
        self.l_text: list[str] = []
        # Event truth, one tuple per event (see TRUTH_COLUMNS); ``columns()`` transposes it.
        self.rows: list[tuple[Any, ...]] = []
        self.malformed: dict[str, list[Any]] = {
            k: []
            for k in (
                "source",
                "reason",
                "delivered_utc",
                "line_bytes",
                "line_sha256",
                "derived_from_event_type",
            )
        }

    # -- clickstream and search ------------------------------------------------------------------
    def hit(
        self,
        source: str,
        dev: Any,
        t: int,
        etype: str,
        page_type: str,
        url: str | None,
        user_id: str | None,
        referrer: str | None,
        fields: dict[str, Any] | None,
        load_ms: int | None = None,
        utm: tuple[str | None, str | None, str | None] | None = None,
        session_id: str | None = None,
        bot_kind: str | None = None,
    ) -> None:
        """One collector event from device ``dev`` at true UTC time ``t`` (ms)."""
        draw = self.draw
        u = draw.u()
        # Apps batch their events; browsers send at once.
        send = int(u * u * 25_000) if dev.is_app else 20 + int(u * 900)
        net = 25 + int(draw.u() * 600)
        skew, off = dev.skew_ms, dev.offset
        d: dict[str, Any] = {
            "event_id": draw.uuid(),
            "event_type": etype,
            "schema_version": SCHEMA_VERSION,
            "event_time": iso(t + skew, off),
            "sent_at": iso(t + send + skew, off),
            "received_at": iso(t + send + net),
            "anonymous_id": dev.anonymous_id,
            "user_id": user_id,
            "page_url": url,
            "page_type": page_type,
            "referrer": referrer,
        }
        if utm is not None:
            d["utm_source"], d["utm_medium"], d["utm_campaign"] = utm
        d.update(dev.base)
        if load_ms is not None:
            d["page_load_ms"] = load_ms
        if fields:
            d.update(fields)
        self._deliver(
            source,
            d,
            t,
            t + send + net,
            session_id,
            dev.anonymous_id,
            user_id,
            bot_kind,
            skew,
            d.get("cart_id"),
            None,
        )

    # -- orders ----------------------------------------------------------------------------------
    def order_event(self, order: dict[str, Any], etype: str, t: int, offset: int) -> None:
        """One change event of the order system at true UTC time ``t``; ``order`` holds the body."""
        recv = t + 40 + int(self.draw.u() * 1500)
        stamp = iso(t, offset)
        d: dict[str, Any] = {
            "event_id": self.draw.uuid(),
            "event_type": etype,
            "schema_version": SCHEMA_VERSION,
            "event_time": stamp,
            "received_at": iso(recv),
        }
        d.update(order)
        d["updated_at"] = stamp
        self._deliver(
            "orders",
            d,
            t,
            recv,
            None,
            order.get("anonymous_id"),
            order.get("user_id"),
            None,
            0,
            order.get("cart_id"),
            order["order_id"],
        )

    # -- delivery --------------------------------------------------------------------------------
    def _deliver(
        self,
        source: str,
        d: dict[str, Any],
        t: int,
        recv: int,
        session_id: str | None,
        actor: str | None,
        user_id: str | None,
        bot_kind: str | None,
        skew: int,
        cart_id: str | None,
        order_id: str | None,
    ) -> None:
        draw = self.draw
        src = SOURCE_INDEX[source]
        line = encode(d)
        r = draw.u()
        if r < self.late_day:
            at = (recv // MS_DAY + draw.randint(*self.late_days)) * MS_DAY + draw.randint(0, MS_DAY - 1)
            kind = "late_day"
        elif r < self.late_day + self.late_hour:
            at = (recv // MS_HOUR + draw.randint(*self.late_hours)) * MS_HOUR + draw.randint(0, MS_HOUR - 1)
            kind = "late_hour"
        else:
            at, kind = recv, "on_time"
        self.l_src.append(src)
        self.l_at.append(at)
        self.l_text.append(line)
        dups = 0
        if draw.u() < self.dup:
            dups = 1
            # A retry: the very same line again, usually minutes later, sometimes hours later.
            later = draw.randint(2_000, 15 * 60_000) if draw.u() < 0.7 else draw.randint(MS_HOUR, 6 * MS_HOUR)
            self.l_src.append(src)
            self.l_at.append(at + later)
            self.l_text.append(line)
        if draw.u() < self.mal:
            reason = self.pick_reason(draw)
            bad = make_malformed(reason, source, d, draw.uuid(), draw, encode, self.max_line_bytes, self.filler)
            bad_at = at + draw.randint(0, 5_000)
            self.l_src.append(src)
            self.l_at.append(bad_at)
            self.l_text.append(bad)
            raw = bad.encode()
            m = self.malformed
            m["source"].append(source)
            m["reason"].append(reason)
            m["delivered_utc"].append(bad_at)
            m["line_bytes"].append(len(raw))
            m["line_sha256"].append(hashlib.sha256(raw).hexdigest())
            m["derived_from_event_type"].append(d["event_type"])
        self.rows.append(
            (
                d["event_id"],
                source,
                d["event_type"],
                session_id,
                actor,
                user_id,
                bot_kind,
                t,
                recv,
                at,
                kind,
                skew,
                dups,
                cart_id,
                order_id,
            )
        )

    def absorb(self, other: Collector) -> None:
        """Append another collector's lines and truth after this one's (their relative order kept)."""
        self.l_src += other.l_src
        self.l_at += other.l_at
        self.l_text += other.l_text
        self.rows += other.rows
        for k, v in other.malformed.items():
            self.malformed[k] += v

    def columns(self) -> dict[str, list[Any]]:
        """The event truth, column-wise."""
        if not self.rows:
            return {k: [] for k in TRUTH_COLUMNS}
        return {k: list(v) for k, v in zip(TRUTH_COLUMNS, zip(*self.rows, strict=True), strict=True)}
