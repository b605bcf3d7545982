"""Importers of public e-commerce data sets (REES46, OTTO) into detak landing files plus their truth.

``import_rees46(csv_path, out)`` and ``import_otto(jsonl_path, out)`` write
``out/landing/<source>/date=YYYY-MM-DD/hour=HH/part-NNNNN.jsonl.gz`` in detak's event contracts and
``out/truth/<dataset>_sessions.parquet`` (event id → the data set's own session), and return a
summary of what was read, written and skipped.
"""

from jobs.importers.otto import import_otto
from jobs.importers.rees46 import import_rees46

__all__ = ["import_otto", "import_rees46"]
