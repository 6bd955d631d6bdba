"""Ctrl-C under the CLI never lands in database-driver code or a finalizer: it is re-delivered
until it lands outside (a KeyboardInterrupt raised in a finalizer was printed as 'Exception
ignored' with a traceback and dropped, so the run went on)."""

from __future__ import annotations

import gc
import signal
import time
from collections.abc import Iterator

import pytest

from dse._startup import interrupt_outside_drivers


@pytest.fixture
def cli_sigint() -> Iterator[None]:
    previous = signal.signal(signal.SIGINT, interrupt_outside_drivers)
    yield
    signal.signal(signal.SIGINT, previous)


def _driver_function():  # type: ignore[no-untyped-def]
    """A function whose code lives in a file named like a driver's."""
    namespace: dict = {}
    exec(compile("import signal\n"
                 "def call():\n"
                 "    signal.raise_signal(signal.SIGINT)\n"
                 "    total = 0\n"
                 "    for i in range(10000):\n"
                 "        total += i\n"
                 "    return total\n",
                 "/site-packages/sqlalchemy/orm/fake.py", "exec"), namespace)
    return namespace["call"]


def _wait_for_the_interrupt() -> None:
    for _ in range(60_000):  # a bound for a hung test, not a timing assertion
        time.sleep(0.01)


def test_an_interrupt_in_driver_code_is_raised_after_it_returns(cli_sigint) -> None:
    call = _driver_function()
    finished = []
    with pytest.raises(KeyboardInterrupt):
        finished.append(call())
        _wait_for_the_interrupt()
    assert finished == [sum(range(10000))]  # the driver call finished undisturbed


def test_an_interrupt_in_a_finalizer_is_not_lost(cli_sigint, capsys) -> None:
    class Finalized:
        def __del__(self) -> None:
            signal.raise_signal(signal.SIGINT)
            sum(range(10000))

    with pytest.raises(KeyboardInterrupt):
        Finalized()
        gc.collect()
        _wait_for_the_interrupt()
    assert "Exception ignored" not in capsys.readouterr().err


def test_elsewhere_it_is_a_keyboard_interrupt_at_once(cli_sigint) -> None:
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
        sum(range(10))
