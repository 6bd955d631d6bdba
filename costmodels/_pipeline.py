"""A Pipeline wires cost models into a DAG and memoizes each model on its own inputs.

Each *stage* is a model under a namespace. A stage reads input ``x`` from the batch column
``namespace.x`` unless its ``bind`` maps ``x`` to another column: a shared parameter
(``sparsity.n``) or another stage's output (``nm.top1_acc``). Outputs are written back as
``namespace.output``. Stages run in dependency order.

Memoization is per stage and keyed by the stage's input row only, so an expensive proxy training
runs once per distinct recipe however many hardware points reuse it. The memo lives in memory
and, optionally, on disk under ``cache_dir``, keyed by a hash of the model name, version, options
and the input row (a new model version never reads an old result).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from costmodels._protocol import CostModel, EvalContext, ModelError


__all__ = ["Pipeline", "Stage"]


@dataclass
class Stage:
    """One model in a pipeline.

    Attributes:
        model: The cost model.
        namespace: Prefix of its input and output columns.
        bind: Input name -> batch column, for inputs not read from ``namespace.input``.
        memoize: Cache results per distinct input row (default: only for expensive models).
        options: The options the model was built with (part of the disk-cache key).
    """

    model: CostModel
    namespace: str
    bind: Mapping[str, str] = field(default_factory=dict)
    memoize: bool | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def key(self, input_name: str) -> str:
        return self.bind.get(input_name, f"{self.namespace}.{input_name}")

    def out(self, output_name: str) -> str:
        return f"{self.namespace}.{output_name}"

    @property
    def input_keys(self) -> dict[str, str]:
        return {p.name: self.key(p.name) for p in self.model.inputs}

    @property
    def output_keys(self) -> dict[str, str]:
        return {o.name: self.out(o.name) for o in self.model.outputs}


class Pipeline:
    """Evaluate several models on one batch, in dependency order, with memoization."""

    def __init__(self, stages: list[Stage], cache_dir: str | Path | None = None) -> None:
        for stage in stages:
            for name in stage.bind:
                stage.model.input(name)  # raises ModelError naming the bad binding
        self.stages = self._ordered(stages)
        self._check_shared()
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._memo: dict[str, dict[tuple[Any, ...], tuple[float, ...]]] = {
            s.namespace: {} for s in self.stages
        }
        self.evaluations = {s.namespace: 0 for s in self.stages}
        self._reasons: dict[str, dict[tuple[Any, ...], str]] = {
            s.namespace: {} for s in self.stages
        }
        # Why points of the last evaluate() came back NaN, by row, from models that say so.
        self.last_reasons: dict[int, str] = {}
        # Rows of the last evaluate() kept away from expensive models (known infeasible).
        self.last_screened: np.ndarray = np.zeros(0, dtype=bool)

    @staticmethod
    def _ordered(stages: list[Stage]) -> list[Stage]:
        producers: dict[str, Stage] = {}
        for s in stages:
            if s.namespace in {p.namespace for p in producers.values()}:
                raise ModelError(f"two models share the namespace {s.namespace!r}")
            for k in s.output_keys.values():
                producers[k] = s
        ordered: list[Stage] = []
        visiting: set[str] = set()

        def visit(s: Stage) -> None:
            if s in ordered:
                return
            if s.namespace in visiting:
                raise ModelError(f"models form a cycle through {s.namespace!r}")
            visiting.add(s.namespace)
            for key in s.input_keys.values():
                if key in producers and producers[key] is not s:
                    visit(producers[key])
            visiting.discard(s.namespace)
            ordered.append(s)

        # Cheap models first (where dependencies allow), so their violations can keep points
        # away from the expensive ones (see evaluate).
        for s in sorted(stages, key=lambda s: bool(s.model.expensive)):
            visit(s)
        return ordered

    def readers(self) -> dict[str, list[tuple[Stage, Any]]]:
        """Every input column -> the (stage, declared Param) pairs that read it."""
        out: dict[str, list[tuple[Stage, Any]]] = {}
        for s in self.stages:
            for p in s.model.inputs:
                out.setdefault(s.key(p.name), []).append((s, p))
        return out

    def _check_shared(self) -> None:
        """Models reading one column must agree on its unit and share some valid values; an
        input bound to another model's output must be in the output's unit."""
        produced = self.produced
        for column, readers in self.readers().items():
            if column in produced:
                unit = produced[column]
                for s, p in readers:
                    if p.unit != unit:
                        raise ModelError(
                            f"model {s.namespace!r} ({s.model.name}.{p.name}, unit "
                            f"{p.unit or 'none'!r}) reads {column!r}, an output in "
                            f"{unit or 'none'!r}: the models disagree on its unit")
                continue
            if len(readers) < 2:
                continue
            (s0, p0), rest = readers[0], readers[1:]
            for s1, p1 in rest:
                where = (f"models {s0.namespace!r} ({s0.model.name}.{p0.name}) and "
                         f"{s1.namespace!r} ({s1.model.name}.{p1.name}) share {column!r} but")
                if p0.unit != p1.unit:
                    raise ModelError(f"{where} disagree on its unit: {p0.unit or 'none'!r} vs "
                                     f"{p1.unit or 'none'!r}")
                if not _overlap(p0, p1):
                    raise ModelError(f"{where} accept no common value: "
                                     f"{p0.describe_range()} vs {p1.describe_range()}")

    @property
    def produced(self) -> dict[str, str]:
        """Every output column -> the unit of the metric."""
        return {
            s.out(o.name): o.unit for s in self.stages for o in s.model.outputs
        }

    def output(self, key: str) -> Any:
        """The :class:`Output` declaration behind column ``key``."""
        for s in self.stages:
            for o in s.model.outputs:
                if s.out(o.name) == key:
                    return o
        raise ModelError(
            f"unknown metric {key!r}; expected one of {', '.join(self.produced)}"
        )

    def constraint_keys(self) -> list[str]:
        return [s.out(n) for s in self.stages for n in s.model.constraint_names()]

    def free_inputs(self) -> dict[str, Any]:
        """Batch columns the pipeline reads that no stage produces -> the input Param."""
        produced = set(self.produced)
        out: dict[str, Any] = {}
        for s in self.stages:
            for p in s.model.inputs:
                k = s.key(p.name)
                if k not in produced:
                    out.setdefault(k, p)
        return out

    def evaluate(
        self,
        batch: Mapping[str, np.ndarray],
        context: EvalContext | None = None,
        skip_expensive: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """All stages' outputs on ``batch`` as namespaced columns.

        Rows marked in ``skip_expensive`` (points already known to be infeasible), and rows a
        cheaper model already reported a violation for, are not sent to expensive models; their
        outputs there are NaN, and :attr:`last_screened` marks them. A model may explain its
        NaN rows by setting ``last_failures = {row: reason}`` in ``evaluate``; the reasons of
        this call are in :attr:`last_reasons`.
        """
        cols: dict[str, np.ndarray] = dict(batch)
        n = len(next(iter(batch.values()))) if batch else 1
        results: dict[str, np.ndarray] = {}
        self.last_reasons = {}
        screened = (np.zeros(n, dtype=bool) if skip_expensive is None
                    else np.array(skip_expensive, dtype=bool))
        for s in self.stages:
            local = self.stage_inputs(s, cols, n)
            if s.model.expensive and screened.any():
                out, reasons = self._run_subset(s, local, n, ~screened, context)
            else:
                out, reasons = self._run_stage(s, local, n, context)
            if not s.model.expensive:
                for name in s.model.constraint_names():
                    if name in out:
                        screened |= np.asarray(out[name], dtype=np.float64) > 0
            for row, reason in reasons.items():
                self.last_reasons.setdefault(row, f"{s.namespace}: {reason}")
            for name, key in s.output_keys.items():
                if name not in out:
                    raise ModelError(f"model {s.model.name!r} did not return output {name!r}")
                col = np.asarray(out[name])
                if col.shape != (n,):
                    raise ModelError(
                        f"model {s.model.name!r} returned {name!r} with shape {col.shape}, "
                        f"expected ({n},)"
                    )
                cols[key] = col
                results[key] = col
        self.last_screened = screened
        return results

    @staticmethod
    def stage_inputs(
        stage: Stage, cols: Mapping[str, np.ndarray], n: int
    ) -> dict[str, np.ndarray]:
        """One model's input columns from a batch: each input from its (bound) column, else
        the model's declared default. The engine's ``dse.model_inputs`` maps stored points the
        same way."""
        return {
            p.name: np.asarray(cols[stage.key(p.name)]) if stage.key(p.name) in cols
            else p.column(p.default, n)
            for p in stage.model.inputs
        }

    def _run_subset(
        self, s: Stage, local: dict[str, np.ndarray], n: int, rows: np.ndarray,
        context: EvalContext | None,
    ) -> tuple[dict[str, np.ndarray], dict[int, str]]:
        keep = np.flatnonzero(rows)
        out = {o.name: np.full(n, np.nan) for o in s.model.outputs}
        reasons: dict[int, str] = {}
        if len(keep):
            sub, sub_reasons = self._run_stage(
                s, {k: v[keep] for k, v in local.items()}, len(keep), context)
            for name, col in sub.items():
                if name in out:
                    out[name][keep] = np.asarray(col, dtype=np.float64)
            reasons = {int(keep[i]): r for i, r in sub_reasons.items()}
        return out, reasons

    def _memoizes(self, s: Stage) -> bool:
        return s.model.expensive if s.memoize is None else s.memoize

    def _run_stage(
        self, s: Stage, local: dict[str, np.ndarray], n: int, context: EvalContext | None
    ) -> tuple[dict[str, np.ndarray], dict[int, str]]:
        if n == 0:
            # An empty batch (e.g. a sweep chunk whose points all repeat earlier designs)
            # never reaches a model: models are written for whole populations, not for none.
            return {o.name: np.empty(0) for o in s.model.outputs}, {}
        if not self._memoizes(s):
            self.evaluations[s.namespace] += n
            out = s.model.evaluate(local, context)
            return out, _failures(s.model)
        names = [o.name for o in s.model.outputs]
        first, inverse = _distinct_rows([local[p.name] for p in s.model.inputs])
        # Python tuples only for the distinct rows: a sweep of a million hardware points
        # sharing one training recipe builds one tuple, not a million.
        rows = [tuple(_py(local[p.name][i]) for p in s.model.inputs) for i in first]
        memo = self._memo[s.namespace]
        missing: list[tuple[Any, ...]] = []
        for row in rows:
            if row not in memo:
                cached = self._disk_get(s, row)
                if cached is not None:
                    memo[row] = cached
                else:
                    missing.append(row)
        if missing:
            sub = {
                p.name: np.asarray([r[j] for r in missing], dtype=local[p.name].dtype)
                for j, p in enumerate(s.model.inputs)
            }
            self.evaluations[s.namespace] += len(missing)
            res = s.model.evaluate(sub, context)
            failures = _failures(s.model)
            for i, row in enumerate(missing):
                values = tuple(float(np.asarray(res[k])[i]) for k in names)
                memo[row] = values
                if i in failures:
                    self._reasons[s.namespace][row] = failures[i]
                if all(np.isfinite(values)):
                    self._disk_put(s, row, values)
        table = np.asarray([memo[r] for r in rows], dtype=np.float64).reshape(len(rows), -1)
        known = self._reasons[s.namespace]
        reasons: dict[int, str] = {}
        for j, row in enumerate(rows):
            if row in known:
                reasons.update(dict.fromkeys(np.flatnonzero(inverse == j).tolist(), known[row]))
        return {k: table[inverse, j] for j, k in enumerate(names)}, reasons

    # -- disk cache -----------------------------------------------------------------------------
    def _disk_path(self, s: Stage, row: tuple[Any, ...]) -> Path | None:
        if self.cache_dir is None:
            return None
        key = json.dumps(
            [s.model.name, s.model.version, dict(s.options), list(row)],
            sort_keys=True,
            default=str,
        )
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.cache_dir / s.model.name / digest[:2] / f"{digest}.json"

    def _disk_get(self, s: Stage, row: tuple[Any, ...]) -> tuple[float, ...] | None:
        path = self._disk_path(s, row)
        if path is None or not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            return tuple(float(data[o.name]) for o in s.model.outputs)
        except (OSError, ValueError, KeyError):
            return None  # a torn or foreign file is a miss, never an error

    def _disk_put(self, s: Stage, row: tuple[Any, ...], values: tuple[float, ...]) -> None:
        path = self._disk_path(s, row)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({o.name: v for o, v in zip(s.model.outputs, values)}))
        tmp.replace(path)


def _overlap(a: Any, b: Any) -> bool:
    """Whether two declared params accept at least one common value."""
    for x, y in ((a, b), (b, a)):
        vals = x.values()
        if vals is not None:
            return bool(np.asarray(y.contains(vals)).any())
    lo, hi = max(a.low, b.low), min(a.high, b.high)  # two continuous ranges
    return bool(lo <= hi)


def _failures(model: CostModel) -> dict[int, str]:
    """The model's own reasons for the NaN rows of its last evaluate(), if it gives any."""
    failures = getattr(model, "last_failures", None)
    return {int(k): str(v) for k, v in failures.items()} if isinstance(failures, dict) else {}


def _distinct_rows(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """First index of each distinct row across ``columns``, and each row's distinct index."""
    n = len(columns[0]) if columns else 0
    key = np.zeros(n, dtype=np.int64)
    stride = 1
    for col in columns:
        col = np.asarray(col)
        if n == 0 or (col == col[0]).all():
            continue  # a constant column (a pinned recipe in a hardware sweep) adds nothing
        values, codes = np.unique(col, return_inverse=True)
        if stride * len(values) >= 2**62:  # the mixed-radix key would overflow: recompress
            _, key = np.unique(key, return_inverse=True)
            stride = int(key.max()) + 1
        key += codes.reshape(-1) * stride
        stride *= len(values)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


def _py(value: Any) -> Any:
    # numpy scalars -> Python scalars so rows hash and serialize alike.
    return value.item() if hasattr(value, "item") else value
