"""Ctrl-C while the ``dse`` command starts up: one line and exit code 130, not a traceback.

Importing the engine (optuna, numpy, pandas, plotly) takes seconds, and a Ctrl-C then raises
``KeyboardInterrupt`` inside an import, where no ``try`` of the CLI can catch it. When this
process *is* the ``dse`` command (the console script, or ``python -m dse.cli``), a SIGINT
handler is installed before those imports that prints the line and ends the process; nothing
has been written yet, so there is nothing to clean up. :func:`dse.cli.main` hands SIGINT back to
Python's ``KeyboardInterrupt`` once it runs, and its error boundary handles it from then on. A
library user (a notebook importing :mod:`dse`) keeps the default handler.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType


__all__ = ["INTERRUPTED", "cli_started", "is_cli_process"]

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


def cli_started() -> None:
    """From now on Ctrl-C raises ``KeyboardInterrupt`` again (caught by the CLI)."""
    if signal.getsignal(signal.SIGINT) is _exit_interrupted:
        signal.signal(signal.SIGINT, signal.default_int_handler)


if is_cli_process() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, _exit_interrupted)
