"""Tests of the public-data importers, and the helpers they share to read what an import wrote."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

PUBLIC_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "public"


def read_landing(out: Path) -> list[tuple[str, dict[str, Any]]]:
    """``(source, event)`` for every line under ``out/landing``, in file then line order."""
    events = []
    for path in sorted((out / "landing").rglob("*.jsonl.gz")):
        source = path.relative_to(out / "landing").parts[0]
        with gzip.open(path, "rt", encoding="utf-8") as f:
            events.extend((source, json.loads(line)) for line in f)
    return events


def type_counts(events: list[tuple[str, dict[str, Any]]]) -> Counter[tuple[str, str]]:
    return Counter((source, event["event_type"]) for source, event in events)


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative path, with its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def assert_every_line_follows_its_contract(out: Path, lines_written: int) -> None:
    """Every landing line under ``out`` validates against its event type's JSON Schema."""
    from jobs.common.contracts import json_validator

    events = read_landing(out)
    assert len(events) == lines_written
    validators = {key: json_validator(*key) for key in type_counts(events)}
    for source, event in events:
        validators[(source, event["event_type"])].validate(event)
