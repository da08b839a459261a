"""Model size: parameters (embeddings counted apart), bytes, a category that sets the batch
layout, and a pre-flight check of memory and disk before a training job starts."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import psutil
import torch
from torch import nn

from glyph_dist.errors import GlyphDistError
from glyph_dist.forge.cognate.model import Cognate

# category by non-embedding parameters (upper bound, exclusive) and its batch layout
CATEGORIES = (("tiny", 5_000_000), ("small", 50_000_000), ("medium", 500_000_000), ("large", float("inf")))
BATCH_LAYOUT = {"tiny": (32, 1), "small": (16, 1), "medium": (4, 4), "large": (1, 16)}  # (micro batch, accumulation)
# bytes per parameter while training in fp32: weight, gradient, Grokfast EMA, and the optimiser's
# states (AdamW two moments; Muon one momentum: AdamW's count is the bound)
TRAIN_BYTES_PER_PARAM = 4 + 4 + 4 + 8
CHECKPOINT_BYTES_PER_PARAM = 4 + 4 + 8  # weights, Grokfast EMA, optimiser states
HEADROOM = 0.9  # use at most this share of what is free


@dataclass
class Size:
    embedding: int  # token (and learned position) embeddings; the tied output head is the token embedding
    non_embedding: int
    category: str

    @property
    def total(self) -> int:
        return self.embedding + self.non_embedding

    @property
    def bytes_fp32(self) -> int:
        return 4 * self.total

    def describe(self) -> str:
        return (f"{self.non_embedding / 1e6:.2f}M parameters + {self.embedding / 1e6:.2f}M in embeddings "
                f"({self.bytes_fp32 / 2**20:.0f} MiB in fp32, {self.category})")


def category_of(non_embedding: int) -> str:
    return next(name for name, bound in CATEGORIES if non_embedding < bound)


def model_size(model: Cognate) -> Size:
    embedding = model.wte.weight.numel() + (model.wpe.weight.numel() if model.wpe is not None else 0)
    total = sum(p.numel() for p in model.parameters())  # a tied weight once
    return Size(embedding, total - embedding, category_of(total - embedding))


def batch_layout(size: Size) -> tuple[int, int]:
    """(micro batch size, gradient accumulation steps) for the model's category."""
    return BATCH_LAYOUT[size.category]


def activation_bytes(model: Cognate, micro_batch: int, seq_len: int) -> int:
    """An estimate of one training step's activations: the graph of one outer step (the others are
    detached and freed), the memory's per-chunk states and the logits, in fp32."""
    c = model.config
    tokens = micro_batch * seq_len
    per_layer = tokens * (10 * c.d_model + 3 * c.d_ff + c.n_heads * seq_len)
    net = per_layer * c.n_layers * (c.inner_steps + 1)
    chunks = -(-seq_len // c.memory_chunk)
    memory = micro_batch * chunks * 6 * c.memory_dim * c.memory_hidden
    logits = 3 * tokens * c.vocab_size
    return 4 * (net + memory + logits)


def free_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return psutil.virtual_memory().available


def preflight(model: nn.Module, micro_batch: int, seq_len: int, storage: Path, keep_checkpoints: int,
              device: torch.device) -> dict:
    """Refuse a job whose training state and activations would not fit in memory, or whose
    checkpoints would not fit on disk; returns the estimates (bytes)."""
    size = model_size(model)
    need_memory = TRAIN_BYTES_PER_PARAM * size.total + activation_bytes(model, micro_batch, seq_len)
    have_memory = free_memory(device)
    if need_memory > HEADROOM * have_memory:
        raise GlyphDistError(
            f"pre-flight: training {size.describe()} with micro batches of {micro_batch} x {seq_len} tokens needs "
            f"about {need_memory / 2**30:.2f} GiB of {device.type} memory, {have_memory / 2**30:.2f} GiB is free: "
            "lower micro_batch_size or seq_len")
    storage.mkdir(parents=True, exist_ok=True)
    need_disk = CHECKPOINT_BYTES_PER_PARAM * size.total * (keep_checkpoints + 1)
    have_disk = shutil.disk_usage(storage).free
    if need_disk > HEADROOM * have_disk:
        raise GlyphDistError(f"pre-flight: {keep_checkpoints + 1} checkpoints of {size.describe()} need about "
                             f"{need_disk / 2**30:.2f} GiB on {storage}, {have_disk / 2**30:.2f} GiB is free")
    return {"memory_needed": need_memory, "memory_free": have_memory, "disk_needed": need_disk, "disk_free": have_disk}
