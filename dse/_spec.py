"""Study files: loading and validating ``dse/studies/*.toml`` into a :class:`StudySpec`.

The schema is documented in ``docs/study_files.md``. Every key is checked: an unknown key, a
wrong type or an out-of-range value raises :class:`SpecError` with one line naming the file, the
key and what was expected. Nothing is written before a study file has loaded cleanly.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dse._artifacts import check_study_name
from dse._checks import check_seed, check_storage_spec
from dse._errors import DseError, SpecError


__all__ = [
    "BoundSpec",
    "BudgetSpec",
    "ExecutorSpec",
    "OutputsSpec",
    "ModelSpec",
    "NestedSpec",
    "ObjectiveSpec",
    "PrunerTable",
    "SAMPLERS",
    "SamplerSpec",
    "StudySpec",
    "SweepSpec",
    "find_study_file",
    "load_spec",
    "parse_spec",
    "shipped_studies",
]

MODES = ("trial", "sweep", "nested")
SAMPLERS = ("tpe", "tpe-multivariate", "nsga2", "nsga3", "random", "grid", "gp")
EXECUTORS = ("serial", "ray")
SWEEP_METHODS = ("exhaustive", "evolutionary")
SWEEP_SAVE = ("all", "feasible", "front", "none")


# What StudySpec.with_overrides changes (the CLI flags of `dse run`).
OVERRIDES = ("n_trials", "timeout_s", "seed", "workers", "ray_address", "executor", "storage",
             "name")


@dataclass(frozen=True)
class ModelSpec:
    namespace: str
    model: str
    options: dict[str, Any] = field(default_factory=dict)
    bind: dict[str, str] = field(default_factory=dict)
    memoize: bool | None = None


@dataclass(frozen=True)
class ObjectiveSpec:
    metric: str
    direction: str | None = None
    #: ``(a, b)`` range of interest in the metric's units, fixing the hypervolume reference.
    bounds: tuple[float, float] | None = None


@dataclass(frozen=True)
class BoundSpec:
    metric: str
    min: float | None = None
    max: float | None = None

    @property
    def name(self) -> str:
        return f"bound.{self.metric}"


@dataclass(frozen=True)
class SamplerSpec:
    name: str = "tpe"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BudgetSpec:
    n_trials: int = 100
    timeout_s: float | None = None


@dataclass(frozen=True)
class ExecutorSpec:
    kind: str = "serial"
    workers: int = 1
    batch_size: int = 1
    ray_address: str | None = None


@dataclass(frozen=True)
class SweepSpec:
    method: str = "exhaustive"
    chunk_size: int = 1 << 20
    # 0 = sized from the space (see population_for); measured in benchmarks/search.py.
    population: int = 0
    generations: int = 40
    sample_rest: int = 200
    # Files kept: "feasible" points (default), "all" points, only the "front", or "none". The
    # whole front (every tie) is kept in its own table unless "none".
    save: str = "feasible"
    # The study gets at most this many front points as trials (spread by crowding distance);
    # every front point stays in the sweep file. Each trial is one fsync'ed journal write.
    max_front_trials: int = 1000

    def population_for(self, space_size: int | None) -> int:
        """The evolutionary population: the study's, else sized from the space.

        ``space size / 200`` within 32..512 for a finite space, 128 for a continuous one. With
        the default 40 generations this reached 99 % of the true hypervolume on every shipped
        study that has a ground truth (``benchmarks/search.py``, 5 seeds: vegeta 672, comet_1t
        4,608, demo 1,152 evaluations, median) where the former 4096 x 50 spent 208,896. Half
        that population needed fewer evaluations (342, 3,013, 960) but more generations, and
        more CPU time on comet_1t and demo; ``docs/benchmarks.md``.
        """
        if self.population:
            return self.population
        if space_size is None:
            return 128
        return int(min(512, max(32, space_size // 200)))


@dataclass(frozen=True)
class NestedSpec:
    outer: tuple[str, ...] = ()


@dataclass(frozen=True)
class PrunerTable:
    """``[pruner]``: the driver's median rule for reporting (expensive) models."""

    name: str | None = None  # None: median when a model is expensive, else none
    metric: str = ""
    direction: str | None = None
    n_startup_trials: int = 5
    n_warmup_steps: int = 0


@dataclass(frozen=True)
class OutputsSpec:
    """``[outputs]``: what ``dse run`` writes when the run finishes.

    Attributes:
        report: Directory of the study's offline HTML report (none when unset).
        export: Path of the feasible Pareto set's export (suffix per format).
        formats: Export formats (``json``, ``yaml``, ``csv``).
    """

    report: str | None = None
    export: str | None = None
    formats: tuple[str, ...] = ("json",)


@dataclass(frozen=True)
class StudySpec:
    """A validated study file."""

    name: str
    mode: str
    models: tuple[ModelSpec, ...]
    domains: tuple[tuple[str, str], ...]  # (domain, namespace)
    objectives: tuple[ObjectiveSpec, ...]
    description: str = ""
    seed: int | None = None
    #: The study's known true hypervolume under its objectives' ``bounds`` (a ground truth
    #: from an exhaustive sweep or a closed form, ``benchmarks/search.py``).
    true_hypervolume: float | None = None
    shared: tuple[str, ...] = ()
    overrides: dict[str, Any] = field(default_factory=dict)
    bounds: tuple[BoundSpec, ...] = ()
    sampler: SamplerSpec = field(default_factory=SamplerSpec)
    budget: BudgetSpec = field(default_factory=BudgetSpec)
    executor: ExecutorSpec = field(default_factory=ExecutorSpec)
    sweep: SweepSpec = field(default_factory=SweepSpec)
    nested: NestedSpec = field(default_factory=NestedSpec)
    pruner: PrunerTable = field(default_factory=PrunerTable)
    storage: str | None = None
    outputs: OutputsSpec = field(default_factory=OutputsSpec)
    path: str = "<memory>"
    raw: dict[str, Any] = field(default_factory=dict)
    # One-line explanations of keys this mode reads but does not use (printed by `dse run`).
    notes: tuple[str, ...] = ()

    def with_overrides(self, **changes: Any) -> StudySpec:
        """A copy with CLI overrides applied (``n_trials``, ``workers``, ``seed`` ...).

        Raises:
            SpecError: for a key that is not an override (a typo would otherwise be ignored).
        """
        unknown = sorted(set(changes) - set(OVERRIDES))
        if unknown:
            raise SpecError(f"with_overrides: unknown override {unknown[0]!r}; expected one of "
                            f"{', '.join(OVERRIDES)}")
        spec = self
        if changes.get("n_trials") is not None:
            spec = replace(spec, budget=replace(spec.budget, n_trials=int(changes["n_trials"])))
        if changes.get("timeout_s") is not None:
            spec = replace(spec, budget=replace(spec.budget, timeout_s=changes["timeout_s"]))
        if changes.get("seed") is not None:
            spec = replace(spec, seed=check_seed(changes["seed"], "--seed"))
        if changes.get("workers") is not None:
            workers = int(changes["workers"])
            kind = spec.executor.kind if workers <= 1 else "ray"
            spec = replace(spec, executor=replace(spec.executor, workers=workers, kind=kind))
        if changes.get("ray_address"):
            spec = replace(
                spec,
                executor=replace(spec.executor, kind="ray", ray_address=changes["ray_address"]),
            )
        if changes.get("executor"):
            spec = replace(spec, executor=replace(spec.executor, kind=changes["executor"]))
        if changes.get("storage"):
            spec = replace(spec, storage=changes["storage"])
        if changes.get("name") is not None:
            spec = replace(spec, name=check_study_name(changes["name"], "--name"))
        return spec


class _Table:
    """A TOML table being validated; tracks which keys were read to reject unknown ones."""

    def __init__(self, data: Any, where: str, path: str) -> None:
        if not isinstance(data, dict):
            raise SpecError(f"{path}: [{where}] must be a table, got {type(data).__name__}")
        self.data = data
        self.where = where
        self.path = path
        self.seen: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str, expected: str, got: Any = None) -> SpecError:
        shown = "" if got is None else f", got {got!r}"
        return SpecError(f"{self.path}: {self._key(key)}: expected {expected}{shown}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None,
            expected: str | None = None) -> Any:
        self.seen.add(key)
        if key not in self.data:
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(key, expected or _kind_names(kinds), value)
        if not isinstance(value, kinds):
            raise self.fail(key, expected or _kind_names(kinds), value)
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            raise self.fail(key, "one of " + ", ".join(choices), value)
        return str(value)

    def positive_int(self, key: str, default: int | None, minimum: int = 1) -> int | None:
        value = self.get(key, int, default)
        if value is not None and value < minimum:
            raise self.fail(key, f"an integer >= {minimum}", value)
        return value

    def sub(self, key: str, required: bool = False) -> _Table:
        self.seen.add(key)
        if key not in self.data:
            if required:
                raise SpecError(f"{self.path}: missing table [{self._key(key)}]")
            return _Table({}, self._key(key), self.path)
        return _Table(self.data[key], self._key(key), self.path)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            where = f"[{self.where}]" if self.where else "the top level"
            raise SpecError(
                f"{self.path}: unknown key {self._key(unknown[0])!r} in {where}; expected one of "
                f"{', '.join(sorted(self.seen))}"
            )


def _kind_names(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             dict: "a table", list: "a list"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _objective_bounds(t: _Table) -> tuple[float, float] | None:
    raw = t.get("bounds", list, None, "a list of two numbers [best, worst]")
    if raw is None:
        return None
    ok = len(raw) == 2 and all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in raw
    )
    if not ok or raw[0] == raw[1]:
        raise t.fail("bounds", "a list of two different finite numbers [best, worst]", raw)
    return float(raw[0]), float(raw[1])


def load_spec(source: str | Path | Mapping[str, Any]) -> StudySpec:
    """Load and validate a study: a file path, a shipped study's name or a parsed dict.

    Args:
        source: ``"dse/studies/demo.toml"``, ``"demo"`` (a shipped study, see
            :func:`shipped_studies`), or the study file's content as a dict (as from
            ``tomllib``), e.g. built in a notebook.

    Raises:
        SpecError: one line naming the file, the key and what was expected.
    """
    if isinstance(source, Mapping):
        return parse_spec(source)
    path = source
    if not Path(path).is_file() and str(path) in shipped_studies():
        path = shipped_studies()[str(path)]
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read study file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                        f"{exc.start}); expected a UTF-8 TOML file") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        # tomllib parses nested arrays and inline tables recursively
        raise SpecError(f"{path}: not valid TOML: arrays or tables nested too deeply") from None
    try:
        return parse_spec(data, str(path))
    except RecursionError:
        raise SpecError(f"{path}: values nested too deeply") from None


def parse_spec(data: Mapping[str, Any], path: str = "<memory>") -> StudySpec:
    """Validate an already-parsed study file (see :func:`load_spec`)."""
    top = _Table(dict(data), "", path)

    study = top.sub("study", required=True)
    name = check_study_name(study.get("name", str), f"{path}: study.name")
    mode = study.choice("mode", MODES, "trial")
    description = study.get("description", str, "")
    seed = study.get("seed", int, None)
    true_hv = study.get("true_hypervolume", float, None)
    if true_hv is not None and not (0 < true_hv < math.inf):
        raise study.fail("true_hypervolume", "a positive number", true_hv)
    if seed is not None:
        try:
            check_seed(seed, "study.seed")
        except DseError as exc:
            raise SpecError(f"{path}: {exc}") from None
    study.done()

    models_t = top.sub("models", required=True)
    models = []
    for ns in list(models_t.data):
        m = models_t.sub(ns)
        if "." in ns:
            raise SpecError(f"{path}: models.{ns}: a namespace may not contain '.'")
        bind = m.get("bind", dict, {})
        for k, v in bind.items():
            if not isinstance(v, str):
                raise m.fail(f"bind.{k}", "a column name (string)", v)
        models.append(
            ModelSpec(
                namespace=ns,
                model=m.get("model", str, ns),
                options=dict(m.get("options", dict, {})),
                bind=dict(bind),
                memoize=m.get("memoize", bool, None),
            )
        )
        m.done()
    if not models:
        raise SpecError(f"{path}: [models] is empty; expected at least one model table")

    space = top.sub("space")
    # No domains: every model's declared inputs are the space (dse/_problem.py).
    domains_raw = space.get("domains", list, [])
    domains = []
    for i, d in enumerate(domains_raw):
        if not isinstance(d, str):
            raise space.fail(f"domains[{i}]", "a domain name string", d)
        parts = d.split(" as ")
        if len(parts) > 2 or not all(p.strip() for p in parts):
            raise space.fail(f"domains[{i}]", "'domain' or 'domain as namespace'", d)
        domains.append((parts[0].strip(), parts[-1].strip()))
    shared = space.get("shared", list, [])
    overrides = dict(space.get("override", dict, {}))
    space.done()

    objectives = []
    objs = top.get("objectives", list, None, "an array of tables [[objectives]]")
    if not objs:
        raise SpecError(f"{path}: no [[objectives]]; expected at least one objective")
    for i, o in enumerate(objs):
        t = _Table(o, f"objectives[{i}]", path)
        metric = t.get("metric", str)
        if not metric:
            raise t.fail("metric", "a metric name such as 'demo.f1'")
        direction = t.get("direction", str, None)
        if direction not in (None, "minimize", "maximize"):
            raise t.fail("direction", "'minimize' or 'maximize'", direction)
        objectives.append(ObjectiveSpec(metric, direction, _objective_bounds(t)))
        t.done()

    bounds = []
    for i, c in enumerate(top.get("constraints", list, [], "an array of tables [[constraints]]")):
        t = _Table(c, f"constraints[{i}]", path)
        metric = t.get("metric", str)
        if not metric:
            raise t.fail("metric", "a metric name")
        lo, hi = t.get("min", float, None), t.get("max", float, None)
        if lo is None and hi is None:
            raise t.fail("max", "a bound: min and/or max")
        bounds.append(BoundSpec(metric, lo, hi))
        t.done()

    s = top.sub("sampler")
    sampler = SamplerSpec(s.choice("name", SAMPLERS, "tpe"), dict(s.get("options", dict, {})))
    s.done()

    b = top.sub("budget")
    n_trials = b.positive_int("n_trials", 100)
    timeout = b.get("timeout_s", float, None)
    if timeout is not None and timeout <= 0:
        raise b.fail("timeout_s", "a positive number of seconds", timeout)
    budget = BudgetSpec(int(n_trials or 100), timeout)
    b.done()

    e = top.sub("executor")
    executor = ExecutorSpec(
        kind=e.choice("kind", EXECUTORS, "serial"),
        workers=int(e.positive_int("workers", 1) or 1),
        batch_size=int(e.positive_int("batch_size", 1) or 1),
        ray_address=e.get("ray_address", str, None),
    )
    e.done()

    w = top.sub("sweep")
    sweep = SweepSpec(
        method=w.choice("method", SWEEP_METHODS, "exhaustive"),
        chunk_size=int(w.positive_int("chunk_size", 1 << 20) or 1),
        population=int(w.positive_int("population", None, minimum=4) or 0),
        generations=int(w.positive_int("generations", 40) or 1),
        sample_rest=int(w.positive_int("sample_rest", 200, minimum=0) or 0),
        save=w.choice("save", SWEEP_SAVE, "feasible"),
        max_front_trials=int(w.positive_int("max_front_trials", 1000) or 1),
    )
    w.done()

    n = top.sub("nested")
    outer = n.get("outer", list, [])
    n.done()
    if mode == "nested" and not outer:
        raise SpecError(f"{path}: nested.outer: expected the parameters Optuna proposes in "
                        "nested mode")

    pr = top.sub("pruner")
    pruner_name = pr.get("name", str, None)
    if pruner_name not in (None, "none", "median"):
        raise pr.fail("name", "'none' or 'median'", pruner_name)
    pruner_dir = pr.get("direction", str, None)
    if pruner_dir not in (None, "minimize", "maximize"):
        raise pr.fail("direction", "'minimize' or 'maximize'", pruner_dir)
    pruner = PrunerTable(
        name=pruner_name,
        metric=pr.get("metric", str, ""),
        direction=pruner_dir,
        n_startup_trials=int(pr.positive_int("n_startup_trials", 5, minimum=0) or 0),
        n_warmup_steps=int(pr.positive_int("n_warmup_steps", 0, minimum=0) or 0),
    )
    pr.done()

    st = top.sub("storage")
    storage = st.get("url", str, None)
    if storage is not None:
        try:
            check_storage_spec(storage, "storage.url")
        except DseError as exc:
            raise SpecError(f"{path}: {exc}") from None
    st.done()

    out = top.sub("outputs")
    outputs = OutputsSpec(
        report=out.get("report", str, None),
        export=out.get("export", str, None),
        formats=tuple(str(f) for f in out.get("formats", list, ["json"])),
    )
    out.done()
    top.done()
    ignored = [key for key, given in (("[sampler]", "sampler" in data),
                                      ("budget.n_trials", "n_trials" in b.data)) if given]
    notes = (f"{path}: {' and '.join(ignored)} not used in sweep mode: the sweep enumerates "
             "the whole space (exhaustive) or evolves [sweep] population for [sweep] "
             "generations; remove them, or set study.mode = 'trial'",) \
        if mode == "sweep" and ignored else ()

    return StudySpec(
        name=name,
        mode=mode,
        description=description,
        seed=seed,
        true_hypervolume=true_hv,
        models=tuple(models),
        domains=tuple(domains),
        shared=tuple(str(x) for x in shared),
        overrides=overrides,
        objectives=tuple(objectives),
        bounds=tuple(bounds),
        sampler=sampler,
        budget=budget,
        executor=executor,
        sweep=sweep,
        nested=NestedSpec(tuple(str(x) for x in outer)),
        pruner=pruner,
        storage=storage,
        outputs=outputs,
        path=path,
        raw=_jsonable(dict(data)),
        notes=notes,
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _studies_dir() -> Path:
    return Path(__file__).resolve().parent / "studies"  # inside the package: in the wheel


def shipped_studies() -> dict[str, Path]:
    """Shipped study files by name (``demo`` -> ``dse/studies/demo.toml``)."""
    folder = _studies_dir()
    return {p.stem: p for p in sorted(folder.glob("*.toml"))} if folder.is_dir() else {}


def find_study_file(study: str) -> Path:
    """A study path, or the file of a shipped study name.

    Raises:
        SpecError: listing the shipped studies when neither exists.
    """
    p = Path(study)
    if p.is_file():
        return p
    shipped = shipped_studies()
    if study in shipped:
        return shipped[study]
    if p.suffix == ".toml" or "/" in study:
        raise SpecError(f"{study}: no such study file")
    raise SpecError(
        f"unknown study {study!r}: not a file, and not a shipped study "
        f"(expected one of {', '.join(shipped) or 'none'})"
    )
