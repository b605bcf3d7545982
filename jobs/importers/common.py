"""What the public-data importers share: deterministic ids, contract checks, landing and truth files,
and the scores that compare detak's sessions with a data set's own sessions.

Importers turn a public data set into landing files of our contracts, laid out as the simulator and
the shop's collectors write them (``landing/<source>/date=YYYY-MM-DD/hour=HH/part-NNNNN.jsonl.gz``,
gzip with ``mtime=0``), so the pipeline ingests them like any other delivery. Every line is checked
against its JSON Schema before it is written; a row whose events would break the contract is counted
as skipped, never written and never silently dropped.
"""

from __future__ import annotations

import gzip
import json
import os
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from jobs.common.contracts import json_validator
from jobs.common.errors import UserError
from jobs.simulate.reference import SCHEMA_VERSION
from jobs.simulate.timefmt import MS_HOUR, day_string, iso
from jobs.simulate.writer import GZIP_LEVEL, PART_BYTES, write_parquet

__all__ = [
    "CURRENCY",
    "ContractCheck",
    "ImportRun",
    "Landing",
    "adjusted_rand",
    "collector_event",
    "event_uuid",
    "input_file",
    "order_events",
    "pair_precision_recall",
    "session_agreement",
    "truth_table",
    "write_truth",
]

# Namespace of the importers' UUIDv5 ids: the same input row always gets the same event id, so an
# exact duplicate row in a data set looks like a collector's resend and is deduplicated downstream.
IMPORT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://detak.dev/importers")

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


def input_file(path: Path, what: str, folder_ok: bool = False) -> Path:
    """``path`` when it is an input file (or, with ``folder_ok``, a folder); :class:`UserError` if not."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such {'file or folder' if folder_ok else 'file'} ({what})")
    if path.is_dir() and not folder_ok:
        raise UserError(f"{path} is a folder; give the {what} file")
    return path


def event_uuid(*parts: object) -> str:
    """A deterministic UUID (v5) of ``parts``, joined with a separator no CSV field or id holds."""
    return str(uuid.uuid5(IMPORT_NAMESPACE, "\x1f".join(str(p) for p in parts)))


# Collector fields the public data sets do not have, the same for every imported event. The IP is
# unknown ("0.0.0.0", shared by every imported event: IP-based bot rules must not run on imports);
# the time zone must be one of the contract's Indonesian zones, so local-time features of imported
# sources are meaningless (their clocks are UTC, written with "Z"). Consent is granted, as the
# data sets were published for analysis.
IMPORT_IP = "0.0.0.0"
IMPORT_TIMEZONE = "Asia/Jakarta"
CURRENCY = "IDR"


def collector_event(
    event_id: str,
    event_type: str,
    ms: int,
    anonymous_id: str,
    user_id: str | None,
    page_type: str,
    page_url: str,
    user_agent: str,
    fields: dict[str, Any],
) -> dict[str, Any]:
    """A clickstream event as a collector would send it, its three clocks all at ``ms`` (UTC)."""
    stamp = iso(ms)
    return {
        "event_id": event_id,
        "event_type": event_type,
        "schema_version": SCHEMA_VERSION,
        "event_time": stamp,
        "sent_at": stamp,
        "received_at": stamp,
        "anonymous_id": anonymous_id,
        "user_id": user_id,
        "page_url": page_url,
        "page_type": page_type,
        "referrer": None,
        "user_agent": user_agent,
        "ip": IMPORT_IP,
        "timezone": IMPORT_TIMEZONE,
        "consent_analytics": True,
        **fields,
    }


def order_events(
    order_id: str,
    ms: int,
    cart_id: str | None,
    user_id: str | None,
    anonymous_id: str | None,
    items: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """``order_created`` at ``ms`` and ``order_paid`` 1 ms later, for an order paid when placed.

    The data sets only know that a purchase happened; the millisecond keeps "paid" strictly after
    "created" so that an order's latest status is unambiguous when its changes are ordered by time.
    No shipping, discount, voucher, payment method, region or time zone is known: all null.
    """
    subtotal = sum(item["quantity"] * item["unit_price"] for item in items)
    created = iso(ms)
    out = []
    for etype, status, at in (("order_created", "created", ms), ("order_paid", "paid", ms + 1)):
        stamp = iso(at)
        out.append(
            {
                "event_id": event_uuid(order_id, etype),
                "event_type": etype,
                "schema_version": SCHEMA_VERSION,
                "event_time": stamp,
                "received_at": stamp,
                "order_id": order_id,
                "cart_id": cart_id,
                "user_id": user_id,
                "anonymous_id": anonymous_id,
                "status": status,
                "items": items,
                "subtotal": subtotal,
                "shipping_cost": None,
                "discount": None,
                "voucher_code": None,
                "total": subtotal,
                "currency": CURRENCY,
                "payment_method": None,
                "created_at": created,
                "updated_at": stamp,
                "timezone": None,
                "region": None,
            }
        )
    return out


class ContractCheck:
    """JSON Schema validators per (source, event type), built once each."""

    def __init__(self) -> None:
        self._validators: dict[tuple[str, str], Any] = {}

    def ok(self, source: str, event: dict[str, Any]) -> bool:
        key = (source, event["event_type"])
        validator = self._validators.get(key)
        if validator is None:
            validator = self._validators[key] = json_validator(*key)
        return bool(validator.is_valid(event))


@dataclass
class Landing:
    """Landing lines of one import, bucketed by source and UTC hour of ``received_at``."""

    lines: dict[tuple[str, int], list[tuple[int, int, str]]] = field(default_factory=dict)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    _seq: int = 0

    def add(self, source: str, received_ms: int, event: dict[str, Any]) -> None:
        self._seq += 1
        self.lines.setdefault((source, received_ms // MS_HOUR), []).append((received_ms, self._seq, _encode(event)))
        self.counts[(source, event["event_type"])] += 1

    def events_written(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (source, etype), n in sorted(self.counts.items()):
            out.setdefault(source, {})[etype] = n
        return out

    def write(self, out: Path) -> list[str]:
        """Write ``out/landing/...`` part files; returns their paths relative to ``out``.

        Lines are in time order within an hour (ties in the order they were added). Each part is
        written under a hidden temporary name and renamed into place, so a collector or ingestion
        never sees half a file; then the hour folder's earlier part files this import did not
        rewrite are removed, so re-running an import is safe.
        """
        written: list[str] = []
        for (source, hour), lines in sorted(self.lines.items()):
            rel = Path("landing") / source / f"date={day_string(hour // 24)}" / f"hour={hour % 24:02d}"
            folder = out / rel
            folder.mkdir(parents=True, exist_ok=True)
            part, buf, size = 0, [], 0
            mine: list[str] = []
            for _, _, text in sorted(lines):
                data = (text + "\n").encode()
                buf.append(data)
                size += len(data)
                if size >= PART_BYTES:
                    mine.append(_write_part(out, rel, part, buf))
                    part, buf, size = part + 1, [], 0
            if buf:
                mine.append(_write_part(out, rel, part, buf))
            for old in folder.glob("part-*.jsonl.gz"):
                if (rel / old.name).as_posix() not in mine:
                    old.unlink()
            written += mine
        return written


def _write_part(out: Path, rel: Path, part: int, buf: list[bytes]) -> str:
    name = rel / f"part-{part:05d}.jsonl.gz"
    staged = out / rel / f".part-{part:05d}.jsonl.gz.tmp"
    staged.write_bytes(gzip.compress(b"".join(buf), compresslevel=GZIP_LEVEL, mtime=0))
    os.replace(staged, out / name)
    return name.as_posix()


@dataclass
class ImportRun:
    """One import in progress: its landing lines, truth rows and skip counts."""

    dataset: str
    validate: bool = True
    landing: Landing = field(default_factory=Landing)
    check: ContractCheck = field(default_factory=ContractCheck)
    truth: list[tuple[str, str, str, Any, int, int]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    def emit(self, events: list[tuple[str, int, dict[str, Any]]], session: Any, row: int) -> bool:
        """Land the ``(source, received ms, event)`` triples of one input row (or order), all or none.

        Returns False when an event breaks its contract; the caller counts the input as skipped.
        """
        if self.validate and not all(self.check.ok(source, event) for source, _, event in events):
            return False
        for source, ms, event in events:
            self.landing.add(source, ms, event)
            self.truth.append((event["event_id"], source, event["event_type"], session, ms, row))
        return True

    def finish(self, out: Path, session_type: pa.DataType, summary: dict[str, Any]) -> dict[str, Any]:
        """Write the landing files and ``out/truth/<dataset>_sessions.parquet``; return the summary."""
        files = self.landing.write(out)
        table = truth_table(self.truth, session_type)
        write_truth(table, out / "truth" / f"{self.dataset}_sessions.parquet")
        events = self.landing.events_written()
        return {
            "dataset": self.dataset,
            **summary,
            "validated": self.validate,
            "skipped": dict(sorted(self.skipped.items())),
            "events_written": events,
            "lines_written": sum(n for by_type in events.values() for n in by_type.values()),
            "distinct_event_ids": table.num_rows,
            "landing_files": len(files),
            "truth_rows": table.num_rows,
        }


def truth_table(rows: list[tuple[str, str, str, Any, int, int]], session_type: pa.DataType) -> pa.Table:
    """The truth of an import: one row per event id, with the data set's own session.

    ``rows`` are ``(event_id, source, event_type, session, event_time_ms, input_row)``; a repeated
    event id (an exact duplicate input row) keeps its first row.
    """
    seen: set[str] = set()
    cols: dict[str, list[Any]] = {k: [] for k in ("event_id", "source", "event_type", "session", "ms", "row")}
    for event_id, source, etype, session, ms, row in rows:
        if event_id in seen:
            continue
        seen.add(event_id)
        for key, value in zip(cols, (event_id, source, etype, session, ms, row), strict=True):
            cols[key].append(value)
    return pa.table(
        {
            "event_id": pa.array(cols["event_id"], pa.string()),
            "source": pa.array(cols["source"], pa.string()),
            "event_type": pa.array(cols["event_type"], pa.string()),
            "session": pa.array(cols["session"], session_type),
            "event_time_utc": pa.array(cols["ms"], pa.timestamp("ms", tz="UTC")),
            "input_row": pa.array(cols["row"], pa.int64()),
        }
    )


def write_truth(table: pa.Table, path: Path) -> None:
    """Write a truth table (zstd parquet, as the simulator's truth)."""
    write_parquet(table, path)


# ---------------------------------------------------------------------------------------------
# Session agreement


def adjusted_rand(truth_labels: Sequence[Any], predicted_labels: Sequence[Any]) -> float:
    """Adjusted Rand index of two session labellings of the same events (1 = identical, ~0 = chance)."""
    from sklearn.metrics import adjusted_rand_score

    _same_length(truth_labels, predicted_labels)
    return float(adjusted_rand_score(list(truth_labels), list(predicted_labels)))


def pair_precision_recall(truth_labels: Sequence[Any], predicted_labels: Sequence[Any]) -> tuple[float, float]:
    """Precision and recall of "these two events are in the same session" over all pairs of events.

    Precision: of the pairs detak puts in one session, the share that the truth also does (low when
    sessions are merged). Recall: of the truth's same-session pairs, the share detak keeps together
    (low when sessions are split). With no pair to judge the score is 1.0 (nothing claimed wrongly).
    """
    from sklearn.metrics.cluster import pair_confusion_matrix

    _same_length(truth_labels, predicted_labels)
    if len(truth_labels) < 2:
        return 1.0, 1.0
    matrix = pair_confusion_matrix(list(truth_labels), list(predicted_labels))
    # Rows are the truth (different, same), columns the prediction; each pair is counted twice.
    tp, fp, fn = int(matrix[1, 1]), int(matrix[0, 1]), int(matrix[1, 0])
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall


def session_agreement(truth_labels: Sequence[Any], predicted_labels: Sequence[Any]) -> dict[str, float | int]:
    """ARI, pairwise precision, recall and F1, and the session counts, for a comparison report."""
    precision, recall = pair_precision_recall(truth_labels, predicted_labels)
    return {
        "events": len(truth_labels),
        "truth_sessions": len(set(truth_labels)),
        "predicted_sessions": len(set(predicted_labels)),
        "adjusted_rand": adjusted_rand(truth_labels, predicted_labels),
        "pair_precision": precision,
        "pair_recall": recall,
        "pair_f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
    }


def _same_length(a: Sequence[Any], b: Sequence[Any]) -> None:
    if len(a) != len(b):
        raise ValueError(f"label lists differ in length: {len(a)} truth, {len(b)} predicted")
