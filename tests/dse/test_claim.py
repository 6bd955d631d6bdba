"""The sweep claim: one driver holds a study's claim, the others wait, a dead holder is
taken over at once; both halves of an attempt are interleaved by hand, never by timing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import optuna
import pytest

from dse import open_storage
from dse._claim import LEASE_S, StudyClaim, claim_alive
from dse._runs import _start_ticks


def _who(nonce: str, **changes: object) -> dict:
    """An identity of this host; the default process is the test's parent (alive)."""
    value = {"host": socket.gethostname(), "pid": os.getppid(),
             "boot_id": open("/proc/sys/kernel/random/boot_id").read().strip(),
             "start": _start_ticks(os.getppid()), "nonce": nonce}
    value.update(changes)
    return value


def _two(storage_url: str) -> tuple[StudyClaim, StudyClaim]:
    """Two claims on one study through two storage objects, as two processes would hold."""
    first = optuna.create_study(study_name="c", storage=open_storage(storage_url))
    second = optuna.load_study(study_name="c", storage=open_storage(storage_url))
    return (StudyClaim(first, "sweep", "a", _who("a")),
            StudyClaim(second, "sweep", "b", _who("b", pid=os.getpid(),
                                                  start=_start_ticks(os.getpid()))))


def test_one_holder_at_a_time_and_release_hands_it_over(storage_url: str) -> None:
    a, b = _two(storage_url)
    assert a.try_acquire() and not b.try_acquire()
    assert b.holder() is not None and b.holder()["nonce"] == "a"
    a.release()
    assert b.holder() is None
    assert b.try_acquire() and not a.try_acquire()
    b.release()


def test_simultaneous_attempts_elect_exactly_one(storage_url: str) -> None:
    a, b = _two(storage_url)
    if a._rdb is not None:
        # both read the free claim, then both compare-and-set it: the second write fails
        seen_a, seen_b = a.read_for_cas(), b.read_for_cas()
        assert [a.cas_from(seen_a), b.cas_from(seen_b)] == [True, False]
    else:
        # both attempts written before either reads: the log's first one wins, either order
        a.propose()
        b.propose()
        assert [b.decide(), a.decide()] == [False, True]
    a.held = True
    assert b.holder()["nonce"] == "a"
    a.release()
    assert b.try_acquire()
    b.release()


def test_a_dead_holder_is_taken_over_at_once(storage_url: str) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    first = optuna.create_study(study_name="c", storage=open_storage(storage_url))
    ghost = StudyClaim(first, "sweep", "g", _who("g", pid=dead.pid, start=None))
    # It "dies" holding the claim: its claim is written and nothing ever releases it.
    if ghost._rdb is not None:
        assert ghost.cas_from(ghost.read_for_cas())
    else:
        ghost.propose()
    other = StudyClaim(first, "sweep", "o", _who("o", pid=os.getpid(),
                                                  start=_start_ticks(os.getpid())))
    assert other.holder() is None and other.try_acquire()
    other.release()


def test_a_killed_process_not_yet_reaped_holds_nothing() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    value = _who("z", pid=child.pid, start=_start_ticks(child.pid))
    assert claim_alive(value)
    child.kill()
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # ended, left a zombie
    assert not claim_alive(value)
    child.wait()


def test_other_hosts_hold_a_claim_while_their_heartbeat_is_recent() -> None:
    now = time.time()
    assert claim_alive({"host": "elsewhere", "renewed": now - 1.0}, now)
    assert not claim_alive({"host": "elsewhere", "renewed": now - LEASE_S - 1.0}, now)
    assert not claim_alive({"host": "elsewhere"}, now)
    assert not claim_alive(None, now)


def test_a_waiting_driver_says_so_once_and_gets_the_claim_when_released(
        tmp_path, monkeypatch) -> None:
    storage = str(tmp_path / "s.journal")
    a, b = _two(storage)
    assert a.try_acquire()
    told: list[dict] = []
    polls = {"n": 0}

    def poll(_: float) -> None:  # stands for the wait between polls: A finishes meanwhile
        polls["n"] += 1
        if polls["n"] == 3:
            a.release()

    monkeypatch.setattr("dse._claim.time.sleep", poll)
    b.acquire(on_wait=told.append)
    assert b.held and len(told) == 1 and told[0]["nonce"] == "a"
    b.release()


@pytest.mark.parametrize("job", ["sweep"])
def test_an_interrupted_wait_leaves_no_attempt(tmp_path, monkeypatch, job: str) -> None:
    a, b = _two(str(tmp_path / "s.journal"))
    assert a.try_acquire()

    def interrupt(_: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("dse._claim.time.sleep", interrupt)
    with pytest.raises(KeyboardInterrupt):
        b.acquire()
    a.release()
    live = [v for k, v in b._storage.get_study_system_attrs(b._sid).items()
            if k.startswith("dse.claim.") and v is not None]
    assert live == []
