"""Import REES46 "eCommerce behavior data from multi category store" CSVs as detak landing files.

Input: ``event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session``,
one row per event, ``event_time`` like ``2019-10-01 00:00:00 UTC``, ``event_type`` one of view, cart,
remove_from_cart, purchase, ``price`` in US dollars.

Output (under ``out``):

- ``landing/clickstream/...`` and ``landing/orders/...``, one hour folder per UTC hour;
- ``truth/rees46_sessions.parquet``: one row per event id, with REES46's own ``user_session``
  (``session``), the source, event type, UTC time and CSV row, to score detak's sessions against.

Mapping:

- view → clickstream ``product_view`` (page ``product``); cart → ``add_to_cart`` (page ``product``,
  quantity 1); remove_from_cart → ``remove_from_cart`` (page ``cart``, quantity 1).
- purchase → one order per ``(user_session, event_time)``: REES46 writes every product of one
  checkout as a purchase row with the same second, so rows sharing both are one order with one line
  per product (quantity = rows of that product and price). Each order is an ``orders``
  ``order_created`` at the purchase time plus ``order_paid`` 1 ms later, and a clickstream
  ``page_view`` of the ``order_confirmation`` page, so the purchase is part of the visit.
- Carts: REES46 has no cart id; ``cart_id`` is ``rees46-cart-<user_session>``, one cart per REES46
  session, so a cart never spans sessions (an order's ``cart_id`` is its session's cart).
  ``cart_value`` is omitted: REES46 does not say what the cart held.
- Visitors: REES46 has no device id; ``user_id`` is the visitor. ``anonymous_id`` and ``user_id``
  are both ``rees46-u<user_id>``.
- Prices: USD × ``USD_TO_IDR`` (a fixed, round 15,000 rupiah per dollar), rounded half up to whole
  rupiah, currency ``IDR``. Amounts are comparable in size with the simulator's catalogue, not an
  exact conversion at the day's exchange rate.
- Category: ``category_code`` ``electronics.smartphone`` → ``Electronics > Smartphone`` (levels
  capitalised, ``_`` as space); omitted when REES46 has none. Empty brand → null. No product name.
- Clocks: ``event_time`` = ``sent_at`` = ``received_at`` = the REES46 time, in UTC (``Z``). REES46
  is a store outside Indonesia; ``timezone`` is ``Asia/Jakarta`` only because the contract requires
  an Indonesian zone, so local-time features are meaningless for this source. The IP is unknown
  (``0.0.0.0``), the user agent is ``REES46 import``, page URLs are synthetic (``rees46.example``).
- Event ids are UUIDv5 of the CSV row's fields: an exact duplicate row gets the same id, i.e. it is
  a resend, landed twice and deduplicated downstream as collectors' resends are.

Bad rows are counted in the summary's ``skipped`` by reason and not landed: ``wrong_field_count``,
``bad_event_time``, ``unknown_event_type``, ``bad_price`` (not a number, negative, infinite),
``missing_product_id``, ``missing_user_id``, ``missing_user_session``, ``field_too_long`` (an id,
brand or category longer than the contract allows), ``contract_violation`` (an event that would
still break its JSON Schema; for a purchase, every row of its order).

The output is held in memory until written (about 1 KB per event): import a month of REES46 day by
day. Same input, same bytes.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pyarrow as pa

from jobs.common.errors import UserError
from jobs.importers.common import CURRENCY, ImportRun, collector_event, event_uuid, input_file, order_events

COLUMNS = (
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
)
USD_TO_IDR = 15_000
SITE = "https://rees46.example"
USER_AGENT = "REES46 import"
_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Longest values whose derived ids fit the contract's 64 characters.
_MAX_USER_ID = 64 - len("rees46-u")
_MAX_SESSION = 64 - len("rees46-cart-")


@dataclass(frozen=True)
class Row:
    """One parsed REES46 row."""

    line: int
    ms: int
    kind: str
    product_id: str
    category: str | None
    brand: str | None
    price: int
    user: str
    session: str
    key: str  # the raw fields, for the event id


def category_path(code: str) -> str | None:
    """``appliances.environment.water_heater`` → ``Appliances > Environment > Water heater``."""
    if not code:
        return None
    return " > ".join(level.replace("_", " ").capitalize() for level in code.split("."))


def price_idr(text: str) -> int | None:
    """A USD price as whole rupiah, or None when it is not a finite, non-negative number."""
    try:
        usd = Decimal(text)
    except InvalidOperation:
        return None
    if not usd.is_finite() or usd < 0:
        return None
    return int((usd * USD_TO_IDR).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def parse_row(fields: list[str], line: int) -> Row | str:
    """A ``Row``, or the reason the row cannot be imported."""
    if len(fields) != len(COLUMNS):
        return "wrong_field_count"
    time_text, kind, product_id, _, category_code, brand, price_text, user, session = (f.strip() for f in fields)
    if not _TIME.fullmatch(time_text):
        return "bad_event_time"
    try:
        when = dt.datetime.strptime(time_text, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=dt.UTC)
    except ValueError:
        return "bad_event_time"
    if kind not in ("view", "cart", "remove_from_cart", "purchase"):
        return "unknown_event_type"
    price = price_idr(price_text)
    if price is None:
        return "bad_price"
    for value, reason in (
        (product_id, "missing_product_id"),
        (user, "missing_user_id"),
        (session, "missing_user_session"),
    ):
        if not value:
            return reason
    category = category_path(category_code)
    if (
        len(product_id) > 64
        or len(brand) > 128
        or (category is not None and len(category) > 256)
        or len(user) > _MAX_USER_ID
        or len(session) > _MAX_SESSION
    ):
        return "field_too_long"
    ms = int((when - _EPOCH).total_seconds()) * 1000
    return Row(line, ms, kind, product_id, category, brand or None, price, user, session, "\x1f".join(fields))


def _product(row: Row) -> dict[str, Any]:
    fields: dict[str, Any] = {"product_id": row.product_id}
    if row.category is not None:
        fields["category"] = row.category
    fields.update(brand=row.brand, price=row.price, currency=CURRENCY)
    return fields


def _visitor(row: Row) -> str:
    return f"rees46-u{row.user}"


def _cart(row: Row) -> str:
    return f"rees46-cart-{row.session}"


def _click(row: Row) -> dict[str, Any]:
    visitor = _visitor(row)
    if row.kind == "view":
        etype, page, url, fields = "product_view", "product", f"{SITE}/product/{row.product_id}", _product(row)
    else:
        fields = {"cart_id": _cart(row), **_product(row), "quantity": 1}
        if row.kind == "cart":
            etype, page, url = "add_to_cart", "product", f"{SITE}/product/{row.product_id}"
        else:
            etype, page, url = "remove_from_cart", "cart", f"{SITE}/cart"
    event_id = event_uuid("rees46", row.key)
    return collector_event(event_id, etype, row.ms, visitor, visitor, page, url, USER_AGENT, fields)


def _order(rows: list[Row]) -> list[tuple[str, int, dict[str, Any]]]:
    first = rows[0]
    order_id = f"rees46-o-{event_uuid('rees46-order', first.session, first.ms)}"
    lines: dict[tuple[str, int], dict[str, Any]] = {}
    for row in rows:
        line = lines.get((row.product_id, row.price))
        if line is None:
            lines[(row.product_id, row.price)] = {
                "product_id": row.product_id,
                "category": row.category,
                "brand": row.brand,
                "quantity": 1,
                "unit_price": row.price,
            }
        else:
            line["quantity"] += 1
    visitor = _visitor(first)
    created, paid = order_events(order_id, first.ms, _cart(first), visitor, visitor, list(lines.values()))
    view = collector_event(
        event_uuid(order_id, "page_view"),
        "page_view",
        first.ms,
        visitor,
        visitor,
        "order_confirmation",
        f"{SITE}/checkout/success?order={order_id}",
        USER_AGENT,
        {},
    )
    return [("clickstream", first.ms, view), ("orders", first.ms, created), ("orders", first.ms + 1, paid)]


def import_rees46(csv_path: Path, out: Path, *, validate: bool = True) -> dict[str, Any]:
    """Convert a REES46 CSV into ``out/landing/...`` files and ``out/truth/rees46_sessions.parquet``.

    With ``validate`` (the default) every event is checked against its JSON Schema before it is
    written, about 0.7 ms an event; turn it off only for inputs already known to import cleanly.

    Returns a summary: rows read, purchase rows and orders, rows skipped by reason, landing lines per
    source and event type, distinct event ids, landing files. Raises ``ValueError`` when the header
    is not REES46's.
    """
    csv_path = input_file(csv_path, "REES46 CSV")
    run = ImportRun("rees46", validate)
    rows_read = 0
    orders: dict[tuple[str, int], list[Row]] = {}
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != COLUMNS:
            raise UserError(f"{csv_path}: not a REES46 CSV, header is {header!r}, expected {','.join(COLUMNS)}")
        for fields in reader:
            rows_read += 1
            row = parse_row(fields, reader.line_num)
            if isinstance(row, str):
                run.skipped[row] += 1
            elif row.kind == "purchase":
                orders.setdefault((row.session, row.ms), []).append(row)
            elif not run.emit([("clickstream", row.ms, _click(row))], row.session, row.line):
                run.skipped["contract_violation"] += 1
    purchase_rows = landed_orders = 0
    for (session, _), rows in orders.items():
        if run.emit(_order(rows), session, rows[0].line):
            purchase_rows += len(rows)
            landed_orders += 1
        else:
            run.skipped["contract_violation"] += len(rows)
    summary = {
        "input": str(csv_path),
        "rows_read": rows_read,
        "rows_imported": rows_read - sum(run.skipped.values()),
        "purchase_rows": purchase_rows,
        "orders": landed_orders,
        "usd_to_idr": USD_TO_IDR,
    }
    return run.finish(out, pa.string(), summary)
