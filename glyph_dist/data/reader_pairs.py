"""`glyph-dist data reader-pairs`: (prompt, target) pairs that teach a reader to answer tersely from a context.

Questions are drawn (seeded) from the TRAIN and VAL episodes of the context-benchmark data sets; a test
episode never enters. Each drawn question gives one pair per context strategy and budget: the
context is the strategy's, under the budget counted by the reader's own tokenizer; the prompt is
exactly what the HF answerer feeds an instruct model (`CHAT_PROMPT` as a user message of the chat
template, rendered to text); the target is the gold answer. So a reader fine-tuned on these pairs
(`experiments/reader_sft.yaml`) is evaluated on the test split with the unchanged answerer.

Writes `out_dir/train.jsonl` and `out_dir/val.jsonl` (`prompt`, `target`, `split`, `dataset`,
`episode_id`, `strategy`, `budget`, `context_tokens`) and `out_dir/manifest.json` with counts and hashes.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Sequence
from pathlib import Path

from glyph_dist.context.episodes import load_episodes
from glyph_dist.context.reader_grid import BUDGETS, FGMS_OPTIONS, STRATEGIES
from glyph_dist.context.strategies import check_strategies, make_strategy
from glyph_dist.data.corpus import write_jsonl
from glyph_dist.data.glyph_aware import DATASETS, MANIFEST
from glyph_dist.data.manifest import sha256
from glyph_dist.errors import GlyphDistError
from glyph_dist.files import write_text
from glyph_dist.fgms.memory import ShardMemory
from glyph_dist.fgt.store import load_tokenizer, resolve_tape_dir
from glyph_dist.models.answerers import CHAT_PROMPT
from glyph_dist.models.catalog import resolve_model
from glyph_dist.progress import Steps

PAIR_SPLITS = ("train", "val")  # the splits pairs are drawn from: never test
QUESTIONS = {"train": 48, "val": 4}  # drawn per split


def draw_questions(bench_dir: Path, datasets: Sequence[str], split: str, n: int, seed: int) -> list[tuple]:
    """`n` (dataset, episode, question) drawn without replacement from the split's questions, in file order."""
    if split not in PAIR_SPLITS:
        raise GlyphDistError(f"reader pairs come from the {' and '.join(PAIR_SPLITS)} splits only, not {split!r}")
    pool = [(name, episode, question) for name in datasets
            for episode in load_episodes(Path(bench_dir) / f"{name}.jsonl", split) for question in episode.questions]
    if len(pool) < n:
        raise GlyphDistError(f"{split}: {n} questions asked for, the {', '.join(datasets)} data hold {len(pool)}")
    chosen = sorted(random.Random(f"{seed}-{split}").sample(range(len(pool)), n))
    return [pool[k] for k in chosen]


def build_reader_pairs(model: str = "smollm2", bench_dir: Path = Path("data/phase5"),
                       tape: Path = Path("data/tapes/sgd"), out_dir: Path = Path("data/reader"),
                       questions: dict[str, int] | None = None, budgets: Sequence[int] = BUDGETS,
                       strategies: Sequence[str] = STRATEGIES, datasets: Sequence[str] = DATASETS,
                       seed: int = 1337, quiet: bool = False) -> dict:
    """Write the reader pairs of `questions[split]` drawn questions per split (default QUESTIONS)
    under `out_dir` and return the summary also written to `out_dir/manifest.json`. Bad input raises
    GlyphDistError before anything is written."""
    from glyph_dist.models.hf import chat_texts  # torch loads only when pairs are built

    questions = {**QUESTIONS, **(questions or {})}
    check_strategies(strategies)
    if not budgets or any(b < 1 for b in budgets):
        raise GlyphDistError(f"budgets must be positive numbers of tokens, got {list(budgets)}")
    if any(n < 1 for n in questions.values()):
        raise GlyphDistError(f"each split needs at least one question, got {questions}")
    unknown = sorted(set(datasets) - set(DATASETS))
    if unknown:
        raise GlyphDistError(f"unknown data set(s) {', '.join(unknown)}: use {', '.join(DATASETS)}")
    model_dir = resolve_model(model)
    tokenizer = load_tokenizer(model_dir)
    if not getattr(tokenizer, "chat_template", None):
        raise GlyphDistError(f"model {model}: its tokenizer has no chat template (the reader is an instruct model)")
    drawn = {split: draw_questions(bench_dir, datasets, split, questions[split], seed)
             for split in PAIR_SPLITS}
    tape_dir = resolve_tape_dir(tape)
    steps = Steps(len(PAIR_SPLITS) + 1, quiet)
    files = {}
    with tempfile.TemporaryDirectory(prefix="reader-pairs-fgms-") as scratch:
        memory = ShardMemory.open(tape_dir, scratch, tokenizer=str(model_dir))  # the reader's tokens count
        try:
            made = {name: make_strategy(name, memory.hybrid, memory, **FGMS_OPTIONS) for name in strategies}
            by_split = {}
            for split, chosen in drawn.items():
                with steps.step(f"{split}: {len(chosen)} questions x {len(strategies)} strategies x budgets "
                                f"{', '.join(map(str, budgets))}"):
                    by_split[split] = _pairs(chosen, split, made, budgets)
        finally:
            memory.storage.close()
    for pairs in by_split.values():
        for pair, rendered in zip(pairs, chat_texts(tokenizer, [p["prompt"] for p in pairs])):
            pair["prompt"] = rendered
    with steps.step(f"write {out_dir}"):
        for split, pairs in by_split.items():
            path = Path(out_dir) / f"{split}.jsonl"
            write_jsonl(path, pairs)
            files[split] = {"path": str(path), "sha256": sha256(path), "pairs": len(pairs), "questions": len(drawn[split]),
                            "episodes": sorted({f"{p['dataset']}/{p['episode_id']}" for p in pairs})}
        summary = {"generator": __name__, "model": str(model_dir), "token_counter": f"the tokenizer of {model_dir.name}",
                   "splits": list(PAIR_SPLITS), "budgets": list(budgets), "strategies": list(strategies),
                   "fgms_read": FGMS_OPTIONS, "prompt": CHAT_PROMPT, "seed": seed,
                   "sources": {name: {"path": str(Path(bench_dir) / f"{name}.jsonl"),
                                      "sha256": sha256(Path(bench_dir) / f"{name}.jsonl")} for name in datasets},
                   "files": files}
        write_text(Path(out_dir) / MANIFEST, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return summary


def _pairs(chosen: list[tuple], split: str, strategies: dict, budgets: Sequence[int]) -> list[dict]:
    """One pair per drawn question, budget and strategy (the prompt still to be rendered in the chat template)."""
    pairs = []
    for dataset, episode, question in chosen:
        for budget in budgets:
            for name, strategy in strategies.items():
                context = strategy.context(episode, question, budget)
                pairs.append({"prompt": CHAT_PROMPT.format(context=context.text, question=question.question),
                              "target": question.answer, "split": split, "dataset": dataset,
                              "episode_id": episode.episode_id, "strategy": name, "budget": budget,
                              "context_tokens": context.tokens})
    return pairs
