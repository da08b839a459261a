"""GSM8K accuracy of any Hugging Face causal LM: greedy answers to `Question: ...\\nAnswer:` (the prompt of
forge/cognate/data.py), cut where the model starts another question; the number after `####`, else the
last number, must equal the gold answer. Each answer's text and generation time are kept."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import nn

from glyph_dist.emergence.answers import answers_match, extract_answer
from glyph_dist.forge.cognate.data import FINAL_MARKER, Problem


@dataclass
class Answer:
    text: str
    correct: bool
    seconds: float


@torch.no_grad()
def greedy_answers(model: nn.Module, tokenizer, problems: list[Problem], max_new_tokens: int) -> list[Answer]:
    model.eval()
    answers = []
    for problem in problems:
        ids = tokenizer(problem.prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
        started = time.perf_counter()
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                             do_sample=False, pad_token_id=tokenizer.eos_token_id)
        seconds = time.perf_counter() - started
        text = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=False).split("\nQuestion:")[0]
        text = text.split(tokenizer.eos_token)[0] if tokenizer.eos_token else text
        answers.append(Answer(text, answers_match(extract_answer(text, FINAL_MARKER), problem.gold), seconds))
    return answers


def gsm8k_accuracy(model: nn.Module, tokenizer, problems: list[Problem], max_new_tokens: int) -> dict:
    answers = greedy_answers(model, tokenizer, problems, max_new_tokens)
    n = max(len(answers), 1)
    correct = sum(a.correct for a in answers)
    return {"gsm8k_accuracy": correct / n, "gsm8k_correct": correct, "gsm8k_n": len(answers),
            "seconds_per_answer": sum(a.seconds for a in answers) / n}
