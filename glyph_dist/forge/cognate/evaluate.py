"""Evaluation of a Cognate model, all under ACT halting at the model's threshold (or a given one):

    perplexity          exp of the mean next-token cross-entropy over held-out windows of every
                        source (non-overlapping windows of seq_len tokens, up to heldout_tokens a
                        source), overall (token-weighted) and per source
    halting_steps       the mean outer steps a scored token took before halting (act.py)
    memory_share        the mean weight 1 − g the blocks' gates give the memory read
    memory_recall_gain  1 − recall loss after / before each chunk's test-time update
    tokens_per_s        held-out tokens through the halted forward pass per second (batch_size
                        windows at a time; evaluation's own loss computation excluded)
    gsm8k_accuracy      greedy generation (no sampling) from `Question: ...\\nAnswer:` until the
                        `#### N` line ends, the end-of-text token or max_new_tokens; the number
                        after `####` (else the last number) must equal the gold answer
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from glyph_dist.emergence.answers import answers_match, extract_answer
from glyph_dist.forge.cognate.act import halted_forward
from glyph_dist.forge.cognate.data import FINAL_MARKER, Problem
from glyph_dist.forge.cognate.model import Cognate, autocast


@dataclass
class EvalSettings:
    seq_len: int = 256
    batch_size: int = 8
    heldout_tokens: int = 16384  # per source
    gsm8k_questions: int = 50  # the first N problems given
    max_new_tokens: int = 160
    threshold: float | None = None  # ACT threshold; None: the model's


def windows(stream: torch.Tensor, seq_len: int, max_tokens: int) -> torch.Tensor:
    """Non-overlapping windows [n, seq_len + 1] (inputs and their next tokens) from the stream's start."""
    n = min(max(1, max_tokens // seq_len), (len(stream) - 1) // seq_len)
    return torch.stack([stream[i * seq_len:(i + 1) * seq_len + 1] for i in range(n)]).long()


@torch.no_grad()
def heldout_metrics(model: Cognate, streams: dict[str, torch.Tensor], settings: EvalSettings,
                    device: torch.device) -> dict:
    model.eval()
    nll, tokens, steps, shares, gains, seconds, by_source = 0.0, 0, 0.0, [], [], 0.0, {}
    for name, stream in streams.items():
        source_nll, source_tokens = 0.0, 0
        for batch in windows(stream, settings.seq_len, settings.heldout_tokens).split(settings.batch_size):
            batch = batch.to(device)
            started = time.perf_counter()
            with autocast(device):
                halted = halted_forward(model, batch[:, :-1], settings.threshold)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds += time.perf_counter() - started
            source_nll += F.cross_entropy(halted.logits.flatten(0, 1).float(), batch[:, 1:].flatten(),
                                          reduction="sum").item()
            source_tokens += batch[:, 1:].numel()
            steps += halted.steps.sum().item()
            shares.append(halted.memory_share)
            stats = halted.memory_stats
            gains.append(1 - float(stats.recall_after.mean() / stats.recall_before.mean()))
        by_source[name] = math.exp(source_nll / source_tokens)
        nll, tokens = nll + source_nll, tokens + source_tokens
    model.train()
    return {"perplexity": math.exp(nll / tokens), "perplexity_by_source": by_source, "heldout_tokens": tokens,
            "halting_steps": steps / tokens, "memory_share": sum(shares) / len(shares),
            "memory_recall_gain": sum(gains) / len(gains), "tokens_per_s": tokens / seconds}


def _finished(text: str) -> bool:
    """The answer's `#### N` line has ended, or the model started another problem."""
    after = text.partition(FINAL_MARKER)[2]
    return (bool(after.strip()) and "\n" in after.lstrip(" ")) or "\nQuestion:" in text


@torch.no_grad()
def generate(model: Cognate, tokenizer, prompt: str, max_new_tokens: int, device: torch.device,
             threshold: float | None = None) -> str:
    """Greedy continuation of `prompt` (the context is the last max_seq_len tokens)."""
    model.eval()
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    new: list[int] = []
    for _ in range(max_new_tokens):
        context = torch.tensor([(ids + new)[-model.config.max_seq_len:]], device=device)
        with autocast(device):
            token = int(halted_forward(model, context, threshold).logits[0, -1].argmax())
        if token == tokenizer.eos_token_id:
            break
        new.append(token)
        if _finished(tokenizer.decode(new)):
            break
    model.train()
    return tokenizer.decode(new)


def gsm8k_accuracy(model: Cognate, tokenizer, problems: list[Problem], settings: EvalSettings,
                   device: torch.device) -> dict:
    problems = problems[:settings.gsm8k_questions]
    correct, marked, examples = 0, 0, []
    for problem in problems:
        text = generate(model, tokenizer, problem.prompt, settings.max_new_tokens, device, settings.threshold)
        predicted = extract_answer(text, FINAL_MARKER)
        correct += answers_match(predicted, problem.gold)
        marked += FINAL_MARKER in text
        if len(examples) < 3:
            examples.append({"question": problem.question, "gold": problem.gold, "output": text,
                             "predicted": predicted})
    return {"gsm8k_accuracy": correct / len(problems), "gsm8k_correct": correct, "gsm8k_n": len(problems),
            "gsm8k_final_line_share": marked / len(problems), "gsm8k_examples": examples}


def evaluate(model: Cognate, tokenizer, heldout: dict[str, torch.Tensor], problems: list[Problem],
             settings: EvalSettings, device: torch.device) -> dict:
    """Held-out perplexity, halting, memory and speed figures, and GSM8K accuracy (when problems are given)."""
    metrics = heldout_metrics(model, heldout, settings, device)
    if problems and settings.gsm8k_questions:
        metrics.update(gsm8k_accuracy(model, tokenizer, problems, settings, device))
    return metrics
