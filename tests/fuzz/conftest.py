"""Running the ``dse`` command line in-process and checking how it fails.

Under ``--import-mode=importlib`` test modules cannot import helpers by name, so the helper is
handed out by the session-scoped ``cli`` fixture (session scope also keeps hypothesis' health
check for function-scoped fixtures quiet).
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class CliResult:
    code: int
    out: str
    err: str


class Cli:
    """``dse.cli.main`` run in-process, with stdout and stderr captured."""

    def run(self, argv: Sequence[str]) -> CliResult:
        from dse.cli import main

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
        return CliResult(code, out.getvalue(), err.getvalue())

    @staticmethod
    def snapshot(folder: Path) -> dict[str, bytes]:
        """Every file under ``folder`` with its bytes (what "storage unchanged" compares)."""
        files = {}
        for root, _, names in os.walk(folder):
            for name in names:
                path = Path(root, name)
                files[str(path.relative_to(folder))] = path.read_bytes()
        return files

    def check(self, result: CliResult, before: dict[str, bytes], folder: Path) -> None:
        """A result, or one ``dse: error:`` line with exit code 2 and nothing changed."""
        context = f"exit {result.code}, stderr {result.err[-2000:]!r}"
        assert result.code in (0, 2), context
        assert "Traceback" not in result.err, context
        if result.code != 0:
            assert result.err.count("\n") == 1, context
            assert result.err.startswith("dse: error: "), context
            assert self.snapshot(folder) == before, "a failed command changed the storage"


@pytest.fixture(scope="session")
def cli() -> Cli:
    return Cli()


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory, cli: Cli) -> Path:
    """A storage folder holding a small finished study, to prove failures leave it alone."""
    folder = tmp_path_factory.mktemp("storage")
    result = cli.run(["run", "demo", "--n-trials", "3", "--quiet",
                      "--storage", str(folder / "studies.journal")])
    assert result.code == 0, result.err
    return folder
