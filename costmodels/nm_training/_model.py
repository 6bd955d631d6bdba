"""``NMTrainingModel``: proxy accuracy of an N:M recipe plus its FLOPs and memory accounting."""

from __future__ import annotations

import contextlib
import importlib
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import asdict, replace
from typing import Any

import numpy as np

from costmodels._protocol import Anchor, CostModel, EvalContext, ModelError, Output, PruneRequested
from costmodels.nm_training import _accounting as acc
from costmodels.nm_training._anchors import anchors as _anchors
from costmodels.nm_training._cache import ResultCache, code_version, default_cache_dir
from costmodels.nm_training._recipes import BACKWARD_RULES, DECAY_RECIPES, RECIPES, Recipe
from search_spaces import Categorical, Float, Int


__all__ = ["NMTrainingModel", "require_torch", "torch_threads"]

INSTALL_HINT = "pip install 'dse[train]'"

# Proxy sizes, duplicated from ``_proxy.FIDELITIES`` (which imports torch) so accounting and
# violations work without torch; a test checks the two agree.
_PROXY_SHAPES: dict[str, dict[str, int]] = {
    "tiny": {
        "steps": 40,
        "batch": 32,
        "d_model": 32,
        "d_ff": 64,
        "n_layers": 1,
        "tokens": 8,
        "token_dim": 16,
        "n_classes": 10,
    },
    "default": {
        "steps": 600,
        "batch": 64,
        "d_model": 64,
        "d_ff": 256,
        "n_layers": 2,
        "tokens": 8,
        "token_dim": 16,
        "n_classes": 10,
    },
    "long": {
        "steps": 2400,
        "batch": 64,
        "d_model": 64,
        "d_ff": 256,
        "n_layers": 2,
        "tokens": 8,
        "token_dim": 16,
        "n_classes": 10,
    },
}

_SCHEDULE_FIELDS = (
    "dense_warmup_frac",
    "decay_end_frac",
    "decay_final",
    "finetune_frac",
    "mask_update_interval",
    "sdgf_k",
)
_NATIVE_GROUPS = {
    "pattern": ("n", "m", "sparse_layers", "mask_axis"),
    "schedule": _SCHEDULE_FIELDS,
    "gradient": ("backward", "srste_lambda_w"),
    "deploy": ("value_bits", "metadata_format"),
}


def require_torch() -> Any:
    """Import torch or raise a one-line :class:`ModelError` saying what to install."""
    try:
        return importlib.import_module("torch")
    except ImportError:
        raise ModelError(
            f"model 'nm_training' trains a PyTorch proxy but torch is not installed: "
            f"{INSTALL_HINT}"
        ) from None


@contextlib.contextmanager
def torch_threads(torch: Any, threads: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class NMTrainingModel(CostModel):
    """N:M sparse training recipes (SR-STE, MDGF, SDGF) on a small transformer proxy.

    Options:
        fidelity: ``"default"`` (600 steps, about 10 s per training on one core), ``"long"``
            (2400 steps; the decay recipes separate from SR-STE at 1:16 and 1:32 only at this
            length, docs/models/nm_training.md §5) or ``"tiny"`` (tests).
        steps: Override the number of training steps of the fidelity.
        n_seeds: Seeds trained per point (``seed, seed + 1, ...``); outputs are their mean.
        workload: What the accounting outputs describe: ``"proxy"`` (the trained proxy) or
            ``"vit_b"`` (ViT-B/16 of [paper] Table 17 with its 350-epoch ImageNet budget).
        cache_dir: Result cache directory; ``"auto"`` = ``$DSE_CACHE_DIR/nm_training`` or
            ``~/.cache/dse/nm_training``; ``None`` disables the cache.
        threads: torch intra-op threads per training.
        lr: Override the proxy's peak learning rate.
    """

    name = "nm_training"
    version = "1"
    doc = "N:M sparse training recipes with decay schedules: proxy accuracy, FLOPs, memory"
    expensive = True
    inputs = (
        Categorical(
            "recipe",
            RECIPES,
            default_value="mdgf_exp",
            doc="training recipe (dense, STE, SR-STE, MDGF-linear/exp, SDGF)",
        ),
        Int("n", 1, 128, default_value=1, doc="kept weights per group (N of N:M)"),
        Categorical("m", (4, 8, 16, 32, 64, 128), default_value=32, doc="group size (M of N:M)"),
        Categorical(
            "sparse_layers",
            tuple(acc.LAYER_GROUPS),
            default_value="ff",
            doc="which projections are N:M (embedding and head stay dense)",
        ),
        Categorical(
            "mask_axis",
            ("input", "output"),
            default_value="input",
            doc="groups along the reduction (input, code's ROW) or output dimension",
        ),
        Categorical(
            "backward",
            BACKWARD_RULES,
            default_value="ste",
            doc="MDGF gradient of decayed weights: straight-through or scaled by D",
        ),
        Float(
            "srste_lambda_w",
            1e-6,
            1e-1,
            log=True,
            default_value=2e-4,
            doc="SR-STE weight on pruned weights (lambda_w)",
        ),
        Float("dense_warmup_frac", 0.0, 0.5, default_value=0.05, doc="dense warm-up fraction"),
        Float(
            "decay_end_frac",
            0.01,
            1.0,
            default_value=0.7,
            doc="fraction of training where the decay (MDGF D or SDGF chain) ends",
        ),
        Float(
            "decay_final",
            1e-6,
            0.5,
            log=True,
            default_value=1e-3,
            doc="MDGF decay factor D reached at decay_end_frac",
        ),
        Float("finetune_frac", 0.0, 0.5, default_value=0.15, doc="binary fine-tune fraction"),
        Categorical(
            "sdgf_k",
            (2, 4, 8, 16, 32),
            default_value=16,
            doc="SDGF-geometric start multiple k (paper 16, code 8)",
        ),
        Int(
            "mask_update_interval",
            1,
            10000,
            log=True,
            default_value=1,
            unit="steps",
            doc="steps between mask recomputations",
        ),
        Int("seed", 0, 1_000_000, default_value=0, doc="proxy training seed"),
        Categorical(
            "value_bits",
            (8, 16, 32),
            default_value=16,
            unit="bit",
            doc="bits per stored weight value",
        ),
        Categorical(
            "metadata_format",
            ("index", "combinatorial"),
            default_value="index",
            doc="N:M metadata encoding",
        ),
    )
    outputs = (
        Output("top1_acc", "%", "maximize", "proxy validation accuracy of the deployed N:M model"),
        Output("top1_acc_std", "%", "minimize", "std of top1_acc over the seeds (0 for one seed)"),
        Output("val_loss", "nat", "minimize", "proxy validation cross-entropy"),
        Output("train_flops", "FLOP", "minimize", "training FLOPs of the workload's budget"),
        Output("inference_flops", "FLOP", "minimize", "forward FLOPs per sample"),
        Output("model_bytes", "B", "minimize", "deployed weights: values plus N:M metadata"),
        Output("optimizer_bytes", "B", "minimize", "Adam state (m, v in fp32), dense"),
        Output("grad_abs_var", "", "minimize", "diagnostic: mean var(|dL/dW|) of sparse layers"),
        Output("grad_abs_var_q1", "", "minimize", "diagnostic: same over the first quarter"),
        Output("adam_v_var", "", "minimize", "diagnostic: mean var of Adam v_t, sparse layers"),
        Output("mask_flip_rate", "", "minimize", "diagnostic: mask entries flipped per update"),
        Output(
            "recipe_violation",
            "",
            None,
            "> 0 when N > M, M does not divide a layer, or the decay ends before it starts "
            "or after the fine-tune begins",
        ),
    )

    def __init__(
        self,
        fidelity: str = "default",
        steps: int | None = None,
        n_seeds: int = 1,
        workload: str = "proxy",
        cache_dir: str | None = "auto",
        threads: int = 1,
        lr: float | None = None,
    ) -> None:
        if fidelity not in _PROXY_SHAPES:
            raise ModelError(f"fidelity={fidelity!r}: expected one of {', '.join(_PROXY_SHAPES)}")
        if workload not in ("proxy", *acc.ARCHS):
            raise ModelError(
                f"workload={workload!r}: expected 'proxy' or one of {list(acc.ARCHS)}"
            )
        if steps is not None and steps < 1:
            raise ModelError(f"steps={steps} must be >= 1")
        if n_seeds < 1:
            raise ModelError(f"n_seeds={n_seeds} must be >= 1")
        self.fidelity, self.steps, self.n_seeds = fidelity, steps, int(n_seeds)
        self.workload, self.threads, self.lr = workload, int(threads), lr
        self.cache = ResultCache(default_cache_dir() if cache_dir == "auto" else cache_dir)
        # Reason per batch index of the last evaluate() for points returned as NaN.
        self.last_failures: dict[int, str] = {}
        self._curves: dict[str, list[dict[str, Any]]] = {}

    def check_runtime(self) -> None:
        """Training needs torch: a one-line error with its install command when it is missing."""
        require_torch()

    # -- shapes ----------------------------------------------------------------------------
    @property
    def total_steps(self) -> int:
        return self.steps or _PROXY_SHAPES[self.fidelity]["steps"]

    def _proxy_arch(self) -> acc.ArchSpec:
        s = _PROXY_SHAPES[self.fidelity]
        return acc.ArchSpec(
            "proxy",
            s["tokens"],
            s["d_model"],
            s["d_ff"],
            s["n_layers"],
            s["token_dim"],
            s["n_classes"],
            True,
            float(self.total_steps * s["batch"]),
        )

    def _arch(self) -> acc.ArchSpec:
        return self._proxy_arch() if self.workload == "proxy" else acc.ARCHS[self.workload]

    # -- feasibility ----------------------------------------------------------------------------
    def violations(self, batch: Mapping[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
        """``recipe_violation`` per point and a reason for each infeasible one."""
        recipe = np.asarray(batch["recipe"])
        n, m = np.asarray(batch["n"], np.float64), np.asarray(batch["m"], np.float64)
        w = np.asarray(batch["dense_warmup_frac"], np.float64)
        e = np.asarray(batch["decay_end_frac"], np.float64)
        ft = np.asarray(batch["finetune_frac"], np.float64)
        sparse = recipe != "dense"
        decay = np.isin(recipe, DECAY_RECIPES)
        parts = {
            "n": np.where(sparse, n - m, -1.0),
            "decay_end_frac (ends before the warm-up ends)": np.where(decay, w - e + 1e-9, -1.0),
            "decay_end_frac (runs into the fine-tune)": np.where(decay, e - (1.0 - ft), -1.0),
        }
        archs = [self._proxy_arch()] + ([self._arch()] if self.workload != "proxy" else [])
        for arch in archs:
            for sl in np.unique(np.asarray(batch["sparse_layers"])):
                dims = _grouped_dims(arch, str(sl), np.asarray(batch["mask_axis"]))
                bad = (
                    np.any(dims % m[:, None] != 0, axis=1) if dims.size else np.zeros(len(m), bool)
                )
                key = f"m (does not divide a layer dimension of {arch.name})"
                hit = (np.asarray(batch["sparse_layers"]) == sl) & sparse & bad
                parts[key] = np.maximum(parts.get(key, -1.0), np.where(hit, 1.0, -1.0))
        viol = np.max(np.stack(list(parts.values())), axis=0)
        reasons = ["; ".join(k for k, v in parts.items() if v[i] > 0) for i in range(len(viol))]
        return viol, reasons

    # -- evaluation ----------------------------------------------------------------------------
    def accounting(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """FLOPs and memory outputs (no training, no torch)."""
        arch = self._arch()
        recipe = np.asarray(batch["recipe"])
        n = np.asarray(batch["n"], np.int64)
        m = np.asarray(batch["m"], np.int64)
        dense = (recipe == "dense") | (n >= m)
        n_eff = np.where(dense, m, n)
        fwd, dw = acc.mean_step_densities(
            recipe,
            n_eff,
            m,
            batch["dense_warmup_frac"],
            batch["finetune_frac"],
            batch["decay_end_frac"],
            batch["backward"],
        )
        out: dict[str, np.ndarray] = {}
        layers = np.asarray(batch["sparse_layers"])
        flops_t, flops_i, mbytes = (np.empty(len(n)) for _ in range(3))
        for sl in np.unique(layers):
            sel = layers == sl
            flops_t[sel] = acc.training_flops(arch, str(sl), arch.train_samples, fwd[sel], dw[sel])
            flops_i[sel] = acc.inference_flops(arch, str(sl), n_eff[sel] / m[sel])
            mbytes[sel] = acc.model_bytes(
                arch,
                str(sl),
                n_eff[sel],
                m[sel],
                np.asarray(batch["value_bits"])[sel],
                np.asarray(batch["metadata_format"])[sel],
            )
        out["train_flops"], out["inference_flops"], out["model_bytes"] = flops_t, flops_i, mbytes
        out["optimizer_bytes"] = np.full(len(n), acc.optimizer_bytes(arch))
        return out

    def recipe_of(self, params: Mapping[str, Any]) -> Recipe:
        """The :class:`Recipe` of one design point (validates it, naming a bad field)."""
        return Recipe(
            recipe=str(params["recipe"]),
            n=int(params["n"]),
            m=int(params["m"]),
            total_steps=self.total_steps,
            dense_warmup_frac=float(params["dense_warmup_frac"]),
            finetune_frac=float(params["finetune_frac"]),
            decay_end_frac=float(params["decay_end_frac"]),
            decay_final=float(params["decay_final"]),
            sdgf_k=int(params["sdgf_k"]),
            mask_update_interval=int(params["mask_update_interval"]),
            backward=str(params["backward"]),
            srste_lambda_w=float(params["srste_lambda_w"]),
        )

    def _proxy_config(self, torch_mod: Any) -> Any:
        from costmodels.nm_training._proxy import FIDELITIES

        cfg = replace(FIDELITIES[self.fidelity], steps=self.total_steps)
        return cfg if self.lr is None else replace(cfg, lr=float(self.lr))

    def _cache_key(self, cfg: Any, params: Mapping[str, Any], seed: int, torch_v: str) -> str:
        relevant = {k: _plain(params[k]) for k in _TRAINING_INPUTS}
        relevant.update(seed=seed)
        return ResultCache.key(
            {
                "model": self.name,
                "version": self.version,
                "code": code_version(),
                "torch": torch_v,
                "proxy": asdict(cfg),
                "params": relevant,
            }
        )

    def train_point(
        self, params: Mapping[str, Any], context: EvalContext | None = None
    ) -> list[dict[str, Any]]:
        """Train (or read from the cache) every seed of one point; one result dict per seed."""
        torch = require_torch()
        from costmodels.nm_training._proxy import train_proxy

        cfg = self._proxy_config(torch)
        recipe = self.recipe_of(params)
        results = []
        for i in range(self.n_seeds):
            seed = int(params["seed"]) + i
            offset = i * cfg.steps

            def report(step: int, val_acc: float, val_loss: float, offset: int = offset) -> bool:
                if context is None:
                    return False
                context.report(offset + step, {"val_acc": val_acc, "val_loss": val_loss})
                return bool(context.should_prune())

            key = self._cache_key(cfg, params, seed, torch.__version__)
            hit = self.cache.get(key)
            if hit is not None:
                for row in hit["curve"]:
                    if report(int(row["step"]), row["val_acc"], row["val_loss"]):
                        raise PruneRequested(f"pruned at step {offset + int(row['step'])}")
            else:
                with torch_threads(torch, self.threads):
                    res = train_proxy(
                        cfg,
                        recipe,
                        str(params["sparse_layers"]),
                        "output" if params["mask_axis"] == "output" else "input",
                        seed,
                        report,
                    )
                if res.failure == "pruned":
                    last = res.curve[-1]["step"] if res.curve else 0
                    raise PruneRequested(f"pruned at step {offset + last}")
                hit = res.as_dict()
                self.cache.put(key, hit)
            self._curves[key] = hit["curve"]
            results.append(hit)
        return results

    def evaluate(
        self, batch: Mapping[str, np.ndarray], context: EvalContext | None = None
    ) -> dict[str, np.ndarray]:
        size = len(np.asarray(batch["recipe"]))
        out = self.accounting(batch)
        viol, reasons = self.violations(batch)
        out["recipe_violation"] = viol
        trained = (
            "top1_acc",
            "top1_acc_std",
            "val_loss",
            "grad_abs_var",
            "grad_abs_var_q1",
            "adam_v_var",
            "mask_flip_rate",
        )
        for name in trained:
            out[name] = np.full(size, np.nan)
        self.last_failures = {}
        for i in range(size):  # one proxy training per point: the expensive, per-point part
            if viol[i] > 0:
                self.last_failures[i] = f"infeasible recipe: {reasons[i]}"
                continue
            params = {k: np.asarray(v)[i].item() for k, v in batch.items()}
            runs = self.train_point(params, context)
            failed = [r["failure"] for r in runs if r["failure"]]
            if failed:
                self.last_failures[i] = failed[0]
                warnings.warn(f"nm_training: {failed[0]}", RuntimeWarning, stacklevel=2)
                continue
            accs = np.array([r["val_acc"] for r in runs])
            out["top1_acc"][i] = accs.mean()
            out["top1_acc_std"][i] = accs.std(ddof=1) if len(accs) > 1 else 0.0
            out["val_loss"][i] = np.mean([r["val_loss"] for r in runs])
            for name in ("grad_abs_var", "grad_abs_var_q1", "adam_v_var", "mask_flip_rate"):
                out[name][i] = np.mean([r["diagnostics"].get(name, np.nan) for r in runs])
        return out

    # -- extras ----------------------------------------------------------------------------
    def anchors(self) -> list[Anchor]:
        return _anchors(self.name)

    def breakdown(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Phase rows of the schedule (steps, pattern, densities, FLOPs) and, when this point was
        already trained (memory or disk cache), its validation curve rows."""
        full = {p.name: params.get(p.name, p.default) for p in self.inputs}
        try:
            recipe = self.recipe_of(full)
        except ModelError:
            return []
        # Phase FLOPs of the accounted workload, so they sum to this point's train_flops.
        arch = self._arch()
        batch_size = arch.train_samples / self.total_steps
        rows: list[dict[str, Any]] = [
            {"kind": "phase", **row}
            for row in acc.training_flops_by_phase(
                recipe, arch, str(full["sparse_layers"]), batch_size
            )
        ]
        try:
            torch = importlib.import_module("torch")
        except ImportError:
            return rows
        key = self._cache_key(
            self._proxy_config(torch), full, int(full["seed"]), torch.__version__
        )
        curve = self._curves.get(key) or (self.cache.get(key) or {}).get("curve", [])
        rows += [{"kind": "curve", **row} for row in curve]
        return rows

    def native_config(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Nested form: ``{recipe, pattern{...}, schedule{...}, gradient{...}, deploy{...},
        seed}``."""
        native: dict[str, Any] = {"recipe": params["recipe"], "seed": params["seed"]}
        for group, keys in _NATIVE_GROUPS.items():
            native[group] = {k: params[k] for k in keys if k in params}
        return native

    def from_native(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Flat parameters from :meth:`native_config`'s nested form.

        Raises:
            ModelError: naming an unknown section or key.
        """
        known = {p.name for p in self.inputs}
        flat: dict[str, Any] = {}
        for section, value in config.items():
            if section in _NATIVE_GROUPS and isinstance(value, Mapping):
                items = dict(value)
            elif section in ("recipe", "seed"):
                items = {section: value}
            else:
                raise ModelError(
                    f"nm_training config: unknown section {section!r}; expected recipe, seed, "
                    f"{', '.join(_NATIVE_GROUPS)}"
                )
            for key, v in items.items():
                if key not in known:
                    raise ModelError(f"nm_training config: unknown key {section}.{key}")
                flat[key] = v
        return flat


# Inputs that change a training (deployment format does not).
_TRAINING_INPUTS = (
    "recipe",
    "n",
    "m",
    "sparse_layers",
    "mask_axis",
    "backward",
    "srste_lambda_w",
    *_SCHEDULE_FIELDS,
)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _grouped_dims(arch: acc.ArchSpec, sparse_layers: str, axis: np.ndarray) -> np.ndarray:
    """Per point, the grouped dimension of every sparsified projection (``(points, layers)``)."""
    red = acc.reduction_dims(arch, sparse_layers)
    out_dims = {
        "q": arch.d_model,
        "k": arch.d_model,
        "v": arch.d_model,
        "o": arch.d_model,
        "fc1": arch.d_ff,
        "fc2": arch.d_model,
    }
    red_arr = np.array(list(red.values()), dtype=np.float64)
    out_arr = np.array([out_dims[k] for k in red], dtype=np.float64)
    return np.where((axis == "output")[:, None], out_arr[None, :], red_arr[None, :])
