"""A seeded tiny Llama over a given tokenizer, saved as a Hugging Face model directory: the test and
CPU-run stand-in for a pretrained model in the forge's BitNet and Quiet-STaR jobs."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from glyph_dist.fgt.store import load_tokenizer


def default_llama() -> dict:
    return {"hidden_size": 64, "intermediate_size": 192, "num_hidden_layers": 4, "num_attention_heads": 4,
            "num_key_value_heads": 2, "max_position_embeddings": 512, "tie_word_embeddings": True}


def tiny_llama_dir(tokenizer: str, llama: dict, seed: int, out: Path) -> Path:
    """OUT holding a freshly initialised Llama of the `llama` config values (written once; reused after)."""
    if not (out / "config.json").is_file():
        tok = load_tokenizer(tokenizer)
        torch.manual_seed(seed)
        model = LlamaForCausalLM(LlamaConfig(**llama, vocab_size=len(tok), bos_token_id=tok.bos_token_id,
                                             eos_token_id=tok.eos_token_id))
        model.save_pretrained(out)
        tok.save_pretrained(out)
    return out
