"""What a candidate's fitness is made of, measured on one split of held-out data:

    perplexity        exp of the mean next-token cross-entropy over non-overlapping windows of
                      seq_len tokens (up to `tokens` a source) of the held-out texts of every
                      source (token-weighted), and per source
    gsm8k_accuracy    greedy answers to GSM8K test problems: the number after `####` (else the
                      last number) must equal the gold answer (prompt: the question in the model's chat
                      template, or without one the `Question: ...\\nAnswer:` prompt Cognate trains on)
    tokens_per_s      held-out tokens through the forward pass per second (the timed forward only)
    weights_mb        the size of the model's weights as stored (MiB)

Two disjoint splits: `fitness`, which the evolution optimises, and `final`, which scores the
champion and the parents once at the end. Held-out texts alternate between them (even and odd
positions), and GSM8K test problems are taken in file order: the first `gsm8k_fitness` for the
fitness, the next `gsm8k_final` for the final scoring. Per-window and per-problem results are
kept for the bootstrap intervals of the report.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from glyph_dist.emergence.answers import answers_match, extract_answer
from glyph_dist.errors import GlyphDistError
from glyph_dist.forge.cognate.data import BUILTIN, FINAL_MARKER, Problem, gsm8k_problems, load_texts, tokenize
from glyph_dist.forge.cognate.evaluate import windows
from glyph_dist.forge.merge.family import WEIGHTS, family_of

SPLITS = ("fitness", "final")


@dataclass
class EvalSettings:
    datasets: str = "../shared/datasets"
    sources: tuple = BUILTIN
    seq_len: int = 128
    tokens: int = 2048  # held-out tokens a source and split
    batch_size: int = 8
    gsm8k_fitness: int = 16
    gsm8k_final: int = 32
    max_new_tokens: int = 96
    device: str = "cpu"


@dataclass
class EvalData:
    texts: dict[str, list[str]]
    problems: list[Problem]


def eval_splits(settings: EvalSettings) -> dict[str, EvalData]:
    datasets = Path(settings.datasets)
    heldout = {name: t.heldout for name, t in load_texts([], datasets, settings.sources).items()}
    empty = [name for name, texts in heldout.items() if len(texts) < 2]
    if empty:
        raise GlyphDistError(f"evolve eval: sources {', '.join(empty)} have fewer than 2 held-out texts")
    problems = gsm8k_problems(datasets, "test")
    n_fit, n_final = settings.gsm8k_fitness, settings.gsm8k_final
    return {"fitness": EvalData({k: v[0::2] for k, v in heldout.items()}, problems[:n_fit]),
            "final": EvalData({k: v[1::2] for k, v in heldout.items()}, problems[n_fit:n_fit + n_final])}


class CognateRunner:
    def __init__(self, directory: Path, device: torch.device):
        from glyph_dist.forge.cognate.checkpoint import load_pretrained
        self.model, self.tokenizer = load_pretrained(directory, device)
        self.device = device

    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        from glyph_dist.forge.cognate.act import halted_forward
        return halted_forward(self.model, batch, None).logits

    def answers(self, problems: list[Problem], max_new_tokens: int, batch_size: int) -> list[str]:
        from glyph_dist.forge.cognate.evaluate import generate
        return [generate(self.model, self.tokenizer, p.prompt, max_new_tokens, self.device) for p in problems]


class HFRunner:
    def __init__(self, directory: Path, device: torch.device):
        from glyph_dist.models.hf import LocalLM
        self.lm = LocalLM(directory, str(device))
        self.tokenizer = self.lm.tokenizer

    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        return self.lm.model(input_ids=batch).logits

    def answers(self, problems: list[Problem], max_new_tokens: int, batch_size: int) -> list[str]:
        chat = self.lm.has_chat_template  # else the plain `Question: ...\nAnswer:` prompt
        prompts = [p.question if chat else p.prompt for p in problems]
        return self.lm.generate(prompts, max_new_tokens, batch_size, first_line=False, chat=chat)


RUNNERS = {"cognate": CognateRunner, "hf": HFRunner}


@torch.inference_mode()
def heldout(runner, texts: dict[str, list[str]], settings: EvalSettings, device: torch.device) -> dict:
    rows, seconds = [], 0.0
    for source, source_texts in texts.items():
        stream = tokenize(source_texts, runner.tokenizer)
        for batch in windows(stream, settings.seq_len, settings.tokens).split(settings.batch_size):
            batch = batch.to(device)
            started = time.perf_counter()
            logits = runner.logits(batch[:, :-1])
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds += time.perf_counter() - started
            nll = F.cross_entropy(logits.float().transpose(1, 2), batch[:, 1:], reduction="none").sum(dim=1)
            rows += [[source, float(n), settings.seq_len] for n in nll]
    tokens = sum(r[2] for r in rows)
    by_source = {s: math.exp(sum(r[1] for r in rows if r[0] == s) / sum(r[2] for r in rows if r[0] == s))
                 for s in texts}
    return {"perplexity": math.exp(sum(r[1] for r in rows) / tokens), "perplexity_by_source": by_source,
            "heldout_tokens": tokens, "tokens_per_s": tokens / seconds, "windows": rows}


def gsm8k(runner, problems: list[Problem], settings: EvalSettings) -> dict:
    outputs = runner.answers(problems, settings.max_new_tokens, settings.batch_size)
    correct = [int(answers_match(extract_answer(text, FINAL_MARKER), p.gold)) for text, p in zip(outputs, problems)]
    return {"gsm8k_accuracy": sum(correct) / len(correct), "gsm8k_n": len(correct), "gsm8k_items": correct,
            "gsm8k_example": outputs[0] if outputs else ""}


def evaluate_model(directory: Path, data: EvalData, settings: EvalSettings) -> dict:
    """Every measure of the model in `directory` on one split's data."""
    device = torch.device(settings.device)
    runner = RUNNERS[family_of(directory).name](Path(directory), device)
    metrics = {**heldout(runner, data.texts, settings, device),
               "weights_mb": (Path(directory) / WEIGHTS).stat().st_size / 2**20}
    if data.problems:
        metrics.update(gsm8k(runner, data.problems, settings))
    else:
        metrics["gsm8k_accuracy"] = 0.0
    return metrics
