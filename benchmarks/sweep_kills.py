"""Sweep mode under kills: SIGKILL and SIGINT at random moments, recording included.

Each case starts ``dse run`` on a fresh journal with a demo sweep (exhaustive, every point kept
in the points table, a sample and a front recorded as trials), kills it after a delay drawn
uniformly over a clean run's wall time, then re-runs the same command until it exits 0. It
then counts

* trials duplicated: trials beyond the distinct ``dse.sweep_key``s, plus any parameter set
  recorded more often than in a clean run;
* rows lost or doubled: the points table's ``row`` column must be exactly ``0 .. size - 1``;
* tracebacks: any ``Traceback`` in the killed or re-run commands' stderr.

Usage: ``python benchmarks/sweep_kills.py [--kills N] [--seed S] [--repo CHECKOUT]`` (prints
one table; ``--repo`` measures another checkout, e.g. one before the fix, the same way).
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import optuna  # noqa: E402

from benchmarks._common import machine_line  # noqa: E402


STUDY = textwrap.dedent("""
    [study]
    name = "kills"
    mode = "sweep"
    seed = 1

    [models.demo]
    model = "demo"

    [space]
    domains = ["demo"]

    [space.override]
    "demo.x" = { steps = 201 }
    "demo.y" = { steps = 51 }

    [[objectives]]
    metric = "demo.f1"

    [[objectives]]
    metric = "demo.f2"

    [sweep]
    chunk_size = CHUNK
    sample_rest = 300
    save = "all"
""")
SIZE = 201 * 51 * 4


REPO = Path(__file__).resolve().parent.parent  # --repo: measure another checkout instead


def _run(study: Path, storage: Path, repo: Path) -> subprocess.Popen[bytes]:
    code = "import sys; from dse.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, "run", str(study), "--storage", str(storage), "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=storage.parent,
        env={**os.environ, "PYTHONPATH": str(repo)},
        # A background shell starts us with SIGINT ignored, which children inherit: restore
        # it, so SIGINT is Ctrl-C as on a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _finish(study: Path, storage: Path, repo: Path) -> tuple[int, str]:
    """Re-run until the sweep completes; returns (runs needed, stderr of all of them)."""
    err = ""
    for attempt in range(1, 6):
        proc = _run(study, storage, repo)
        _, stderr = proc.communicate()
        err += stderr.decode(errors="replace")
        if proc.returncode == 0:
            return attempt, err
    return -1, err


def _count(storage: Path) -> tuple[list[tuple], int, int]:
    from dse import open_storage
    from dse._columnar import read_columns

    study = optuna.load_study(study_name="kills", storage=open_storage(str(storage)))
    keys = [t.user_attrs["dse.sweep_key"] for t in study.trials
            if "dse.sweep_key" in t.user_attrs]
    params = [tuple(sorted(t.params.items())) for t in study.trials]
    table = read_columns(study.user_attrs["dse.sweep_file"])
    if "row" not in table:  # a checkout before rows were numbered: count them
        return params, 0, abs(len(table["demo.x"]) - SIZE)
    rows = np.asarray(table["row"])
    lost = len(np.setdiff1d(np.arange(SIZE), rows))
    doubled = len(rows) - len(np.unique(rows))
    return params, len(keys) - len(set(keys)), lost + doubled


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=20, help="cases per signal")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--signals", default="SIGKILL,SIGINT", help="comma list")
    ap.add_argument("--chunk", type=int, default=2000,
                    help="sweep chunk size (smaller: more of the run is sweeping, not recording)")
    ap.add_argument("--repo", type=Path, default=REPO,
                    help="the checkout whose dse runs (default: this one)")
    args = ap.parse_args()
    repo = args.repo.resolve()
    rng = np.random.default_rng(args.seed)
    print(f"{machine_line()}; dse from {repo}; chunk_size {args.chunk}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        study = root / "kills.toml"
        study.write_text(STUDY.replace("CHUNK", str(args.chunk)))
        ref_storage = root / "ref" / "s.journal"
        ref_storage.parent.mkdir()
        t0 = time.perf_counter()
        runs, err = _finish(study, ref_storage, repo)
        wall = time.perf_counter() - t0
        assert runs == 1, err
        reference = collections.Counter(_count(ref_storage)[0])
        print(f"clean run: {wall:.1f} s wall, {sum(reference.values())} trials, {SIZE} rows")
        print("| signal | cases | killed before done | reruns (mean) | trials duplicated "
              "| rows lost or doubled | tracebacks |")
        print("|---|---|---|---|---|---|---|")
        for sig in [signal.Signals[name.strip()] for name in args.signals.split(",")]:
            killed = dup = bad_rows = tracebacks = 0
            reruns = []
            for case in range(args.kills):
                storage = root / f"{sig.name}-{case}" / "s.journal"
                storage.parent.mkdir()
                proc = _run(study, storage, repo)
                time.sleep(float(rng.uniform(0.0, wall)))
                if proc.poll() is None:
                    proc.send_signal(sig)
                    killed += 1
                _, stderr = proc.communicate()
                n, more = _finish(study, storage, repo)
                reruns.append(n)
                text = stderr.decode(errors="replace") + more
                if "Traceback" in text:
                    tracebacks += text.count("Traceback")
                    print(f"{sig.name} case {case}: "
                          + " | ".join(text[text.index("Traceback"):].splitlines()[-3:]),
                          file=sys.stderr)
                params, dup_keys, rows = _count(storage)
                extra = collections.Counter(params) - reference
                dup += dup_keys + sum(extra.values())
                bad_rows += rows
            print(f"| {sig.name} | {args.kills} | {killed} | {np.mean(reruns):.2f} | {dup} "
                  f"| {bad_rows} | {tracebacks} |")


if __name__ == "__main__":
    main()
