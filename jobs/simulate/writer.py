"""Landing files and truth tables.

A shard first writes its lines, grouped by (source, delivery hour) and in delivery order, to one
scratch file with an index. The landing writer then concatenates every shard's chunk of an hour in
shard order and gzips it (``mtime=0``, no file name in the header), so the bytes depend on the seed
and the arguments only, never on how many processes ran.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from jobs.simulate.collector import SOURCES
from jobs.simulate.timefmt import MS_DAY, MS_HOUR, day_string

GZIP_LEVEL = 1
# An hour's lines are split into parts of about this many uncompressed bytes (at chunk boundaries).
PART_BYTES = 64 * 1024 * 1024

TS = pa.timestamp("ms", tz="UTC")

ChunkIndex = dict[tuple[int, int], tuple[int, int]]  # (source index, hour number) -> (offset, length)


def write_scratch(path: Path, src: list[int], at: list[int], text: list[str]) -> tuple[ChunkIndex, dict[Any, int]]:
    """Write one shard's lines; returns the chunk index and line counts per (source, hour)."""
    order = sorted(range(len(text)), key=lambda i: (src[i], at[i], i))
    index: ChunkIndex = {}
    counts: dict[Any, int] = {}
    offset = 0
    with open(path, "wb") as f:
        i = 0
        n = len(order)
        while i < n:
            s = src[order[i]]
            h = at[order[i]] // MS_HOUR
            j = i
            while j < n and src[order[j]] == s and at[order[j]] // MS_HOUR == h:
                j += 1
            data = ("\n".join(text[k] for k in order[i:j]) + "\n").encode()
            f.write(data)
            index[(s, h)] = (offset, len(data))
            counts[(s, h)] = j - i
            offset += len(data)
            i = j
    return index, counts


def hour_folder(source: int, hour: int) -> str:
    return f"{SOURCES[source]}/date={day_string(hour * MS_HOUR // MS_DAY)}/hour={hour % 24:02d}"


def write_hour(
    landing: Path, source: int, hour: int, chunks: list[tuple[int, str, int, int]]
) -> list[tuple[int, str, int]]:
    """Write one hour's part files from ``(task, scratch path, offset, length)`` chunks.

    Returns ``(task, relative part path, compressed bytes)`` per chunk (a part holds whole chunks).
    """
    folder = landing / hour_folder(source, hour)
    folder.mkdir(parents=True, exist_ok=True)
    out: list[tuple[int, str, int]] = []
    part = 0
    buf: list[bytes] = []
    tasks: list[int] = []
    size = 0

    def flush() -> None:
        nonlocal part, buf, tasks, size
        name = f"part-{part:05d}.jsonl.gz"
        data = gzip.compress(b"".join(buf), compresslevel=GZIP_LEVEL, mtime=0)
        (folder / name).write_bytes(data)
        rel = f"{hour_folder(source, hour)}/{name}"
        out.extend((t, rel, len(data)) for t in tasks)
        part += 1
        buf, tasks, size = [], [], 0

    for task, path, offset, length in chunks:
        with open(path, "rb") as fh:
            fh.seek(offset)
            buf.append(fh.read(length))
        tasks.append(task)
        size += length
        if size >= PART_BYTES:
            flush()
    if buf:
        flush()
    return out


def write_hours(job: tuple[str, list[tuple[int, int, list[tuple[int, str, int, int]]]]]) -> list[Any]:
    """Process-pool entry: write several hours (``(landing, [(source, hour, chunks), ...])``)."""
    landing, hours = job
    out = []
    for source, hour, chunks in hours:
        out.append(((source, hour), write_hour(Path(landing), source, hour, chunks)))
    return out


def write_parquet(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
