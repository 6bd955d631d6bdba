"""Errors the engine reports to users as one line (the CLI exits with code 2)."""

from __future__ import annotations

from search_spaces import UserError


__all__ = ["DseError", "SpecError", "StorageError", "one_line"]


class DseError(UserError):
    """A user-facing error: the message is one line naming what was wrong and what was expected."""


class SpecError(DseError):
    """A study file is malformed: the message names the file, the key and what was expected."""


class StorageError(DseError):
    """A storage URL or path is unusable."""


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (a message of several lines keeps its first)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 1000 else text[:1000] + "..."
