"""Range checks of user-supplied scalars at the points where they are parsed.

Each check returns the value when it is usable and raises :class:`~dse.DseError` with one line
naming where the value came from (``--seed``, ``study.seed`` of a file) and what was expected
otherwise, so a bad value is refused before anything is written instead of failing deep inside
numpy, the operating system or a socket call:

* a seed is what numpy's and Optuna's generators take: an integer in ``[0, 2**32 - 1]``;
* a TCP port is in ``[0, 65535]`` (0: any free port);
* a storage is a URL or a file path the operating system can open: no NUL character, at most
  ``PATH_MAX`` (4096) bytes, each path component at most ``NAME_MAX`` (255) bytes (Linux limits;
  ``os.pathconf`` where available).
"""

from __future__ import annotations

import os

from dse._errors import DseError, StorageError


__all__ = ["MAX_SEED", "check_port", "check_seed", "check_storage_spec"]

MAX_SEED = 2**32 - 1
_PATH_MAX = 4096
_NAME_MAX = 255


def check_seed(value: int, where: str) -> int:
    """``value`` if it is a valid seed (an integer in ``[0, 2**32 - 1]``)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise DseError(f"{where}={value!r}: expected an integer seed in [0, {MAX_SEED}]")
    return value


def check_port(value: int, where: str = "--port") -> int:
    """``value`` if it is a TCP port number (0 asks the system for a free one)."""
    if not 0 <= value <= 65535:
        raise DseError(f"{where}={value}: expected a port number in [0, 65535]")
    return value


def _name_max(folder: str) -> int:
    try:
        return int(os.pathconf(folder or ".", "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return _NAME_MAX


def check_storage_spec(value: str, where: str = "--storage") -> str:
    """``value`` if it can name a storage: a URL, or a path the system can open."""
    shown = value if len(value) <= 80 else value[:60] + f"... ({len(value)} characters)"
    if "\x00" in value:
        raise StorageError(f"{where} {shown!r}: contains a NUL character; expected a storage URL "
                           "or a journal-file path")
    if not value.strip():
        raise StorageError(f"{where}: empty; expected a storage URL or a journal-file path")
    if "://" in value:
        return value
    encoded = os.fsencode(value)
    if len(encoded) > _PATH_MAX:
        raise StorageError(f"{where} {shown!r}: the path is {len(encoded)} bytes long; expected "
                           f"at most {_PATH_MAX}")
    parent = os.path.dirname(value)
    longest = max(os.fsencode(value).split(b"/"), key=len)
    limit = _name_max(parent if parent and os.path.isdir(parent) else ".")
    if len(longest) > limit:
        raise StorageError(f"{where} {shown!r}: a path component is {len(longest)} bytes long; "
                           f"expected at most {limit}")
    return value
