"""The bad-input matrix: kinds of bad delivery and where each must end up.

Every case writes one landing file into the ``search`` source (plus, for a few, a second file or
folder) and says where its lines or the file must land: ``bronze`` (ingested as is), ``quarantine``
(the line, with a reason), ``quarantine_files`` (the whole file, with a reason), ``too_late`` (in
bronze, counted by silver's reconciliation and left out of silver), ``repeat`` (a re-delivered file:
its lines in bronze, the file marked as repeating the first one), or ``warning`` (not read, named
in a warning). tests/faults/test_bad_inputs.py runs them all through one ingestion; make bench
writes the table of docs/RELIABILITY.md from them.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from typing import Any

SEARCH: dict[str, Any] = {
    "event_id": "e1",
    "event_type": "search",
    "event_time": "2026-11-11T07:01:00+07:00",
    "received_at": "2026-11-11T00:01:02Z",
    "schema_version": "1.0",
    "sent_at": "2026-11-11T07:01:01+07:00",
    "anonymous_id": "a1",
    "user_id": None,
    "page_url": "https://toko.example.id/search?q=hp",
    "page_type": "search",
    "user_agent": "Mozilla/5.0 (Linux; Android 14)",
    "ip": "36.72.1.2",
    "region": "DKI Jakarta",
    "timezone": "Asia/Jakarta",
    "consent_analytics": True,
    "search_id": "s1",
    "query": "hp samsung",
    "filters": {"category": "Elektronik"},
    "page_number": 1,
    "results_count": 42,
}


def event(case: str, **changes: Any) -> str:
    """A search event of the case (its id is the case name), with ``changes``; "<drop>" drops a key."""
    body = {**SEARCH, "event_id": case, "search_id": f"s-{case}", **changes}
    return json.dumps({k: v for k, v in body.items() if v != "<drop>"})


def gz(*lines: str | bytes) -> bytes:
    raw = b"".join((ln if isinstance(ln, bytes) else ln.encode()) + b"\n" for ln in lines)
    return gzip.compress(raw, mtime=0)


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    #: landing file name (under landing/search/date=2026-11-11/, or a path relative to it) → bytes
    files: dict[str, bytes]
    #: bronze, quarantine, quarantine_files, too_late, repeat or warning
    lands_in: str
    reason: str | None = None


MAX_LINE = 2000  # the tests run with ingest.max_line_bytes = MAX_LINE
_TRUNCATED = gz(*[event(f"cut{i}") for i in range(200)])[:-30]
_CRC = bytearray(gz(event("crc")))
_CRC[-8] ^= 0xFF

CASES = [
    Case("truncated_gzip", "a collector died mid-upload: the gzip stream ends early",
         {"cut.jsonl.gz": _TRUNCATED}, "quarantine_files", "truncated_gzip"),
    Case("corrupt_gzip", "damaged gzip data (a checksum that does not match)",
         {"crc.jsonl.gz": bytes(_CRC)}, "quarantine_files", "corrupt_gzip"),
    Case("not_gzip", "a .gz file that is plain text", {"plain.jsonl.gz": event("plain").encode() + b"\n"},
         "quarantine_files", "not_gzip"),
    Case("empty_file", "a file of zero bytes", {"empty.jsonl.gz": b""}, "quarantine_files", "empty_file"),
    Case("invalid_encoding", "bytes that are not UTF-8 in a line",
         {"latin1.jsonl.gz": gz(event("latin1", query="caf_").encode().replace(b"caf_", b"caf\xe9"))},
         "quarantine", "invalid_encoding"),
    Case("oversized_line", "a line longer than ingest.max_line_bytes (kept as a prefix and a hash)",
         {"huge.jsonl.gz": gz(event("huge", page_url="https://toko.example.id/" + "x" * MAX_LINE))},
         "quarantine", "oversized_line"),
    Case("empty_line", "a line of spaces", {"blank.jsonl.gz": gz("   ")}, "quarantine", "empty_line"),
    Case("truncated_line", "a line cut in the middle of its JSON", {"half.jsonl.gz": gz(event("half")[:40])},
         "quarantine", "malformed_json"),
    Case("not_an_object", "a JSON array instead of an object", {"array.jsonl.gz": gz("[1, 2, 3]")},
         "quarantine", "malformed_json"),
    Case("unknown_event_type", "an event type the source does not have",
         {"unknown.jsonl.gz": gz(event("unknown", event_type="wishlist_add"))}, "quarantine", "unknown_event_type"),
    Case("missing_event_type", "no event_type at all", {"notype.jsonl.gz": gz(event("notype", event_type="<drop>"))},
         "quarantine", "unknown_event_type"),
    Case("text_in_number", "text where the contract wants a number",
         {"text.jsonl.gz": gz(event("text", results_count="banyak"))}, "quarantine", "type_mismatch"),
    Case("object_for_text", "a JSON object where the contract wants text",
         {"object.jsonl.gz": gz(event("object", anonymous_id={"a": [1, 2]}))}, "quarantine", "type_mismatch"),
    Case("bad_timestamp", "an event_time that is not a timestamp",
         {"when.jsonl.gz": gz(event("when", event_time="kemarin"))}, "quarantine", "type_mismatch"),
    Case("missing_required", "a required field absent", {"noanon.jsonl.gz": gz(event("noanon", anonymous_id="<drop>"))},
         "quarantine", "missing_required"),
    Case("oversized_field", "a string longer than its maxLength",
         {"longq.jsonl.gz": gz(event("longq", query="q" * 300))}, "quarantine", "oversized_field"),
    Case("invalid_enum", "a value outside its enumeration", {"enum.jsonl.gz": gz(event("enum", page_type="moon"))},
         "quarantine", "invalid_value"),
    Case("negative_count", "a number below its minimum", {"neg.jsonl.gz": gz(event("neg", results_count=-5))},
         "quarantine", "invalid_value"),
    Case("ancient_time", "a device clock and send time in 1970 and a collector time before 2000",
         {"old.jsonl.gz": gz(event("old", event_time="1970-01-01T00:00:00Z", sent_at="1970-01-01T00:00:01Z",
                                   received_at="1999-12-31T00:00:00Z"))},
         "quarantine", "implausible_time"),
    Case("event_after_receipt", "an event sent before it happened, two days after the collector got it",
         {"future.jsonl.gz": gz(event("future", event_time="2026-11-13T07:01:00+07:00",
                                      sent_at="2026-11-11T07:01:01+07:00"))},
         "quarantine", "implausible_time"),
    Case("unknown_fields", "fields the contract does not know (counted, not kept)",
         {"extra.jsonl.gz": gz(json.dumps({**json.loads(event("extra")), "tracker_version": "9.1"}))},
         "bronze"),
    Case("skewed_clock", "a device clock 26 hours fast, corrected by sent_at and received_at",
         {"skew.jsonl.gz": gz(event("skew", event_time="2026-11-12T09:01:00+07:00",
                                    sent_at="2026-11-12T09:01:01+07:00"))},
         "bronze"),
    Case("uncompressed_file", "a plain .jsonl file (gzip is optional)", {"plain.jsonl": (event("raw") + "\n").encode()},
         "bronze"),
    Case("crlf_and_bom", "Windows line ends and a byte order mark",
         {"crlf.jsonl.gz": gzip.compress(b"\xef\xbb\xbf" + event("crlf").encode() + b"\r\n", mtime=0)}, "bronze"),
    Case("resent_line", "the same event delivered twice in a file (silver keeps one)",
         {"twice.jsonl.gz": gz(event("twice"), event("twice"))}, "bronze"),
    Case("redelivered_file", "the same file delivered again under another name",
         {"again-a.jsonl.gz": gz(event("again")), "again-b.jsonl.gz": gz(event("again"))}, "repeat"),
    Case("too_late", "an event received five days after it happened (beyond silver.late_days)",
         {"late.jsonl.gz": gz(event("late", event_time="2026-11-06T07:01:00+07:00"))}, "too_late"),
    Case("unknown_source_folder", "a folder in the landing root that no source reads",
         {"../../tiktok/date=2026-11-11/x.jsonl.gz": gz(event("tiktok"))}, "warning"),
]  # fmt: skip
