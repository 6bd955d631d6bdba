"""The root of every error the project reports to users.

It lives here, in the lowest layer (cost models import spaces; the engine imports both), so
spaces (:class:`~search_spaces.ParamError`, :class:`~search_spaces.SpaceError`), models
(:class:`costmodels.ModelError`) and the engine (:class:`dse.DseError` and its subclasses) all
derive from it: ``except dse.UserError`` catches any of them. It is a ``ValueError``, as each
of them was.
"""

from __future__ import annotations


__all__ = ["UserError"]


class UserError(ValueError):
    """Bad input, reported as one line naming what was wrong and what was expected."""
