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
from dse._claim import FENCE_S, LEASE_S, StudyClaim, claim_alive
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


class _Clock:
    """Wall and monotonic time for the claim module, moved by the test (the heartbeat thread
    waits real time, HEARTBEAT_S, so it never beats during a test)."""

    def __init__(self) -> None:
        self.wall, self.mono = time.time(), time.monotonic()

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def sleep(self, s: float) -> None:
        self.advance(s)

    def advance(self, s: float) -> None:
        self.wall += s
        self.mono += s


def _stalled_and_taken_over(storage_url: str, monkeypatch) -> tuple[StudyClaim, StudyClaim]:  # type: ignore[no-untyped-def]
    """A holder on another host stalls past its lease; a driver here takes the claim over."""
    clock = _Clock()
    monkeypatch.setattr("dse._claim.time", clock)
    first = optuna.create_study(study_name="c", storage=open_storage(storage_url))
    second = optuna.load_study(study_name="c", storage=open_storage(storage_url))
    stalled = StudyClaim(first, "sweep", "s", _who("s", host="elsewhere"))
    here = StudyClaim(second, "sweep", "h", _who("h", pid=os.getpid(),
                                                 start=_start_ticks(os.getpid())))
    assert stalled.try_acquire()
    stalled.check()  # renewed just now: nothing to do
    assert not here.try_acquire()
    clock.advance(LEASE_S + 1.0)  # its heartbeat stalls past the lease
    assert here.try_acquire()
    return stalled, here


def test_a_stalled_holder_taken_over_is_fenced_off(storage_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from dse._claim import ClaimLost

    stalled, here = _stalled_and_taken_over(storage_url, monkeypatch)
    # When it resumes, its next write's check stops it, naming the new holder.
    with pytest.raises(ClaimLost, match=f"taken over by {socket.gethostname()}:{os.getpid()}"):
        stalled.check()
    assert not stalled.held
    stalled.release()  # what the run's `with claim:` does next: it must not free the claim
    assert here.holder() is not None and here.holder()["nonce"] == "h"
    here.release()


def test_a_late_heartbeat_never_revives_a_claim_taken_over(storage_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    stalled, here = _stalled_and_taken_over(storage_url, monkeypatch)
    stalled._renew()  # the stalled holder's heartbeat thread beats once it runs again
    assert not stalled.held and stalled.lost_to is not None
    assert here.holder()["nonce"] == "h" and stalled.holder()["nonce"] == "h"
    here.release()


def test_a_stalled_holder_nobody_took_over_renews_on_sql_and_gives_up_on_a_log(
        storage_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from dse._claim import ClaimLost

    clock = _Clock()
    monkeypatch.setattr("dse._claim.time", clock)
    a, b = _two(storage_url)
    a.identity["host"] = "elsewhere"
    assert a.try_acquire()
    clock.advance(LEASE_S + 1.0)
    if a._rdb is not None:
        a.check()  # nobody took it: the compare-and-set renews it
        assert a.held and not b.try_acquire() and b.holder()["nonce"] == "a"
    else:
        # A log cannot compare-and-set: between reading that nobody took it and writing the
        # renewal another host could take it, so a lease this old is given up.
        with pytest.raises(ClaimLost, match="claim was given up"):
            a.check()
        assert not a.held and b.try_acquire()
        b.release()
    a.release()


def _journal_pair(tmp_path, monkeypatch, a_host: str | None = None):  # type: ignore[no-untyped-def]
    clock = _Clock()
    monkeypatch.setattr("dse._claim.time", clock)
    a, b = _two(str(tmp_path / "s.journal"))
    if a_host is not None:
        a.identity["host"] = a_host
    return clock, a, b


def test_a_log_holder_keeps_its_claim_beside_a_later_attempt_that_will_withdraw(
        tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Both saw the claim free; a's attempt is first, so a holds it. b is slow between its
    # two halves (or killed there: its attempt then looks live for LEASE_S). a's heartbeat
    # and its checks must keep the claim, and b withdraws when it decides.
    clock, a, b = _journal_pair(tmp_path, monkeypatch)
    b.identity["host"] = "elsewhere"
    a.propose()
    b.propose()
    assert a.decide()
    a.held, a._renewed_at = True, clock.monotonic()
    clock.advance(20.0)  # HEARTBEAT_S
    a._renew()
    clock.advance(FENCE_S + 1.0)
    a.check()
    assert a.held and a.lost_to is None
    assert not b.decide()
    a.release()


def test_a_stale_log_holder_is_not_revived_by_a_takeover_between_its_read_and_write(
        tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # S (another host) stalls past its lease; when it checks, T takes the claim over right
    # after S read the attempts. S must not renew: exactly one holder, T, is left.
    from dse._claim import ClaimLost

    clock, s, t = _journal_pair(tmp_path, monkeypatch, a_host="elsewhere")
    assert s.try_acquire()
    clock.advance(LEASE_S + 1.0)
    real = StudyClaim._attempts_in_order

    def read_then_takeover(self):  # type: ignore[no-untyped-def]
        seen = real(self)
        if self is s:
            monkeypatch.setattr(StudyClaim, "_attempts_in_order", real)
            assert t.try_acquire()
        return seen

    monkeypatch.setattr(StudyClaim, "_attempts_in_order", read_then_takeover)
    with pytest.raises(ClaimLost):
        s.check()
    assert t.held and not s.held
    clock.advance(FENCE_S + 1.0)
    t.check()
    assert t.held
    t.release()


def test_a_check_the_storage_cannot_answer_fails_safe_in_one_line(
        tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from dse._errors import DseError

    clock, a, _ = _journal_pair(tmp_path, monkeypatch)
    assert a.try_acquire()

    def down(*args: object) -> None:
        raise ConnectionError("the storage server went away")

    clock.advance(FENCE_S + 1.0)
    monkeypatch.setattr(a, "_renew", down)
    a.check()  # young enough: the next check tries again
    clock.advance(LEASE_S)
    with pytest.raises(DseError, match="cannot renew the study's sweep claim "
                                       r"\(ConnectionError: the storage server went away\)"):
        a.check()
