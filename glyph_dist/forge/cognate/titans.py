"""Titans' neural long-term memory: an MLP whose weights are learnt at test time from its surprise.

Behrouz, Zhong and Mirrokni, "Titans: Learning to Memorize at Test Time" (arXiv:2501.00663). The
equations implemented, per sequence:

    (11)  k_t = x_t W_K,  v_t = x_t W_V                     keys and values (k, q L2-normalised, as the paper does)
    (12)  l(M; x_t) = || M(k_t) - v_t ||^2                  the associative recall loss
    (14)  S_t = eta_t S_{t-1} - theta_t grad l(M_{t-1}; x_t) surprise: momentary (gradient) plus past (momentum)
    (13)  M_t = (1 - alpha_t) M_{t-1} + S_t                 forgetting (weight decay), then the update
    (15)  y_t = M*_{t-1}(q_t),  q_t = x_t W_Q               retrieval: a forward pass without an update

M is a two-layer MLP, M(k) = silu(k W1) W2, whose initial weights are learnt by the outer training
loop, like W_K, W_V, W_Q and the data-dependent rates theta_t, eta_t, alpha_t in (0, max) from a
sigmoid of x_t. As in the paper's parallel (mini-batch) form, time advances by chunks of C tokens:
the gradient in (14) is that of the chunk's mean recall loss, and the rates are the chunk's means.
A chunk is read with the memory written by the chunks before it only, so the memory is causal. The
update is differentiable, so the outer loop trains the memory to be a good test-time learner.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import grad, vmap

Weights = tuple[Tensor, Tensor]  # (W1 [.., dim, hidden], W2 [.., hidden, dim]): one memory per sequence


def recall(weights: Weights, keys: Tensor) -> Tensor:
    """M(k) = silu(k W1) W2 for keys [.., n, dim]."""
    w1, w2 = weights
    return F.silu(keys @ w1) @ w2


def recall_loss(weights: Weights, keys: Tensor, values: Tensor) -> Tensor:
    """Eq. (12) averaged over the tokens of a chunk: mean_t || M(k_t) - v_t ||^2 (one sequence)."""
    return (recall(weights, keys) - values).pow(2).sum(-1).mean()


def surprise(weights: Weights, keys: Tensor, values: Tensor) -> Weights:
    """The momentary surprise grad l(M; x) of every sequence's memory (batched weights, keys, values).
    Differentiable under autograd; computed under torch.no_grad as well (inference is test-time learning)."""
    return vmap(grad(recall_loss))(weights, keys, values)


def update(weights: Weights, momentum: Weights, gradient: Weights, theta: Tensor, eta: Tensor,
           alpha: Tensor) -> tuple[Weights, Weights]:
    """Eqs. (14) and (13): S = eta S - theta grad; M = (1 - alpha) M + S. Rates are per sequence, shape [B]."""
    def per_seq(rate: Tensor, like: Tensor) -> Tensor:
        return rate.view(-1, *([1] * (like.dim() - 1)))

    momentum = tuple(per_seq(eta, s) * s - per_seq(theta, g) * g for s, g in zip(momentum, gradient))
    weights = tuple((1 - per_seq(alpha, w)) * w + s for w, s in zip(weights, momentum))
    return weights, momentum


@dataclass
class MemoryStats:
    recall_before: Tensor  # mean recall loss of each chunk under the memory that had not seen it
    recall_after: Tensor  # ... and under the memory updated with it
    state_bytes: int  # per sequence: weights and momentum


class NeuralMemory(nn.Module):
    def __init__(self, d_model: int, dim: int, hidden: int, chunk: int, lr: float, momentum: float, decay: float):
        super().__init__()
        self.chunk, self.max_rates = chunk, (lr, momentum, decay)
        self.query, self.key, self.value = (nn.Linear(d_model, dim, bias=False) for _ in range(3))
        self.w1 = nn.Parameter(torch.randn(dim, hidden) * dim ** -0.5)
        self.w2 = nn.Parameter(torch.randn(hidden, dim) * hidden ** -0.5)
        self.rates = nn.Linear(d_model, 3)  # theta, eta, alpha before the sigmoid
        self.out = nn.Linear(dim, d_model, bias=False)

    def initial(self, batch: int) -> tuple[Weights, Weights]:
        weights = (self.w1.expand(batch, -1, -1), self.w2.expand(batch, -1, -1))
        return weights, tuple(torch.zeros_like(w) for w in weights)

    def rates_of(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """theta, eta, alpha of a chunk x [B, C, d_model], each [B] in (0, max)."""
        rates = torch.sigmoid(self.rates(x)).mean(1)
        return tuple(rates[:, i] * limit for i, limit in enumerate(self.max_rates))

    def forward(self, x: Tensor) -> tuple[Tensor, MemoryStats]:
        """Read every chunk of x [B, L, d_model] with the memory of the chunks before it, then write it."""
        q = F.normalize(self.query(x), dim=-1)
        k = F.normalize(self.key(x), dim=-1)
        v = self.value(x)
        weights, momentum = self.initial(x.shape[0])
        reads, before, after = [], [], []
        for start in range(0, x.shape[1], self.chunk):
            part = slice(start, start + self.chunk)
            reads.append(recall(weights, q[:, part]))
            gradient = surprise(weights, k[:, part], v[:, part])
            with torch.no_grad():
                before.append(vmap(recall_loss)(weights, k[:, part], v[:, part]).mean())
            weights, momentum = update(weights, momentum, gradient, *self.rates_of(x[:, part]))
            with torch.no_grad():
                after.append(vmap(recall_loss)(weights, k[:, part], v[:, part]).mean())
        state_bytes = 2 * (self.w1.numel() + self.w2.numel()) * self.w1.element_size()
        return self.out(torch.cat(reads, 1)), MemoryStats(torch.stack(before), torch.stack(after), state_bytes)
