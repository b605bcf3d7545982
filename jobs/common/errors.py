"""Errors that are the user's to fix, not the code's.

The CLI (jobs.cli) prints a :class:`UserError` as one line, ``detak: error: <message>``, and exits
with status 2; any other exception is a failed job (status 1). Raise it only where the cause is
what a person gave detak — a date, a file, a name, a setting — and say in the message what was
wrong and what would be right. It is a ``ValueError``, so callers that catch bad values keep doing so.
"""

from __future__ import annotations


class UserError(ValueError):
    """A mistake in the user's input: a bad date, a missing file, an unknown name, a bad setting."""


class UsageError(UserError):
    """A command line that does not parse (unknown verb or flag, missing or malformed argument)."""
