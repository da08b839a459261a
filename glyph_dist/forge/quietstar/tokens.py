"""The 12 thought tokens, added to a tokenizer as special tokens, their embeddings initialised from
their words: each new row (input embedding, and output head when untied) is the mean of the rows of
the tokens that spell the token's words, so a model reads `<doubt>` near where it reads "doubt".
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.store import load_tokenizer

THINK_OPEN, THINK_CLOSE = "[thinking]", "[/endthinking]"
STRATEGIES = ("<step>", "<mece>", "<falsify>", "<expert>", "<orthogonal>", "<doubt>", "<bayesian>",
              "<multidomain>", "<correct>", "<uncertain>")
THOUGHT_TOKENS = (THINK_OPEN, THINK_CLOSE, *STRATEGIES)
WORDS = {THINK_OPEN: "thinking", THINK_CLOSE: "end thinking", "<step>": "step",
         "<mece>": "mutually exclusive collectively exhaustive", "<falsify>": "falsify", "<expert>": "expert",
         "<orthogonal>": "orthogonal", "<doubt>": "doubt", "<bayesian>": "bayesian",
         "<multidomain>": "multi domain", "<correct>": "correct", "<uncertain>": "uncertain"}
MARKER_FILE = "thought_tokens.json"


def add_thought_tokens(model: nn.Module, tokenizer) -> list[int]:
    """Add the tokens (those not yet there) and initialise their embeddings; returns the 12 ids."""
    word_ids = {t: tokenizer(" " + WORDS[t], add_special_tokens=False)["input_ids"] for t in THOUGHT_TOKENS}
    tokenizer.add_special_tokens({"additional_special_tokens": list(THOUGHT_TOKENS)},
                                 replace_extra_special_tokens=False)
    ids = tokenizer.convert_tokens_to_ids(list(THOUGHT_TOKENS))
    if len(set(ids)) != len(THOUGHT_TOKENS) or tokenizer.unk_token_id in ids:
        raise GlyphDistError("the tokenizer did not take the 12 thought tokens as single tokens")
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)  # the rows are set below
    tables = [model.get_input_embeddings().weight]
    head = model.get_output_embeddings()
    if head is not None and head.weight is not tables[0]:
        tables.append(head.weight)
    with torch.no_grad():
        for table in tables:
            for token, token_id in zip(THOUGHT_TOKENS, ids):
                table[token_id] = table[word_ids[token]].mean(0)
    return ids


def thought_token_ids(tokenizer) -> dict[str, int]:
    """The 12 tokens' ids; a tokenizer without them is an error."""
    ids = dict(zip(THOUGHT_TOKENS, tokenizer.convert_tokens_to_ids(list(THOUGHT_TOKENS))))
    missing = [t for t, i in ids.items() if i is None or i == tokenizer.unk_token_id]
    if missing:
        raise GlyphDistError(f"the tokenizer lacks the thought tokens {', '.join(missing)} "
                             "(glyph-dist forge quietstar bake adds them)")
    return ids


def prepare_thought_model(source: Path, out: Path) -> Path:
    """Write the source model with the 12 tokens added (a Hugging Face model directory) to OUT."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(source, local_files_only=True, dtype=torch.float32)
    tokenizer = load_tokenizer(source)
    add_thought_tokens(model, tokenizer)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
