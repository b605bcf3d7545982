"""Import UCI "Online Retail" CSVs (a UK gift-ware e-tailer's invoices) as detak order change events.

Input: one CSV file, or a folder of them (e.g. the by-day split, ``2010-12-01.csv`` …), with the
header ``InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country``: one
row per invoice line. ``InvoiceDate`` is ``2010-12-01 08:26:00`` (or the original workbook's
``12/1/2010 8:26``), UK wall-clock time; ``UnitPrice`` in pounds sterling; ``CustomerID`` may be
empty and is often printed as a float (``17850.0``); an ``InvoiceNo`` starting with ``C`` is a
cancellation (negative quantities).

Output (under ``out``): ``landing/orders/...`` files of the ``orders`` contract, and
``truth/uci_retail_sessions.parquet`` (one row per event id, ``session`` = the invoice number).

Mapping:

* Invoice → order ``uci-<InvoiceNo>``; buyer ``user_id`` ``uci-c<CustomerID>`` (null without one:
  a guest order, left out of user-level tables); no device, cart, payment method or voucher.
  ``region`` is the invoice's Country.
* A sale invoice is ``order_created`` at the invoice time and ``order_paid`` 1 ms later (the data
  only knows the sale happened; see ``jobs.importers.common.order_events``).
* A ``C`` invoice is an ``order_cancelled`` event of its own order (``status`` cancelled,
  ``cancel_reason`` ``cancellation_invoice``, quantities made positive): the data set does not say
  which earlier invoice it cancels, so no earlier order is touched and no order_created is invented.
  Time-of-purchase and feature jobs therefore never count it as a purchase.
* Lines: rows of the invoice with the same StockCode and price are one line (quantities summed);
  a line of more than 1,000 units (the contract's maximum) is split into lines of at most 1,000,
  so the order total is kept. Description → ``product_name``; no category or brand.
* Prices: pounds × ``GBP_TO_IDR`` (a round 20,000 rupiah per pound), rounded half up.
* **Time zone.** The shop's customers' clocks are UK wall-clock time. detak's contract only knows
  the Indonesian zones, so the UK wall-clock time is kept as the buyer's local time and the order
  is declared ``Asia/Jakarta`` (WIB, UTC+7): an invoice at 08:26 in the CSV is 08:26 local time
  (01:26 UTC) in detak. Local hours, days of the week and days between purchases are the data
  set's own; UTC instants are shifted by the UK offset minus 7 hours (-7 h in winter, GMT).
* Invoice time: the earliest ``InvoiceDate`` of its rows (a few invoices straddle a minute).
* Event ids are UUIDv5 of the invoice number and event type: re-importing gives the same ids.

Skipped (counted in the summary's ``skipped`` by reason, never landed): rows with the wrong field
count (``wrong_field_count``), an unreadable date (``bad_invoice_date``), quantity (``bad_quantity``,
including 0) or price (``bad_price``: not a number or negative), no invoice number or stock code
(``missing_field``), sale rows with a negative quantity (``negative_quantity_in_sale``: stock
adjustments, not sales), cancellation rows with a positive one (``positive_quantity_in_cancellation``);
whole invoices that are bad-debt adjustments (``A`` invoices, ``adjustment_invoice``), that keep more
than 500 lines (``too_many_lines``) or break the contract (``contract_violation``), counted per row.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from jobs.common.errors import UserError
from jobs.importers.common import CURRENCY, ImportRun, event_uuid, input_file, order_events
from jobs.simulate.reference import SCHEMA_VERSION
from jobs.simulate.timefmt import iso

COLUMNS = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country")
GBP_TO_IDR = 20_000
#: The zone the UK wall-clock times are declared in (see the module docstring).
TIMEZONE = "Asia/Jakarta"
CANCEL_REASON = "cancellation_invoice"
MAX_UNITS_PER_LINE = 1000
MAX_LINES = 500
_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S")


@dataclass
class Invoice:
    """The rows of one invoice read so far."""

    number: str
    first_row: int
    wall_clock: dt.datetime
    customer: str | None
    country: str | None
    rows: int = 0
    lines: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)

    @property
    def cancelled(self) -> bool:
        return self.number.upper().startswith("C")


def parse_time(text: str) -> dt.datetime | None:
    for fmt in _FORMATS:
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def price_idr(text: str) -> int | None:
    """Pounds as whole rupiah, or None when not a finite, non-negative number."""
    try:
        gbp = Decimal(text)
    except InvalidOperation:
        return None
    if not gbp.is_finite() or gbp < 0:
        return None
    return int((gbp * GBP_TO_IDR).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def customer_id(text: str) -> str | None:
    """``17850.0`` → ``17850``; empty → None."""
    text = text.strip()
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    return str(int(number)) if number == number.to_integral_value() else text


def utc_ms(wall_clock: dt.datetime, timezone: str = TIMEZONE) -> int:
    """Milliseconds since the epoch of ``wall_clock`` read as local time in ``timezone``."""
    return int(wall_clock.replace(tzinfo=ZoneInfo(timezone)).timestamp()) * 1000


def _row_problem(fields: list[str]) -> str | tuple[str, str, str, int, dt.datetime, int, str | None, str | None]:
    if len(fields) != len(COLUMNS):
        return "wrong_field_count"
    number, stock, description, qty_text, when_text, price_text, customer, country = (f.strip() for f in fields)
    if not number or not stock:
        return "missing_field"
    when = parse_time(when_text)
    if when is None:
        return "bad_invoice_date"
    try:
        quantity = int(Decimal(qty_text))
    except (InvalidOperation, ValueError):
        return "bad_quantity"
    if quantity == 0:
        return "bad_quantity"
    price = price_idr(price_text)
    if price is None:
        return "bad_price"
    cancelled = number.upper().startswith("C")
    if not cancelled and quantity < 0:
        return "negative_quantity_in_sale"
    if cancelled and quantity > 0:
        return "positive_quantity_in_cancellation"
    return number, stock, description, abs(quantity), when, price, customer_id(customer), country or None


def _items(invoice: Invoice) -> list[dict[str, Any]]:
    out = []
    for line in invoice.lines.values():
        left = line["quantity"]
        while left > 0:
            units = min(left, MAX_UNITS_PER_LINE)
            out.append({**line, "quantity": units})
            left -= units
    return out


def _cancel_event(order_id: str, ms: int, user_id: str | None, items: list[dict[str, Any]]) -> dict[str, Any]:
    subtotal = sum(item["quantity"] * item["unit_price"] for item in items)
    stamp = iso(ms)
    return {
        "event_id": event_uuid(order_id, "order_cancelled"),
        "event_type": "order_cancelled",
        "schema_version": SCHEMA_VERSION,
        "event_time": stamp,
        "received_at": stamp,
        "order_id": order_id,
        "cart_id": None,
        "user_id": user_id,
        "anonymous_id": None,
        "status": "cancelled",
        "items": items,
        "subtotal": subtotal,
        "shipping_cost": None,
        "discount": None,
        "voucher_code": None,
        "total": subtotal,
        "currency": CURRENCY,
        "payment_method": None,
        "created_at": stamp,
        "updated_at": stamp,
        "timezone": None,
        "region": None,
        "cancel_reason": CANCEL_REASON,
    }


def invoice_events(invoice: Invoice, timezone: str = TIMEZONE) -> list[tuple[str, int, dict[str, Any]]]:
    """The ``(source, received ms, event)`` triples of one invoice."""
    order_id = f"uci-{invoice.number}"
    ms = utc_ms(invoice.wall_clock, timezone)
    user = f"uci-c{invoice.customer}" if invoice.customer else None
    items = _items(invoice)
    events = [_cancel_event(order_id, ms, user, items)] if invoice.cancelled else order_events(
        order_id, ms, None, user, None, items
    )  # fmt: skip
    out = []
    for event in events:
        event["timezone"] = timezone
        event["region"] = invoice.country[:64] if invoice.country else None
        out.append(("orders", ms if event["event_type"] != "order_paid" else ms + 1, event))
    return out


def _csv_files(src: Path) -> list[Path]:
    if src.is_dir():
        files = sorted(src.glob("*.csv"))
        if not files:
            raise UserError(f"{src}: no .csv files")
        return files
    return [src]


def import_uci_retail(src: Path, out: Path, *, validate: bool = True, timezone: str = TIMEZONE) -> dict[str, Any]:
    """Convert UCI Online Retail CSV(s) at ``src`` (a file or a folder of them) into ``out/landing/orders``.

    Returns a summary: files and rows read, invoices, orders and cancellations landed, rows skipped
    by reason, landing lines per event type. Raises ``ValueError`` when a header is not UCI's.
    """
    src, out = input_file(src, "UCI Online Retail CSV", folder_ok=True), Path(out)
    run = ImportRun("uci_retail", validate)
    invoices: dict[str, Invoice] = {}
    rows_read = 0
    files = _csv_files(src)
    for path in files:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None or tuple(h.strip().lstrip("\ufeff") for h in header) != COLUMNS:
                raise UserError(f"{path}: not a UCI Online Retail CSV, header is {header!r}")
            for fields in reader:
                rows_read += 1
                parsed = _row_problem(fields)
                if isinstance(parsed, str):
                    run.skipped[parsed] += 1
                    continue
                number, stock, description, quantity, when, price, customer, country = parsed
                invoice = invoices.get(number)
                if invoice is None:
                    invoice = invoices[number] = Invoice(number, rows_read, when, customer, country)
                invoice.rows += 1
                invoice.wall_clock = min(invoice.wall_clock, when)
                line = invoice.lines.get((stock, price))
                if line is None:
                    invoice.lines[(stock, price)] = {
                        "product_id": stock[:64],
                        "product_name": description[:512] or None,
                        "category": None,
                        "brand": None,
                        "quantity": quantity,
                        "unit_price": price,
                    }
                else:
                    line["quantity"] += quantity
    orders = cancellations = 0
    for number, invoice in sorted(invoices.items(), key=lambda kv: kv[1].first_row):
        if number.upper().startswith("A"):
            run.skipped["adjustment_invoice"] += invoice.rows
        elif len(_items(invoice)) > MAX_LINES:
            run.skipped["too_many_lines"] += invoice.rows
        elif not run.emit(invoice_events(invoice, timezone), number, invoice.first_row):
            run.skipped["contract_violation"] += invoice.rows
        elif invoice.cancelled:
            cancellations += 1
        else:
            orders += 1
    summary = {
        "input": str(src),
        "files": len(files),
        "rows_read": rows_read,
        "rows_imported": rows_read - sum(run.skipped.values()),
        "invoices": len(invoices),
        "orders": orders,
        "cancellations": cancellations,
        "gbp_to_idr": GBP_TO_IDR,
        "timezone": timezone,
    }
    return run.finish(out, pa.string(), summary)
