"""Loss terms of the decay head in torch (the closed forms of `stream_app.model.survival`)."""

from __future__ import annotations

import torch
from torch import Tensor

from export.model import HeadOut


def kernel(beta: Tensor, tau: Tensor, shape: Tensor) -> Tensor:
    """(β·τ)^k·exp(−β·τ)/k! for rates (..., R), τ (...) and shapes (R,)."""
    x = beta * tau.unsqueeze(-1)
    log_k = shape * torch.log(x.clamp_min(1e-30)) - x - torch.lgamma(shape + 1.0)
    return torch.where(shape == 0, torch.exp(-x), torch.exp(log_k))


def upper_gamma(x: Tensor, shape: Tensor) -> Tensor:
    """Q_k(x) = exp(−x)·Σ_{j≤k} x^j/j! (integer k)."""
    term = torch.exp(-x)
    total = term
    for j in range(1, int(shape.max()) + 1):
        term = term * x / j
        total = total + torch.where(shape >= j, term, torch.zeros_like(term))
    return total


def cumulative_hazard(
    mu: Tensor, alpha: Tensor, beta: Tensor, tau: Tensor, shape: Tensor
) -> Tensor:
    """Λ(τ) for rates (..., R) and τ (...)."""
    t = tau.unsqueeze(-1)
    return (mu * t + (alpha / beta) * (1.0 - upper_gamma(beta * t, shape))).sum(-1)


def horizon_hazard(
    mu: Tensor, alpha: Tensor, beta: Tensor, tau: Tensor, horizon: float, shape: Tensor
) -> Tensor:
    """Λ(τ+H) − Λ(τ)."""
    t = tau.unsqueeze(-1)
    tail = upper_gamma(beta * t, shape) - upper_gamma(beta * (t + horizon), shape)
    return (mu * horizon + (alpha / beta) * tail).sum(-1)


def log_mark_intensity(head: HeadOut, tau: Tensor, bucket: Tensor) -> Tensor:
    """log λ_k(τ) = log Σ_r π_{r,k}·g_r(τ) for the observed next category k."""
    g = head.mu + head.alpha * kernel(head.beta, tau, head.shape)
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
    """Σ over gaps [Λ(τ) − log λ_k(τ)·observed], a per-user mean, then a mean over users.

    Weighted per user, not per event: heavy users no longer dominate the likelihood.

    log λ_k = log λ(τ) + log P(k | τ); `category_weight` scales the second (mark) term, 1 is the
    plain likelihood.
    """
    hazard = cumulative_hazard(head.mu, head.alpha, head.beta, gap_days, head.shape)
    log_lam = log_mark_intensity(head, gap_days, next_bucket)
    if category_weight != 1.0:
        g = head.mu + head.alpha * kernel(head.beta, gap_days, head.shape)
        log_total = torch.log(g.sum(-1))
        log_lam = log_total + category_weight * (log_lam - log_total)
    per_event = hazard - torch.where(observed, log_lam, torch.zeros_like(log_lam))
    per_user = (per_event * mask).sum(-1) / mask.sum(-1).clamp(min=1)
    return per_user.mean()


def return_probability(
    mu: Tensor, alpha: Tensor, beta: Tensor, tau: Tensor, horizon: float, shape: Tensor
) -> Tensor:
    """P(return within H | silent τ)."""
    return -torch.expm1(-horizon_hazard(mu, alpha, beta, tau, horizon, shape))


def return_logit(hazard: Tensor) -> Tensor:
    """logit P for P = 1 − exp(−Λ): log(1 − e^(−Λ)) + Λ (Λ the horizon hazard, clamped > 0)."""
    lam = hazard.clamp_min(1e-9)
    return torch.log(-torch.expm1(-lam)) + lam


def return_bce(prob: Tensor, label: Tensor) -> Tensor:
    """Binary cross-entropy of return-within-H probabilities."""
    p = prob.clamp(1e-6, 1 - 1e-6)
    return -(label * torch.log(p) + (1 - label) * torch.log1p(-p)).mean()
