"""TRM recursion with deep supervision (Jolicoeur-Martineau, "Less is More: Recursive Reasoning with
Tiny Networks", arXiv:2510.04871).

One outer step refines the latent state z `inner_steps` times from the input, the answer and
itself, then the answer y once from the latent:

    z <- net(x + y + z)   (inner_steps times)
    y <- net(y + z)

Deep supervision: every outer step's answer is scored (the caller computes its loss and calls
backward), and y and z are detached before the next step, so each step's gradient stops at the
states it started from, as in the paper. The paper steps the optimizer after every supervision
step; here the steps' losses are averaged into one optimizer step per batch (the gradients are
accumulated), which keeps one step per batch for the distributed job.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from torch import Tensor

if TYPE_CHECKING:
    from glyph_dist.forge.cognate.model import Cognate, Encoded


def outer_step(model: Cognate, enc: Encoded, y: Tensor, z: Tensor, inner_steps: int) -> tuple[Tensor, Tensor, Tensor]:
    """One outer step: new y, z and the mean memory share of the net's blocks over its applications."""
    shares = []
    for _ in range(inner_steps):
        z, share = model.net(enc.x + y + z, enc)
        shares.append(share)
    y, share = model.net(y + z, enc)
    return y, z, (sum(shares) + share) / (inner_steps + 1)


def supervision_steps(model: Cognate, enc: Encoded, steps: int | None = None) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    """Yields (y, z, memory share) after each outer step; both states are detached between steps."""
    y, z = model.initial_states(enc.x)
    for _ in range(steps or model.config.outer_steps):
        y, z, share = outer_step(model, enc, y, z, model.config.inner_steps)
        yield y, z, share
        y, z = y.detach(), z.detach()
