"""Benchmarks of the sparse-GEMM model: timing-model throughput and compressed-GEMM speed.

Prints measured figures next to their goals (never pass/fail):

* timing model: (design point x layer) evaluations per second on one core (BLAS and numpy
  are single-threaded here, since the model is elementwise numpy), goal >= 5 M/s;
* functional engine: GEMM from the 1:4-compressed form of a 1024 x 1024 x 1024 problem vs
  numpy's dense matmul of the same shape and dtype on this machine, goal <= 3x;
* with ``--rowwise``: the held-out unstructured numbers (95 % and 90 %) with E[N] from the
  i.i.d. formula and measured on actual trained weights (the nm_training proxy transformer,
  trained dense here in about a minute; needs torch), for row chunks 16 / 32 / 64 / 128. A
  table of figures, not a fit: nothing is tuned to the published numbers.

Run: ``python benchmarks/sparse_gemm.py [--points N] [--repeat R] [--rowwise]``.
"""

from __future__ import annotations

import sys
from pathlib import Path as _Path


sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))

import argparse
import os
import time
from typing import Any

from benchmarks._common import cpu_model


def _best(fn, repeat: int, clock=time.perf_counter) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
    return best


def bench_timing_model(points: int, repeat: int) -> None:
    import numpy as np

    from costmodels import get_model
    from search_spaces import domain

    model = get_model("sparse_gemm")
    space = domain("vegeta")
    rng = np.random.default_rng(0)
    batch = {
        k: v for k, v in space.sample(rng, points).items() if k in {p.name for p in model.inputs}
    }
    batch = model.batch(None, **batch)
    layers = len(model.workload)
    model.evaluate({k: v[:1000] for k, v in batch.items()})  # warm-up
    # The model is single-threaded numpy: the CPU time of this process is its cost on one core
    # even when other jobs share the machine; wall time is printed as well.
    t_cpu = _best(lambda: model.evaluate(batch), repeat, time.process_time)
    t_wall = _best(lambda: model.evaluate(batch), repeat)
    print(f"timing model: {points} random points of the vegeta space x {layers} layers")
    for label, t in (("CPU time", t_cpu), ("wall time", t_wall)):
        rate = points * layers / t
        print(
            f"  {label}: {t * 1e3:.0f} ms = {rate / 1e6:.2f} M (point x layer) evaluations/s "
            f"per core   goal >= 5 M   ratio to goal {rate / 5e6:.2f}x   "
            f"({points / t / 1e3:.0f} k points/s)"
        )


def _interleaved(fns: list, repeat: int) -> list[float]:  # type: ignore[type-arg]
    """Best wall time of each function, run alternately so load drift hits all alike."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def bench_spmm(repeat: int) -> None:
    import numpy as np

    from costmodels.sparse_gemm import compress, nm_prune, spmm

    rng = np.random.default_rng(0)
    size = 1024
    for fmt, dtype in (("float32", np.float32), ("float64", np.float64), ("bf16", np.float32)):
        a = rng.standard_normal((size, size)).astype(dtype)
        b = rng.standard_normal((size, size)).astype(dtype)
        packed = compress(a, 1, 4, value_format="bf16" if fmt == "bf16" else "native")
        pruned, _ = nm_prune(a, 1, 4)
        tol = 5e-2 if fmt == "bf16" else 1e-3
        assert np.allclose(spmm(packed, b), pruned @ b, rtol=tol, atol=tol * 10)
        t_dense, t_sparse = _interleaved(
            [lambda: a @ b, lambda: spmm(packed, b)],  # noqa: B023
            repeat,
        )
        label = "bf16 values, fp32 accumulation" if fmt == "bf16" else fmt
        print(
            f"compressed GEMM 1024^3 1:4 ({label}): {t_sparse * 1e3:.1f} ms   numpy dense "
            f"{np.dtype(dtype).name} matmul: {t_dense * 1e3:.1f} ms   ratio "
            f"{t_sparse / t_dense:.2f}x   goal <= 3x"
        )
    print(
        f"  compressed bytes (bf16): {packed.nbytes} (values {packed.value_bytes}, metadata "
        f"{packed.metadata_bytes}); dense bf16 {size * size * 2}"
    )


def trained_proxy_weights(steps: int = 600) -> dict[str, Any]:
    """Linear weights ``[out, in]`` of the nm_training proxy transformer trained dense.

    d_model 128 / d_ff 512 (so every K is a multiple of the longest row chunk), 2 blocks, the
    proxy's task and optimizer; embedding and head left out (the workload has no such layers).
    """
    import torch
    from torch.nn import functional as F

    from costmodels.nm_training._proxy import ProxyConfig, ProxyTransformer, make_task

    cfg = ProxyConfig(steps=steps, d_model=128, d_ff=512)
    xt, yt, _, _ = (torch.from_numpy(a) for a in make_task(cfg))
    torch.manual_seed(0)
    net = ProxyTransformer(cfg)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.randint(0, cfg.n_train, (cfg.batch,), generator=gen)
        loss = F.cross_entropy(net(xt[idx]), yt[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return {
        name: p.detach().numpy().copy()
        for name, p in net.named_parameters()
        if name.startswith("blocks.") and p.ndim == 2
    }


def bench_rowwise_assumptions() -> None:
    import tempfile

    import numpy as np

    from costmodels.sparse_gemm import SparseGemmModel
    from costmodels.sparse_gemm._anchors import HEADLINE

    weights = trained_proxy_weights()
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/proxy.npz"
        np.savez(path, **weights)
        measured = SparseGemmModel(rowwise_matrices=path)
    iid = SparseGemmModel()
    rows = [i for i, h in enumerate(HEADLINE) if h.params.get("sparsity") == "rowwise"]
    shapes = sorted({w.shape for w in weights.values()})
    print(f"row-wise E[N]: i.i.d. closed form vs {len(weights)} trained proxy matrices {shapes}")
    print("  chunk  density  E[N] iid  E[N] measured  published  speed-up iid  measured")
    for chunk in (16, 32, 64, 128):
        values = {
            label: _rowwise_speedups(model, rows, chunk)
            for label, model in (("iid", iid), ("measured", measured))
        }
        for j, i in enumerate(rows):
            h = HEADLINE[i]
            d = h.params["density"]
            en_iid = float(iid.rowwise_n(np.asarray(d), np.asarray(chunk)))
            en_meas = float(measured.rowwise_n(np.asarray(d), np.asarray(chunk)))
            print(
                f"  {chunk:5d}  {d:7.2f}  {en_iid:8.3f}  {en_meas:13.3f}  {h.published:9.2f}  "
                f"{values['iid'][j]:12.3f}  {values['measured'][j]:8.3f}"
            )


def _rowwise_speedups(model, rows: list[int], chunk: int):  # type: ignore[no-untyped-def]
    """Speed-ups of the row-wise headline points at ``row_chunk = chunk``."""
    from costmodels.sparse_gemm._anchors import HEADLINE

    points = [dict(HEADLINE[i].params, row_chunk=chunk) for i in rows]
    batch = model.batch(None, **{k: [p[k] for p in points] for k in points[0]})
    return model.evaluate(batch)["speedup_vs_rasa_sm"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rowwise", action="store_true", help="row-wise E[N] assumptions only")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}, load average {load:.1f}")
    if args.rowwise:
        bench_rowwise_assumptions()
        return
    bench_timing_model(args.points, args.repeat)
    bench_spmm(args.repeat)


if __name__ == "__main__":
    main()
