"""Landing files → lines, in plain Python: what a delivered file holds, or why it cannot be read.

A collector delivers JSON lines, gzip-compressed or not. Before any line is parsed, each file is
read here as bytes (Spark's ``binaryFile`` source hands them over, see :mod:`jobs.bronze.ingest`)
and turned into one record for the file and one per line, so that nothing about a bad delivery
can stop a batch:

========================= =====================================================================
file reason               meaning (the file goes to ``bronze.quarantine_files``, its lines nowhere)
========================= =====================================================================
``empty_file``            zero bytes
``not_gzip``              named ``*.gz`` but not gzip data
``truncated_gzip``        the gzip stream ends early (a collector died mid-upload)
``corrupt_gzip``          damaged gzip data or checksum
``unreadable``            the file could not be read at all (permissions, vanished, I/O error)
========================= =====================================================================

Line reasons decided here (the line goes to ``bronze.quarantine``; every other line is parsed and
validated by :mod:`jobs.bronze.validate`):

``invalid_encoding``
    the line is not valid UTF-8; kept with each bad byte replaced by U+FFFD, and the SHA-256 of
    its bytes.
``oversized_line``
    longer than ``ingest.max_line_bytes``; never held or stored whole: its first
    ``ingest.oversized_prefix_bytes`` bytes and the SHA-256 of the whole line are kept.

Lines are split on ``\\n``; a ``\\r`` before it is dropped, and so is the empty piece after a
final newline; a UTF-8 byte order mark at the start of the file is dropped. Line numbers start
at 1. The file's SHA-256 identifies a re-delivery of the same
content under another name.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from jobs.common.config import Settings

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"

FILE_REASONS = ("empty_file", "not_gzip", "truncated_gzip", "corrupt_gzip", "unreadable")
LINE_REASONS = ("invalid_encoding", "oversized_line")


@dataclass(frozen=True)
class Line:
    number: int
    text: str
    nbytes: int
    reason: str | None = None
    detail: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class FileVerdict:
    """What a file held: its hash and line count, or the reason it cannot be read."""

    sha256: str
    lines: int
    reason: str | None = None
    error: str | None = None


class UnreadableFile(Exception):
    def __init__(self, reason: str, error: str) -> None:
        super().__init__(f"{reason}: {error}")
        self.reason, self.error = reason, error


def decompress(path: str, data: bytes) -> bytes:
    """The file's content: gunzipped when it is gzip (by its magic bytes), as is otherwise."""
    if not data:
        raise UnreadableFile("empty_file", "the file has 0 bytes")
    if data[:2] != GZIP_MAGIC:
        if path.endswith(".gz"):
            raise UnreadableFile("not_gzip", f"a .gz file that starts with {data[:2]!r}, not gzip's magic bytes")
        return data
    try:
        return gzip.decompress(data)
    except EOFError as exc:
        raise UnreadableFile("truncated_gzip", str(exc) or "the gzip stream ends early") from exc
    except (gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise UnreadableFile("corrupt_gzip", f"{type(exc).__name__}: {exc}") from exc


def split_lines(content: bytes, max_line_bytes: int, prefix_bytes: int) -> Iterator[Line]:
    """The lines of decompressed ``content`` with their reasons (see the module docstring)."""
    if content.startswith(UTF8_BOM):
        content = content[len(UTF8_BOM) :]
    if not content:
        return
    pieces = content.split(b"\n")
    if pieces[-1] == b"":
        pieces.pop()
    for number, raw in enumerate(pieces, 1):
        yield line_of(number, raw[:-1] if raw.endswith(b"\r") else raw, max_line_bytes, prefix_bytes)


def line_of(number: int, raw: bytes, max_line_bytes: int, prefix_bytes: int) -> Line:
    """One delivered line (a file's line, or a Kafka record's value) with its reason, if any."""
    nbytes = len(raw)
    if nbytes > max_line_bytes:
        return Line(
            number,
            raw[:prefix_bytes].decode("utf-8", "replace"),
            nbytes,
            "oversized_line",
            f"line of {nbytes} bytes > {max_line_bytes}; the first {prefix_bytes} bytes are kept",
            hashlib.sha256(raw).hexdigest(),
        )
    try:
        return Line(number, raw.decode("utf-8"), nbytes)
    except UnicodeDecodeError as exc:
        return Line(
            number,
            raw.decode("utf-8", "replace"),
            nbytes,
            "invalid_encoding",
            f"not UTF-8 at byte {exc.start}: {raw[exc.start : exc.start + 4]!r}",
            hashlib.sha256(raw).hexdigest(),
        )


#: The per-file fields of a decoded row, empty on a line's row.
FILE_FIELDS = ("file_size", "file_modified_at", "file_sha256", "file_lines", "file_reason", "file_error")


def append_line(rows: dict[str, list[object]], source_file: str, ln: Line) -> None:
    """Add one line's row to the columns of a decoded batch (``kind`` = line, no file fields)."""
    rows["kind"].append("line")
    rows["_source_file"].append(source_file)
    rows["_line"].append(ln.number)
    rows["value"].append(ln.text)
    rows["line_bytes"].append(ln.nbytes)
    rows["pre_reason"].append(ln.reason)
    rows["pre_detail"].append(ln.detail)
    rows["raw_sha256"].append(ln.sha256)
    for name in FILE_FIELDS:
        rows[name].append(None)


def read_file(path: str, data: bytes | None, max_line_bytes: int, prefix_bytes: int) -> tuple[FileVerdict, list[Line]]:
    """The verdict on one delivered file and its lines (none when it cannot be read).

    ``data`` is None when the file could not be read at all.
    """
    if data is None:
        return FileVerdict("", 0, "unreadable", "the file could not be read"), []
    digest = hashlib.sha256(data).hexdigest()
    try:
        content = decompress(path, data)
    except UnreadableFile as bad:
        return FileVerdict(digest, 0, bad.reason, bad.error), []
    lines = list(split_lines(content, max_line_bytes, prefix_bytes))
    return FileVerdict(digest, len(lines)), lines


def folder_name(source: str, settings: Settings) -> str:
    """The landing folder ``source`` reads (``ingest.folders``; its own name by default)."""
    return str((settings["ingest"].get("folders") or {}).get(source) or source)


def landing_folder(source: str, settings: Settings) -> str:
    return f"{str(settings['paths']['landing']).rstrip('/')}/{folder_name(source, settings)}"
