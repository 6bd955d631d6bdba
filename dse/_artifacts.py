"""Where a study's files live (sweep tables, checkpoints), and which study names are allowed.

A study name becomes a folder name, so every name is checked where all of them pass: the study
file's ``[study] name`` and ``dse run --name`` both reach :class:`dse.StudySpec` through
:func:`check_study_name`. A valid name has 1 to :data:`MAX_NAME_LENGTH` characters from
``A-Z a-z 0-9 . _ -``, starts with a letter or a digit and contains no ``..``: no separators,
no NUL, nothing a file system reads specially.

Files are kept per storage, then per study, so two storages never share a study's folder:

* a journal or SQLite *file* ``PATH``: ``PATH.files/NAME/`` beside it;
* a storage *URL*: ``dse-studies/SCHEME-HASH.files/NAME/``, with ``HASH`` the first 12 hex
  digits of the URL's SHA-256 (a URL may hold a password, which must not become a file name).

A validated name is one path component, so a study's files never leave its folder; inside it,
only files the sweep code wrote are ever deleted (see :mod:`dse._columnar`).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from dse._errors import SpecError
from dse._storage import describe_storage


__all__ = ["MAX_NAME_LENGTH", "NAME_RULE", "artifacts_dir", "check_study_name",
           "storage_files_dir"]

MAX_NAME_LENGTH = 100
NAME_RULE = (f"1 to {MAX_NAME_LENGTH} characters from A-Z a-z 0-9 . _ -, starting with a letter "
             "or a digit, without '..'")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_study_name(name: object, where: str) -> str:
    """``name`` when it is a valid study name.

    Args:
        name: The candidate name.
        where: What supplied it, for the message (``"x.toml: study.name"``, ``"--name"``).

    Raises:
        SpecError: one line naming ``where``, the rule and the rejected name (shortened).
    """
    if (isinstance(name, str) and len(name) <= MAX_NAME_LENGTH and _NAME.fullmatch(name)
            and ".." not in name):
        return name
    shown = repr(name) if len(repr(name)) <= 60 else repr(name)[:57] + "..."
    raise SpecError(f"{where}: expected a study name of {NAME_RULE}; got {shown}")


def storage_files_dir(storage_spec: str | None) -> Path:
    """The folder holding every study's files for one storage."""
    spec = describe_storage(storage_spec)
    if "://" in spec:
        scheme = re.sub(r"[^a-z0-9]+", "-", spec.split("://", 1)[0].lower()).strip("-") or "url"
        digest = hashlib.sha256(spec.encode()).hexdigest()[:12]
        return Path("dse-studies") / f"{scheme}-{digest}.files"
    path = Path(spec).expanduser()
    return path.parent / f"{path.name}.files"


def artifacts_dir(storage_spec: str | None, study_name: str) -> Path:
    """Where one study's files live (see the module docstring); the name is checked first."""
    return storage_files_dir(storage_spec) / check_study_name(study_name, "study name")
