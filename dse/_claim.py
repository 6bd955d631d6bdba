"""Claiming a study for one job among concurrent drivers: a compare-and-set on the storage.

A sweep writes one set of files (its points table and checkpoint) and records its front as
trials once. Two drivers sweeping one study at the same moment both evaluated, wrote the same
files and recorded what neither had recorded when it started (duplicates). So a sweep first
claims its study: exactly one driver holds the claim, the others wait for it to be released
and then find the sweep recorded, or take the claim over from a holder that died.

The claim is a study *system* attribute whose value is the holder's identity::

    {"host", "pid", "boot_id", "start", "nonce", "renewed": <unix time>}

and ``null`` once released. How it is set atomically depends on the storage:

* **Relational storages** (SQLite, PostgreSQL, MySQL) hold it in one row,
  ``dse.claim.JOB``, changed only by a compare-and-set in SQL: an ``INSERT`` (which the
  table's unique ``(study_id, key)`` constraint refuses when another driver inserted first) or
  ``UPDATE ... WHERE value_json = <the value read>`` (which changes the row only if nobody
  changed it since it was read). Readers and writers need no lock.
* **Journal storages** (a journal file, Redis) and the in-memory storage write every change
  as one record of a log in one total order, which every reader replays; the replay keeps a
  study's attributes in the order they were first written. Each attempt writes its own
  attribute ``dse.claim.JOB.TAG.N`` and then reads the study: the attempt whose attribute is
  the first *live* one in that order holds the claim, every other attempt withdraws (nulls)
  its own. Two attempts whose writes both precede both reads see the same order, and an
  attempt read before a later one was written ignores it, so at most one holds the claim.

**Liveness** is that of run registrations (:func:`dse._runs.is_alive`): a claim of this host
is alive while its process is (PID, process start time and boot id, so a reused PID does not
keep it); a claim of another host, which cannot be checked, while its holder's heartbeat
``renewed`` is younger than :data:`LEASE_S`. The holder refreshes it every
:data:`HEARTBEAT_S` from a thread. So a killed holder blocks nobody: on this host the next
poll takes over, from another host within :data:`LEASE_S`.

**Fencing.** A holder on another host that is alive but stalled (a stopped or paused process,
a partition, a call holding the GIL) for longer than :data:`LEASE_S` is taken over as if it
had died. It must then write nothing more, so the holder calls :meth:`StudyClaim.check` before
each write (a sweep chunk, the front, the recording). The check costs nothing while the last
renewal is younger than :data:`FENCE_S`; after that it renews the claim first, through the same
compare-and-set (relational; it fails once another driver took the claim over) and raises
:class:`ClaimLost` when the claim is lost. Journal storages cannot compare-and-set, so a
journal claim last renewed more than :data:`RENEW_LIMIT_S` ago is given up instead of renewed
(even if nobody took it over), and a younger one is renewed whatever later attempts say: none
of them can have judged it dead. The heartbeat renews the same way, so a stalled holder's late
beat never revives a claim taken over. What is left: wall clocks of the hosts that differ by
more than ``LEASE_S - FENCE_S`` (90 s; ``LEASE_S - RENEW_LIMIT_S``, 60 s, for the journal).
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import optuna

from dse._errors import DseError
from dse._runs import is_alive, process_identity


__all__ = ["ClaimLost", "FENCE_S", "HEARTBEAT_S", "LEASE_S", "RENEW_LIMIT_S", "StudyClaim"]

CLAIM_PREFIX = "dse.claim."
HEARTBEAT_S = 20.0  # the holder renews its claim this often
LEASE_S = 120.0  # a claim of another host whose heartbeat is older counts as dead
POLL_S = 0.5  # a waiting driver looks at the claim this often
FENCE_S = LEASE_S / 4  # a claim renewed more recently than this cannot have been taken over
# Journal storages: a claim last renewed longer ago than this is given up, never renewed (the
# log cannot compare-and-set); the margin to LEASE_S covers the hosts' clock skew.
RENEW_LIMIT_S = LEASE_S / 2
_ABSENT = object()  # no row for the claim yet (relational storages)


class ClaimLost(DseError):
    """Another driver took over the claim while this holder was stalled."""


def claim_alive(value: Any, now: float | None = None) -> bool:
    """Whether a claim's holder lives (another host: whether its heartbeat is recent)."""
    if not isinstance(value, dict):
        return False  # null: released or withdrawn
    if value.get("host") != socket.gethostname():
        renewed = value.get("renewed")
        return isinstance(renewed, (int, float)) and \
            (time.time() if now is None else now) - renewed < LEASE_S
    return is_alive(value)


def _rdb(storage: optuna.storages.BaseStorage) -> Any:
    """The :class:`optuna.storages.RDBStorage` behind ``storage``, or None."""
    from optuna.storages import RDBStorage

    for candidate in (storage, getattr(storage, "_backend", None)):
        if isinstance(candidate, RDBStorage):
            return candidate
    return None


class StudyClaim:
    """One driver's claim on ``study`` for ``job`` (see the module docstring).

    Args:
        study: The study.
        job: What is claimed (``"sweep"``); one claim per job and study.
        nonce: This run's nonce (its registration's), telling its claims from a reused PID's.
        identity: The holder's identity (default: this process); tests pass another's.
    """

    def __init__(self, study: optuna.Study, job: str, nonce: str,
                 identity: dict[str, Any] | None = None) -> None:
        self.study = study
        self.key = CLAIM_PREFIX + job
        self.identity = dict(identity) if identity is not None else process_identity(nonce)
        self.held = False
        self._storage = study._storage
        self._sid = study._study_id
        self._rdb = _rdb(self._storage)
        self._attempts = 0
        self._attempt_key: str | None = None  # journal: the attribute of the current attempt
        self._raw: str | None = None  # relational: our value as stored, for the next CAS
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self._renewed_at = 0.0  # monotonic time of the last acquisition or renewal
        self.lost_to: dict[str, Any] | None = None  # who took the claim over, once it did

    # -- what others see ------------------------------------------------------------------------
    def holder(self) -> dict[str, Any] | None:
        """The live holder's identity (this one's included), or None when nobody holds it."""
        if self._rdb is not None:
            raw = self._read_raw()
            value = None if raw is _ABSENT or raw is None else json.loads(str(raw))
            return value if claim_alive(value) else None
        for _, value in self._attempts_in_order():
            if claim_alive(value):
                return dict(value)
        return None

    # -- taking and giving back -----------------------------------------------------------------
    def try_acquire(self) -> bool:
        """Take the claim if nobody alive holds it; True when this driver holds it now."""
        with self._lock:
            if self.held:
                return True
            self.held = self._cas_take() if self._rdb is not None else self._ordered_take()
            if self.held:
                self._renewed_at = time.monotonic()
                self.lost_to = None
        if self.held:
            self._start_heartbeat()
        return self.held

    def check(self) -> None:
        """Raise :class:`ClaimLost` if another driver took the claim over (call before each
        write done under the claim); renews the claim when its last renewal is not recent."""
        job = self.key[len(CLAIM_PREFIX):]
        with self._lock:
            age = time.monotonic() - self._renewed_at
            if self.held and age >= FENCE_S:
                try:
                    self._renew()
                except Exception as exc:  # the storage did not answer: fail safe
                    if age >= RENEW_LIMIT_S:
                        raise DseError(
                            f"cannot renew the study's {job} claim ({type(exc).__name__}: "
                            f"{str(exc).strip()[:200]}); this driver stops without writing "
                            "more") from None
            if self.lost_to is not None:
                who = self.lost_to
                by = f"taken over by {who.get('host')}:{who.get('pid')}" if who else "given up"
                raise ClaimLost(
                    f"the study's {job} claim was {by} while this driver was stalled for "
                    f"more than {RENEW_LIMIT_S if not who else LEASE_S:.0f} s; this driver "
                    "stops without writing more")

    def acquire(self, on_wait: Callable[[dict[str, Any]], None] | None = None) -> None:
        """Take the claim, waiting while another live driver holds it.

        ``on_wait(holder)`` is called once, when the first attempt finds another holder.
        A ``KeyboardInterrupt`` while waiting leaves nothing behind.
        """
        told = False
        try:
            while not self.try_acquire():
                holder = self.holder()
                if holder is not None and not told and on_wait is not None:
                    on_wait(holder)
                    told = True
                # A little jitter: two drivers that both withdrew do not collide in step.
                time.sleep(POLL_S * (0.5 + random.random()))
        except BaseException:
            self.release()  # a Ctrl-C between an attempt's two halves withdraws it too
            raise

    def release(self) -> None:
        """Give the claim back (idempotent); a waiting driver takes it at its next poll."""
        self._stop.set()
        if self._heartbeat is not None and self._heartbeat is not threading.current_thread():
            self._heartbeat.join()
        with self._lock:
            held, self.held = self.held, False
            if self._rdb is not None:
                if held and self._raw is not None and self.lost_to is None:
                    self._cas(self._raw, json.dumps(None))
                self._raw = None
            elif self._attempt_key is not None:
                # held, lost, or an attempt cut off before it decided: null it either way
                # (nulling a lost attempt cannot revive it, and the new holder's is later)
                self._storage.set_study_system_attr(self._sid, self._attempt_key, None)
                self._attempt_key = None

    def __enter__(self) -> StudyClaim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _value(self) -> dict[str, Any]:
        return {**self.identity, "renewed": time.time()}

    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._heartbeat = threading.Thread(target=self._beat, name="dse-claim-heartbeat",
                                           daemon=True)
        self._heartbeat.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with self._lock:
                if not self.held:
                    return
                try:
                    self._renew()
                except Exception:  # a storage hiccup: the next beat tries again
                    pass

    def _renew(self) -> None:
        """Refresh the heartbeat, unless another driver took the claim over: then the claim
        is lost (``held`` false, ``lost_to`` its new holder) and nothing is written."""
        if self._rdb is not None:
            if self._raw is None:
                return
            new = json.dumps(self._value())
            if not self._cas(self._raw, new):
                raw = self._read_raw()
                value = None if raw is _ABSENT or raw is None else json.loads(str(raw))
                self._lose(value if isinstance(value, dict) else {})
                return
            self._raw = new
        elif self._attempt_key is not None:
            if time.monotonic() - self._renewed_at >= RENEW_LIMIT_S:
                # The log has no compare-and-set: a driver elsewhere may have judged this
                # lease dead and hold the claim, or be about to decide that it does, between
                # our read and our write. So a lease this old is never renewed. A younger one
                # is renewed whatever later attempts say: none of them can have judged it
                # dead, so each withdraws in decide().
                others = [v for k, v in self._attempts_in_order()
                          if k != self._attempt_key and claim_alive(v)]
                self._lose(dict(others[0]) if others else {})
                return
            self._storage.set_study_system_attr(self._sid, self._attempt_key, self._value())
        self._renewed_at = time.monotonic()

    def _lose(self, holder: dict[str, Any]) -> None:
        self.held = False
        self.lost_to = holder
        self._stop.set()

    # -- journal storages: the first live attempt in log order holds it -------------------------
    def _attempts_in_order(self) -> list[tuple[str, Any]]:
        attrs = self._storage.get_study_system_attrs(self._sid)
        prefix = self.key + "."
        return [(k, v) for k, v in attrs.items() if k.startswith(prefix)]

    def propose(self) -> None:
        """Journal storages: write this attempt's attribute (the first half of an attempt)."""
        self._attempts += 1
        self._attempt_key = f"{self.key}.{self.identity['host']}:{self.identity['pid']}:" \
                            f"{self.identity['nonce']}.{self._attempts}"
        self._storage.set_study_system_attr(self._sid, self._attempt_key, self._value())

    def decide(self) -> bool:
        """Journal storages: whether the current attempt holds the claim (withdrawn if not)."""
        assert self._attempt_key is not None, "decide() follows propose()"
        first = next((k for k, v in self._attempts_in_order() if claim_alive(v)), None)
        if first == self._attempt_key:
            return True
        self._storage.set_study_system_attr(self._sid, self._attempt_key, None)
        self._attempt_key = None
        return False

    def _ordered_take(self) -> bool:
        if self.holder() is not None:
            return False  # someone holds it: do not even write an attempt
        self.propose()
        return self.decide()

    # -- relational storages: compare-and-set on one row ----------------------------------------
    def _table(self) -> Any:
        from optuna.storages._rdb import models

        return models.StudySystemAttributeModel.__table__

    def _read_raw(self) -> Any:
        import sqlalchemy

        table = self._table()
        with self._rdb.engine.connect() as conn:
            row = conn.execute(sqlalchemy.select(table.c.value_json).where(
                table.c.study_id == self._sid, table.c.key == self.key)).first()
        return _ABSENT if row is None else row[0]

    def _cas(self, old: Any, new: str) -> bool:
        """Set the claim row to ``new`` only if it still holds ``old`` (or is absent)."""
        import sqlalchemy

        table = self._table()
        if old is _ABSENT:
            try:
                with self._rdb.engine.begin() as conn:
                    conn.execute(sqlalchemy.insert(table).values(
                        study_id=self._sid, key=self.key, value_json=new))
            except sqlalchemy.exc.IntegrityError:
                return False  # another driver inserted it first
            return True
        with self._rdb.engine.begin() as conn:
            result = conn.execute(sqlalchemy.update(table).where(
                table.c.study_id == self._sid, table.c.key == self.key,
                table.c.value_json == old).values(value_json=new))
        return bool(result.rowcount == 1)

    def read_for_cas(self) -> Any:
        """Relational storages: the claim row as read (the first half of an attempt)."""
        return self._read_raw()

    def cas_from(self, raw: Any) -> bool:
        """Relational storages: take the claim if the row still holds ``raw`` and it is free."""
        value = None if raw is _ABSENT or raw is None else json.loads(str(raw))
        if isinstance(value, dict) and claim_alive(value) and \
                value.get("nonce") != self.identity["nonce"]:
            return False
        new = json.dumps(self._value())
        if self._cas(raw, new):
            self._raw = new
            return True
        return False

    def _cas_take(self) -> bool:
        return self.cas_from(self.read_for_cas())
