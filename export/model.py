"""The LSTM decay model: event embeddings → LSTM → mixture of gamma-shaped kernels head."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from stream_app.model.contract import CATEGORY_BUCKETS, EVENT_TYPE_NAMES, NUMERIC_FEATURES

_MIN_RATE = 1e-5  # per day; keeps every rate strictly positive


@dataclass(frozen=True)
class ModelConfig:
    """Architecture hyper-parameters (stored in the checkpoint and the model card)."""

    hidden_size: int = 48
    components: int = 4
    #: Gamma shape k_r per component (cycled to `components`); 0 = the exponential kernel.
    kernel_shapes: tuple[int, ...] = (0, 1, 2, 4)
    type_dim: int = 4
    category_dim: int = 16
    dropout: float = 0.1

    @property
    def shapes(self) -> tuple[int, ...]:
        """One shape per component."""
        ks = self.kernel_shapes or (0,)
        return tuple(ks[i % len(ks)] for i in range(self.components))

    def to_dict(self) -> dict[str, object]:
        """JSON-able form."""
        return {**asdict(self), "kernel_shapes": list(self.shapes)}


@dataclass(frozen=True)
class HeadOut:
    """Head parameters for every position: rates (..., R), log π (..., R, K), shapes (R,)."""

    mu: Tensor
    alpha: Tensor
    beta: Tensor
    log_pi: Tensor
    shape: Tensor


def _inv_softplus(x: float) -> float:
    return math.log(math.expm1(x))


class DecayModel(nn.Module):
    """Sequence model; `forward` maps padded (B, T) events + initial state to heads + state."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.type_emb = nn.Embedding(len(EVENT_TYPE_NAMES), cfg.type_dim)
        self.cat_emb = nn.Embedding(CATEGORY_BUCKETS, cfg.category_dim)
        in_dim = cfg.type_dim + cfg.category_dim + len(NUMERIC_FEATURES)
        self.lstm = nn.LSTM(in_dim, cfg.hidden_size, batch_first=True)
        self.drop = nn.Dropout(cfg.dropout)
        self.rates = nn.Linear(cfg.hidden_size, 3 * cfg.components)
        self.pi = nn.Linear(cfg.hidden_size, cfg.components * CATEGORY_BUCKETS)
        self.kernel_shape: Tensor
        self.register_buffer("kernel_shape", torch.tensor(cfg.shapes, dtype=torch.float32))
        self._init_rates()

    def _init_rates(self) -> None:
        """Start with kernel modes (k/β, or 1/β for k = 0) from 2 to 120 days and mild rates."""
        r = self.cfg.components
        modes = torch.logspace(math.log10(2.0), math.log10(120.0), r)
        betas = torch.tensor([max(k, 1) for k in self.cfg.shapes], dtype=torch.float32) / modes
        with torch.no_grad():
            self.rates.weight.mul_(0.1)
            bias = self.rates.bias
            bias[:r] = _inv_softplus(0.01 / r)
            bias[r : 2 * r] = _inv_softplus(0.05)
            bias[2 * r :] = torch.log(torch.expm1(betas))

    def heads(self, hidden: Tensor) -> HeadOut:
        """Positive rates (softplus) and per-component category log-distributions."""
        r = self.cfg.components
        raw = nn.functional.softplus(self.rates(hidden)) + _MIN_RATE
        logits = self.pi(hidden).unflatten(-1, (r, CATEGORY_BUCKETS))
        return HeadOut(
            raw[..., :r],
            raw[..., r : 2 * r],
            raw[..., 2 * r :],
            torch.log_softmax(logits, -1),
            self.kernel_shape,
        )

    def forward(
        self, event_type: Tensor, category: Tensor, numeric: Tensor, h0: Tensor, c0: Tensor
    ) -> tuple[HeadOut, Tensor, Tensor, Tensor]:
        """Heads (B, T, …), per-step hidden (B, T, S), final h and c (B, S)."""
        x = torch.cat([self.type_emb(event_type), self.cat_emb(category), numeric], dim=-1)
        seq, (h, c) = self.lstm(x, (h0.unsqueeze(0), c0.unsqueeze(0)))
        return self.heads(self.drop(seq)), seq, h.squeeze(0), c.squeeze(0)


class StepGraph(nn.Module):
    """Export wrapper: one event per user, (B,) inputs, state in and out."""

    def __init__(self, model: DecayModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, event_type: Tensor, category: Tensor, numeric: Tensor, h: Tensor, c: Tensor
    ) -> tuple[Tensor, ...]:
        """h_out, c_out, mu, alpha, beta (B, R), pi (B, R, K)."""
        head, _, h1, c1 = self.model(
            event_type.unsqueeze(1), category.unsqueeze(1), numeric.unsqueeze(1), h, c
        )
        return (h1, c1, head.mu[:, 0], head.alpha[:, 0], head.beta[:, 0], head.log_pi[:, 0].exp())


class SequenceGraph(nn.Module):
    """Export wrapper: whole padded sequences, (B, T) inputs, initial state in, final out."""

    def __init__(self, model: DecayModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, event_type: Tensor, category: Tensor, numeric: Tensor, h: Tensor, c: Tensor
    ) -> tuple[Tensor, ...]:
        """h_out, c_out (B, S); mu, alpha, beta (B, T, R); pi (B, T, R, K)."""
        head, _, h1, c1 = self.model(event_type, category, numeric, h, c)
        return h1, c1, head.mu, head.alpha, head.beta, head.log_pi.exp()
