"""Merge methods: each a small class behind one registry, tensors in, tensor out (as in mergekit).

A method merges the tensors that one parameter name holds in several models, with a weight per
model and, for the task-vector methods, the base model's tensor:

    linear   sum_i w_i t_i / sum_i w_i (normalize) or sum_i w_i t_i
    slerp    spherical interpolation of two tensors (each flattened, as in mergekit), linear where
             they are nearly parallel (|cos| > dot_threshold);
             more than two tensors are folded in order, t_k = w_k / (w_0 + ... + w_k), which for
             linear interpolation is exactly the weighted mean
    ties     TIES-merging (Yadav et al. 2023): task vectors d_i = t_i - base, each trimmed to its
             `density` share of largest magnitudes, weighted, a sign elected per entry (the sign of
             sum_i w_i d_i), and the disjoint mean of the entries that agree with it:
             base + lambda * sum_i w_i d_i m_i / sum_i w_i m_i
    dare     DARE (Yu et al. 2023): each task vector keeps an entry with probability `density`
             (a seeded Bernoulli mask) and is rescaled, by 1/density (the paper) or to its former
             L1 norm (mergekit's `rescale`); then summed, base + lambda * sum_i w_i d_i', or with
             TIES's sign election (`consensus`, mergekit's dare_ties)

Arithmetic is in float32 (float64 inputs stay float64); the result has the first input's dtype.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from glyph_dist.errors import GlyphDistError
from glyph_dist.registry import Registry


def _work(tensor: Tensor) -> Tensor:
    return tensor.to(torch.float64 if tensor.dtype == torch.float64 else torch.float32)


def _weights(weights: list[float], like: Tensor) -> Tensor:
    """Per-model weights [n, 1, ...] that broadcast over a stack of tensors shaped like `like`."""
    return torch.tensor(weights, dtype=like.dtype).reshape(-1, *([1] * like.dim()))


def slerp(t: float, a: Tensor, b: Tensor, dot_threshold: float = 0.9995, eps: float = 1e-8) -> Tensor:
    """Spherical interpolation from a (t=0) to b (t=1) of the flattened tensors; linear when they are
    nearly parallel or antiparallel (|cos| > dot_threshold)."""
    x, y = _work(a).flatten(), _work(b).flatten()
    norm_x, norm_y = x.norm(), y.norm()
    norm_x = norm_x if norm_x > eps else torch.ones_like(norm_x)
    norm_y = norm_y if norm_y > eps else torch.ones_like(norm_y)
    dot = float(((x / norm_x) * (y / norm_y)).sum().clamp(-1, 1))
    if abs(dot) > dot_threshold:
        coef_x, coef_y = 1 - t, t
    else:
        theta = math.acos(dot)
        coef_x, coef_y = math.sin((1 - t) * theta) / math.sin(theta), math.sin(t * theta) / math.sin(theta)
    return (coef_x * x + coef_y * y).reshape(a.shape).to(a.dtype)


def trim(delta: Tensor, density: float) -> Tensor:
    """Keep the `density` share of largest magnitudes (at least one entry), zero the rest."""
    if density >= 1:
        return delta
    k = max(1, int(density * delta.numel()))
    mask = torch.zeros(delta.numel(), dtype=delta.dtype)
    mask[torch.topk(delta.abs().flatten(), k).indices] = 1
    return delta * mask.reshape(delta.shape)


def drop(delta: Tensor, density: float, rescale: str, generator: torch.Generator) -> Tensor:
    """Keep each entry with probability `density`; rescale by 1/density or to the former L1 norm."""
    if density >= 1:
        return delta
    kept = delta * torch.bernoulli(torch.full_like(delta, density), generator=generator)
    if rescale == "density":
        return kept / density
    before, after = delta.abs().sum(), kept.abs().sum()
    return kept if before < 1e-7 or after < 1e-7 else kept * (before / after)


def elect_sign(deltas: Tensor) -> Tensor:
    """Mask [n, ...] of the entries whose sign is the elected one, the sign of their sum (0 counts as +)."""
    majority = torch.where(deltas.sum(dim=0) >= 0, 1.0, -1.0).to(deltas.dtype)
    return deltas.sign() == majority


class MergeMethod(ABC):
    """Merge the tensors `tensors` (one per model) of one parameter into one."""
    name: ClassVar[str]
    needs_base: ClassVar[bool] = False

    @abstractmethod
    def merge(self, tensors: list[Tensor], weights: list[float], base: Tensor | None = None,
              generator: torch.Generator | None = None) -> Tensor:
        """The merged tensor."""


@dataclass(frozen=True)
class Linear(MergeMethod):
    name: ClassVar[str] = "linear"
    normalize: bool = True

    def merge(self, tensors, weights, base=None, generator=None):
        stack = torch.stack([_work(t) for t in tensors])
        w = _weights(weights, stack[0])
        merged = (stack * w).sum(dim=0)
        return (merged / w.sum() if self.normalize else merged).to(tensors[0].dtype)


@dataclass(frozen=True)
class Slerp(MergeMethod):
    name: ClassVar[str] = "slerp"
    dot_threshold: float = 0.9995

    def merge(self, tensors, weights, base=None, generator=None):
        merged, total = tensors[0], weights[0]
        for tensor, weight in zip(tensors[1:], weights[1:]):
            total += weight
            merged = slerp(weight / total, merged, tensor, self.dot_threshold)
        return merged


@dataclass(frozen=True)
class Ties(MergeMethod):
    name: ClassVar[str] = "ties"
    needs_base: ClassVar[bool] = True
    density: float = 0.5
    normalize: bool = True
    scale: float = 1.0  # lambda

    def merge(self, tensors, weights, base=None, generator=None):
        origin = _work(base)
        deltas = torch.stack([trim(_work(t) - origin, self.density) for t in tensors])
        w = _weights(weights, origin)
        deltas = deltas * w
        mask = elect_sign(deltas)
        merged = (deltas * mask).sum(dim=0)
        if self.normalize:
            divisor = (w * mask).sum(dim=0)
            merged = merged / torch.where(divisor == 0, 1, divisor)
        return (origin + self.scale * merged).to(base.dtype)


@dataclass(frozen=True)
class Dare(MergeMethod):
    name: ClassVar[str] = "dare"
    needs_base: ClassVar[bool] = True
    density: float = 0.5
    rescale: str = "density"  # density (1/density, the paper) | l1 (mergekit)
    consensus: bool = False  # TIES's sign election (dare_ties)
    normalize: bool = False
    scale: float = 1.0

    def __post_init__(self):
        if self.rescale not in ("density", "l1"):
            raise GlyphDistError(f"dare: rescale must be density or l1, got {self.rescale!r}")

    def merge(self, tensors, weights, base=None, generator=None):
        origin = _work(base)
        deltas = torch.stack([drop(_work(t) - origin, self.density, self.rescale, generator) for t in tensors])
        w = _weights(weights, origin)
        deltas = deltas * w
        mask = elect_sign(deltas) if self.consensus else torch.ones_like(deltas, dtype=torch.bool)
        merged = (deltas * mask).sum(dim=0)
        if self.normalize:
            divisor = (w * mask).sum(dim=0)
            merged = merged / torch.where(divisor.abs() < 1e-8, 1, divisor)
        return (origin + self.scale * merged).to(base.dtype)


METHODS: Registry[type[MergeMethod]] = Registry("merge method", {m.name: m for m in (Linear, Slerp, Ties, Dare)})


def method(name: str, **params) -> MergeMethod:
    """A registered method built with `params`; unknown names and parameters are errors."""
    kind = METHODS.get(name)
    try:
        built = kind(**params)
    except TypeError as exc:
        raise GlyphDistError(f"merge method {name}: {exc}") from None
    for key in ("density",):
        if key in params and not 0 < params[key] <= 1:
            raise GlyphDistError(f"merge method {name}: density must lie in (0, 1], got {params[key]}")
    return built
