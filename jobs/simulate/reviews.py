"""Product reviews: some buyers of delivered orders review what they bought, days later.

Texts and ratings are real reviews: rows of PRDECT-ID (Sutoyo, Achmad, Chowanda, Andangsari and
Isa, "PRDECT-ID: Indonesian product reviews dataset for emotions classification tasks", Data in
Brief 44 (2022) 108554, doi:10.1016/j.dib.2022.108554), 5,400 Indonesian Tokopedia reviews
published under CC BY 4.0. Its path is ``simulator.reviews.texts``; it is read when a run starts
(never at import), and without it the run writes no reviews, with a warning.

The model:

- An order is *delivered* when it is paid and never cancelled or refunded (its planned outcome),
  and its payment falls in the window. Its buyer reviews it with ``order_share``; the review is due
  ``after_paid_days`` after payment and is written in the buyer's first logged-in visit that starts
  at or after that (none when no such visit comes before the window ends): one
  ``review_submitted`` per distinct product of the order, at a time strictly inside the visit, on
  the visit's device. Inserting an event inside a visit moves none of its boundaries, so true
  sessions keep their start and end (their event count grows, in the truth too).
- Each product is ordinary or *planted* with a quality problem (``planted_product_share``, drawn
  once per seed over the catalogue). A review of an ordinary product is negative (by the data set's
  Sentiment label) with ``negative_share``, of a planted one with ``planted_negative_share``; then a
  row of that label is drawn, and its text and rating are the review's.
- Every draw comes from the reviews' own random streams (one per user shard, one for the planted
  products): turning reviews on or off changes no other line of the landing files.

Truth: ``reviews.parquet`` (one row per review: ids, times, the data set row, its label, whether
the product is planted) and ``review_products.parquet`` (every product with its planted flag).
"""

from __future__ import annotations

import bisect
import csv
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jobs.simulate.params import int_span, share
from jobs.simulate.rand import STREAM_REVIEW_PRODUCTS, Draw, generator
from jobs.simulate.reference import APP_ROOT, WEB_ROOT
from jobs.simulate.timefmt import MS_DAY

log = logging.getLogger(__name__)

#: Columns of the data set this module reads.
TEXT, RATING, SENTIMENT = "Customer Review", "Customer Rating", "Sentiment"
LABELS = ("Negative", "Positive")
#: The contract's longest review_text; longer rows of the data set are not drawn.
MAX_TEXT = 2000
TRUTH_COLUMNS = (
    "event_id",
    "order_id",
    "product_id",
    "user_id",
    "anonymous_id",
    "true_session_id",
    "event_time_utc",
    "rating",
    "sentiment",
    "dataset_row",
    "planted_product",
)


@dataclass(frozen=True)
class ReviewPool:
    """The usable rows of the data set: text, rating, label and 1-based data row, by label."""

    texts: tuple[str, ...]
    ratings: tuple[int, ...]
    labels: tuple[str, ...]
    rows: tuple[int, ...]
    by_label: dict[str, tuple[int, ...]]


def read_pool(path: Path) -> ReviewPool:
    """Rows of the semicolon-separated PRDECT-ID file with a label, a 1-5 rating and a text that fits."""
    texts: list[str] = []
    ratings: list[int] = []
    labels: list[str] = []
    rows: list[int] = []
    with open(path, encoding="utf-8", newline="") as f:
        for row_no, row in enumerate(csv.DictReader(f, delimiter=";"), start=1):
            text = (row.get(TEXT) or "").strip()
            label = (row.get(SENTIMENT) or "").strip()
            rating = (row.get(RATING) or "").strip()
            if label not in LABELS or rating not in ("1", "2", "3", "4", "5") or not text or len(text) > MAX_TEXT:
                continue
            texts.append(text)
            ratings.append(int(rating))
            labels.append(label)
            rows.append(row_no)
    by_label = {lab: tuple(i for i, x in enumerate(labels) if x == lab) for lab in LABELS}
    return ReviewPool(tuple(texts), tuple(ratings), tuple(labels), tuple(rows), by_label)


@cache
def load_pool(path: str) -> ReviewPool:
    """:func:`read_pool`, once per process (worker processes read the file themselves)."""
    return read_pool(Path(path))


def texts_path(sim: dict[str, Any]) -> str | None:
    """The data set's path when reviews are on and it can be used; ``None`` (with a warning) otherwise."""
    node = sim.get("reviews") or {}
    if not node.get("enabled", False):
        return None
    path = Path(str(node.get("texts") or "")).resolve()
    if not path.is_file():
        log.warning("simulator.reviews: %s not found; this run writes no reviews", path)
        print(f"WARNING: review texts not found at {path}; the simulated shop writes no reviews", flush=True)
        return None
    pool = load_pool(str(path))
    missing = [lab for lab in LABELS if not pool.by_label[lab]]
    if missing:
        log.warning("simulator.reviews: %s has no usable %s rows; this run writes no reviews", path, missing)
        print(f"WARNING: {path} has no usable {'/'.join(missing)} reviews; no reviews are written", flush=True)
        return None
    return str(path)


@cache
def planted_products(seed: int, product_ids: tuple[str, ...], planted_share: float) -> frozenset[str]:
    """Products with a planted quality problem: one draw per product, in catalogue order."""
    draw = Draw(generator(seed, STREAM_REVIEW_PRODUCTS))
    return frozenset(pid for pid in product_ids if draw.u() < planted_share)


def products_truth(product_ids: Sequence[str], planted: frozenset[str]) -> dict[str, list[Any]]:
    """Every catalogue product with its planted flag (truth/review_products.parquet)."""
    return {"product_id": list(product_ids), "planted": [pid in planted for pid in product_ids]}


class Reviewer:
    """Collects a shard's delivered orders, then writes their reviews through its own collector."""

    def __init__(
        self, draw: Draw, collector: Any, sim: dict[str, Any], pool: ReviewPool, planted: frozenset[str]
    ) -> None:
        node = sim["reviews"]
        self.draw = draw
        self.col = collector
        self.pool = pool
        self.planted = planted
        self.order_share = share(node, "order_share")
        self.after_paid = int_span(node, "after_paid_days", MS_DAY)
        self.negative = share(node, "negative_share")
        self.planted_negative = share(node, "planted_negative_share")
        self.language = str(node["language"])
        #: ``(order_id, user, paid_ms, product ids)`` of each delivered order, in placement order.
        self.delivered: list[tuple[str, Any, int, list[str]]] = []
        self.truth: dict[str, list[Any]] = {k: [] for k in TRUTH_COLUMNS}

    def delivered_order(self, order_id: str, user: Any, paid_ms: int, lines: list[dict[str, Any]]) -> None:
        """Called by the order book for an order paid in the window and never cancelled or refunded."""
        products = list(dict.fromkeys(str(x["product_id"]) for x in lines))
        self.delivered.append((order_id, user, paid_ms, products))

    def write(self, sessions: dict[str, list[Any]], devices: dict[str, Any]) -> None:
        """Write the reviews into logged-in visits of ``sessions`` (the true sessions' columns, whose
        ``n_events`` are updated); ``devices`` maps each anonymous_id of the shard to its device."""
        visits: dict[str, list[tuple[int, int]]] = {}
        for i, (user_id, logged, start, end) in enumerate(
            zip(sessions["user_id"], sessions["logged_in"], sessions["start_utc"], sessions["end_utc"], strict=True)
        ):
            # A review needs an account from the visit's first event, and room strictly inside it.
            if logged and end - start >= 2:
                visits.setdefault(user_id, []).append((start, i))
        for v in visits.values():
            v.sort()
        draw = self.draw
        for order_id, user, paid_ms, products in self.delivered:
            if draw.u() >= self.order_share:
                continue
            due = paid_ms + draw.randint(*self.after_paid)
            mine = visits.get(user.user_id, [])
            k = bisect.bisect_left(mine, (due, -1))
            if k == len(mine):
                continue  # no visit after the review is due: it has not been written yet
            idx = mine[k][1]
            for pid in products:
                self._review(order_id, user.user_id, pid, sessions, idx, devices)

    def _review(
        self,
        order_id: str,
        user_id: str,
        product_id: str,
        sessions: dict[str, list[Any]],
        idx: int,
        devices: dict[str, Any],
    ) -> None:
        draw, pool = self.draw, self.pool
        start, end = sessions["start_utc"][idx], sessions["end_utc"][idx]
        t = draw.randint(start + 1, end - 1)
        planted = product_id in self.planted
        negative = draw.u() < (self.planted_negative if planted else self.negative)
        row = draw.pick(pool.by_label[LABELS[0] if negative else LABELS[1]])
        dev = devices[sessions["anonymous_id"][idx]]
        sid = sessions["true_session_id"][idx]
        path = f"review/{order_id}/{product_id}"
        self.col.hit(
            "clickstream",
            dev,
            t,
            "review_submitted",
            "account",
            f"{WEB_ROOT}/{path}" if not dev.is_app else f"{APP_ROOT}{path}",
            user_id,
            None,
            {
                "product_id": product_id,
                "order_id": order_id,
                "rating": pool.ratings[row],
                "review_text": pool.texts[row],
                "language": self.language,
            },
            None,
            None,
            sid,
        )
        sessions["n_events"][idx] += 1
        tr = self.truth
        for k, v in (
            ("event_id", self.col.rows[-1][0]),
            ("order_id", order_id),
            ("product_id", product_id),
            ("user_id", user_id),
            ("anonymous_id", dev.anonymous_id),
            ("true_session_id", sid),
            ("event_time_utc", t),
            ("rating", pool.ratings[row]),
            ("sentiment", pool.labels[row]),
            ("dataset_row", pool.rows[row]),
            ("planted_product", planted),
        ):
            tr[k].append(v)
