"""The tokenizer and the causal LM to fine-tune: local directories only, or the embedded defaults."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (AutoConfig, AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, PreTrainedModel,
                          PreTrainedTokenizerBase)

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.store import load_tokenizer
from glyph_dist.train.config import SFTConfig


def load_sft_tokenizer(config: SFTConfig) -> PreTrainedTokenizerBase:
    """The tape's tokenizer with `<GLYPH>`, `</GLYPH>` and the glyph characters; else a local one."""
    if config.tape:
        from glyph_dist.fgt.hybrid import HybridTokenizer
        from glyph_dist.fgt.store import load_tape

        return HybridTokenizer(load_tape(config.tape)).base
    return load_tokenizer(config.tokenizer or config.model)


def pad_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The id that fills padded positions (never attended to nor scored)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def context_length(config: SFTConfig) -> int | None:
    """The model's context in tokens, read without loading weights; a bad model directory is an error."""
    if not config.model:
        return config.gpt2["n_positions"]
    path = Path(config.model)
    if not (path / "config.json").is_file():
        raise GlyphDistError(f"model {path}: not a Hugging Face model directory (no config.json)")
    try:
        model_config = AutoConfig.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise GlyphDistError(f"model {path}: cannot read its config ({exc})") from exc
    return getattr(model_config, "max_position_embeddings", None) or getattr(model_config, "n_positions", None)


def build_model(config: SFTConfig, tokenizer: PreTrainedTokenizerBase) -> PreTrainedModel:
    """The model in float32 with room for every token of the tokenizer (the current torch seed sets
    the initial weights of a model built from `gpt2`)."""
    if config.model:
        model = AutoModelForCausalLM.from_pretrained(config.model, local_files_only=True, dtype=torch.float32)
        if model.get_input_embeddings().num_embeddings < len(tokenizer):
            model.resize_token_embeddings(len(tokenizer))
        return model
    return GPT2LMHeadModel(GPT2Config(**config.gpt2, vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                                      eos_token_id=tokenizer.eos_token_id, pad_token_id=pad_id(tokenizer)))


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups as in nanoGPT: matrices and embeddings decay, biases and norms do not."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
