"""Tokenized (prompt, target) pairs (`models/pairs.py`) batched and dealt to the workers.

The loss covers the target and its eos alone: a batch names the positions that predict them
(`Batch.positions`) and what they predict.

Batches are right-padded, so a causal model needs no attention mask (a real token never attends
to the padding after it), and their widths are rounded up to a multiple of `pad_multiple`: a run
sees a few shapes only. Each global batch holds pairs of similar lengths (`length_window`), so
little of it is padding.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from glyph_dist.errors import GlyphDistError
from glyph_dist.models.pairs import TokenizedPairs


class Batch(NamedTuple):
    """A right-padded micro batch and where its loss lies."""

    input_ids: torch.Tensor  # (rows, width)
    positions: torch.Tensor  # flat indices into input_ids of the tokens that a target token follows
    targets: torch.Tensor  # the target token that follows each of them
    tokens: int  # non-pad tokens

    def to(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """input_ids, positions and targets on `device` (on a GPU through pinned memory, without waiting)."""
        tensors = (self.input_ids, self.positions, self.targets)
        if device.type != "cuda":
            return tuple(t.to(device) for t in tensors)
        return tuple(t.pin_memory().to(device, non_blocking=True) for t in tensors)


@dataclass(frozen=True)
class Collator:
    """Pairs to a Batch, right-padded with `pad_id` to the longest pair's length rounded up to a
    multiple of `multiple`, but no wider than `limit` unless the longest pair is."""

    pad_id: int
    multiple: int = 1
    limit: int | None = None

    def width(self, longest: int) -> int:
        rounded = -(-longest // self.multiple) * self.multiple
        return rounded if self.limit is None else max(longest, min(rounded, self.limit))

    def __call__(self, examples: list[tuple[np.ndarray, int]]) -> Batch:
        width = self.width(max(len(ids) for ids, _ in examples))
        input_ids = np.full((len(examples), width), self.pad_id, dtype=np.int64)
        positions = []
        for row, (ids, prompt_len) in enumerate(examples):
            input_ids[row, :len(ids)] = ids
            positions.append(row * width + np.arange(max(prompt_len, 1), len(ids)) - 1)
        flat = np.concatenate(positions)
        return Batch(torch.from_numpy(input_ids), torch.from_numpy(flat), torch.from_numpy(input_ids.ravel()[flat + 1]),
                     sum(len(ids) for ids, _ in examples))


class Step(NamedTuple):
    micro_batches: list[Batch]  # this worker's
    scored: int  # target tokens of the whole global batch (every worker's share)
    tokens: int  # non-pad tokens of the whole global batch


def steps_per_epoch(n_pairs: int, world: int, micro_batch: int, accum: int) -> int:
    """Whole optimizer steps in one pass over the data (the remainder of each epoch is left out)."""
    steps = n_pairs // world // micro_batch // accum
    if steps == 0:
        raise GlyphDistError(f"{n_pairs} training pairs do not fill one global batch of {world * micro_batch * accum} "
                             f"(micro batch {micro_batch} x accumulation {accum} x {world} workers)")
    return steps


def epoch_order(lengths: np.ndarray, global_batch: int, seed: int, epoch: int, window: int) -> np.ndarray:
    """The pairs of an epoch's steps: step t's global batch is order[t*G:(t+1)*G] (G = global_batch).

    A permutation seeded by (seed, epoch), as DistributedSampler draws it, cut to whole global
    batches. With `window` > 1 the pairs of every `window` consecutive global batches are sorted by
    length and cut into global batches again, whose order is then shuffled: a global batch holds
    pairs of similar lengths, so its micro batches pad little.
    """
    generator = torch.Generator().manual_seed(seed + epoch)
    order = torch.randperm(len(lengths), generator=generator).numpy()
    order = order[:len(order) // global_batch * global_batch]
    for start in range(0, len(order), window * global_batch) if window > 1 else ():
        chunk = order[start:start + window * global_batch]
        batches = chunk[np.argsort(lengths[chunk], kind="stable")].reshape(-1, global_batch)
        chunk[:] = batches[torch.randperm(len(batches), generator=generator).numpy()].ravel()
    return order


def step_batches(data: TokenizedPairs, rank: int, world: int, micro_batch: int, accum: int, seed: int,
                 collator: Collator, start_step: int = 0, window: int = 1) -> Iterator[Step]:
    """This worker's micro batches, `accum` per optimizer step, from step `start_step` on, epoch after epoch.

    Step t's global batch is the block [t*G, (t+1)*G) of `epoch_order` (G = micro batch x
    accumulation x workers), dealt round-robin to the workers as DistributedSampler deals: it does
    not depend on the number of workers, and every worker knows its token counts.
    """
    global_batch = micro_batch * accum * world
    per_epoch = steps_per_epoch(len(data), world, micro_batch, accum)
    epoch, skip = divmod(start_step, per_epoch)
    while True:
        order = epoch_order(data.lengths, global_batch, seed, epoch, window)
        for step in range(skip, per_epoch):
            block = order[step * global_batch:(step + 1) * global_batch]
            share = block[rank::world]
            yield Step([collator([data[i] for i in share[k:k + micro_batch]]) for k in range(0, len(share), micro_batch)],
                       int(data.scored[block].sum()), int(data.lengths[block].sum()))
        epoch, skip = epoch + 1, 0


def eval_batches(data: TokenizedPairs, rank: int, world: int, batch_size: int, collator: Collator) -> Iterator[Batch]:
    """This worker's share of the split (every `world`-th pair from `rank` on), shortest first, in batches.

    Every worker runs the same number of batches (ZeRO-3 gathers parameters in each forward pass):
    a short share is topped up with a pair that scores no token.
    """
    mine = [data[i] for i in range(rank, len(data), world)]
    ids, _ = data[0]
    mine += [(ids, len(ids))] * (math.ceil(len(data) / world) - len(mine))
    mine.sort(key=lambda pair: len(pair[0]))
    for start in range(0, len(mine), batch_size):
        yield collator(mine[start:start + batch_size])
