"""Malformed lines, each with exactly one fault of a known reason code.

The bronze ingester classifies bad lines by the first reason that applies (see
``jobs/bronze/validate.py``); every line made here fails exactly one of those checks, so the
quarantine's counts by reason can be compared with the truth exactly.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jobs.common.config import schemas_dir
from jobs.simulate.rand import Draw
from jobs.simulate.reference import UNKNOWN_EVENT_TYPES

# The reason codes ``make_malformed`` can plant; how the malformed share splits across them is
# ``simulator.dirt.malformed_reasons``.
REASONS = [
    "malformed_json",
    "type_mismatch",
    "missing_required",
    "unknown_event_type",
    "oversized_field",
    "oversized_line",
]

# Values that no parser can coerce into the field's type.
_BAD_INTS = {
    "price": ["Rp 15.000", "Rp149.900", "gratis", "15rb"],
    "list_price": ["Rp 200.000", "-"],
    "quantity": ["dua", "satu", "2 pcs"],
    "cart_value": ["Rp 1.250.000", "NaN rupiah"],
    "total": ["Rp 1.234.000", "lunas"],
    "subtotal": ["Rp 980.000", "n/a"],
    "shipping_cost": ["gratis ongkir", "Rp 9.000"],
    "results_count": ["banyak", "1.000+"],
    "engaged_ms": ["sebentar", "30 detik"],
    "page_load_ms": ["lambat", "3,2 s"],
}
_BAD_BOOLS = ["yes", "ya", "tidak", "Y"]
_BAD_TIMES = ["kemarin", "besok pagi", "11/11/2026 jam 00.05", "2026-13-45T25:61:00Z"]
# Fields a producer fills from the collector; dropping them is not a realistic fault.
_NEVER_DROP = {"event_type", "received_at"}


@cache
def contract(source: str, event_type: str) -> tuple[list[str], dict[str, int], set[str], set[str]]:
    """Required fields, string maxLengths (without enums), integer and boolean fields of a type."""
    root = schemas_dir() / "events"

    def load(path: Any) -> tuple[dict[str, Any], list[str]]:
        doc = json.loads(path.read_text())
        props: dict[str, Any] = {}
        req: list[str] = []
        for part in doc.get("allOf", []):
            p, r = load((path.parent / part["$ref"]).resolve())
            props.update(p)
            req += [x for x in r if x not in req]
        for k, v in doc.get("properties", {}).items():
            props[k] = {**props.get(k, {}), **v}
        req += [x for x in doc.get("required", []) if x not in req]
        return props, req

    props, req = load(root / source / f"{event_type}.schema.json")

    def types(p: dict[str, Any]) -> list[str]:
        t = p.get("type", [])
        return [t] if isinstance(t, str) else list(t)

    # Only fields whose single rule is the length: an over-long enum or pattern field would be two faults.
    lengths = {
        k: int(p["maxLength"])
        for k, p in props.items()
        if "maxLength" in p and "string" in types(p) and not {"enum", "const", "pattern", "format"} & set(p)
    }
    ints = {k for k, p in props.items() if "integer" in types(p)}
    bools = {k for k, p in props.items() if "boolean" in types(p)}
    return req, lengths, ints, bools


def make_malformed(
    reason: str,
    source: str,
    event: dict[str, Any],
    new_id: str,
    draw: Draw,
    encode: Any,
    max_line_bytes: int,
    filler: list[dict[str, Any]],
) -> str:
    """One bad line derived from a good ``event`` (never modified), faulty in ``reason`` only."""
    d = dict(event)
    d["event_id"] = new_id
    etype = d["event_type"]
    req, lengths, ints, bools = contract(source, etype)
    if reason == "malformed_json":
        line = encode(d)
        return line[: draw.randint(max(1, len(line) // 5), len(line) - 2)]
    if reason == "unknown_event_type":
        d["event_type"] = draw.pick(UNKNOWN_EVENT_TYPES[source])
        return encode(d)
    if reason == "type_mismatch":
        options = [k for k in sorted(ints) if k in _BAD_INTS and d.get(k) is not None]
        options += [k for k in sorted(bools) if d.get(k) is not None]
        options += ["event_time"]
        key = draw.pick(options)
        if key == "event_time":
            d[key] = draw.pick(_BAD_TIMES)
        elif key in bools:
            d[key] = draw.pick(_BAD_BOOLS)
        else:
            d[key] = draw.pick(_BAD_INTS[key])
        return encode(d)
    if reason == "missing_required":
        options = [k for k in req if k in d and k not in _NEVER_DROP]
        del d[draw.pick(options)]
        return encode(d)
    if reason == "oversized_field":
        options = [k for k in sorted(lengths) if isinstance(d.get(k), str) and k != "event_id"]
        key = draw.pick(options)
        limit = lengths[key]
        value = d[key] or key
        while len(value) <= limit:
            value = f"{value} {d[key] or key}"
        d[key] = value[: limit + draw.randint(1, min(400, limit))]
        line = encode(d)
        if len(line.encode()) >= max_line_bytes:  # keep the line itself under the limit
            d[key] = value[: limit + 1]
            line = encode(d)
        return line
    if reason == "oversized_line":
        if source == "orders":
            # A bulk order: hundreds of lines, each valid, the whole line beyond the limit.
            items: list[dict[str, Any]] = []
            size = len(encode(d))
            while size <= max_line_bytes + 1024 and len(items) < 500:
                item = dict(draw.pick(filler))
                items.append(item)
                size += len(encode(item)) + 1
            d["items"] = items
            sub = sum(i["quantity"] * i["unit_price"] for i in items)
            d["subtotal"] = sub
            d["discount"] = 0
            d["total"] = sub + (d.get("shipping_cost") or 0)
        else:
            # Tracking parameters gone wild: a URL far longer than any collector should accept.
            parts = [d.get("page_url") or "https://www.tokodetak.id/", "?"]
            size = len(encode(d))
            while size <= max_line_bytes + 512:
                token = f"_trk{len(parts)}={draw.hex32()}{draw.hex32()}&"
                parts.append(token)
                size += len(token)
            d["page_url"] = "".join(parts)
        return encode(d)
    raise ValueError(f"unknown malformed reason {reason!r}")
