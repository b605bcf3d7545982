"""Reading landing files in plain Python: every way a delivery can be unreadable, line by line."""

from __future__ import annotations

import gzip
import hashlib

import pytest

from jobs.bronze.landing import Line, read_file

MAX, PREFIX = 100, 10


def gz(text: bytes) -> bytes:
    return gzip.compress(text, mtime=0)


def test_lines_of_a_good_gzip_file_with_crlf_bom_and_final_newline() -> None:
    data = gz(b'\xef\xbb\xbf{"a": 1}\r\n{"b": 2}\n\n  \n')
    verdict, lines = read_file("x/part.jsonl.gz", data, MAX, PREFIX)
    assert (verdict.sha256, verdict.lines, verdict.reason) == (hashlib.sha256(data).hexdigest(), 4, None)
    assert lines == [Line(1, '{"a": 1}', 8), Line(2, '{"b": 2}', 8), Line(3, "", 0), Line(4, "  ", 2)]


def test_plain_file_and_multi_member_gzip() -> None:
    _, plain = read_file("x/part.jsonl", b"one\ntwo", MAX, PREFIX)
    assert [ln.text for ln in plain] == ["one", "two"]
    _, joined = read_file("x/part.jsonl.gz", gz(b"one\n") + gz(b"two\n"), MAX, PREFIX)
    assert [ln.text for ln in joined] == ["one", "two"]


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.jsonl.gz", b"", "empty_file"),
        ("plain.jsonl.gz", b'{"a": 1}\n', "not_gzip"),
        ("cut.jsonl.gz", gz(b'{"a": 1}\n' * 1000)[:-20], "truncated_gzip"),
        ("crc.jsonl.gz", gz(b'{"a": 1}\n')[:-8] + b"\x00\x00\x00\x00" + gz(b'{"a": 1}\n')[-4:], "corrupt_gzip"),
        ("junk.jsonl.gz", b"\x1f\x8b" + b"\xff" * 40, "corrupt_gzip"),
        ("gone.jsonl.gz", None, "unreadable"),
    ],
)
def test_unreadable_files_have_a_reason_and_no_lines(name: str, data: bytes | None, reason: str) -> None:
    verdict, lines = read_file(f"landing/{name}", data, MAX, PREFIX)
    assert (verdict.reason, verdict.lines, lines) == (reason, 0, [])
    assert verdict.error


def test_bad_lines_keep_a_prefix_or_a_repair_and_the_hash() -> None:
    long = b'{"q": "' + b"x" * 200 + b'"}'
    bad = b'{"q": "caf\xe9"}'
    _, lines = read_file("x.jsonl", b"ok\n" + long + b"\n" + bad + b"\n", MAX, PREFIX)
    assert lines[0] == Line(1, "ok", 2)
    assert (lines[1].reason, lines[1].text, lines[1].nbytes, lines[1].sha256) == (
        "oversized_line",
        long[:PREFIX].decode(),
        len(long),
        hashlib.sha256(long).hexdigest(),
    )
    assert (lines[2].reason, lines[2].text, lines[2].sha256) == (
        "invalid_encoding",
        '{"q": "caf\ufffd"}',
        hashlib.sha256(bad).hexdigest(),
    )
    assert lines[2].detail == "not UTF-8 at byte 10: b'\\xe9\"}'"
