"""Ctrl-C while the ``dse`` command starts up: one line and exit code 130, not a traceback.

Importing the engine (optuna, numpy, pandas, plotly) takes seconds, and a Ctrl-C then raises
``KeyboardInterrupt`` inside an import, where no ``try`` of the CLI can catch it. When this
process *is* the ``dse`` command (the console script, or ``python -m dse.cli``), a SIGINT
handler is installed before those imports that prints the line and ends the process; nothing
has been written yet, so there is nothing to clean up. :func:`dse.cli.main` hands SIGINT back to
``KeyboardInterrupt`` once it runs, and its error boundary handles it from then on; the
interrupt is kept out of database drivers and finalizers (:func:`interrupt_outside_drivers`).
A library user (a notebook importing :mod:`dse`) keeps the default handler.

A Ctrl-C in the first moments of the interpreter itself, before any dse code runs (while it
imports its ``site`` module), is Python's: it prints ``Fatal Python error: init_import_site``
with a traceback and exits; nothing has been written then.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType


__all__ = ["INTERRUPTED", "cli_started", "interrupt_outside_drivers", "is_cli_process"]

INTERRUPTED = "dse: interrupted; run the same command again to resume"


def is_cli_process() -> bool:
    """Whether this interpreter runs the ``dse`` command (not a library import)."""
    argv0 = sys.argv[0] if sys.argv else ""
    # ``python -m dse.cli`` imports the package while argv[0] is still "-m"
    return os.path.basename(argv0) in ("dse", "dse.exe") or argv0 == "-m"


def _exit_interrupted(signum: int, frame: FrameType | None) -> None:
    try:
        os.write(2, (INTERRUPTED + "\n").encode())
    finally:
        os._exit(130)


# Code a Ctrl-C is kept out of: database drivers and their ORM, whose objects also run
# finalizers (weakref callbacks) at any moment, and the standard library's weakref callbacks.
# A KeyboardInterrupt raised in a finalizer or callback is printed as "Exception ignored in
# ... Traceback ..." and then dropped, so the run went on (on PostgreSQL, 1 of 40 SIGINTs in
# SQLAlchemy's InstanceState._cleanup, and one in WeakKeyDictionary's remove, measured);
# raised mid-call it leaves a session half done.
_DRIVER_DIRS = tuple(f"{os.sep}{name}{os.sep}" for name in (
    "sqlalchemy", "psycopg", "psycopg2", "psycopg_binary", "pymysql", "MySQLdb", "redis"))
# Weak-reference callbacks run when an object dies, wherever that is; theirs are these files.
_CALLBACK_FILES = ("weakref.py", "_weakrefset.py")
DEFER_LIMIT_S = 10.0  # a driver call hung longer than this is interrupted where it is
_RETRY_S = 0.01  # a deferred Ctrl-C is re-delivered this often until it lands outside


def _in_driver(frame: FrameType | None) -> bool:
    """Whether a frame on the stack runs driver code, a finalizer (``__del__``) or a weak-
    reference callback (deferring costs at most a few retries where it is not needed)."""
    while frame is not None:
        code = frame.f_code
        if (code.co_name == "__del__" or os.path.basename(code.co_filename) in _CALLBACK_FILES
                or any(d in code.co_filename for d in _DRIVER_DIRS)):
            return True
        frame = frame.f_back
    return False


_deferred_since: list[float] = []


def interrupt_outside_drivers(signum: int, frame: FrameType | None) -> None:
    """SIGINT handler raising ``KeyboardInterrupt``, but never inside driver code.

    When the signal lands in a database driver, its ORM or a finalizer, it is re-delivered
    every ``_RETRY_S`` (``_thread.interrupt_main``) until it lands outside, so the run stops
    cleanly where it would have; after ``DEFER_LIMIT_S`` it is raised wherever it lands.
    """
    import _thread
    import threading
    import time

    now = time.monotonic()
    if _in_driver(frame) and (not _deferred_since or now - _deferred_since[0] < DEFER_LIMIT_S):
        if not _deferred_since:
            _deferred_since.append(now)
        timer = threading.Timer(_RETRY_S, _thread.interrupt_main)
        timer.daemon = True
        timer.start()
        return
    _deferred_since.clear()
    raise KeyboardInterrupt


# Marks a handler that raises KeyboardInterrupt like Python's default (dse._journal defers it
# around a journal write and puts it back afterwards).
interrupt_outside_drivers.raises_keyboard_interrupt = True  # type: ignore[attr-defined]


def cli_started() -> None:
    """From now on Ctrl-C raises ``KeyboardInterrupt`` again (caught by the CLI), outside
    database drivers and finalizers (:func:`interrupt_outside_drivers`)."""
    if signal.getsignal(signal.SIGINT) is _exit_interrupted:
        signal.signal(signal.SIGINT, interrupt_outside_drivers)


if is_cli_process() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, _exit_interrupted)
