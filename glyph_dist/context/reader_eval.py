"""`glyph-dist eval reader`: readers (a zero-shot model and its fine-tunes) on the context benchmark's test split.

Every reader answers the same test questions (the first `questions` of each data set's test split,
in file order) under every strategy and budget. The contexts are built once, counted by the first
reader's tokenizer (the fine-tunes share it), and answered through the HF answerer (chat template,
greedy, first line) scored by the rule judge: EM, F1 and containment (`success_rate`), beside each
context's model-free evidence recall. One row per (reader, data set, budget, strategy).
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Sequence
from pathlib import Path

from glyph_dist.context.bench import run_strategy
from glyph_dist.context.episodes import Episode, load_episodes
from glyph_dist.context.model_eval import model_directory
from glyph_dist.context.reader_grid import BUDGETS, FGMS_OPTIONS, STRATEGIES
from glyph_dist.context.strategies import check_strategies, make_strategy
from glyph_dist.errors import GlyphDistError
from glyph_dist.fgms.memory import ShardMemory
from glyph_dist.models.answerers import get_answerer
from glyph_dist.models.judges import get_judge
from glyph_dist.progress import Steps

SPLIT = "test"
ROW_KEYS = ("success_rate", "em", "f1", "evidence_recall", "answer_recall", "avg_tokens", "n_questions", "latency_ms_mean")


def first_questions(path: Path, n: int) -> list[Episode]:
    """The test episodes holding the split's first `n` questions in file order (the last one cut short)."""
    episodes, left = [], n
    for episode in load_episodes(path, SPLIT):
        if left <= 0:
            break
        if episode.questions:
            episodes.append(dataclasses.replace(episode, questions=episode.questions[:left]))
            left -= len(episodes[-1].questions)
    return episodes


def evaluate_readers(readers: dict[str, str], bench_dir: Path = Path("data/phase5"), tape: Path = Path("data/tapes/sgd"),
                     datasets: Sequence[str] = ("agent_logs", "public_dialog"), questions: int = 8,
                     budgets: Sequence[int] = BUDGETS, strategies: Sequence[str] = STRATEGIES,
                     max_new_tokens: int = 24, batch_size: int = 8, quiet: bool = False) -> dict:
    """{"config": ..., "rows": [...]} with a row per reader, data set, budget and strategy."""
    if not readers:
        raise GlyphDistError("name at least one reader")
    if questions < 1:
        raise GlyphDistError(f"questions must be at least 1, got {questions}")
    check_strategies(strategies)
    directories = {label: model_directory(Path(spec).expanduser()) for label, spec in readers.items()}
    episodes = {name: first_questions(Path(bench_dir) / f"{name}.jsonl", questions) for name in datasets}
    counter = next(iter(directories.values()))
    judge = get_judge("rule")
    rows, names = [], {}
    steps = Steps(len(readers), quiet)
    with tempfile.TemporaryDirectory(prefix="reader-eval-fgms-") as scratch:
        memory = ShardMemory.open(tape, scratch, tokenizer=str(counter))
        try:
            made = {name: make_strategy(name, memory.hybrid, memory, **FGMS_OPTIONS) for name in strategies}
            for label, directory in directories.items():
                with steps.step(f"{label}: {directory}"):
                    answerer = get_answerer(str(directory), max_new_tokens=max_new_tokens, batch_size=batch_size)
                    names[label] = answerer.name
                    for dataset, chosen in episodes.items():
                        for budget in budgets:
                            for name, strategy in made.items():
                                row = run_strategy(strategy, chosen, budget, answerer, judge)
                                rows.append({"reader": label, "dataset": dataset, "budget": budget, "strategy": name,
                                             **{k: row[k] for k in ROW_KEYS}})
                    del answerer
        finally:
            memory.storage.close()
    config = {"split": SPLIT, "bench_dir": str(bench_dir), "datasets": list(datasets), "questions_per_dataset": questions,
              "budgets": list(budgets), "strategies": list(strategies), "readers": {k: str(v) for k, v in directories.items()},
              "answerers": names, "judge": judge.name, "token_counter": f"the tokenizer of {counter.name}",
              "fgms_read": FGMS_OPTIONS, "max_new_tokens": max_new_tokens}
    return {"config": config, "rows": rows}
