"""Import PRDECT-ID (Indonesian Tokopedia product reviews) as detak review events.

PRDECT-ID: Sutoyo, Achmad, Chowanda, Andangsari and Isa, "PRDECT-ID: Indonesian product reviews
dataset for emotions classification tasks", Data in Brief 44 (2022) 108554,
doi:10.1016/j.dib.2022.108554; licence CC BY 4.0.

Input: the data set's semicolon-separated CSV, UTF-8, with the header
``Category;Product Name;Location;Price;Overall Rating;Number Sold;Total Review;Customer Rating;
Customer Review;Sentiment;Emotion`` (extra columns are ignored, missing ones are an error).

Output (under ``out``):

- ``landing/clickstream/...``: one clickstream ``review_submitted`` per CSV row, one hour folder per
  UTC hour;
- ``truth/prdect_id_reviews.parquet``: one row per event id with the CSV row (1-based, header not
  counted), the product, the rating and the data set's own labels (``sentiment``, ``emotion``; null
  where the row has none), to score a sentiment model on the imported reviews.

Mapping:

- ``Customer Review`` → ``review_text`` (leading and trailing spaces stripped), ``Customer Rating``
  → ``rating``, ``language`` ``id``. The labels are not part of the event: a shop does not know them.
- Products: ``product_id`` is ``prdect-`` + a UUIDv5 of (Category, Product Name), so the same
  product gets the same id whatever rows are imported. No order is known: ``order_id`` is null.
- Reviewers: the data set has no reviewer ids. Each row is its own reviewer: ``anonymous_id``
  ``prdect-r<row>``, ``user_id`` null (no account known).
- Clocks: the data set has no times. Row ``n`` is dated ``start`` + ``n - 1`` minutes (default
  ``DEFAULT_START``, 2022-08-24 00:00 UTC, the day the data set's article was published), in
  file order; ``event_time`` = ``sent_at`` = ``received_at``. Dates are therefore meaningless beyond
  ordering. Collector fields as for every import (``jobs/importers/common.py``): IP ``0.0.0.0``,
  ``Asia/Jakarta``, consent granted; user agent ``PRDECT-ID import``, synthetic page URLs.
- Event ids are UUIDv5 of (row, rating, text): every row is a review of its own (the data set
  repeats some short texts, e.g. "barang bagus", by different buyers).

Bad rows are counted in ``skipped`` by reason and not landed: ``wrong_field_count``,
``bad_rating`` (not an integer 1-5), ``empty_review``, ``missing_product`` (no product name),
``field_too_long`` (a text longer than the contract's ``review_text`` maxLength),
``contract_violation`` (an event that would still break its JSON Schema).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa

from jobs.common.contracts import source_contract
from jobs.importers.common import ImportRun, collector_event, event_uuid, write_truth
from jobs.simulate.timefmt import date_ms

DATASET = "prdect_id"
SITE = "https://prdect-id.example"
USER_AGENT = "PRDECT-ID import"
LANGUAGE = "id"
DEFAULT_START = dt.date(2022, 8, 24)
MINUTE_MS = 60_000
CATEGORY, PRODUCT, RATING, TEXT, SENTIMENT, EMOTION = (
    "Category",
    "Product Name",
    "Customer Rating",
    "Customer Review",
    "Sentiment",
    "Emotion",
)
REQUIRED = (CATEGORY, PRODUCT, RATING, TEXT, SENTIMENT, EMOTION)
_RATINGS = {str(i): i for i in range(1, 6)}


def product_id(category: str, name: str) -> str:
    """The detak product id of a (Category, Product Name) pair of the data set."""
    return f"prdect-{event_uuid('prdect-id-product', category, name)}"


def _max_text() -> int:
    return int(source_contract("clickstream").event_types["review_submitted"].properties["review_text"]["maxLength"])


def import_prdect_id(
    csv_path: Path, out: Path, *, start: dt.date = DEFAULT_START, validate: bool = True
) -> dict[str, Any]:
    """Convert the PRDECT-ID CSV into ``out/landing/clickstream/...`` review events and the labels' truth.

    Returns a summary: rows read and imported, skipped rows by reason, landing lines per event type,
    products, labels of the imported rows, landing files. Same input, same bytes.
    """
    csv_path, out = Path(csv_path), Path(out)
    run = ImportRun(DATASET, validate)
    max_text = _max_text()
    start_ms = date_ms(start)
    truth: dict[str, list[Any]] = {
        k: []
        for k in ("event_id", "input_row", "product_id", "category", "product_name", "rating", "sentiment", "emotion")
    }
    rows_read = 0
    products: set[str] = set()
    labels: Counter[str] = Counter()
    with open(csv_path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter=";")
        header = next(reader, None)
        missing = [c for c in REQUIRED if header is None or c not in header]
        if missing:
            raise ValueError(f"{csv_path} is not a PRDECT-ID file: no column(s) {', '.join(missing)} in its header")
        assert header is not None
        col = {name: header.index(name) for name in REQUIRED}
        for row_no, fields in enumerate(reader, start=1):
            rows_read += 1
            if len(fields) != len(header):
                run.skipped["wrong_field_count"] += 1
                continue
            category, name = fields[col[CATEGORY]].strip(), fields[col[PRODUCT]].strip()
            rating, text = _RATINGS.get(fields[col[RATING]].strip()), fields[col[TEXT]].strip()
            reason = None
            if rating is None:
                reason = "bad_rating"
            elif not text:
                reason = "empty_review"
            elif not name:
                reason = "missing_product"
            elif len(text) > max_text:
                reason = "field_too_long"
            if reason is not None:
                run.skipped[reason] += 1
                continue
            pid = product_id(category, name)
            event_id = event_uuid(DATASET, row_no, rating, text)
            ms = start_ms + (row_no - 1) * MINUTE_MS
            event = collector_event(
                event_id,
                "review_submitted",
                ms,
                f"prdect-r{row_no}",
                None,
                "product",
                f"{SITE}/product/{pid}",
                USER_AGENT,
                {"product_id": pid, "order_id": None, "rating": rating, "review_text": text, "language": LANGUAGE},
            )
            if not run.emit([("clickstream", ms, event)], None, row_no):
                run.skipped["contract_violation"] += 1
                continue
            products.add(pid)
            sentiment = fields[col[SENTIMENT]].strip() or None
            labels[sentiment or "none"] += 1
            for key, value in (
                ("event_id", event_id),
                ("input_row", row_no),
                ("product_id", pid),
                ("category", category),
                ("product_name", name),
                ("rating", rating),
                ("sentiment", sentiment),
                ("emotion", fields[col[EMOTION]].strip() or None),
            ):
                truth[key].append(value)
    files = run.landing.write(out)
    types = {"input_row": pa.int64(), "rating": pa.int8()}
    write_truth(
        pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in truth.items()}),
        out / "truth" / f"{DATASET}_reviews.parquet",
    )
    events = run.landing.events_written()
    return {
        "dataset": DATASET,
        "input": str(csv_path),
        "validated": validate,
        "rows_read": rows_read,
        "reviews_imported": len(truth["event_id"]),
        "skipped": dict(sorted(run.skipped.items())),
        "events_written": events,
        "lines_written": sum(n for by_type in events.values() for n in by_type.values()),
        "products": len(products),
        "labels": dict(sorted(labels.items())),
        "landing_files": len(files),
        "truth_rows": len(truth["event_id"]),
    }
