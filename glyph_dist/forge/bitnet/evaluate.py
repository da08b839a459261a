"""Quality and speed of a causal LM (full precision, fake-quantised or packed), measured on the same inputs:

    perplexity       exp of the mean next-token cross-entropy over non-overlapping held-out windows
                     of seq_len tokens (up to max_tokens a source), token-weighted over the sources
    prefill_tokens_per_s   held-out tokens through the forward pass per second (batches of windows;
                     the loss computation excluded)
    decode_tokens_per_s    greedy generation, one sequence, KV cache on: new tokens per second
(GSM8K accuracy, when the bench asks for it: forge/gsm8k.py)
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from glyph_dist.forge.cognate.evaluate import windows


@torch.no_grad()
def heldout(model: nn.Module, streams: dict[str, torch.Tensor], seq_len: int, max_tokens: int,
            batch_size: int = 8) -> dict:
    training = model.training
    model.eval()
    nll, tokens, seconds = 0.0, 0, 0.0
    for stream in streams.values():
        for batch in windows(stream, seq_len, max_tokens).split(batch_size):
            started = time.perf_counter()
            logits = model(input_ids=batch[:, :-1], use_cache=False).logits
            seconds += time.perf_counter() - started
            nll += F.cross_entropy(logits.flatten(0, 1).float(), batch[:, 1:].flatten(), reduction="sum").item()
            tokens += batch[:, 1:].numel()
    model.train(training)
    return {"perplexity": math.exp(nll / tokens), "heldout_tokens": tokens, "prefill_tokens_per_s": tokens / seconds}


@torch.no_grad()
def decode_speed(model: nn.Module, prompt_ids: torch.Tensor, new_tokens: int) -> float:
    """New tokens per second of greedy generation of exactly `new_tokens` after `prompt_ids` [1, n]."""
    model.eval()
    started = time.perf_counter()
    out = model.generate(prompt_ids, attention_mask=torch.ones_like(prompt_ids), max_new_tokens=new_tokens,
                         min_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
    return (out.shape[1] - prompt_ids.shape[1]) / (time.perf_counter() - started)
