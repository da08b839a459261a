"""The measured comparison of a packed BitNet model with its full-precision reference, on the same inputs:
held-out perplexity and its relative change, prefill and decode tokens/s (kernel.py's int8 GEMM with
ternary weights against the reference's float GEMMs) and their ratio, and GSM8K accuracy when
questions are asked for. A ratio below 1 means the packed model is slower."""

from __future__ import annotations

from pathlib import Path

import torch

from glyph_dist.fgt.store import load_tokenizer
from glyph_dist.forge.bitnet.evaluate import decode_speed, heldout
from glyph_dist.forge.bitnet.pack import load_packed
from glyph_dist.forge.bitnet.qat import load_source
from glyph_dist.forge.cognate.data import build_streams, gsm8k_problems, load_texts
from glyph_dist.forge.gsm8k import gsm8k_accuracy


def compare(packed_dir: Path, reference_dir: Path, datasets: Path, sources: list[str], seq_len: int = 128,
            heldout_tokens: int = 4096, decode_tokens: int = 32, questions: int = 0, max_new_tokens: int = 128,
            reference_dtype: torch.dtype = torch.float32) -> dict:
    tokenizer = load_tokenizer(packed_dir)
    streams = build_streams(load_texts([], datasets, sources), tokenizer, []).heldout
    prompt = next(iter(streams.values()))[:seq_len][None].long()
    problems = gsm8k_problems(datasets)[:questions] if questions else []
    models = {"packed": load_packed(packed_dir), "reference": load_source(str(reference_dir)).to(reference_dtype)}
    rows = {}
    for name, model in models.items():
        decode_speed(model, prompt[:, :8], 2)  # warm-up (and the packed layers' first unpack)
        rows[name] = {**heldout(model, streams, seq_len, heldout_tokens),
                      "decode_tokens_per_s": decode_speed(model, prompt, decode_tokens)}
        if problems:
            rows[name].update(gsm8k_accuracy(model, tokenizer, problems, max_new_tokens))
    packed, reference = rows["packed"], rows["reference"]
    return {**rows, "reference_dtype": str(reference_dtype).removeprefix("torch."),
            "perplexity_relative_change": packed["perplexity"] / reference["perplexity"] - 1,
            "prefill_speed_ratio": packed["prefill_tokens_per_s"] / reference["prefill_tokens_per_s"],
            "decode_speed_ratio": packed["decode_tokens_per_s"] / reference["decode_tokens_per_s"],
            "torch_threads": torch.get_num_threads()}
