"""Resolving ``--storage`` into an Optuna storage.

The argument is either an Optuna storage URL (``postgresql://``, ``mysql://``, ``sqlite:///``,
``redis://``) or a plain file path, meaning an Optuna journal file. With neither, the embedded
default is the journal file ``$DSE_STORAGE`` or ``./dse-studies/studies.journal``: it needs no
server, is safe for several processes on one host, and cost about a tenth of SQLite per trial in
our measurements (reference notes, section 2.5).

Journal files are opened through :class:`dse._journal.RobustJournalBackend` (Optuna's format;
a lock that dies with its holder, torn tails set aside, damage costing only the damaged
records). Relational storages are opened under a database-wide advisory lock, so drivers that
start together on a fresh database do not race to create Optuna's tables (on PostgreSQL two
concurrent ``CREATE TABLE`` of the same name fail with ``UniqueViolation`` on ``pg_type``).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage

from dse._errors import StorageError
from dse._journal import RobustJournalBackend


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
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(RobustJournalBackend(str(path), create=create))
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
            with _schema_lock(url, scheme):
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



# An arbitrary constant naming dse's schema-creation lock among the database's advisory locks.
_SCHEMA_LOCK_KEY = 0x6473655F736368  # "dse_sch"


@contextlib.contextmanager
def _schema_lock(url: str, scheme: str) -> Iterator[None]:
    """Hold a database-wide lock while Optuna checks or creates its tables.

    ``RDBStorage`` runs ``CREATE TABLE IF NOT EXISTS`` for each table and then inserts its
    version row; two processes doing so at once on PostgreSQL collide in the catalog
    (``UniqueViolation: pg_type_typname_nsp_index``) or insert the version twice. PostgreSQL
    and MySQL have session-level advisory locks for exactly this; SQLite serializes writers
    itself.
    """
    if scheme not in ("postgresql", "postgres", "mysql", "mariadb"):
        yield
        return
    import sqlalchemy

    if scheme.startswith("postgres"):
        lock, unlock = "SELECT pg_advisory_lock(:k)", "SELECT pg_advisory_unlock(:k)"
    else:
        lock, unlock = "SELECT GET_LOCK(:k, 600)", "SELECT RELEASE_LOCK(:k)"
    key = {"k": _SCHEMA_LOCK_KEY if scheme.startswith("postgres") else "dse_schema"}
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(lock), key)
            try:
                yield
            finally:
                conn.execute(sqlalchemy.text(unlock), key)
    finally:
        engine.dispose()
