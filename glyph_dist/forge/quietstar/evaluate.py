"""`glyph-dist forge quietstar eval`: the base, baked and Quiet-STaR models on GSM8K's test split
(held out from baking and training): accuracy (forge/gsm8k.py, greedy), the mean thought length in
tokens (between `[thinking]` and `[/endthinking]`; an answer without a thought counts 0), the share of
answers that think, and the generation time per answer. Generation uses the language model alone;
the mixing head serves the next-token scoring of training and the checks."""

from __future__ import annotations

from pathlib import Path

from glyph_dist.fgt.store import load_tokenizer
from glyph_dist.forge.cognate.data import gsm8k_problems
from glyph_dist.forge.gsm8k import greedy_answers
from glyph_dist.forge.quietstar.rl import load_lm
from glyph_dist.forge.quietstar.tokens import THINK_CLOSE, THINK_OPEN


def thought_length(text: str, tokenizer) -> int:
    """Tokens between the first [thinking] and the [/endthinking] after it (to the end if unclosed)."""
    if THINK_OPEN not in text:
        return 0
    inside = text.split(THINK_OPEN, 1)[1].split(THINK_CLOSE, 1)[0]
    return len(tokenizer(inside, add_special_tokens=False)["input_ids"])


def evaluate_models(models: dict[str, Path], datasets: Path, questions: int, max_new_tokens: int) -> dict:
    problems = gsm8k_problems(datasets)[:questions]
    results = {}
    for name, directory in models.items():
        tokenizer = load_tokenizer(directory)
        answers = greedy_answers(load_lm(directory), tokenizer, problems, max_new_tokens)
        n = max(len(answers), 1)
        lengths = [thought_length(a.text, tokenizer) for a in answers]
        results[name] = {"model": str(directory), "gsm8k_n": len(answers),
                         "gsm8k_accuracy": sum(a.correct for a in answers) / n,
                         "thought_tokens_mean": sum(lengths) / n, "thinking_share": sum(x > 0 for x in lengths) / n,
                         "seconds_per_answer": sum(a.seconds for a in answers) / n,
                         "example": answers[0].text if answers else ""}
    return results
