"""Resolving ``--storage`` into an Optuna storage.

The argument is either an Optuna storage URL (``postgresql://``, ``mysql://``, ``sqlite:///``,
``redis://``) or a plain file path, meaning an Optuna journal file. With neither, the embedded
default is the journal file ``$DSE_STORAGE`` or ``./dse-studies/studies.journal``: it needs no
server, is safe for several processes on one host, and cost about a tenth of SQLite per trial in
our measurements (reference notes, section 2.5).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from dse._errors import StorageError


__all__ = ["DEFAULT_STORAGE", "describe_storage", "open_storage"]

DEFAULT_STORAGE = "dse-studies/studies.journal"
_RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql")


def default_storage_spec() -> str:
    return os.environ.get("DSE_STORAGE", DEFAULT_STORAGE)


def describe_storage(spec: str | None) -> str:
    return spec if spec else default_storage_spec()


def open_storage(spec: str | None = None, *, create: bool = True) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``spec`` (URL or journal path; ``None`` for the default).

    Args:
        spec: Storage URL, journal-file path, or ``None``.
        create: Create the journal file's folder if missing; when False, a missing journal file
            is an error (read-only commands must not invent an empty store).

    Raises:
        StorageError: a one-line message naming the storage and what was expected.
    """
    spec = spec or default_storage_spec()
    if "://" in spec:
        return _open_url(spec)
    path = Path(spec).expanduser()
    if path.is_dir():
        raise StorageError(f"storage {spec!r} is a folder; expected a journal file path or a URL")
    if path.exists():
        with path.open("rb") as fh:
            head = fh.read(16)
        if head.startswith(b"SQLite format 3"):
            return _open_url(f"sqlite:///{path}")
        if head and not head.lstrip().startswith(b"{"):
            raise StorageError(
                f"storage {spec!r} is not an Optuna journal file (expected JSON lines) "
                "nor an SQLite database"
            )
    elif not create:
        raise StorageError(
            f"storage {spec!r}: no such journal file; run a study first or pass --storage"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    except OSError as exc:
        raise StorageError(f"cannot open journal file {spec!r}: {exc.strerror or exc}") from None


def _open_url(url: str) -> optuna.storages.BaseStorage:
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    try:
        if scheme in ("redis", "rediss"):
            from optuna.storages.journal import JournalRedisBackend

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage: Any = JournalStorage(JournalRedisBackend(url))
            storage.get_all_studies()  # fail now, not mid-study, if the server is unreachable
            return storage
        if scheme in _RDB_SCHEMES:
            return optuna.storages.RDBStorage(url, skip_compatibility_check=False)
    except ImportError as exc:
        raise StorageError(f"storage {url!r} needs a driver that is not installed: {exc}") \
            from None
    except Exception as exc:  # connection refused, bad credentials, malformed URL ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"cannot open storage {url!r}: {first[:200]}") from None
    raise StorageError(
        f"storage {url!r} has unknown scheme {scheme!r}; expected a journal file path or a URL "
        f"starting with one of: {', '.join(_RDB_SCHEMES + ('redis',))}"
    )

