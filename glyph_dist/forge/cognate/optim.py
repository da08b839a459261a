"""The optimiser: Muon for the hidden 2-D weights, AdamW for the rest, behind a Grokfast filter.

Muon (Jordan et al., 2024; torch.optim.Muon, which follows the authors' code): per matrix, the
momentum B <- mu B + (1 − mu) G, the Nesterov direction U = (1 − mu) G + mu B, orthogonalised by five
quintic Newton–Schulz iterations X <- aX + (bA + cA^2)X, A = XX^T, (a, b, c) = (3.4445, −4.7750,
2.0315) from X = U/||U||_F (in bfloat16, on the wide orientation), and the step
W <- W (1 − lr wd) − lr sqrt(max(1, rows/cols)) O.
It takes the 2-D weights of the blocks and the memory; embeddings (tied with the output head),
the halting head, the memory's rate head, norms, biases and the initial states go to AdamW, as
Muon's authors prescribe for input/output layers and scalars.

Grokfast-EMA (Lee et al., "Grokfast: Accelerated Grokking by Amplifying Slow Gradients",
arXiv:2405.20233, Algorithm 2) filters every gradient before either optimiser steps:

    mu_t = alpha mu_{t−1} + (1 − alpha) g_t        (mu starts at the first gradient, as in the authors' code)
    g_t  <- g_t + lambda mu_t

It amplifies the slow (EMA) component by adding lambda·EMA(g) to the gradient; it does not add
lambda·(g − EMA). lambda = 0 turns the filter off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

MUON_EXCLUDED = ("memory.rates.",)  # a 3-row output head of rates, not a hidden matrix


@dataclass
class OptimConfig:
    muon_lr: float = 0.02
    adamw_lr: float = 3e-3
    weight_decay: float = 0.1
    momentum: float = 0.95  # Muon's
    betas: tuple[float, float] = (0.9, 0.95)  # AdamW's
    grokfast_alpha: float = 0.98
    grokfast_lambda: float = 2.0
    warmup_steps: int = 20
    min_lr_ratio: float = 0.1  # cosine decay to this fraction of each learning rate


class GrokfastEMA:
    """The Grokfast-EMA gradient filter over a fixed list of parameters."""

    def __init__(self, params: list[nn.Parameter], alpha: float, lamb: float):
        self.params, self.alpha, self.lamb = params, alpha, lamb
        self.ema: list[torch.Tensor | None] = [None] * len(params)

    @torch.no_grad()
    def apply(self) -> None:
        if self.lamb == 0:
            return
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            if self.ema[i] is None:
                self.ema[i] = p.grad.detach().clone()
            else:
                self.ema[i].mul_(self.alpha).add_(p.grad, alpha=1 - self.alpha)
            p.grad.add_(self.ema[i], alpha=self.lamb)

    def state_dict(self) -> dict:
        return {"ema": [None if e is None else e.clone() for e in self.ema]}

    def load_state_dict(self, state: dict) -> None:
        self.ema = [None if e is None else e.to(p.device) for e, p in zip(state["ema"], self.params)]


def split_parameters(model: nn.Module) -> tuple[list, list, list]:
    """(Muon's matrices, AdamW's decayed, AdamW's undecayed) parameters, each once (tied weights too)."""
    muon, decay, no_decay = [], [], []
    for name, p in model.named_parameters():  # named_parameters yields a tied weight once
        if not p.requires_grad:
            continue
        if p.ndim == 2 and name.startswith(("blocks.", "memory.")) and not name.startswith(MUON_EXCLUDED):
            muon.append(p)
        elif p.ndim >= 2:
            decay.append(p)
        else:
            no_decay.append(p)
    return muon, decay, no_decay


class MuonAdamW:
    """torch.optim.Muon and torch.optim.AdamW stepped together, after the Grokfast filter."""

    def __init__(self, model: nn.Module, config: OptimConfig):
        muon, decay, no_decay = split_parameters(model)
        self.config = config
        self.muon = torch.optim.Muon(muon, lr=config.muon_lr, weight_decay=config.weight_decay,
                                     momentum=config.momentum, nesterov=True)
        self.adamw = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                        {"params": no_decay, "weight_decay": 0.0}],
                                       lr=config.adamw_lr, betas=config.betas)
        self.grokfast = GrokfastEMA(muon + decay + no_decay, config.grokfast_alpha, config.grokfast_lambda)
        for optimizer, lr in ((self.muon, config.muon_lr), (self.adamw, config.adamw_lr)):
            for group in optimizer.param_groups:
                group["base_lr"] = lr

    def set_lr_factor(self, factor: float) -> None:
        for optimizer in (self.muon, self.adamw):
            for group in optimizer.param_groups:
                group["lr"] = group["base_lr"] * factor

    def step(self) -> None:
        self.grokfast.apply()
        self.muon.step()
        self.adamw.step()

    def zero_grad(self) -> None:
        self.muon.zero_grad(set_to_none=True)
        self.adamw.zero_grad(set_to_none=True)

    def state_dict(self) -> dict:
        return {"muon": self.muon.state_dict(), "adamw": self.adamw.state_dict(),
                "grokfast": self.grokfast.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.muon.load_state_dict(state["muon"])
        self.adamw.load_state_dict(state["adamw"])
        self.grokfast.load_state_dict(state["grokfast"])


def lr_factor(step: int, max_steps: int, config: OptimConfig) -> float:
    """Linear warmup to 1, then cosine decay to min_lr_ratio at max_steps (nanoGPT's schedule)."""
    if step < config.warmup_steps:
        return (step + 1) / (config.warmup_steps + 1)
    ratio = min(1.0, (step - config.warmup_steps) / max(1, max_steps - config.warmup_steps))
    return config.min_lr_ratio + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (1.0 - config.min_lr_ratio)
