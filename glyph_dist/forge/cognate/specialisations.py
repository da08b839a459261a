"""The three Cognate specialisations, each derived from one base config so that they scale together
(the tiny test config and the ~25M default alike) and keep about the same parameter count:

    reasoning  deeper recursion (outer_steps + 2, inner_steps + 1) and late halting (threshold 0.9)
    memory     a memory 2x wider with 4x the hidden units, updated 4x faster (memory_lr) over chunks
               half as long, and sliding-window attention over max_seq_len / 4 tokens, so that
               context beyond the window reaches the model through the memory only
    speed      half the layers at sqrt(2) the width (about the same parameters), shallow recursion
               (outer_steps − 2, inner_steps 1), early halting (threshold 0.5), a memory half as
               wide in hidden units updated over chunks twice as long
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from glyph_dist.errors import GlyphDistError
from glyph_dist.forge.cognate.model import CognateConfig


def reasoning(base: CognateConfig) -> CognateConfig:
    return dataclasses.replace(base, outer_steps=base.outer_steps + 2, inner_steps=base.inner_steps + 1,
                               halt_threshold=0.9)


def memory(base: CognateConfig) -> CognateConfig:
    return dataclasses.replace(base, memory_dim=2 * base.memory_dim, memory_hidden=4 * base.memory_hidden,
                               memory_chunk=max(1, base.memory_chunk // 2), memory_lr=min(1.0, 4 * base.memory_lr),
                               window=max(1, base.max_seq_len // 4), halt_threshold=0.8)


def speed(base: CognateConfig) -> CognateConfig:
    step = 2 * base.n_heads  # d_model stays divisible into heads of an even width
    d_model = step * max(1, round(math.sqrt(2) * base.d_model / step))
    return dataclasses.replace(base, n_layers=max(1, base.n_layers // 2), d_model=d_model, d_ff=0,
                               outer_steps=max(1, base.outer_steps - 2), inner_steps=1, halt_threshold=0.5,
                               memory_hidden=max(1, base.memory_hidden // 2), memory_chunk=2 * base.memory_chunk)


SPECIALISATIONS: dict[str, Callable[[CognateConfig], CognateConfig]] = {
    "reasoning": reasoning, "memory": memory, "speed": speed}


def specialise(base: CognateConfig, name: str) -> CognateConfig:
    try:
        return SPECIALISATIONS[name](base)
    except KeyError:
        raise GlyphDistError(f"unknown specialisation {name!r}; known: {', '.join(SPECIALISATIONS)}") from None
