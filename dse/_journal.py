"""A crash-safe journal file: Optuna's JSON-lines journal, hardened against kills and damage.

Optuna's :class:`~optuna.storages.journal.JournalFileBackend` appends one JSON object per line
under a lock made of a symlink (``<journal>.lock``) and replays the lines on every read. Three
of its behaviours lose work after a crash (read from optuna/storages/journal/_file.py):

* a process killed while it holds the symlink leaves it behind, and every later writer waits
  the lock's 30 s grace period before breaking it;
* a torn last line (a write cut off by a kill or power loss) is skipped by readers, but the next
  append is glued onto it, and the glued line then stops every reader with a JSONDecodeError;
* any undecodable line followed by more lines stops every reader, so one zeroed disk block in
  the middle makes the whole study unreadable.

This backend keeps the file format (plain Optuna can read a healthy journal, and ``dse salvage``
turns a damaged one back into a healthy one) and changes three things:

1. **Lock.** A writer first takes ``fcntl.flock`` on ``<journal>.dse-lock``: the kernel drops
   that lock the instant its holder dies, so a stale lock costs nothing. Holding it, the writer
   also takes Optuna's symlink lock (so plain Optuna writers on the same file still exclude
   it), marking in the flock file that it did; a symlink found while that mark says a dse
   writer held it belongs to a dead writer and is removed at once. A symlink without the mark
   belongs to a plain Optuna process and is waited for as Optuna does (30 s grace). Every dse
   process opening the journal, readers included, removes a dead dse writer's symlink at once,
   so a plain Optuna writer after any dse command never waits for it.
2. **Tail.** Before appending, the writer checks that the file ends in a newline. Bytes after
   the last newline are a torn record: they are moved to ``<journal>.torn-<offset>`` (nothing
   is deleted), the journal is cut back to its last whole record, one line is reported, and
   only then is the new record appended. A complete last line that is not a record is left in
   place and skipped like any damage (cutting it would shift the offsets other readers hold).
3. **Damage.** A line that is not a journal record is skipped; records glued after a fragment
   are recovered (every record starts with ``{"op_code":``). Replay numbers studies and trials
   by counting creations, so a lost creation would shift every later id onto the wrong trial.
   The reader therefore tracks the id counters and, after a damaged region, checks the ids the
   following records refer to: if a record refers to trial ``t`` while only ``n <= t`` trials
   exist, ``t + 1 - n`` creations were lost, and as many placeholder trials (user attribute
   ``dse.lost``) are inserted so every later record lands on its own trial; lost
   study creations get placeholder studies likewise. The placeholders' RUNNING state makes the
   engine fail and retry them as orphans. So damage costs the damaged records only.

Every damage found is reported once per process in one line on stderr.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from optuna.storages.journal import BaseJournalBackend


__all__ = ["JournalLock", "RobustJournalBackend", "SalvageReport", "salvage_journal"]

# Optuna's JournalOperation codes (optuna/storages/journal/_storage.py), mirrored here because
# the replay's id bookkeeping must be followed exactly.
_CREATE_STUDY, _DELETE_STUDY, _SET_STUDY_USER_ATTR, _SET_STUDY_SYSTEM_ATTR = 0, 1, 2, 3
_CREATE_TRIAL = 4
_TRIAL_OPS = (5, 6, 7, 8, 9)  # set param / state+values / intermediate / user attr / sys attr
_STUDY_OPS = (_DELETE_STUDY, _SET_STUDY_USER_ATTR, _SET_STUDY_SYSTEM_ATTR, _CREATE_TRIAL)
_MAX_OP = 10  # DISCARD_TRIALS (written by rustuna only)
_FAIL, _MINIMIZE = 3, 1  # TrialState.FAIL, StudyDirection.MINIMIZE
# dse._study.ORPHANED: the engine retries trials failed with this reason once.
_ORPHANED = "orphaned: left RUNNING by a run that stopped"
_RECORD_START = b'{"op_code":'
_PLACEHOLDER_WORKER = "dse-journal-placeholder"
_HELD = b"held\n"
_FOREIGN_GRACE_S = 30.0  # Optuna's JournalFileSymlinkLock default grace period
_CHUNK = 1 << 16


_reported: set[tuple[str, str, int]] = set()  # (journal, kind, byte offset): once per process


def _warn(message: str) -> None:
    print(f"dse: warning: {message}", file=sys.stderr, flush=True)


def _first_report(path: str, kind: str, offset: int) -> bool:
    key = (os.path.realpath(path), kind, offset)
    if key in _reported:
        return False
    _reported.add(key)
    return True


# -- lock -----------------------------------------------------------------------------------------
@contextlib.contextmanager
def _ctrl_c_after_the_write() -> Iterator[None]:
    """Defer Ctrl-C until the lock is taken, the records written and the lock released.

    A ``KeyboardInterrupt`` raised between two steps of the lock (say after ``flock`` returned
    but before its descriptor was recorded) leaves this process holding a lock that its next
    write, the one failing the interrupted trials, then waits for forever. Only the main thread
    receives ``KeyboardInterrupt``, and only with Python's default handler or the CLI's
    (:func:`dse._startup.interrupt_outside_drivers`) installed; anything else is left alone.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler and \
            not getattr(previous, "raises_keyboard_interrupt", False):
        yield
        return
    received: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt


class JournalLock:
    """Exclusive write lock on a journal that is released when its holder dies.

    ``fcntl.flock`` on ``<journal>.dse-lock`` serializes dse writers (the kernel releases it
    when the process ends, however it ends); Optuna's symlink ``<journal>.lock`` is also taken
    so plain Optuna writers on the same file are excluded. Local file systems only, like the
    journal itself (flock over NFS is not reliable).
    """

    def __init__(self, journal_path: str) -> None:
        self._journal = journal_path
        self._flock_path = journal_path + ".dse-lock"
        self._symlink = journal_path + ".lock"
        # One descriptor for the lock's whole life: flock belongs to the open file description,
        # so if a Ctrl-C lands between taking and releasing it (or inside either), the next
        # acquire on the same descriptor succeeds instead of waiting on itself forever.
        self._fd: int | None = None

    def __del__(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops a lock still held

    def acquire(self) -> bool:
        if self._fd is None:
            self._fd = os.open(self._flock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            self._take_symlink(self._fd)
        except BaseException:
            self._unlock()
            raise
        return True

    def release(self) -> None:
        try:
            os.unlink(self._symlink)
        except FileNotFoundError:
            pass
        self._unlock()

    def _unlock(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)  # clear the mark: no dse writer holds the symlink any more
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _take_symlink(self, fd: int) -> None:
        previous_held = os.pread(fd, len(_HELD), 0) == _HELD
        # Mark before creating: a writer killed between the two leaves the mark, never an
        # unmarked symlink of its own.
        os.pwrite(fd, _HELD, 0)
        seen_mtime: float | None = None
        seen_since = time.monotonic()
        sleep_s = 0.001
        while True:
            try:
                os.symlink(self._journal, self._symlink)
                return
            except FileExistsError:
                pass
            if previous_held:
                # The symlink of a dse writer that died holding it (we hold the flock, so it
                # is not running): remove it at once.
                previous_held = False
                self._remove_symlink()
                continue
            try:
                mtime = os.lstat(self._symlink).st_mtime
            except FileNotFoundError:
                continue
            if mtime != seen_mtime:
                seen_mtime, seen_since = mtime, time.monotonic()
            elif time.monotonic() - seen_since > _FOREIGN_GRACE_S:
                _warn(f"breaking the lock {self._symlink} left by a non-dse Optuna process "
                      f"that held it for over {_FOREIGN_GRACE_S:.0f} s")
                self._remove_symlink()
                continue
            time.sleep(sleep_s)
            sleep_s = min(2 * sleep_s, 0.2)

    def _remove_symlink(self) -> None:
        try:
            os.unlink(self._symlink)
        except FileNotFoundError:
            pass

    def clear_stale(self) -> bool:
        """Remove the symlink of a dse writer that died holding it, at once and without waiting.

        Every dse process opening the journal calls this, readers included, so a plain Optuna
        writer that comes after any dse command does not wait its 30 s grace for a symlink a
        killed dse writer left. Returns whether one was removed.
        """
        if not os.path.lexists(self._symlink):
            return False
        try:
            fd = os.open(self._flock_path, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            return False  # no dse writer ever held it (or a read-only folder): not ours
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EACCES):
                    return False  # a live dse writer holds it
                raise
            if os.pread(fd, len(_HELD), 0) != _HELD:
                return False  # unmarked: a plain Optuna process holds the symlink
            self._remove_symlink()
            os.ftruncate(fd, 0)
            return True
        finally:
            os.close(fd)  # drops the flock, if taken

    def writer_active(self) -> bool:
        """Whether some process holds the lock now (without waiting for it)."""
        if os.path.lexists(self._symlink):
            return True
        try:
            fd = os.open(self._flock_path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                return True
            raise
        finally:
            os.close(fd)  # closing drops the shared lock, if taken
        return False


# -- record parsing and id bookkeeping -----------------------------------------------------------
def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _parse_record(raw: bytes) -> dict[str, Any] | None:
    """The journal record in ``raw`` (one line without its newline), or None if it is not one."""
    try:
        rec = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(rec, dict) or not isinstance(rec.get("worker_id"), str):
        return None
    op = rec.get("op_code")
    if not isinstance(op, int) or isinstance(op, bool) or not 0 <= op <= _MAX_OP:
        return None
    if op == _CREATE_STUDY:
        if not isinstance(rec.get("study_name"), str) or not isinstance(
                rec.get("directions"), list):
            return None
    elif op in _STUDY_OPS and not _is_int(rec.get("study_id")):
        return None
    elif op in _TRIAL_OPS and not _is_int(rec.get("trial_id")):
        return None
    return rec


def _split_damaged(line: bytes) -> tuple[list[dict[str, Any]], int]:
    """Records recoverable from an undecodable line, and how many of its bytes are lost."""
    starts = []
    i = line.find(_RECORD_START)
    while i >= 0:
        starts.append(i)
        i = line.find(_RECORD_START, i + 1)
    records: list[dict[str, Any]] = []
    kept = 0
    for a, b in zip(starts, starts[1:] + [len(line)]):
        rec = _parse_record(line[a:b].rstrip(b"\x00 \t\r"))
        if rec is not None:
            records.append(rec)
            kept += b - a
    return records, len(line) - kept


@dataclass
class _Ids:
    """The replay's id counters (JournalStorageReplayResult), followed record by record."""

    next_study: int = 0
    study_names: dict[int, str] = field(default_factory=dict)  # existing studies
    n_trials: int = 0
    last_study: int | None = None
    worker_study: dict[str, int] = field(default_factory=dict)
    last_start: str | None = None

    def observe(self, rec: dict[str, Any]) -> None:
        op = rec["op_code"]
        if op == _CREATE_STUDY:
            if rec["study_name"] not in self.study_names.values():
                self.study_names[self.next_study] = rec["study_name"]
                self.next_study += 1
        elif op == _DELETE_STUDY:
            self.study_names.pop(rec["study_id"], None)
        elif op == _CREATE_TRIAL and rec["study_id"] in self.study_names:
            self.n_trials += 1
            self.last_study = rec["study_id"]
            self.worker_study[rec["worker_id"]] = rec["study_id"]
            if isinstance(rec.get("datetime_start"), str):
                self.last_start = rec["datetime_start"]

    def placeholders(self, after: list[dict[str, Any]], offset: int) -> list[dict[str, Any]]:
        """Records standing in for creations lost in a damaged region, given the records after.

        A record after the damage that refers to study ``s`` (trial ``t``) while only ``n``
        studies (trials) would exist at that point proves ``s + 1 - n`` creations were lost.
        """
        n_studies, n_trials = self.next_study, self.n_trials
        lost_studies = lost_trials = 0
        for rec in after:
            op = rec["op_code"]
            if op in _STUDY_OPS:
                lost_studies = max(lost_studies, rec["study_id"] + 1 - n_studies)
            if op in _TRIAL_OPS:
                lost_trials = max(lost_trials, rec["trial_id"] + 1 - n_trials)
            if op == _CREATE_STUDY:
                n_studies += 1
            elif op == _CREATE_TRIAL:
                n_trials += 1
        note = f"created in a damaged journal region (byte {offset}); its record was lost"
        reason = f"{_ORPHANED} (its journal records were damaged at byte {offset})"
        out: list[dict[str, Any]] = []
        for k in range(lost_studies):
            sid = self.next_study + k
            n_obj = next((len(r["values"]) for r in after if r["op_code"] == _CREATE_TRIAL
                          and r["study_id"] == sid and isinstance(r.get("values"), list)), 1)
            out.append({"op_code": _CREATE_STUDY, "worker_id": _PLACEHOLDER_WORKER,
                        "study_name": f"dse-lost-study-{sid}",
                        "directions": [_MINIMIZE] * max(n_obj, 1)})
        known = dict(self.study_names)
        known.update({self.next_study + k: "" for k in range(lost_studies)})
        for k in range(lost_trials):
            tid = self.n_trials + k
            ref = next((r for r in after if r["op_code"] in _TRIAL_OPS
                        and r["trial_id"] == tid), None)
            owner = self.worker_study.get(ref["worker_id"]) if ref is not None else None
            if owner not in known:
                owner = (self.last_study if self.last_study in known
                         else min(known, default=None))
            if owner is None:
                break  # no study to hold it: no later record can refer to it either
            holder: dict[str, Any] = {
                "op_code": _CREATE_TRIAL, "worker_id": _PLACEHOLDER_WORKER, "study_id": owner,
                "datetime_start": self.last_start, "state": _FAIL, "value": None,
                "values": None, "distributions": {}, "params": {},
                "user_attrs": {"dse.lost": note, "dse.fail_reason": reason},
                "system_attrs": {}, "intermediate_values": {},
            }
            if self.last_start is not None:
                holder["datetime_complete"] = self.last_start
            out.append(holder)
        return out


# -- backend --------------------------------------------------------------------------------------
@dataclass
class _Damage:
    offset: int
    nbytes: int


class RobustJournalBackend(BaseJournalBackend):
    """Optuna's journal-file format with a crash-proof lock, tail check and damage tolerance.

    Args:
        file_path: The journal file.
        create: Create the file when missing (False for read-only use).
        quiet: Report no damage on stderr (the caller reports it).
    """

    def __init__(self, file_path: str, *, create: bool = True, quiet: bool = False) -> None:
        self._path = file_path
        self._quiet = quiet
        self._lock = JournalLock(file_path)
        if create and not os.path.exists(file_path):
            open(file_path, "ab").close()
        self._lock.clear_stale()
        self._reset()
        self._verified_end = -1  # file size after our last append, when nobody appended since
        self.damage: list[_Damage] = []
        self.placeholders = 0
        self.torn_tail = 0  # bytes after the last newline at the last read

    def _reset(self) -> None:
        self._offset = 0  # bytes consumed: the file offset after the last whole line read
        self._yielded = 0  # records yielded from the start (placeholders included)
        self._ids = _Ids()

    # -- reading ------------------------------------------------------------------------------
    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        if log_number_from != self._yielded:
            self._reset()  # a new reader (JournalStorage always continues where it stopped)
        skip = log_number_from - self._yielded
        for rec in self._read_new():
            if skip > 0:
                skip -= 1
                continue
            yield rec

    def _lines(self) -> Iterator[tuple[bytes, int, int]]:
        """Whole lines after the consumed offset: (line without newline, start, end)."""
        with open(self._path, "rb") as f:
            f.seek(self._offset)
            pos = self._offset
            tail = 0
            for line in f:
                if not line.endswith(b"\n"):
                    tail = len(line)
                    break
                yield line[:-1], pos, pos + len(line)
                pos += len(line)
            self.torn_tail = tail
            if (tail and not self._quiet and not self._lock.writer_active()
                    and _first_report(self._path, "torn", pos)):
                _warn(f"journal {self._path} ends in {tail} bytes that are not a whole record "
                      f"(from byte {pos}; a write cut off by a crash); they are ignored, and the "
                      f"next write moves them to {self._path}.torn-{pos} first")

    def _items(self) -> Iterator[tuple[dict[str, Any] | None, int, int]]:
        """(record, start, end) per record, or (None, start, lost bytes) per damaged stretch."""
        for raw, start, end in self._lines():
            if not raw.strip(b" \t\r"):
                self._offset = end  # blank line: nothing to replay, nothing lost
                continue
            rec = _parse_record(raw)
            if rec is not None:
                yield rec, start, end
                continue
            recovered, lost = _split_damaged(raw)
            if lost:
                yield None, start, lost
            for i, r in enumerate(recovered):
                yield r, start, end if i == len(recovered) - 1 else start
            if not recovered:
                self._offset = end

    def _read_new(self) -> Iterator[dict[str, Any]]:
        items = self._items()
        new_damage: list[_Damage] = []
        placeholders_before = self.placeholders
        try:
            for rec, start, end in items:
                if rec is not None:
                    yield from self._emit(rec, end)
                    continue
                new_damage.append(_Damage(start, end))
                # Look ahead to the next damage (or the end) to count the lost creations.
                after: list[tuple[dict[str, Any], int]] = []
                pending: tuple[int, int] | None = None
                for r2, s2, e2 in items:
                    if r2 is None:
                        pending = (s2, e2)
                        break
                    after.append((r2, e2))
                while True:
                    holders = self._ids.placeholders([r for r, _ in after], start)
                    self.placeholders += len(holders)
                    for h in holders:
                        yield from self._emit(h, None)
                    for r2, e2 in after:
                        yield from self._emit(r2, e2)
                    if pending is None:
                        break
                    start = pending[0]
                    new_damage.append(_Damage(*pending))
                    after, pending = [], None
                    for r2, s2, e2 in items:
                        if r2 is None:
                            pending = (s2, e2)
                            break
                        after.append((r2, e2))
        finally:
            self._report(new_damage, self.placeholders - placeholders_before)

    def _emit(self, rec: dict[str, Any], end: int | None) -> Iterator[dict[str, Any]]:
        self._ids.observe(rec)
        self._yielded += 1
        if end is not None and end > self._offset:
            self._offset = end
        yield rec

    def _report(self, found: list[_Damage], placeholders: int) -> None:
        self.damage.extend(found)
        if self._quiet:
            return
        fresh = [d for d in found if _first_report(self._path, "damage", d.offset)]
        if not fresh:
            return
        lost = sum(d.nbytes for d in fresh)
        where = ", ".join(f"byte {d.offset}" for d in fresh[:3]) + (
            ", ..." if len(fresh) > 3 else "")
        extra = (f"; {placeholders} lost trial/study creations stand in as placeholders"
                 if placeholders else "")
        _warn(f"journal {self._path}: skipped {len(fresh)} damaged region(s) ({lost} bytes at "
              f"{where}){extra}; `dse salvage {self._path} NEW` writes a clean copy")

    # -- writing ------------------------------------------------------------------------------
    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        data = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs).encode()
        with _ctrl_c_after_the_write():
            self._append(data)

    def _append(self, data: bytes) -> None:
        self._lock.acquire()
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
            try:
                size = os.fstat(fd).st_size
                if size != self._verified_end:
                    size = self._cut_torn_tail(fd, size)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
                self._verified_end = size + len(data)
            finally:
                os.close(fd)
        finally:
            self._lock.release()

    def _cut_torn_tail(self, fd: int, size: int) -> int:
        """Move bytes after the last newline aside (under the lock); the new end of the file."""
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return size
        end = size
        keep = 0
        while end > 0:
            start = max(0, end - _CHUNK)
            chunk = os.pread(fd, end - start, start)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
                break
            end = start
        aside = f"{self._path}.torn-{keep}"
        n = 1
        while os.path.exists(aside):
            aside = f"{self._path}.torn-{keep}.{n}"
            n += 1
        with open(aside, "wb") as out:
            pos = keep
            while pos < size:
                chunk = os.pread(fd, min(_CHUNK, size - pos), pos)
                out.write(chunk)
                pos += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.ftruncate(fd, keep)
        os.fsync(fd)
        if _first_report(self._path, "torn", keep):
            _warn(f"journal {self._path} ended in {size - keep} bytes that were not a whole "
                  f"record (a write cut off by a crash); moved them to {aside} and appended "
                  "after the last whole record")
        return keep


# -- salvage --------------------------------------------------------------------------------------
@dataclass
class SalvageReport:
    """What :func:`salvage_journal` kept and skipped."""

    records: int
    damaged_regions: int
    damaged_bytes: int
    placeholders: int
    torn_tail_bytes: int

    def line(self, src: str, dst: str) -> str:
        return (f"salvaged {self.records} records from {src} into {dst}: "
                f"{self.damaged_regions} damaged region(s) ({self.damaged_bytes} bytes) skipped, "
                f"{self.placeholders} placeholder(s) for lost creations, "
                f"{self.torn_tail_bytes} bytes of torn tail left out; {src} is unchanged")


def salvage_journal(src: str, dst: str) -> SalvageReport:
    """Write a new journal ``dst`` of every readable record of ``src``; ``src`` is only read.

    Placeholders stand in for lost creations (see the module docstring), so ``dst`` replays to
    the same studies and trials as the tolerant reader sees in ``src``, with plain Optuna too.

    Raises:
        FileNotFoundError: ``src`` does not exist.
        FileExistsError: ``dst`` exists (it is never overwritten).
    """
    if not os.path.isfile(src):
        raise FileNotFoundError(errno.ENOENT, "no such journal file", src)
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, "exists; choose a new path", dst)
    if os.path.realpath(src) == os.path.realpath(dst):
        raise FileExistsError(errno.EEXIST, "is the source journal", dst)
    reader = RobustJournalBackend(src, create=False, quiet=True)
    tmp = f"{dst}.partial-{os.getpid()}"
    n = 0
    try:
        with open(tmp, "xb") as out:
            for rec in reader.read_logs(0):
                out.write(json.dumps(rec, separators=(",", ":")).encode() + b"\n")
                n += 1
            out.flush()
            os.fsync(out.fileno())
        os.link(tmp, dst)  # fails if dst appeared meanwhile: never overwrite
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return SalvageReport(n, len(reader.damage), sum(d.nbytes for d in reader.damage),
                         reader.placeholders, reader.torn_tail)
