"""Translation between our spaces and Optuna: distributions, define-by-run suggestion, samplers.

Conditional parameters are suggested define-by-run: a child is suggested only when its parent
took an activating value, otherwise it takes its default and does not appear in the trial's
params (what Optuna's TPE with ``group=True`` expects). Fixed parameters are never suggested.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from dse._errors import DseError
from dse._spec import SamplerSpec
from dse._values import plain
from search_spaces import Categorical, Fixed, Float, Int, Param, Space


__all__ = ["distribution", "make_sampler", "suggest", "suggest_order"]


@functools.lru_cache(maxsize=4096)
def distribution(p: Param) -> BaseDistribution:
    """The Optuna distribution of a (non-fixed) parameter (cached: params are immutable)."""
    if isinstance(p, Int):
        return IntDistribution(p.low, p.high, log=p.log, step=p.step)
    if isinstance(p, Float):
        if p.steps is not None and p.low != p.high:
            return _stepped_float(p)
        return FloatDistribution(p.low, p.high, log=p.log)
    if isinstance(p, Categorical):
        return CategoricalDistribution([plain(c) for c in p.choices])
    raise DseError(f"parameter {p.name!r} of kind {type(p).__name__} cannot be sampled")


def _stepped_float(p: Float) -> BaseDistribution:
    """A Float with ``steps``: Optuna's step distribution when it keeps the grid, else the grid.

    Optuna rounds a step distribution's ``high`` down to ``low + k * step`` unless
    ``high - low`` is a multiple of ``step`` in decimal arithmetic on the floats' shortest
    representations, which ``1 / 9`` never is (10 steps on [0, 1]: ``high`` became 0.889).
    The top value would then be out of the distribution: never proposed in trial mode, and
    refused when a sweep records it. So the step distribution is used only when it keeps
    ``high`` exactly and lands every grid value (``low + (steps - 1) * step == high`` is how
    Optuna's samplers round to the top); otherwise, and on log grids, the distribution is the
    grid's own values as categories, which every sampler and storage round trip keeps exactly.
    """
    grid = p.values()
    assert grid is not None  # steps makes a Float finite
    if not p.log and len(grid) > 1:
        step = (p.high - p.low) / (len(grid) - 1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # Optuna warns when the range is off the step
            d = FloatDistribution(p.low, p.high, step=step)
        k = (grid - p.low) / step
        if (not caught and d.high == p.high and p.low + (len(grid) - 1) * step == p.high
                and bool((np.abs(k - np.round(k)) < 1e-8).all())):
            return d
    return CategoricalDistribution([float(v) for v in grid])


def suggest_order(space: Space) -> list[Param]:
    """Searched parameters with every condition's parent before its children."""
    searched = {p.name: p for p in space.params}
    order: list[Param] = []
    placed: set[str] = set()

    def place(p: Param) -> None:
        if p.name in placed:
            return
        if p.condition is not None and p.condition.parent in searched:
            place(searched[p.condition.parent])
        placed.add(p.name)
        order.append(p)

    for p in space.params:
        place(p)
    return [p for p in order if not isinstance(p, Fixed)]


def suggest(
    trial: optuna.trial.BaseTrial, space: Space, order: list[Param] | None = None
) -> dict[str, Any]:
    """Suggest one point define-by-run; returns every parameter's value (defaults included)."""
    values: dict[str, Any] = {p.name: p.default for p in space.params}
    for p in order if order is not None else suggest_order(space):
        if p.condition is not None and values[p.condition.parent] not in p.condition.values:
            continue
        values[p.name] = _suggest_one(trial, p)
    return values


def _suggest_one(trial: optuna.trial.BaseTrial, p: Param) -> Any:
    d = distribution(p)
    if isinstance(d, IntDistribution):
        return trial.suggest_int(p.name, d.low, d.high, step=d.step, log=d.log)
    if isinstance(d, FloatDistribution):
        return trial.suggest_float(p.name, d.low, d.high, step=d.step, log=d.log)
    assert isinstance(d, CategoricalDistribution)
    return trial.suggest_categorical(p.name, d.choices)


def trial_point(params: Mapping[str, Any], space: Space) -> dict[str, Any]:
    """A full point from a trial's params (defaults for the unsuggested ones)."""
    return {p.name: params.get(p.name, p.default) for p in space.params}


def make_sampler(
    spec: SamplerSpec, seed: int | None, space: Space, n_objectives: int
) -> optuna.samplers.BaseSampler:
    """The Optuna sampler a study file asks for.

    Raises:
        DseError: for a sampler that cannot serve this space (grid on a continuous space, GP
            without torch) or options the sampler does not take.
    """
    opts = dict(spec.options)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    conditional = any(p.condition is not None for p in space.params)
    try:
        if spec.name == "tpe":
            if conditional:
                opts.setdefault("multivariate", True)
                opts.setdefault("group", True)
            return optuna.samplers.TPESampler(seed=seed, **opts)
        if spec.name == "tpe-multivariate":
            opts.setdefault("multivariate", True)
            opts.setdefault("group", True)
            return optuna.samplers.TPESampler(seed=seed, **opts)
        if spec.name == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed, **opts)
        if spec.name == "nsga3":
            return optuna.samplers.NSGAIIISampler(seed=seed, **opts)
        if spec.name == "random":
            return optuna.samplers.RandomSampler(seed=seed, **opts)
        if spec.name == "grid":
            grid = {}
            for p in space.params:
                if isinstance(p, Fixed):
                    continue
                vals = p.values()
                if vals is None:
                    raise DseError(
                        f"sampler 'grid' needs a finite space but {p.name!r} is continuous; "
                        "give it steps or choices in [space.override]"
                    )
                grid[p.name] = [plain(v) for v in vals]
            size = math.prod(len(v) for v in grid.values())
            if size > 10_000_000:
                raise DseError(f"sampler 'grid': {size} points; use sweep mode instead")
            return optuna.samplers.GridSampler(grid, seed=seed, **opts)
        if spec.name == "gp":
            try:
                import torch  # noqa: F401
            except ImportError:
                raise DseError(
                    "sampler 'gp' needs torch: pip install 'dse[train]'"
                ) from None
            return optuna.samplers.GPSampler(seed=seed, **opts)
    except TypeError as exc:
        raise DseError(f"sampler {spec.name!r}: bad options {sorted(opts)}: {exc}") from None
    raise DseError(f"unknown sampler {spec.name!r}")
