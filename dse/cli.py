"""The ``dse`` command line: run, status, report, dashboard, export, evaluate, models, spaces,
validate.

Every user error (malformed study file, unknown model or parameter, out-of-range value, bad
storage URL, bad command-line argument) prints one line ``dse: error: ...`` on stderr and exits
with code 2, before anything is written. ``--json`` prints one JSON document on stdout.
``dse validate`` exits 1 when a record misses its tolerance and the model does not document the
miss.

:func:`main` is the one error boundary: a :class:`~dse.DseError` (or a model's or space's error)
becomes that line and exit code 2; Ctrl-C at any moment, start-up included, becomes one line and
exit code 130; any other exception is a bug and becomes one line ``dse: internal error: ...``
with a hint and exit code 1 (``DSE_DEBUG=1`` prints the traceback as well).

The work behind the commands lives in the engine's modules (``dse/_status.py``,
``dse/_model_eval.py``, ``dse/_validate.py``, ``dse/_run.py``, ``dse/_export.py`` ...); this module
parses arguments, calls them and prints.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from costmodels import ModelError
from costmodels._protocol import ANCHOR_KINDS
from dse._checks import check_port, check_seed, check_storage_spec
from dse._errors import DseError, one_line
from dse._model_eval import evaluate_points, points_from_config
from dse._options import build_model
from dse._startup import INTERRUPTED, cli_started
from dse._status import study_status
from dse._validate import validate_models
from dse._values import stored
from search_spaces import ParamError, SpaceError


__all__ = ["main"]

_USER_ERRORS = (DseError, ModelError, ParamError, SpaceError)


class _ArgumentError(Exception):
    """A malformed command line (argparse's error), reported as one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one ``dse: error:`` line (usage on ``--help``), not two."""

    def error(self, message: str) -> Any:  # argparse calls this and expects no return
        raise _ArgumentError(f"{message} (see '{self.prog} --help')")


def _storage_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--storage", metavar="URL_OR_PATH",
                   help="Optuna storage URL or journal-file path (default: the embedded journal "
                        "file dse-studies/studies.journal, or $DSE_STORAGE)")


def _parser() -> argparse.ArgumentParser:
    ap = _Parser(
        prog="dse",
        description="Design-space exploration for ML-systems co-design.",
    )
    from dse import __version__

    ap.add_argument("--version", action="version", version=f"dse {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="launch or resume a study")
    p.add_argument("study", help="study file path, or the name of a shipped study")
    p.add_argument("--n-trials", type=int, help="the study's total trial budget")
    p.add_argument("--workers", type=int, help="parallel workers (> 1 uses Ray)")
    p.add_argument("--ray-address", help="join this Ray cluster instead of starting one")
    p.add_argument("--seed", type=int)
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="wall-time budget")
    p.add_argument("--name", help="study name (default: the file's [study] name)")
    p.add_argument("--cache-dir", help="on-disk memo of expensive model results")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")
    _storage_arg(p)

    p = sub.add_parser("status", help="studies, trial counts, best values, hypervolume")
    p.add_argument("--json", action="store_true")
    _storage_arg(p)

    p = sub.add_parser("report", help="static HTML dashboard (works offline)")
    p.add_argument("study_name", nargs="?", help="one study (default: every study)")
    p.add_argument("-o", "--output", default="dse-report", metavar="DIR")
    p.add_argument("--compare", nargs="+", metavar="STUDY",
                   help="compare these studies on one page (hypervolume against evaluations "
                        "under one reference, fronts overlaid): writes DIR/compare.html")
    _storage_arg(p)

    p = sub.add_parser("dashboard", help="live dashboard over every study in the storage")
    p.add_argument("--port", type=int, default=8050)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--push-figures", action="store_true",
                   help="also save the hypervolume figure into each study for optuna-dashboard "
                        "(the dashboard is read-only otherwise)")
    _storage_arg(p)

    p = sub.add_parser("salvage", help="copy every readable record of a damaged journal file")
    p.add_argument("source", help="the damaged journal file (only read, never changed)")
    p.add_argument("dest", help="the new journal file to write (must not exist)")

    p = sub.add_parser("export", help="best configs in each model's native schema")
    p.add_argument("study_name")
    p.add_argument("--pareto", action="store_true",
                   help="only the feasible Pareto set (a sweep's whole front, ties included)")
    p.add_argument("--feasible", action="store_true",
                   help="only feasible designs (a sweep's whole feasible set)")
    p.add_argument("--where", metavar="EXPR",
                   help="keep records where EXPR holds, e.g. 'comet.capex_usd < 1e8 and "
                        "comet.tp == 8' (names, numbers, comparisons, and/or/not)")
    p.add_argument("--sort", metavar="METRIC",
                   help="order by a column, best first for objectives; '-METRIC' reverses; "
                        "a comma list breaks ties")
    p.add_argument("--top", type=int, metavar="K", help="keep the first K records")
    p.add_argument("--format",
                   help="csv, json, yaml, parquet (needs pyarrow) or a comma list; default: "
                        "the extension of -o, else json")
    p.add_argument("-o", "--output", required=True, metavar="PATH")
    _storage_arg(p)

    p = sub.add_parser("evaluate", help="evaluate design points through one cost model, or "
                                        "exported records through a whole study")
    p.add_argument("model", nargs="?", help="a model name (or use --study)")
    p.add_argument("--study", metavar="NAME_OR_FILE",
                   help="re-run this study's whole pipeline on the records of --config")
    p.add_argument("--set", action="append", default=[], metavar="K=V",
                   help="parameter value; a comma list gives several points")
    p.add_argument("--option", action="append", default=[], metavar="K=V",
                   help="model option (constructor argument)")
    p.add_argument("--config", metavar="FILE", help="an exported config file to re-evaluate")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("models", help="registered cost models with params, units and ranges")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("spaces", help="domain search spaces")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("validate", help="models against their published anchors")
    p.add_argument("model", nargs="?")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("show", help="print a shipped study file (or any study file)")
    p.add_argument("study", help="the name of a shipped study, or a study file path")
    p = sub.add_parser("init", help="copy a shipped study file to PATH for editing")
    p.add_argument("study", help="the name of a shipped study, or a study file path")
    p.add_argument("path", help="the new file (or a folder to put STUDY.toml in)")
    p = sub.add_parser("cache", help="list the caches (proxy trainings, model outputs) or "
                                     "clear them")
    p.add_argument("--clear", nargs="?", const="", metavar="NAME",
                   help="delete one cache folder by name, or all of them")
    p.add_argument("--json", action="store_true")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dse`` console script; returns the exit code.

    Exit codes: 0 done, 1 internal error (a bug; one line, ``DSE_DEBUG=1`` for the traceback),
    2 bad input (one line naming what was wrong and what was expected), 130 interrupted.
    """
    try:
        cli_started()
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C anywhere, imports and start-up included
        print(INTERRUPTED, file=sys.stderr)
        return 130
    except _ArgumentError as exc:
        print(f"dse: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except _USER_ERRORS as exc:
        print(f"dse: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except RecursionError:
        print("dse: error: input nested too deeply", file=sys.stderr)
        return 2
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except Exception as exc:
        if os.environ.get("DSE_DEBUG"):
            traceback.print_exc()
        print(f"dse: internal error: {type(exc).__name__}: {one_line(exc)} (a bug in dse; "
              "set DSE_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "storage", None) is not None:
        check_storage_spec(args.storage)
    warnings.filterwarnings("ignore", module="optuna")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return int(_COMMANDS[args.command](args) or 0)


def _silence_stdout() -> None:
    # The reader went away (``dse status | head``): flushing at exit must not raise again.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=1, default=_json_default, allow_nan=False))


def _json_default(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)


# -- run ----------------------------------------------------------------------------------------
def _cmd_run(args: argparse.Namespace) -> int:
    from dse._run import run_study
    from dse._spec import find_study_file, load_spec

    for flag, value in (("--n-trials", args.n_trials), ("--workers", args.workers)):
        if value is not None and value < 1:
            raise DseError(f"{flag}={value}: expected an integer >= 1")
    if args.timeout is not None and not 0 < args.timeout < float("inf"):
        raise DseError(f"--timeout={args.timeout}: expected a positive number of seconds")
    if args.seed is not None:
        check_seed(args.seed, "--seed")
    spec = load_spec(find_study_file(args.study)).with_overrides(
        n_trials=args.n_trials, workers=args.workers, ray_address=args.ray_address,
        seed=args.seed, timeout_s=args.timeout, storage=args.storage, name=args.name,
    )
    quiet = args.quiet or args.json
    for note in spec.notes:
        print(f"dse: note: {note}", file=sys.stderr)
    summary = run_study(spec, quiet=quiet, cache_dir=args.cache_dir)
    data = {k: v for k, v in summary.__dict__.items() if k != "front_columns"}
    if args.json:
        _print_json(data)
    else:
        state = " (interrupted; re-run to resume)" if summary.interrupted else ""
        head = f"study {summary.study_name!r} [{summary.mode}] in {summary.storage}: "
        if summary.mode == "sweep":
            sw = summary.sweep
            body = (f"swept {_swept(sw)} ({sw.get('points_per_s', 0):,}/s, "
                    f"{sw.get('feasible', 0):,} feasible, {sw.get('failed', 0):,} failed), "
                    f"front {sw.get('front', 0)}{_thinned(sw)}; {summary.n_new} trials recorded"
                    f"{_sweep_files(sw)}" if sw else "nothing to do")
        else:
            body = (f"{summary.n_finished} finished, {summary.n_new} new "
                    f"({summary.n_complete} complete, {summary.n_failed} failed, "
                    f"{summary.n_pruned} pruned)")
        print(f"{head}{body} in {summary.seconds:.1f} s{state}")
        if summary.hypervolume is not None:
            line = f"hypervolume {summary.hypervolume:.6g} ({summary.hypervolume_reference})"
            if summary.true_hypervolume_fraction is not None:
                frac = summary.true_hypervolume_fraction
                reached = "reached" if frac >= 0.99 else "not yet at"
                line += (f"; {frac:.1%} of the known true hypervolume "
                         f"{summary.true_hypervolume:.6g} ({reached} 99%)")
            print(line)
    if summary.all_failed and not summary.interrupted:
        print(f"dse: error: every trial of this run failed ({summary.n_failed}): "
              f"{summary.failure_summary()}", file=sys.stderr)
        return 1
    if not summary.interrupted:
        _write_outputs(spec, quiet=args.json)
    return 130 if summary.interrupted else 0


def _swept(sweep: dict[str, Any]) -> str:
    """``7,440 points``, or ``7,440 distinct designs of 34,560 points`` when the exhaustive
    enumeration (what the progress bar counted) met designs it had already evaluated."""
    evaluated, enumerated = sweep.get("evaluated", 0), sweep.get("enumerated", 0)
    if enumerated > evaluated:
        return f"{evaluated:,} distinct designs of {enumerated:,} points"
    return f"{evaluated:,} points"


def _write_outputs(spec: Any, quiet: bool) -> None:
    """The study file's ``[outputs]``: its report and its Pareto set's export, paths printed."""
    from dse._export import export_records
    from dse._storage import open_storage

    out = spec.outputs
    if out.report is None and out.export is None:
        return
    storage = open_storage(spec.storage, create=False)
    lines = []
    if out.report is not None:
        build_report = _dashboards("build_report")
        if build_report is not None:
            lines.append(f"report: {build_report(storage, [spec.name], out.report)}")
    if out.export is not None:
        study = _load_study(spec.storage, spec.name)
        paths = export_records(study, out.export, list(out.formats), pareto_only=True)
        lines += [f"Pareto set exported: {p}" for p in paths]
        lines.append(f"re-evaluate: dse evaluate --study {spec.path} --config {paths[0]} --json")
    if not quiet:
        print("\n".join(lines))


def _thinned(sweep: dict[str, Any]) -> str:
    front, recorded = sweep.get("front", 0), sweep.get("front_recorded", sweep.get("front", 0))
    return f" ({recorded} of them as trials, all in the front table)" if recorded < front else ""


def _sweep_files(sweep: dict[str, Any]) -> str:
    if "files_bytes" not in sweep:
        return ""
    return f"; sweep files {sweep['files_bytes'] / 1e6:,.1f} MB in {sweep.get('files', '')}"


# -- status -------------------------------------------------------------------------------------
def _cmd_status(args: argparse.Namespace) -> int:
    rows = study_status(args.storage)
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print("no studies in the storage")
        return 0
    for r in rows:
        states = ", ".join(f"{v} {k}" for k, v in r["states"].items())
        best = "  ".join(f"{k}={v:.4g}" for k, v in r["best"].items() if v is not None)
        hv = r["hypervolume_normalized"]
        hv_s = "" if hv is None else (
            f"  HV={hv:.4f} ({r['hypervolume_reference']})")
        print(f"{r['study']} [{r['mode'] or '-'}]: {r['trials']} trials ({states}); "
              f"Pareto {r['pareto_size']}; best {best or '-'}{hv_s}")
    return 0


# -- report / dashboard -------------------------------------------------------------------------
def _dashboards(name: str) -> Any:
    """A function of the dashboards package, or None when the package is missing."""
    try:
        import dashboards
    except ImportError:
        print("dse: the dashboards are not installed", file=sys.stderr)
        return None
    return getattr(dashboards, name)


def _cmd_report(args: argparse.Namespace) -> int:
    from dse._storage import open_storage

    build_report = _dashboards("build_report")
    if build_report is None:
        return 2
    storage = open_storage(args.storage, create=False)
    if args.compare:
        names = ([args.study_name] if args.study_name else []) + list(args.compare)
        path = _dashboards("build_comparison")(storage, names, args.output)
        print(f"comparison written to {path}")
        return 0
    path = build_report(storage, [args.study_name] if args.study_name else None, args.output)
    print(f"report written to {path}")
    return 0


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from dse._storage import open_storage

    check_port(args.port)
    serve = _dashboards("serve")
    if serve is None:
        return 2
    serve(open_storage(args.storage, create=False), host=args.host, port=args.port,
          push_to_optuna_dashboard=args.push_figures)
    return 0


def _cmd_salvage(args: argparse.Namespace) -> int:
    from dse._journal import salvage_journal

    try:
        report = salvage_journal(args.source, args.dest)
    except OSError as exc:
        raise DseError(f"salvage: {exc.filename}: {exc.strerror or exc}; expected an existing "
                       "journal file and a new destination path") from None
    print(report.line(args.source, args.dest))
    return 0


# -- export -------------------------------------------------------------------------------------
def _load_study(storage_spec: str | None, name: str) -> Any:
    import optuna

    from dse._storage import open_storage

    storage = open_storage(storage_spec, create=False)
    names = [s.study_name for s in storage.get_all_studies()]
    if name not in names:
        raise DseError(f"unknown study {name!r}; the storage has: {', '.join(names) or 'none'}")
    return optuna.load_study(study_name=name, storage=storage)


def _cmd_export(args: argparse.Namespace) -> int:
    from dse._export import export_records, formats_for

    formats = formats_for(args.output, args.format)
    study = _load_study(args.storage, args.study_name)
    paths = export_records(study, args.output, formats, pareto_only=args.pareto,
                           feasible_only=args.feasible, where=args.where, sort=args.sort,
                           top=args.top)
    for p in paths:
        print(f"wrote {p}")
    return 0


# -- evaluate -----------------------------------------------------------------------------------
def _parse_kv(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise DseError(f"{what} {item!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def _option_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from costmodels import get_model_class

    if args.study is not None:
        return _evaluate_study(args)
    if args.model is None:
        raise DseError("evaluate: expected a model name, or --study NAME --config FILE")
    options = {k: _option_value(v) for k, v in _parse_kv(args.option, "--option").items()}
    sets = _parse_kv(args.set, "--set")
    get_model_class(args.model)  # unknown model: one-line error before anything else
    expected: list[dict[str, Any]] | None = None
    if args.config:
        points, options, expected = points_from_config(args.config, args.model, options, sets)
    else:
        lists = {k: v.split(",") for k, v in sets.items()}
        n = max((len(v) for v in lists.values()), default=1)
        for k, v in lists.items():
            if len(v) not in (1, n):
                raise DseError(f"--set {k}: {len(v)} values; expected 1 or {n} like the others")
        points = [{k: (v[i] if len(v) > 1 else v[0]) for k, v in lists.items()}
                  for i in range(n)]
    results = evaluate_points(args.model, points, options)
    if args.json:
        _print_json(results[0] if len(results) == 1 else results)
        return 0
    units = {o.name: o.unit for o in build_model(args.model, options).outputs}
    for i, r in enumerate(results):
        feas = "feasible" if r["feasible"] else "INFEASIBLE"
        print(f"{r['model']} point {i} ({feas})")
        _print_metric_table(r, units, expected[i] if expected else None)
    return 0


def _print_metric_table(result: dict[str, Any], units: dict[str, str],
                        exported: dict[str, Any] | None) -> None:
    """Metrics and violations with their units; against an export, whether each matches."""
    rows = [(k, v, units.get(k, ""), "") for k, v in result["metrics"].items()]
    rows += [(k, v, units.get(k, ""), "violation, <= 0 feasible")
             for k, v in result["constraints"].items()]
    width = max((len(k) for k, *_ in rows), default=10)
    head = f"  {'metric':<{width}}  {'value':>14}  {'unit':<8}"
    print(head + ("  exported" if exported is not None else ""))
    for k, v, unit, note in rows:
        line = f"  {k:<{width}}  {_fmt_value(v):>14}  {unit:<8}"
        if exported is not None:
            if k not in exported:
                line += "  (not in the export)"
            else:
                line += "  matches" if exported[k] == v else f"  DIFFERS: {exported[k]!r}"
        print(line + (f"  ({note})" if note else ""))


def _fmt_value(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _evaluate_study(args: argparse.Namespace) -> int:
    from dse._evaluate_study import evaluate_records
    from dse._export import load_records
    from dse._spec import find_study_file, load_spec

    if args.model is not None:
        raise DseError(f"evaluate: give a model ({args.model!r}) or --study, not both")
    if not args.config:
        raise DseError("evaluate --study: expected --config FILE (records of 'dse export')")
    if args.set or args.option:
        raise DseError("evaluate --study: --set and --option apply to one model; the study "
                       "file sets the options")
    spec = load_spec(find_study_file(args.study))
    results = evaluate_records(spec, load_records(args.config))
    if args.json:
        _print_json(results)
        return 0
    for r in results:
        feas = "feasible" if r["feasible"] else "INFEASIBLE"
        print(f"{r['study']} trial {r['trial']} ({feas})")
        for k, v in r["metrics"].items():
            print(f"  {k:36s} {v}")
    return 0


# -- models / spaces / validate -----------------------------------------------------------------
def _param_info(p: Any) -> dict[str, Any]:
    return {"name": p.name, "kind": type(p).__name__, "range": p.describe_range(),
            "default": _json_default(p.default) if isinstance(p.default, np.generic)
            else p.default, "unit": p.unit, "doc": p.doc}


def _cmd_models(args: argparse.Namespace) -> int:
    from costmodels import available_models, get_model_class

    rows: list[dict[str, Any]] = []
    for name in available_models():
        try:
            cls = get_model_class(name)
        except Exception as exc:
            rows.append({"name": name, "error": f"{type(exc).__name__}: {exc}"})
            continue
        rows.append({
            "name": name, "version": cls.version, "doc": cls.doc,
            "expensive": cls.expensive,
            "inputs": [_param_info(p) for p in cls.inputs],
            "outputs": [{"name": o.name, "unit": o.unit,
                         "direction": o.direction or "constraint (<= 0 feasible)",
                         "doc": o.doc} for o in cls.outputs],
        })
    if args.json:
        _print_json(rows)
        return 0
    for r in rows:
        if "error" in r:
            print(f"{r['name']}: cannot load ({r['error']})")
            continue
        print(f"{r['name']} (v{r['version']}): {r['doc']}")
        for p in r["inputs"]:
            unit = f" [{p['unit']}]" if p["unit"] else ""
            print(f"  in   {p['name']}{unit}: {p['range']}; default {p['default']!r}")
        for o in r["outputs"]:
            unit = f" [{o['unit']}]" if o["unit"] else ""
            print(f"  out  {o['name']}{unit}: {o['direction']}")
    return 0


def _cmd_spaces(args: argparse.Namespace) -> int:
    from search_spaces import available_domains, domain

    rows: list[dict[str, Any]] = []
    for name in available_domains():
        try:
            s = domain(name)
        except Exception as exc:
            rows.append({"name": name, "error": f"{type(exc).__name__}: {exc}"})
            continue
        rows.append({
            "name": name, "doc": s.doc, "size": s.size,
            "params": [_param_info(p) | ({"condition": [p.condition.parent,
                                                         list(p.condition.values)]}
                                         if p.condition else {}) for p in s.params],
            "derived": [d.name for d in s.derived],
            "constraints": [{"name": c.name, "doc": c.doc} for c in s.constraints],
        })
    if args.json:
        _print_json(rows)
        return 0
    for r in rows:
        if "error" in r:
            print(f"{r['name']}: cannot load ({r['error']})")
            continue
        size = f"{r['size']:,} points" if r["size"] else "continuous"
        print(f"{r['name']}: {r['doc']} ({size})")
        for p in r["params"]:
            cond = f" if {p['condition'][0]} in {p['condition'][1]}" if "condition" in p else ""
            print(f"  {p['name']}: {p['range']}{cond}")
        for c in r["constraints"]:
            print(f"  constraint {c['name']}: {c['doc']}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from dse._files import study_file_text

    sys.stdout.write(study_file_text(args.study))
    return 0


def _cmd_init(args: argparse.Namespace) -> int:
    from dse._files import copy_study_file

    target = copy_study_file(args.study, args.path)
    print(f"wrote {target}; edit it, then: dse run {target}")
    return 0


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} B"


def _cmd_cache(args: argparse.Namespace) -> int:
    from dse._files import cache_root, clear_caches, list_caches

    if args.clear is not None:
        gone = clear_caches(args.clear or None)
        for c in gone:
            print(f"cleared {c.name}: {c.files:,} files, {_size(c.bytes)} ({c.path})")
        if not gone:
            print(f"no caches under {cache_root()}")
        return 0
    caches = list_caches()
    if args.json:
        _print_json([{"name": c.name, "path": str(c.path), "files": c.files, "bytes": c.bytes}
                     for c in caches])
        return 0
    if not caches:
        print(f"no caches under {cache_root()} (set DSE_CACHE_DIR to move them)")
    for c in caches:
        print(f"{c.name}: {c.files:,} files, {_size(c.bytes)} ({c.path})")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    """Print every anchor; exit 1 when a record misses its tolerance without being documented."""
    rows = validate_models(args.model)
    failed = [r for r in rows if not r["ok"] and not r["expected_miss"]]
    if args.json:
        _print_json([{k: stored(v) for k, v in r.items()} for r in rows])
        return 1 if failed else 0
    if not rows:
        print("no published anchors for " + (args.model or "the registered models"))
        return 0
    print(f"{'model':12s} {'anchor':64s} {'kind':11s} {'published':>12s} {'modeled':>12s} "
          f"{'error':>8s} {'tol':>6s}  ok")
    for r in rows:
        verdict = "yes" if r["ok"] else ("no (expected miss)" if r["expected_miss"] else "NO")
        print(f"{r['model']:12s} {r['anchor'][:64]:64s} {r['kind']:11s} {r['published']:12.4g} "
              f"{r['modeled']:12.4g} {100 * r['rel_error']:7.2f}% {100 * r['tolerance']:5.1f}%"
              f"  {verdict}")
    within = sum(bool(r["ok"]) for r in rows)
    expected = sum(not r["ok"] and r["expected_miss"] for r in rows)
    kinds = ", ".join(f"{sum(r['kind'] == k for r in rows)} {k}" for k in ANCHOR_KINDS)
    print(f"{within}/{len(rows)} anchors within tolerance ({kinds}); "
          f"{expected} documented miss(es), {len(failed)} undocumented miss(es)")
    return 1 if failed else 0


_COMMANDS = {
    "run": _cmd_run,
    "status": _cmd_status,
    "report": _cmd_report,
    "dashboard": _cmd_dashboard,
    "salvage": _cmd_salvage,
    "export": _cmd_export,
    "evaluate": _cmd_evaluate,
    "models": _cmd_models,
    "spaces": _cmd_spaces,
    "validate": _cmd_validate,
    "show": _cmd_show,
    "init": _cmd_init,
    "cache": _cmd_cache,
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
