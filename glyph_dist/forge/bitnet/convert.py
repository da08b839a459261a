"""Which modules become BitLinear (the precision policy), and the conversion of a causal LM.

The policy keeps in full precision what BitNet b1.58 keeps there: the token embeddings, the output
head and the norms (only nn.Linear modules are ever converted, and the head is kept by name).
It is size-adaptive: a model whose non-embedding parameters make it `tiny` (under 5M, the
categories of forge/cognate/sizes.py) also keeps its first and last decoder blocks, where
ternary weights cost a small model the most; a config may instead list its own patterns.
"""

from __future__ import annotations

import fnmatch
import re

from torch import nn

from glyph_dist.errors import GlyphDistError
from glyph_dist.forge.bitnet.bitlinear import BitLinear
from glyph_dist.forge.hfsize import model_size

ALWAYS_KEPT = ("lm_head", "*.lm_head")
_BLOCK = re.compile(r"(?:^|\.)layers\.(\d+)\.")


def linear_names(model: nn.Module) -> list[str]:
    return [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]


def auto_keep(model: nn.Module) -> list[str]:
    """The size-adaptive policy's patterns of modules kept in full precision."""
    keep = list(ALWAYS_KEPT)
    if model_size(model).category == "tiny":
        blocks = sorted({int(m.group(1)) for name in linear_names(model) if (m := _BLOCK.search(name))})
        if len(blocks) > 2:
            keep += [f"*layers.{blocks[0]}.*", f"*layers.{blocks[-1]}.*"]
    return keep


def ternary_targets(model: nn.Module, keep: list[str] | str = "auto") -> list[str]:
    """The names of the nn.Linear modules to quantise: all but those matching a `keep` pattern."""
    patterns = auto_keep(model) if keep == "auto" else list(keep)
    targets = [n for n in linear_names(model) if not any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    if not targets:
        raise GlyphDistError(f"bitnet: keep patterns {patterns} leave no linear layer to quantise")
    return targets


def to_bitnet(model: nn.Module, targets: list[str], input_norm: bool = False) -> nn.Module:
    """Replace each named nn.Linear by a BitLinear over the same tensors (in place); returns the model."""
    for name in targets:
        parent, _, child = name.rpartition(".")
        owner = model.get_submodule(parent) if parent else model
        layer = getattr(owner, child)
        if not isinstance(layer, nn.Linear):
            raise GlyphDistError(f"bitnet: {name} is not a linear layer ({type(layer).__name__})")
        setattr(owner, child, BitLinear.from_linear(layer, input_norm))
    return model


def set_lambda(model: nn.Module, lam: float) -> None:
    for module in model.modules():
        if isinstance(module, BitLinear):
            module.lam = lam


def lambda_at(step: int, ramp_steps: int) -> float:
    """λ of step `step` (0-based): linear from 0 to 1 over ramp_steps, then 1 (0 ramp steps: 1 throughout)."""
    return 1.0 if ramp_steps == 0 else min(1.0, step / ramp_steps)
