"""Choosing exported rows: ``--where EXPR``, ``--sort METRIC`` and ``--top K``, on columns.

``--where`` takes a small expression language, evaluated on whole numpy columns by walking its
syntax tree; no user text is ever passed to Python's ``eval``. It has

* column names: parameters and metrics as they are named in the study (``comet.capex_usd``,
  ``vegeta.engine``), the flags ``feasible`` and ``pareto``, and ``trial``; a name that is not
  a Python identifier chain is written in backticks (```my-metric` > 2``);
* numbers, strings, ``true``/``false`` (also ``True``/``False``), and lists of them after
  ``in`` / ``not in``;
* arithmetic ``+ - * / // % **``, comparisons ``< <= > >= == !=`` (chains allowed), and
  ``and or not`` (also ``& | ~``).

Anything else (calls, subscripts, lambdas, comprehensions, attribute access on values) is
refused in one line naming what was found. Missing values (a failed trial's metrics) compare
false.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from dse._errors import DseError


__all__ = ["MAX_WHERE_LENGTH", "order_rows", "sort_rows", "table_of", "where_mask"]

MAX_WHERE_LENGTH = 2000
_MAX_NODES = 500

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow, ast.BitAnd: np.logical_and, ast.BitOr: np.logical_or,
}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
_CONSTANTS = {"true": True, "false": False, "True": True, "False": False}


def _fail(expr: str, why: str) -> DseError:
    shown = expr if len(expr) <= 80 else expr[:77] + "..."
    return DseError(f"--where {shown!r}: {why}")


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of attributes on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


class _Evaluator:
    def __init__(self, expr: str, columns: Mapping[str, np.ndarray], n: int,
                 quoted: Mapping[str, str]) -> None:
        self.expr = expr
        self.columns = columns
        self.n = n
        self.quoted = quoted

    def column(self, name: str) -> np.ndarray:
        name = self.quoted.get(name, name)
        if name in self.columns:
            return self.columns[name]
        known = ", ".join(sorted(self.columns)[:12])
        raise _fail(self.expr, f"unknown name {name!r}; expected a column such as {known}")

    def literal(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str | bool):
            return node.value
        if isinstance(node, ast.Name) and node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            value = self.literal(node.operand)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return -value
        raise _fail(self.expr, f"expected a number or a string in a list, got "
                               f"{ast.unparse(node)!r}")

    def eval(self, node: ast.expr) -> Any:
        if isinstance(node, ast.BoolOp):
            values = [self.truth(v) for v in node.values]
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            out = values[0]
            for v in values[1:]:
                out = combine(out, v)
            return out
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not | ast.Invert):
                return np.logical_not(self.truth(node.operand))
            value = self.number(node.operand)
            return -value if isinstance(node.op, ast.USub) else +value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            if isinstance(node.op, ast.BitAnd | ast.BitOr):
                return _BINOPS[type(node.op)](self.truth(node.left), self.truth(node.right))
            with np.errstate(all="ignore"):
                return _BINOPS[type(node.op)](self.number(node.left), self.number(node.right))
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str | bool):
            return node.value
        if isinstance(node, ast.Name) and node.id in _CONSTANTS and node.id not in self.columns:
            return _CONSTANTS[node.id]
        name = _dotted(node)
        if name is not None:
            return self.column(name)
        raise _fail(self.expr, f"{type(node).__name__.lower()} {ast.unparse(node)!r} is not "
                               "allowed; expected names, numbers, strings, comparisons, "
                               "arithmetic, and/or/not")

    def number(self, node: ast.expr) -> Any:
        value = self.eval(node)
        arr = np.asarray(value)
        if arr.dtype.kind not in "iufb":
            raise _fail(self.expr, f"{ast.unparse(node)!r} is not a number")
        return value

    def truth(self, node: ast.expr) -> np.ndarray:
        arr = np.asarray(self.eval(node))
        if arr.dtype.kind != "b":
            raise _fail(self.expr, f"{ast.unparse(node)!r} is not a condition (true/false)")
        return arr

    def compare(self, node: ast.Compare) -> np.ndarray:
        out: Any = True
        left = self.eval(node.left)
        for op, right_node in zip(node.ops, node.comparators):
            if isinstance(op, ast.In | ast.NotIn):
                if not isinstance(right_node, ast.List | ast.Tuple | ast.Set):
                    raise _fail(self.expr, "expected a list after 'in', e.g. x in [1, 2]")
                choices = [self.literal(e) for e in right_node.elts]
                hit = np.isin(np.asarray(left), np.asarray(choices))
                out = np.logical_and(out, hit if isinstance(op, ast.In) else ~hit)
                continue
            if type(op) not in _COMPARE:
                raise _fail(self.expr, f"comparison {type(op).__name__} is not allowed")
            right = self.eval(right_node)
            out = np.logical_and(out, _compare(_COMPARE[type(op)], left, right))
            left = right
        return np.asarray(out)


def _compare(op: Callable[[Any, Any], Any], left: Any, right: Any) -> np.ndarray:
    a, b = np.asarray(left), np.asarray(right)
    numeric = a.dtype.kind in "iufb" and b.dtype.kind in "iufb"
    if not numeric:
        # Text against numbers is never equal and never ordered: false, not an error.
        if (a.dtype.kind in "iufb") != (b.dtype.kind in "iufb"):
            return np.zeros(np.broadcast(a, b).shape, dtype=bool)
        a, b = a.astype(str), b.astype(str)
    with np.errstate(invalid="ignore"):
        return np.asarray(op(a, b), dtype=bool)


def where_mask(expr: str, columns: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """Boolean mask of the ``n`` rows for which ``expr`` holds (see the module docstring).

    Raises:
        DseError: one line naming the expression and what was wrong.
    """
    if len(expr) > MAX_WHERE_LENGTH:
        raise DseError(f"--where: expression of {len(expr)} characters; expected at most "
                       f"{MAX_WHERE_LENGTH}")
    quoted: dict[str, str] = {}

    def unquote(m: re.Match[str]) -> str:
        token = f"__col{len(quoted)}"
        quoted[token] = m.group(1)
        return token

    text = re.sub(r"`([^`]*)`", unquote, expr)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        why = exc.msg if isinstance(exc, SyntaxError) else type(exc).__name__
        raise _fail(expr, f"not a valid expression ({why})") from None
    if sum(1 for _ in ast.walk(tree)) > _MAX_NODES:
        raise _fail(expr, f"more than {_MAX_NODES} terms")
    try:
        result = np.asarray(_Evaluator(expr, columns, n, quoted).truth(tree.body))
    except RecursionError:
        raise _fail(expr, "nested too deeply") from None
    return np.broadcast_to(result, (n,)).copy()


def order_rows(
    key: str, columns: Mapping[str, np.ndarray], rows: np.ndarray,
    directions: Mapping[str, str],
) -> np.ndarray:
    """``rows`` ordered by column ``key``: best first for an objective (its direction), else
    ascending; a leading ``-`` reverses. Missing values go last.

    Raises:
        DseError: when ``key`` names no column.
    """
    reverse = key.startswith("-")
    name = key[1:] if reverse else key
    if name not in columns:
        known = ", ".join(sorted(columns)[:12])
        raise DseError(f"--sort {key!r}: unknown column {name!r}; expected one of {known}")
    values = np.asarray(columns[name])[rows]
    descending = (directions.get(name) == "maximize") != reverse
    if values.dtype.kind in "iufb":
        v = values.astype(np.float64)
        missing = np.isnan(v)
        v = np.where(missing, 0.0, -v if descending else v)
    else:
        _, rank = np.unique(values.astype(str), return_inverse=True)
        v = -rank.ravel() if descending else rank.ravel()
        missing = np.zeros(len(v), dtype=bool)
    return rows[np.lexsort((v, missing))]  # stable: ties keep their order


def sort_rows(
    keys: str, columns: Mapping[str, np.ndarray], rows: np.ndarray,
    directions: Mapping[str, str],
) -> np.ndarray:
    """``rows`` ordered by a comma list of keys (each as in :func:`order_rows`), the first
    deciding, the next breaking its ties."""
    for key in reversed([k.strip() for k in keys.split(",") if k.strip()]):
        rows = order_rows(key, columns, rows, directions)
    return rows


def table_of(records: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Columns of export records for :func:`where_mask` and :func:`order_rows`: their flags,
    trial number, parameters, metrics and constraint values, by name."""
    names: dict[str, None] = {}
    for r in records:
        for part in ("params", "metrics", "constraints"):
            names.update(dict.fromkeys(r.get(part, {})))
    cols: dict[str, list[Any]] = {k: [] for k in ("feasible", "pareto", "trial")}
    cols.update({k: [] for k in names})
    for r in records:
        flat = {**r.get("params", {}), **r.get("metrics", {}), **r.get("constraints", {})}
        for k in ("feasible", "pareto", "trial"):
            cols[k].append(r.get(k))
        for k in names:
            cols[k].append(flat.get(k))
    return {k: _array(v) for k, v in cols.items()}


def _array(values: list[Any]) -> np.ndarray:
    if all(isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=bool)
    numeric = [v for v in values if v is not None]
    if all(isinstance(v, int | float) and not isinstance(v, bool)
           or v in ("inf", "-inf") for v in numeric):
        return np.asarray([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    return np.asarray(["" if v is None else str(v) for v in values])
