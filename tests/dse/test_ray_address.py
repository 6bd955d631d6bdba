"""A ``--ray-address`` where no Ray head answers: one line on stderr (no native Ray warnings),
exit code 2, nothing written. Each listener is a real socket on loopback; the bound checked is
the documented one, never how fast the machine is."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dse._executors import CONNECT_TIMEOUT_S, PROBE_TIMEOUT_S


CLI = "import sys, dse.cli; sys.exit(dse.cli.main(sys.argv[1:]))"


def _listener(answer: Callable[[socket.socket], None]) -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:  # closed at the end of the test
                return
            held.append(conn)
            answer(conn)

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in held:
        conn.close()


@pytest.fixture
def http1_port() -> Iterator[int]:
    """Something that listens and answers, but not in HTTP/2 (a web server)."""
    yield from _listener(lambda c: (c.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n"), c.close()))


@pytest.fixture
def silent_h2_port() -> Iterator[int]:
    """An HTTP/2 endpoint that sends its SETTINGS and then never answers: it passes the probe,
    so ``ray.init`` itself runs and retries (and Ray's native code would warn on stderr)."""
    yield from _listener(lambda c: c.sendall(bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])))


def _run(tmp_path: Path, port: int, timeout: float) -> subprocess.CompletedProcess[str]:
    storage = tmp_path / "s.journal"
    proc = subprocess.run(
        [sys.executable, "-c", CLI, "run", "demo", "--ray-address", f"127.0.0.1:{port}",
         "--storage", str(storage)],
        capture_output=True, text=True, cwd=tmp_path, timeout=timeout)
    assert not storage.exists() and list(tmp_path.iterdir()) == []  # nothing written
    return proc


def test_a_listener_that_is_not_ray_is_named_in_one_line(tmp_path: Path,
                                                         http1_port: int) -> None:
    proc = _run(tmp_path, http1_port, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "not Ray's GCS" in proc.stderr, proc.stderr


@pytest.mark.slow
@pytest.mark.ray
def test_a_join_that_never_completes_gives_one_line_and_no_native_noise(
    tmp_path: Path, silent_h2_port: int
) -> None:
    # ray.init is given CONNECT_TIMEOUT_S; the subprocess bound only catches a hang.
    proc = _run(tmp_path, silent_h2_port, timeout=PROBE_TIMEOUT_S + CONNECT_TIMEOUT_S + 120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr  # no "rpc_client.h: Failed to connect"
    assert proc.stderr.startswith("dse: error: cannot ")
