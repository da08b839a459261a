"""The tokenizer of a Cognate model: a byte-level BPE trained on the curriculum's training texts
(`bpe`, the default), or a catalog model's or local directory's tokenizer (`smollm2`, DIR).

Why BPE by default: embeddings are counted apart from the ~25M network, but they still cost
memory and training signal. SmolLM2's 49,152-token vocabulary at d_model 512 is a 25.2M-parameter
embedding, as large as the network it feeds; an 8,192-token BPE fitted to the same offline texts
is 4.2M, and it tokenizes them nearly as compactly because they are all it has to cover. Training
is deterministic (the same texts and size give the same vocabulary), and the tokenizer is saved
with every model, so the three specialisations trained in one run share it, as merging needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from transformers import AutoTokenizer, PreTrainedTokenizerBase

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.bpe import as_hf_tokenizer, train_bpe
from glyph_dist.models.catalog import resolve_model

BPE = "bpe"


def build_tokenizer(spec: str, texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerBase:
    """`bpe`: trained on `texts` with `vocab_size` tokens; else a catalog name or tokenizer directory."""
    if spec == BPE:
        return as_hf_tokenizer(train_bpe(texts, vocab_size))
    directory = resolve_model(spec)
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise GlyphDistError(f"tokenizer {spec}: no tokenizer in {directory} ({exc})") from None
    if tokenizer.eos_token_id is None:
        raise GlyphDistError(f"tokenizer {spec}: it has no end-of-text token to separate documents")
    return tokenizer


def load_tokenizer(directory: Path) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(directory, local_files_only=True)
