"""Progress of a run: done/total, rate, ETA, best values and the study's hypervolume.

- On a terminal, a tqdm bar (with its ETA) whose postfix carries the best value of each
  objective and the normalised hypervolume.
- Off a terminal (nohup, a batch scheduler, a pipe), one plain line on stderr every
  ``log_every`` seconds and one at the end, so a long run is never silent and logs stay
  readable.
- ``quiet`` turns both off.

The hypervolume is always the study's own, under its fixed reference
(:class:`dse._hypervolume.ReferenceKeeper`): the same number ``dse status`` and the report show,
never falling as results arrive. Before the reference is fixed (the first few feasible results)
the line says ``HV pending``.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import numpy as np

from dse._hypervolume import ReferenceKeeper
from dse._pareto import nondominated_mask


__all__ = ["Progress", "format_eta"]


def format_eta(seconds: float) -> str:
    """``1h02m``, ``4m05s`` or ``12s``."""
    if not np.isfinite(seconds) or seconds < 0:
        return "?"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


class Progress:
    """Progress of a run; ``add`` and ``tick`` are cheap when nothing is printed.

    Args:
        total: the run's total (trials or points), or None when unknown.
        labels: objective names, for the best values.
        signs: +1 for minimised, -1 for maximised objectives (values arrive minimisation-
            oriented and are shown in their own direction).
        quiet: print nothing.
        stream: where to write (stderr by default).
        interval: least seconds between terminal refreshes.
        unit: what is counted ("trials", "points").
        reference: the study's reference keeper; results are shown to it so the reference is
            fixed once, whether or not anything is printed.
        log_every: seconds between plain lines when the stream is not a terminal.
    """

    def __init__(
        self, total: int | None, labels: list[str], signs: list[float], quiet: bool = False,
        stream: TextIO | None = None, interval: float = 0.25, unit: str = "trials",
        reference: ReferenceKeeper | None = None, log_every: float = 30.0,
    ) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = not quiet
        self.total = total
        self.labels = labels
        self.signs = np.asarray(signs, dtype=np.float64)
        self.interval = interval if self.tty else log_every
        self.unit = unit
        self.reference = reference
        self.t0 = time.perf_counter()
        self._last = self.t0
        self._front = np.empty((0, len(labels)))
        self._start_done = 0
        self.done = 0
        self._bar: Any = None

    def resume_from(self, done: int) -> None:
        """Count ``done`` finished before this run (the rate and ETA count only this run's)."""
        self.done = self._start_done = done

    def add(self, F: np.ndarray, feasible: np.ndarray, count: int) -> None:
        """Count ``count`` finished units with their minimisation-oriented values ``F``."""
        self.done += count
        F = np.asarray(F, dtype=np.float64).reshape(-1, len(self.labels))
        good = F[np.asarray(feasible, dtype=bool) & np.isfinite(F).all(axis=1)]
        if self.reference is not None:
            self.reference.observe(good)
        if len(good) and self.enabled:
            both = np.concatenate([self._front, good])
            self._front = both[nondominated_mask(both)]
        self.show()

    def set_front(self, front_min: np.ndarray, done: int) -> None:
        """A sweep's running front after ``done`` points (fixes the reference on the first)."""
        self.done = done
        self._front = np.asarray(front_min, dtype=np.float64).reshape(-1, len(self.labels))
        if self.reference is not None and len(self._front):
            self.reference.observe(self._front, at_once=True)
        self.show()

    def tick(self, count: int) -> None:
        """Count finished work without objective values."""
        self.done += count
        self.show()

    def _fields(self) -> list[str]:
        parts = []
        if len(self._front):
            best = self._front.min(axis=0) * self.signs
            parts.append(" ".join(f"{lab}={v:.4g}" for lab, v in zip(self.labels, best)))
            if self._front.shape[1] > 1:
                hv = self.reference.hypervolume(self._front) if self.reference else None
                parts.append("HV pending" if hv is None else f"HV={hv:.4f}")
        return parts

    def _line(self, now: float) -> str:
        elapsed = max(now - self.t0, 1e-9)
        rate = (self.done - self._start_done) / elapsed
        total = f"/{self.total}" if self.total else ""
        parts = [f"{self.done}{total} {self.unit}", f"{rate:,.1f}/s"]
        if self.total and rate > 0:
            parts.append(f"ETA {format_eta(max(self.total - self.done, 0) / rate)}")
        return "[dse] " + "  ".join(parts + self._fields())

    def _tqdm(self) -> Any:
        if self._bar is None:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, initial=self.done, unit=self.unit[:-1] or "it",
                             file=self.stream, dynamic_ncols=True, leave=True,
                             bar_format="[dse] {l_bar}{bar}| {n_fmt}/{total_fmt} "
                                        "[{elapsed}<{remaining}, {rate_fmt}] {postfix}")
        return self._bar

    def show(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        if self.tty:
            bar = self._tqdm()
            bar.n = self.done
            bar.set_postfix_str("  ".join(self._fields()), refresh=False)
            bar.refresh()
        else:
            self.stream.write(self._line(now) + "\n")
            self.stream.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        if self.tty:
            self.show(force=True)
            self._tqdm().close()
        elif self.done > self._start_done:
            self.show(force=True)
