"""(prompt, target) pairs: read and checked, tokenized with the loss on the target, dealt to the workers.

A pair is one JSON object a line with string fields `prompt` and `target` (other fields serve
`where` filters). Its tokens are prompt + target + eos; the labels are -100 on the prompt and
on padding, so the loss covers the target and its eos alone.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler
from transformers import PreTrainedTokenizerBase

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.hybrid import GLYPH_CLOSE, GLYPH_OPEN

IGNORE = -100  # the label of a position without loss
_GLYPH_CODE = re.compile(re.escape(GLYPH_OPEN) + r"(.*?)" + re.escape(GLYPH_CLOSE))


class Pair(NamedTuple):
    prompt: str
    target: str
    line: int  # in its file, for error messages


def read_pairs(path: Path, where: dict) -> list[Pair]:
    """The file's pairs whose fields equal `where`; a bad line is an error naming file and line."""
    if not path.is_file():
        raise GlyphDistError(f"{path}: no such file")
    pairs = []
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, 1):
            at = f"{path}, line {number}"
            try:
                text = raw.decode("utf-8")
                record = json.loads(text) if text.strip() else None
            except UnicodeDecodeError as exc:
                raise GlyphDistError(f"{at}: not UTF-8 ({exc.reason})") from exc
            except json.JSONDecodeError as exc:
                raise GlyphDistError(f"{at}: not valid JSON ({exc.msg}, column {exc.colno})") from exc
            if record is None:
                continue
            if not isinstance(record, dict) or not all(isinstance(record.get(k), str) for k in ("prompt", "target")):
                raise GlyphDistError(f"{at}: expected an object with string fields 'prompt' and 'target'")
            if all(record.get(k) == v for k, v in where.items()):
                pairs.append(Pair(record["prompt"], record["target"], number))
    if not pairs:
        raise GlyphDistError(f"{path}: no pairs" + (f" with {where}" if where else ""))
    return pairs


def check_glyph_tokens(pairs: list[Pair], tokenizer: PreTrainedTokenizerBase, path: Path) -> None:
    """Data holding `<GLYPH>code</GLYPH>` needs a tokenizer with the glyph tags and characters as tokens."""
    vocab = None
    for pair in pairs:
        for text in (pair.prompt, pair.target):
            if GLYPH_OPEN not in text:
                continue
            if vocab is None:
                vocab = tokenizer.get_vocab()
            needed = {GLYPH_OPEN, GLYPH_CLOSE, *(c for code in _GLYPH_CODE.findall(text) for c in code)}
            missing = sorted(needed - vocab.keys())
            if missing:
                raise GlyphDistError(
                    f"{path}, line {pair.line}: the data holds glyph codes but the tokenizer lacks the glyph "
                    f"token(s) {' '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}: "
                    f"use the tape's tokenizer (tape: TAPE_DIR)")


class TokenizedPairs(Dataset):
    """Token ids (prompt + target + eos) and the prompt length of each pair."""

    def __init__(self, ids: list[np.ndarray], prompt_lens: list[int]):
        self.ids, self.prompt_lens = ids, prompt_lens

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self.ids[i], self.prompt_lens[i]


def tokenize_pairs(pairs: list[Pair], tokenizer: PreTrainedTokenizerBase, max_length: int) -> TokenizedPairs:
    """Pairs longer than `max_length` lose the start of their prompt (the target is kept)."""
    if tokenizer.eos_token_id is None:
        raise GlyphDistError("the tokenizer has no eos token to end the targets with")
    prompts = tokenizer([p.prompt for p in pairs], add_special_tokens=False)["input_ids"]
    targets = tokenizer([p.target for p in pairs], add_special_tokens=False)["input_ids"]
    ids, prompt_lens = [], []
    for prompt, target in zip(prompts, targets):
        tokens = [*prompt, *target, tokenizer.eos_token_id]
        cut = max(0, len(tokens) - max_length)
        ids.append(np.asarray(tokens[cut:], dtype=np.int64))
        prompt_lens.append(max(0, len(prompt) - cut))
    return TokenizedPairs(ids, prompt_lens)


def collate(examples: list[tuple[np.ndarray, int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded `input_ids`, `attention_mask` and `labels` (IGNORE on prompt and padding)."""
    width = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    for row, (ids, prompt_len) in enumerate(examples):
        tokens = torch.tensor(ids)
        input_ids[row, :len(ids)] = tokens
        attention_mask[row, :len(ids)] = 1
        labels[row, prompt_len:len(ids)] = tokens[prompt_len:]
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def steps_per_epoch(n_pairs: int, world: int, micro_batch: int, accum: int) -> int:
    """Whole optimizer steps in one pass over the data (the remainder of each epoch is left out)."""
    steps = n_pairs // world // micro_batch // accum
    if steps == 0:
        raise GlyphDistError(f"{n_pairs} training pairs do not fill one global batch of {world * micro_batch * accum} "
                             f"(micro batch {micro_batch} x accumulation {accum} x {world} workers)")
    return steps


def step_batches(data: TokenizedPairs, rank: int, world: int, micro_batch: int, accum: int, seed: int,
                 pad_id: int, start_step: int = 0) -> Iterator[list[dict[str, torch.Tensor]]]:
    """This worker's micro batches, `accum` per optimizer step, from step `start_step` on, epoch after epoch.

    Each epoch a DistributedSampler deals a permutation seeded by (seed, epoch) round-robin to the
    workers, so step t's global batch is the block [t*G, (t+1)*G) of that permutation (G = micro
    batch x accumulation x workers) whatever the number of workers.
    """
    per_epoch = steps_per_epoch(len(data), world, micro_batch, accum)
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True)
    epoch, skip = divmod(start_step, per_epoch)
    while True:
        sampler.set_epoch(epoch)
        order = list(sampler)
        for step in range(skip, per_epoch):
            first = step * accum * micro_batch
            yield [collate([data[i] for i in order[start:start + micro_batch]], pad_id)
                   for start in range(first, first + accum * micro_batch, micro_batch)]
        epoch, skip = epoch + 1, 0


def eval_batches(data: TokenizedPairs, rank: int, world: int, batch_size: int,
                 pad_id: int) -> Iterator[dict[str, torch.Tensor]]:
    """This worker's share of the split (every `world`-th pair from `rank` on) in batches.

    Every worker runs the same number of batches (ZeRO-3 gathers parameters in each forward pass):
    a short share is topped up with a pair whose labels are all IGNORE.
    """
    mine = [data[i] for i in range(rank, len(data), world)]
    ids, _ = data[0]
    mine += [(ids, len(ids))] * (math.ceil(len(data) / world) - len(mine))
    for start in range(0, len(mine), batch_size):
        yield collate(mine[start:start + batch_size], pad_id)
