"""Loss terms of the decay head in torch (the closed forms of `stream_app.model.survival`)."""

from __future__ import annotations

import torch
from torch import Tensor

from export.model import HeadOut


def cumulative_hazard(mu: Tensor, alpha: Tensor, beta: Tensor, tau: Tensor) -> Tensor:
    """Λ(τ) for rates (..., R) and τ (...)."""
    t = tau.unsqueeze(-1)
    return (mu * t - (alpha / beta) * torch.expm1(-beta * t)).sum(-1)


def horizon_hazard(mu: Tensor, alpha: Tensor, beta: Tensor, tau: Tensor, horizon: float) -> Tensor:
    """Λ(τ+H) − Λ(τ)."""
    t = tau.unsqueeze(-1)
    decay = -(alpha / beta) * torch.exp(-beta * t) * torch.expm1(-beta * horizon)
    return (mu * horizon + decay).sum(-1)


def log_mark_intensity(head: HeadOut, tau: Tensor, bucket: Tensor) -> Tensor:
    """log λ_k(τ) = log Σ_r π_{r,k}·g_r(τ) for the observed next category k."""
    g = head.mu + head.alpha * torch.exp(-head.beta * tau.unsqueeze(-1))
    index = bucket[..., None, None].expand(*bucket.shape, head.log_pi.shape[-2], 1)
    log_pi_k = head.log_pi.gather(-1, index).squeeze(-1)
    return torch.logsumexp(torch.log(g) + log_pi_k, dim=-1)


def sequence_nll(
    head: HeadOut,
    gap_days: Tensor,
    next_bucket: Tensor,
    observed: Tensor,
    mask: Tensor,
    category_weight: float = 1.0,
) -> Tensor:
    """Σ over inner gaps [Λ(τ) − log λ_k(τ)] plus Λ of the censored last gap, per event.

    log λ_k = log λ(τ) + log P(k | τ); `category_weight` scales the second (mark) term, 1 is the
    plain likelihood.
    """
    hazard = cumulative_hazard(head.mu, head.alpha, head.beta, gap_days)
    log_lam = log_mark_intensity(head, gap_days, next_bucket)
    if category_weight != 1.0:
        g = head.mu + head.alpha * torch.exp(-head.beta * gap_days.unsqueeze(-1))
        log_total = torch.log(g.sum(-1))
        log_lam = log_total + category_weight * (log_lam - log_total)
    per_event = hazard - torch.where(observed, log_lam, torch.zeros_like(log_lam))
    return (per_event * mask).sum() / mask.sum().clamp(min=1)


def return_probability(
    mu: Tensor, alpha: Tensor, beta: Tensor, tau: Tensor, horizon: float
) -> Tensor:
    """P(return within H | silent τ)."""
    return -torch.expm1(-horizon_hazard(mu, alpha, beta, tau, horizon))


def return_bce(prob: Tensor, label: Tensor) -> Tensor:
    """Binary cross-entropy of return-within-H probabilities."""
    p = prob.clamp(1e-6, 1 - 1e-6)
    return -(label * torch.log(p) + (1 - label) * torch.log1p(-p)).mean()
