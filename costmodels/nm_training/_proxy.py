"""The built-in proxy: a small pre-LN transformer on a locally generated classification task.

Task (generated with numpy, nothing downloaded): teacher-student sequence classification.
Each sample is 8 tokens of 16 standard-normal features; a fixed random per-token ReLU MLP
(``16 -> 128 -> 10``) scores every token, the scores are mean-pooled over the tokens, and the
label is the argmax of the class-centred pooled score (10 roughly balanced classes). The labels
depend on a per-token nonlinear function, so the student's FF layers (the layers [paper]
sparsifies) carry the task; in the default 600 steps a dense student reaches about 70 % validation
accuracy and a 1:32 student several points less, which leaves room for recipes to differ. The
task is fixed by ``task_seed``; the training ``seed`` sets initialisation and batch order.

Model: token embedding ``Linear(16, d)`` plus learned positions, ``L`` encoder blocks
(``attn.q/k/v/o`` projections, ``ff.fc1`` ``d -> d_ff``, GELU, ``ff.fc2``), final LayerNorm,
mean pooling, ``Linear(d, 10)`` head. Embedding and head stay dense, as patch embedding and head
in ViT. Training: AdamW (weight decay 0.01), linear warm-up for 5 % of the steps then cosine
decay to 0, cross-entropy; no gradient clipping (a diverging recipe shows as a NaN loss).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from costmodels._protocol import ModelError
from costmodels.nm_training._accounting import LAYER_GROUPS
from costmodels.nm_training._diagnostics import DiagnosticsLog, sample
from costmodels.nm_training._masks import MaskAxis
from costmodels.nm_training._recipes import Recipe
from costmodels.nm_training._sparse_linear import dense_weights, deploy, sparsify


__all__ = ["FIDELITIES", "ProxyConfig", "ProxyResult", "make_task", "train_proxy"]


@dataclass(frozen=True)
class ProxyConfig:
    """Size and training budget of one proxy training."""

    steps: int = 600
    batch: int = 64
    d_model: int = 64
    d_ff: int = 256
    n_layers: int = 2
    n_heads: int = 4
    tokens: int = 8
    token_dim: int = 16
    n_classes: int = 10
    n_train: int = 20000
    n_val: int = 2000
    lr: float = 2e-3
    weight_decay: float = 0.01
    n_reports: int = 10
    diag_every: int = 10
    task_seed: int = 0


# "default" takes about 10 s per training on one core of an unloaded 2-core machine;
# "tiny" is for tests (well under a second).
FIDELITIES: dict[str, ProxyConfig] = {
    "tiny": ProxyConfig(
        steps=40,
        batch=32,
        d_model=32,
        d_ff=64,
        n_layers=1,
        n_heads=2,
        n_train=1024,
        n_val=256,
        n_reports=4,
        diag_every=5,
    ),
    "default": ProxyConfig(),
    # 4x the steps: the schedule the decay recipes need to separate from SR-STE at 1:32
    # (docs/models/nm_training.md §5); about 4x the time.
    "long": ProxyConfig(steps=2400),
}


def make_task(
    cfg: ProxyConfig, teacher_hidden: int = 128
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_val, y_val)``; ``x`` has shape ``(n, tokens, token_dim)``.

    Teacher-student: tokens are standard normal; a random per-token ReLU MLP
    ``token_dim -> teacher_hidden -> n_classes`` (He-style ``1/sqrt(fan_in)`` weights) scores
    every token, the scores are averaged over tokens and centred per class over the data set, and
    the label is their argmax.
    """
    rng = np.random.default_rng(cfg.task_seed)
    n, p = cfg.n_train + cfg.n_val, cfg.token_dim
    x = rng.standard_normal((n, cfg.tokens, p)).astype(np.float32)
    w1 = rng.standard_normal((p, teacher_hidden)) / np.sqrt(p)
    w2 = rng.standard_normal((teacher_hidden, cfg.n_classes)) / np.sqrt(teacher_hidden)
    scores = (np.maximum(x @ w1, 0.0) @ w2).mean(axis=1)
    y = (scores - scores.mean(axis=0)).argmax(axis=1).astype(np.int64)
    t = cfg.n_train
    return x[:t], y[:t], x[t:], y[t:]


class _Attention(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape

        def split(z: torch.Tensor) -> torch.Tensor:
            return z.view(b, t, self.heads, d // self.heads).transpose(1, 2)

        a = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)))
        return self.o(a.transpose(1, 2).reshape(b, t, d))  # type: ignore[no-any-return]


class _FeedForward(nn.Module):
    def __init__(self, d: int, d_ff: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, d_ff), nn.Linear(d_ff, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))  # type: ignore[no-any-return]


class _Block(nn.Module):
    def __init__(self, d: int, d_ff: int, heads: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn, self.ff = _Attention(d, heads), _FeedForward(d, d_ff)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.ff(self.ln2(x))  # type: ignore[no-any-return]


class ProxyTransformer(nn.Module):
    """The proxy network (see the module docstring)."""

    def __init__(self, cfg: ProxyConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.embed = nn.Linear(cfg.token_dim, d)
        self.pos = nn.Parameter(0.02 * torch.randn(cfg.tokens, d))
        self.blocks = nn.ModuleList(_Block(d, cfg.d_ff, cfg.n_heads) for _ in range(cfg.n_layers))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, cfg.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x) + self.pos
        for block in self.blocks:
            h = block(h)
        return self.head(self.ln(h).mean(dim=1))  # type: ignore[no-any-return]


# Qualified-name patterns of the proxy's projections, per accounting kind.
_PATTERNS = {
    "q": "blocks.*.attn.q",
    "k": "blocks.*.attn.k",
    "v": "blocks.*.attn.v",
    "o": "blocks.*.attn.o",
    "fc1": "blocks.*.ff.fc1",
    "fc2": "blocks.*.ff.fc2",
}


def layer_patterns(sparse_layers: str) -> list[str]:
    """Patterns of the proxy layers sparsified by a ``sparse_layers`` choice."""
    if sparse_layers not in LAYER_GROUPS:
        raise ModelError(
            f"sparse_layers={sparse_layers!r}: expected one of {', '.join(LAYER_GROUPS)}"
        )
    return [_PATTERNS[k] for k in LAYER_GROUPS[sparse_layers]]


@dataclass
class ProxyResult:
    """Outcome of one proxy training."""

    val_acc: float
    val_loss: float
    curve: list[dict[str, float]] = field(default_factory=list)
    diagnostics: dict[str, float] = field(default_factory=dict)
    nm_violations: int = 0
    failure: str = ""
    wall_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# Called with (step, val_acc_pct, val_loss); returns True when the run should stop (pruned).
ReportFn = Callable[[int, float, float], bool]


def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss = float(F.cross_entropy(logits, y))
        acc = 100.0 * float((logits.argmax(dim=1) == y).float().mean())
    model.train()
    return acc, loss


def _lr_factor(step: int, total: int) -> float:
    warm = max(1, round(0.05 * total))
    if step < warm:
        return (step + 1) / warm
    return 0.5 * (1.0 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def train_proxy(
    cfg: ProxyConfig,
    recipe: Recipe,
    sparse_layers: str = "ff",
    mask_axis: MaskAxis = "input",
    seed: int = 0,
    report: ReportFn | None = None,
    layers: list[str] | None = None,
) -> ProxyResult:
    """Train the proxy once under ``recipe`` and evaluate the deployed (exactly N:M) weights.

    Args:
        cfg: Proxy size and budget (``recipe.total_steps`` must equal ``cfg.steps``).
        recipe: The N:M recipe.
        sparse_layers: Which projections are sparse (keys of ``LAYER_GROUPS``).
        mask_axis: Group along the ``input`` (reduction) or ``output`` dimension.
        seed: Initialisation and batch-order seed.
        report: Called ``cfg.n_reports`` times with the validation curve; returning True stops.
        layers: Explicit layer-name patterns instead of ``sparse_layers``.

    Returns:
        The result; a NaN loss gives NaN accuracy and loss with the reason in ``failure``.
        A pruned run has ``failure == "pruned"``.
    """
    start = time.perf_counter()
    xt, yt, xv, yv = (torch.from_numpy(a) for a in make_task(cfg))
    torch.manual_seed(seed)
    model = ProxyTransformer(cfg)
    controller = sparsify(model, layers or layer_patterns(sparse_layers), recipe, mask_axis)
    sparse_w = dense_weights(controller, model)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, cfg.steps))
    gen = torch.Generator().manual_seed(seed)
    per_epoch = max(1, cfg.n_train // cfg.batch)
    report_every = max(1, cfg.steps // max(1, cfg.n_reports))
    diag = DiagnosticsLog()
    result = ProxyResult(float("nan"), float("nan"))
    order = torch.randperm(cfg.n_train, generator=gen)
    for step in range(cfg.steps):
        if step % per_epoch == 0 and step:
            order = torch.randperm(cfg.n_train, generator=gen)
        idx = order[(step % per_epoch) * cfg.batch : (step % per_epoch + 1) * cfg.batch]
        controller.set_step(step)
        loss = F.cross_entropy(model(xt[idx]), yt[idx])
        if not torch.isfinite(loss):
            result.failure = f"training diverged: loss {loss.item()} at step {step}"
            result.wall_s = time.perf_counter() - start
            return result
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if step % cfg.diag_every == 0 and sparse_w:
            diag.add(step, sample(sparse_w, opt, controller))
        opt.step()
        sched.step()
        if (step + 1) % report_every == 0 and step + 1 < cfg.steps:
            acc, vloss = _evaluate(model, xv, yv)
            result.curve.append({"step": step + 1, "val_acc": acc, "val_loss": vloss})
            if report is not None and report(step + 1, acc, vloss):
                result.failure = "pruned"
                result.wall_s = time.perf_counter() - start
                return result
    result.nm_violations = sum(deploy(controller, model).values())
    acc, vloss = _evaluate(model, xv, yv)
    result.val_acc, result.val_loss = acc, vloss
    result.curve.append({"step": cfg.steps, "val_acc": acc, "val_loss": vloss})
    if report is not None:
        report(cfg.steps, acc, vloss)
    if not math.isfinite(vloss):
        result.val_acc, result.failure = float("nan"), "training diverged: validation loss is NaN"
    result.diagnostics = diag.summary(cfg.steps)
    result.wall_s = time.perf_counter() - start
    return result
