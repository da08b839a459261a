"""(prompt, target) pairs: read and checked, and tokenized with the loss on the target.

A pair is one JSON object a line with string fields `prompt` and `target` (other fields serve
`where` filters). Its tokens are prompt + target + eos; the loss covers the target and its eos.
Training (`train/`) batches them; the glyph adapter scores them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
from torch.utils.data import Dataset
from transformers import PreTrainedTokenizerBase

from glyph_dist.errors import GlyphDistError


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
    from glyph_dist.fgt.hybrid import GLYPH_CLOSE, GLYPH_OPEN  # the tape's modules need faiss: the driver's only

    glyph_code = re.compile(re.escape(GLYPH_OPEN) + r"(.*?)" + re.escape(GLYPH_CLOSE))
    vocab = None
    for pair in pairs:
        for text in (pair.prompt, pair.target):
            if GLYPH_OPEN not in text:
                continue
            if vocab is None:
                vocab = tokenizer.get_vocab()
            needed = {GLYPH_OPEN, GLYPH_CLOSE, *(c for code in glyph_code.findall(text) for c in code)}
            missing = sorted(needed - vocab.keys())
            if missing:
                raise GlyphDistError(
                    f"{path}, line {pair.line}: the data holds glyph codes but the tokenizer lacks the glyph "
                    f"token(s) {' '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}: "
                    f"use the tape's tokenizer (tape: TAPE_DIR)")


class TokenizedPairs(Dataset):
    """Token ids (prompt + target + eos) and the prompt length of each pair, with their lengths and
    the number of target tokens each scores (a token predicted by the one before it)."""

    def __init__(self, ids: list[np.ndarray], prompt_lens: list[int]):
        self.ids, self.prompt_lens = ids, prompt_lens
        self.lengths = np.array([len(x) for x in ids], dtype=np.int64)
        self.scored = np.maximum(self.lengths - np.maximum(np.array(prompt_lens, dtype=np.int64), 1), 0)

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
