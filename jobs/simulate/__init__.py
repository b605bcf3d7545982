"""Shop simulator: realistic, deterministic landing data for detak plus the truth to score it.

``generate(out, start, days, users, seed)`` writes ``out/landing/<source>/date=/hour=/`` JSON-lines
files (clickstream, search, orders) as the shop's collectors would deliver them, dirt included,
and ``out/truth/`` (parquet and ``summary.json``), which the pipeline never reads.
"""

from jobs.simulate.generator import generate

__all__ = ["generate"]
