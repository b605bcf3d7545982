"""Maintenance of the lake: retention, OPTIMIZE/VACUUM (:mod:`.housekeeping`) and forget requests (:mod:`.forget`).

Which tables exist and what they hold is read from the table contracts (:mod:`.lake`), so tables
added to ``schemas/tables`` are maintained and erased from without code changes here.
"""
