"""The shop's order system: an order is created at checkout, then paid, cancelled or refunded.

Each change is an event of the ``orders`` source carrying the whole order (items, amounts, buyer's
contact) with ``created_at``/``updated_at`` in the buyer's local offset; ``event_time`` is
``updated_at``. Changes that would happen after the simulated window are not emitted (they have
not happened yet), so the truth's final status is the status at the window's end.
"""

from __future__ import annotations

from typing import Any

from jobs.simulate.params import int_span, share
from jobs.simulate.rand import Draw
from jobs.simulate.reference import CANCEL_REASONS, CURRENCY, REFUND_REASONS
from jobs.simulate.timefmt import MS_DAY, MS_HOUR, day_string, iso

MINUTE = 60_000
SECOND = 1_000


class OrderBook:
    """Creates orders and their follow-up events, and keeps the orders truth."""

    def __init__(self, draw: Draw, collector: Any, sim: dict[str, Any], end_ms: int, reviewer: Any = None) -> None:
        self.draw = draw
        self.col = collector
        # Told of every delivered order (jobs.simulate.reviews.Reviewer); None when reviews are off.
        self.reviewer = reviewer
        self.cancel = share(sim, "order_cancel_share")
        self.refund = share(sim, "order_refund_share")
        o = sim["orders"]  # delays, as [low, high] in milliseconds below
        self.paid_after = int_span(o, "paid_after_seconds", SECOND)
        self.bank_paid_after = int_span(o, "bank_transfer_paid_after_minutes", MINUTE)
        self.cod_paid_after = int_span(o, "cod_paid_after_days", MS_DAY)
        self.unpaid_cancel_after = int_span(o, "unpaid_cancel_after_hours", MS_HOUR)
        self.cancel_after_paid = int_span(o, "cancel_after_paid_minutes", MINUTE)
        self.cod_cancel_after = int_span(o, "cod_cancel_after_minutes", MINUTE)
        self.refund_after_paid = int_span(o, "refund_after_paid_days", MS_DAY)
        self.end_ms = end_ms
        self.truth: dict[str, list[Any]] = {
            k: []
            for k in (
                "order_id",
                "cart_id",
                "user_id",
                "anonymous_id",
                "created_utc",
                "final_status",
                "subtotal",
                "shipping_cost",
                "discount",
                "total",
                "payment_method",
                "timezone",
                "n_events",
            )
        }

    def place(
        self,
        t: int,
        cart_id: str,
        user: Any,
        dev: Any,
        lines: list[dict[str, Any]],
        shipping: int,
        discount: int,
        voucher: str | None,
        payment_method: str,
    ) -> str:
        draw = self.draw
        off = user.offset
        order_id = f"ORD-{day_string((t + off * MS_HOUR) // MS_DAY).replace('-', '')}-{draw.hex32()[:10].upper()}"
        subtotal = sum(x["quantity"] * x["unit_price"] for x in lines)
        discount = min(discount, subtotal)
        total = subtotal + shipping - discount
        body = {
            "order_id": order_id,
            "cart_id": cart_id,
            "user_id": user.user_id,
            "anonymous_id": dev.anonymous_id,
            "status": "created",
            "items": lines,
            "subtotal": subtotal,
            "shipping_cost": shipping,
            "discount": discount,
            "voucher_code": voucher,
            "total": total,
            "currency": CURRENCY,
            "payment_method": payment_method,
            "created_at": iso(t, off),
            "updated_at": None,
            "timezone": user.timezone,
            "region": user.region,
            "cancel_reason": None,
            "customer_email": user.email,
            "customer_phone": user.phone,
        }
        self.col.order_event(body, "order_created", t, off)
        n = 1
        status = "created"
        # Follow-ups: (delay after creation, event type, status, cancel reason).
        steps: list[tuple[int, str, str, str | None]] = []
        if payment_method == "cod":
            paid_after = draw.randint(*self.cod_paid_after)  # cash on delivery: paid when it arrives
        elif payment_method == "bank_transfer":
            paid_after = draw.randint(*self.bank_paid_after)
        else:
            paid_after = draw.randint(*self.paid_after)
        r = draw.u()
        delivered = False
        if r < self.cancel:
            if payment_method != "cod" and draw.u() < 0.5:
                unpaid = draw.randint(*self.unpaid_cancel_after)
                steps.append((unpaid, "order_cancelled", "cancelled", "payment_timeout"))
            else:
                if payment_method != "cod":
                    steps.append((paid_after, "order_paid", "paid", None))
                cancel_at = paid_after + draw.randint(*self.cancel_after_paid)
                if payment_method == "cod":
                    cancel_at = draw.randint(*self.cod_cancel_after)
                steps.append((cancel_at, "order_cancelled", "cancelled", draw.pick(CANCEL_REASONS)))
        elif r < self.cancel + self.refund:
            steps.append((paid_after, "order_paid", "paid", None))
            steps.append(
                (
                    paid_after + draw.randint(*self.refund_after_paid),
                    "order_refunded",
                    "refunded",
                    draw.pick(REFUND_REASONS),
                )
            )
        else:
            steps.append((paid_after, "order_paid", "paid", None))
            delivered = True
        for delay, etype, new_status, reason in steps:
            when = t + delay
            if when >= self.end_ms:
                break
            body = dict(body)
            body["status"] = new_status
            body["cancel_reason"] = reason
            self.col.order_event(body, etype, when, off)
            status = new_status
            n += 1
        if self.reviewer is not None and delivered and status == "paid":
            self.reviewer.delivered_order(order_id, user, t + paid_after, lines)
        tr = self.truth
        for k, v in (
            ("order_id", order_id),
            ("cart_id", cart_id),
            ("user_id", user.user_id),
            ("anonymous_id", dev.anonymous_id),
            ("created_utc", t),
            ("final_status", status),
            ("subtotal", subtotal),
            ("shipping_cost", shipping),
            ("discount", discount),
            ("total", total),
            ("payment_method", payment_method),
            ("timezone", user.timezone),
            ("n_events", n),
        ):
            tr[k].append(v)
        return order_id
