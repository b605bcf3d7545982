"""Plain-text tables for what the CLI prints."""

from __future__ import annotations

from collections.abc import Sequence


def format_table(head: Sequence[object], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell; the first column left-aligned, the rest right-aligned."""
    lines = [[str(c) for c in head], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True)))
        for line in lines
    )
