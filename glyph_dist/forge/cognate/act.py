"""Adaptive computation: a halting head that learns when a token's answer is already right.

Training (as TRM's Q-head): after every outer step the halting head sees the answer state y and
is trained with binary cross-entropy on whether the current prediction — the argmax of the
logits — already equals the target token. Its gradient flows into the head and, through y, into
the recursion.

Inference: every token runs outer steps until sigmoid(halting logit) reaches the threshold (or the
last step); its y and z are then frozen and its logits are those of that step. Frozen tokens stay
in the sequence (later tokens attend to them), and the loop ends once every token has halted,
which changes no output: a frozen token's state is fixed from then on. `steps` counts the outer
steps each token took; their mean is the model's mean halting steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from glyph_dist.forge.cognate.titans import MemoryStats
from glyph_dist.forge.cognate.trm import outer_step

if TYPE_CHECKING:
    from glyph_dist.forge.cognate.model import Cognate


def halting_targets(logits: Tensor, targets: Tensor) -> Tensor:
    """1.0 where the argmax prediction already equals the target, else 0.0 (no gradient)."""
    return (logits.detach().argmax(-1) == targets).float()


def halting_loss(halt_logits: Tensor, logits: Tensor, targets: Tensor) -> Tensor:
    """Mean BCE of the halting logits [B, L] against halting_targets."""
    return F.binary_cross_entropy_with_logits(halt_logits.float(), halting_targets(logits, targets))


@dataclass
class Halted:
    logits: Tensor  # [B, L, V]: each token's logits at the step where it halted
    steps: Tensor  # [B, L]: outer steps each token took (1 .. outer_steps)
    memory_share: float  # mean 1 − g of the blocks' memory gates over the steps run
    memory_stats: MemoryStats


@torch.no_grad()
def halted_forward(model: Cognate, idx: Tensor, threshold: float | None = None) -> Halted:
    """Run the recursion with per-token halting at `threshold` (default: the model's)."""
    threshold = model.config.halt_threshold if threshold is None else threshold
    enc = model.encode(idx)
    y, z = model.initial_states(enc.x)
    halted = torch.zeros(idx.shape, dtype=torch.bool, device=idx.device)
    steps = torch.zeros(idx.shape, dtype=torch.long, device=idx.device)
    logits, shares = None, []
    for step in range(model.config.outer_steps):
        new_y, new_z, share = outer_step(model, enc, y, z, model.config.inner_steps)
        shares.append(float(share))
        keep = halted.unsqueeze(-1)
        y, z = torch.where(keep, y, new_y), torch.where(keep, z, new_z)
        step_logits, halt_logits = model.readout(y)
        logits = step_logits if logits is None else torch.where(keep, logits, step_logits)
        steps += ~halted
        last = step == model.config.outer_steps - 1
        halted |= torch.sigmoid(halt_logits.float()) >= threshold
        if last or bool(halted.all()):
            break
    return Halted(logits, steps, sum(shares) / len(shares), enc.memory_stats)
