"""Run registrations: which drivers work on a study, whether they still live, and their seeds.

Every run (one ``dse run`` driver) registers itself on its study as the study *system*
attribute ``dse.run.HOST:PID`` (system attributes, so Optuna's and dse's views of the study's
user attributes stay readable) with its identity::

    {"host": ..., "pid": ..., "boot_id": ..., "start": ..., "nonce": ..., "seed": ...,
     "started": <unix time>}

and sets it to ``null`` when it ends (Optuna's storages cannot delete an attribute; ``null``
means removed). A run killed before it could do so stays registered until another run finds
it dead and nulls it. Each trial a run asks is tagged with the trial system attribute
``dse.run`` (the registration's key and nonce), so a run's RUNNING trials can be told apart
from those of other drivers working on the same study.

**Liveness** uses more than the PID, which the kernel reuses: a registration on this host is
alive only if the boot id (``/proc/sys/kernel/random/boot_id``) is the current one, the PID
exists and has not ended (a killed process its parent has not reaped yet still has a PID, in
state ``Z``), and the process start time (field 22 of ``/proc/PID/stat``, clock ticks since
boot) is the registered one. A registration of another host cannot be checked and counts as alive.

**Seeds**: a sampler seeded the same way in two runs replays the same stream, so a resumed
run re-proposed the points of the run before it (100 duplicates in 200 random-sampler trials,
resuming 20 at a time) and two concurrent drivers proposed the same points. The study's first
run uses the study seed as given (so a one-run study is reproducible from its file); every
other run draws a 64-bit nonce and seeds its sampler with ``sha256(seed:nonce)`` (32 bits, as
numpy takes), stored in its registration. Registration is written before the check, so of two
drivers starting together at most one can see itself alone: the storage orders their writes,
and the later writer's read sees the earlier one.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import optuna


__all__ = ["RUN_ATTR", "RunRegistration", "live_runs", "register_run", "registrations"]

RUN_PREFIX = "dse.run."
RUN_ATTR = "dse.run"  # trial system attribute: which run asked the trial


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _stat_fields(pid: int) -> list[bytes]:
    """Fields 3 onwards of ``/proc/PID/stat`` (empty when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return []
    # The command name (field 2) is parenthesized and may hold spaces or ')': split after it.
    return stat[stat.rfind(b")") + 2:].split()


def _start_ticks(pid: int) -> int | None:
    """The process start time in clock ticks after boot, or None when it cannot be read."""
    fields = _stat_fields(pid)
    try:
        return int(fields[19])  # field 22 overall; fields[0] is field 3
    except (IndexError, ValueError):
        return None


def _zombie(pid: int) -> bool:
    """Whether the process has ended but not been reaped (state Z or X): it is not alive."""
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] in (b"Z", b"X")


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_alive(value: Any) -> bool:
    """Whether a registration's process is still running (other hosts: assumed so)."""
    if not isinstance(value, dict):
        return False  # null: the run ended and removed itself
    if value.get("host") != socket.gethostname():
        return True
    pid = value.get("pid")
    if not isinstance(pid, int) or not _pid_exists(pid) or _zombie(pid):
        return False
    if value.get("boot_id") and value["boot_id"] != _boot_id():
        return False
    start = value.get("start")
    return start is None or start == _start_ticks(pid)


def registrations(study: optuna.Study) -> dict[str, Any]:
    """Every run registration of the study (key -> value; null values are removed runs)."""
    attrs = study._storage.get_study_system_attrs(study._study_id)
    return {k: v for k, v in attrs.items() if k.startswith(RUN_PREFIX)}


@dataclass
class RunRegistration:
    """This process's registration on one study."""

    study: optuna.Study
    key: str
    nonce: str
    seed: int | None
    shared: bool = field(default=False)  # another live run was seen on the study meanwhile

    @property
    def tag(self) -> str:
        """The value of the trial attribute ``dse.run`` for the trials this run asks."""
        return f"{self.key[len(RUN_PREFIX):]}:{self.nonce}"

    def others_alive(self) -> bool:
        """Whether another run on the study is alive now (once seen, :attr:`shared` stays)."""
        alive = any(k != self.key and is_alive(v) for k, v in registrations(self.study).items())
        self.shared = self.shared or alive
        return alive

    def live_tags(self) -> set[str]:
        """Tags of every live run (this one included)."""
        return {f"{k[len(RUN_PREFIX):]}:{v.get('nonce')}"
                for k, v in registrations(self.study).items() if is_alive(v)}

    def remove(self) -> None:
        """Null the registration (the run ended); dead runs found meanwhile are nulled too."""
        storage = self.study._storage
        for k, v in registrations(self.study).items():
            if k == self.key or (v is not None and not is_alive(v)):
                storage.set_study_system_attr(self.study._study_id, k, None)


def process_identity(nonce: str) -> dict[str, Any]:
    """What :func:`is_alive` checks this process by: host, PID, boot id, start time, nonce."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "boot_id": _boot_id(),
            "start": _start_ticks(os.getpid()), "nonce": nonce}


def register_run(study: optuna.Study, seed: int | None) -> RunRegistration:
    """Register this process on ``study`` and choose its sampler seed (see the module doc)."""
    key = f"{RUN_PREFIX}{socket.gethostname()}:{os.getpid()}"
    nonce = secrets.token_hex(8)
    value: dict[str, Any] = {**process_identity(nonce), "started": time.time()}
    storage = study._storage
    storage.set_study_system_attr(study._study_id, key, value)
    alone = (not any(k != key for k in registrations(study))
             and storage.get_n_trials(study._study_id) == 0)
    run_seed = seed
    if seed is not None and not alone:
        digest = hashlib.sha256(f"{seed}:{nonce}".encode()).digest()
        run_seed = int.from_bytes(digest[:4], "little")
    if run_seed != seed:
        storage.set_study_system_attr(study._study_id, key, {**value, "seed": run_seed})
    return RunRegistration(study, key, nonce, run_seed)


def live_runs(study: optuna.Study) -> dict[str, Any]:
    """The registrations whose process is alive."""
    return {k: v for k, v in registrations(study).items() if is_alive(v)}
