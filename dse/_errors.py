"""Errors the engine reports to users as one line (the CLI exits with code 2)."""

from __future__ import annotations

from search_spaces import UserError


__all__ = ["DseError", "SpecError", "StorageError"]


class DseError(UserError):
    """A user-facing error: the message is one line naming what was wrong and what was expected."""


class SpecError(DseError):
    """A study file is malformed: the message names the file, the key and what was expected."""


class StorageError(DseError):
    """A storage URL or path is unusable."""
