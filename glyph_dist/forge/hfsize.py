"""Size of a Hugging Face causal LM (the categories of forge/cognate/sizes.py) and the pre-flight check of
memory and disk that the BitNet and Quiet-STaR jobs run before they start."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from torch import nn

from glyph_dist.errors import GlyphDistError
from glyph_dist.forge.cognate.sizes import (CHECKPOINT_BYTES_PER_PARAM, HEADROOM, TRAIN_BYTES_PER_PARAM, Size,
                                            category_of, free_memory)


def model_size(model: nn.Module) -> Size:
    """Parameters (input embeddings apart; a tied head counted once) and the size category."""
    embedding = model.get_input_embeddings().weight.numel()
    total = sum(p.numel() for p in model.parameters())
    return Size(embedding, total - embedding, category_of(total - embedding))


def preflight(model: nn.Module, tokens: int, keep_checkpoints: int, storage: Path, job: str,
              frozen_copies: int = 0) -> None:
    """Refuse a job whose training state (plus `frozen_copies` fp32 copies of the model), activations for
    `tokens` tokens a micro batch (an estimate) and checkpoints would not fit."""
    size = model_size(model)
    c = model.config
    activations = 4 * tokens * (c.num_hidden_layers * (12 * c.hidden_size + 3 * c.intermediate_size)
                                + 3 * c.vocab_size)
    need = (TRAIN_BYTES_PER_PARAM + 4 * frozen_copies) * size.total + activations
    have = free_memory(torch.device("cpu"))
    if need > HEADROOM * have:
        raise GlyphDistError(f"pre-flight: {job} of {size.describe()} with {tokens} tokens a micro batch needs "
                             f"about {need / 2**30:.2f} GiB, {have / 2**30:.2f} GiB is free: use smaller batches")
    storage.mkdir(parents=True, exist_ok=True)
    disk = CHECKPOINT_BYTES_PER_PARAM * size.total * (keep_checkpoints + 1)
    if disk > HEADROOM * shutil.disk_usage(storage).free:
        raise GlyphDistError(f"pre-flight: the checkpoints of {size.describe()} need about {disk / 2**30:.2f} GiB "
                             f"on {storage}")
