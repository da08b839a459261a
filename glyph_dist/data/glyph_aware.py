"""`glyph-dist data glyph-aware`: (prompt, target) pairs for two mini-models that differ only in
the context they read.

- `raw` (for `model_raw`): the context is `raw_truncate`, the end of the history under the budget;
- `glyph` (for `model_glyph`): the context is `fgt_context`, an FGMS read (policy and mode mixed)
  under the same budget, counted by the same tokenizer (the tape's hybrid tokenizer).

Every episode of the context-benchmark data sets is written to an in-process FGMS core in a scratch
directory, then gives two tasks, each in both variants with one prompt template:

- `qa`: one pair per question, target the answer;
- `summary`: one pair per episode, the instruction SUMMARY_INSTRUCTION (FGMS is read with
  SUMMARY_QUERY), target the episode's facts in their final state, one `label: value` line each in
  the order they were last set (label: the question's slot, prefixed by its service where given).

Pairs keep their episode's split: `out_dir/{train,val,test}.jsonl`, one JSON object a line
(`prompt`, `target`, `variant`, `task`, `dataset`, `episode_id`, `budget`, `context_tokens`), and
`out_dir/manifest.json` with counts and hashes. The output is deterministic in its inputs.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

from glyph_dist.context.episodes import Episode, Question, load_episodes
from glyph_dist.context.prompts import PROMPT_TEMPLATE, VARIANTS
from glyph_dist.context.strategies import Strategy, make_strategy
from glyph_dist.data.corpus import write_jsonl
from glyph_dist.data.manifest import SPLITS, sha256
from glyph_dist.errors import GlyphDistError
from glyph_dist.files import write_text
from glyph_dist.fgms.memory import ShardMemory
from glyph_dist.fgt.hybrid import GLYPH_OPEN
from glyph_dist.fgt.store import resolve_tape_dir
from glyph_dist.progress import Steps

SUMMARY_INSTRUCTION = "List the final decisions."
SUMMARY_QUERY = "summary of the decisions and their final values"
QUERY_FREE = {"raw_truncate"}  # strategies whose context ignores the question: built once per episode
FGMS_READ = {"policy": "mixed", "mode": "mixed", "neighbours": 0}  # options of the fgt_context reads (as the data were first built)
TASKS = ("qa", "summary")
DATASETS = ("agent_logs", "public_dialog")
MANIFEST = "manifest.json"


def fact_label(question: dict) -> str:
    """`slot`, or `service slot` where the question names its service (dialogue slots repeat across services)."""
    return f"{question['service']} {question['slot']}" if question.get("service") else str(question["slot"])


def summary_target(questions: Sequence[dict]) -> str:
    """The episode's facts in their final state: `label: answer` lines, ordered by the turn that
    last set them (ties by label). Each question's answer is already the latest value."""
    facts = sorted((q["evidence"][-1], fact_label(q), q["answer"]) for q in questions)
    return "\n".join(f"{label}: {answer}" for _, label, answer in facts)


def _load(path: Path) -> list[tuple[Episode, dict]]:
    """The file's episodes that have questions, each with its raw JSON (for `split` and `slot`)."""
    episodes = load_episodes(path)
    with path.open(encoding="utf-8") as lines:  # by newlines only, as load_episodes reads
        raw = [json.loads(line) for line in lines if line.strip()]
    for episode, data in zip(episodes, raw):
        where = f"{path}, episode {episode.episode_id}"
        if data.get("split") not in SPLITS:
            raise GlyphDistError(f"{where}: split {data.get('split')!r} is not one of {', '.join(SPLITS)}")
        if episode.questions and any("slot" not in q for q in data["questions"]):
            raise GlyphDistError(f"{where}: every question needs a 'slot' for the summary target")
    return [(e, d) for e, d in zip(episodes, raw) if e.questions]


def _pairs(episode: Episode, data: dict, dataset: str, strategies: dict[str, Strategy], budget: int) -> list[dict]:
    """The episode's pairs: per question then the summary, each in every variant."""
    summary = Question(SUMMARY_QUERY, summary_target(data["questions"]),
                       tuple(sorted({i for q in episode.questions for i in q.evidence})), 1.0)
    tasks = [("qa", q, q.question, q.answer) for q in episode.questions]
    tasks.append(("summary", summary, SUMMARY_INSTRUCTION, summary.answer))
    pairs, latest = [], {}
    for task, question, instruction, target in tasks:
        for variant, strategy in strategies.items():
            if variant not in latest or strategy.name not in QUERY_FREE:
                latest[variant] = strategy.context(episode, question, budget)
            context = latest[variant]
            pairs.append({"prompt": PROMPT_TEMPLATE.format(context=context.text, instruction=instruction),
                          "target": target, "variant": variant, "task": task, "dataset": dataset,
                          "episode_id": episode.episode_id, "budget": budget, "context_tokens": context.tokens})
    return pairs


def _counts(pairs: list[dict]) -> dict:
    """Pairs per variant and task, with the mean context tokens and the prompts holding a glyph code."""
    counts = {}
    for variant in VARIANTS:
        mine = [p for p in pairs if p["variant"] == variant]
        tokens = sum(p["context_tokens"] for p in mine) / max(len(mine), 1)
        counts[variant] = {**{task: sum(p["task"] == task for p in mine) for task in TASKS},
                           "context_tokens_mean": round(tokens, 1),
                           "with_glyphs": sum(GLYPH_OPEN in p["prompt"] for p in mine)}
    return counts


def build_glyph_aware(bench_dir: Path = Path("data/phase5"), tape: Path = Path("data/tapes/sgd"),
                      out_dir: Path = Path("data/phase5/glyph_aware"), budget: int = 512,
                      datasets: Sequence[str] = DATASETS, quiet: bool = False) -> dict:
    """Write the RAW and GLYPH pairs of every context-benchmark episode under `out_dir` (one file per split)
    and return the summary also written to `out_dir/manifest.json`. Missing inputs raise
    GlyphDistError before anything is written."""
    if budget < 1:
        raise GlyphDistError(f"budget must be a positive number of tokens, got {budget}")
    if not datasets:
        raise GlyphDistError("no data sets named: use some of " + ", ".join(DATASETS))
    paths = {name: Path(bench_dir) / f"{name}.jsonl" for name in datasets}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise GlyphDistError(f"context-benchmark data not found: {', '.join(missing)} (make it with `glyph-dist data prepare`)")
    try:
        tape_dir = resolve_tape_dir(tape)
    except GlyphDistError as exc:
        raise GlyphDistError(f"{exc} (build one with `glyph-dist tape build` or `make demo`)") from None
    steps = Steps(3 + len(paths), quiet)
    with steps.step("read the context-benchmark data sets"):
        loaded = {name: _load(path) for name, path in paths.items()}
    by_split: dict[str, list[dict]] = {split: [] for split in SPLITS}
    with tempfile.TemporaryDirectory(prefix="glyph-aware-fgms-") as scratch:
        with steps.step(f"open FGMS on tape {tape_dir}"):
            memory = ShardMemory.open(tape_dir, scratch)
        try:
            strategies = {variant: make_strategy(name, memory.hybrid, memory, **FGMS_READ)
                          for variant, name in VARIANTS.items()}
            for name, episodes in loaded.items():
                with steps.step(f"{name}: {len(episodes)} episodes through FGMS, budget {budget}"):
                    for episode, data in episodes:
                        by_split[data["split"]].extend(_pairs(episode, data, name, strategies, budget))
        finally:
            memory.storage.close()
    with steps.step(f"write {out_dir}"):
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        files = {}
        for split, pairs in by_split.items():
            path = out_dir / f"{split}.jsonl"
            write_jsonl(path, pairs)
            files[split] = {"path": str(path), "sha256": sha256(path), "pairs": len(pairs), "counts": _counts(pairs)}
        summary = {"generator": __name__, "budget": budget, "tape": str(tape_dir), "tape_version": memory.tape.version,
                   "token_counter": "the tape's hybrid tokenizer", "variants": VARIANTS,
                   "fgms_read": FGMS_READ, "prompt_template": PROMPT_TEMPLATE,
                   "summary_task": {"instruction": SUMMARY_INSTRUCTION, "query": SUMMARY_QUERY},
                   "sources": {name: {"path": str(path), "sha256": sha256(path)} for name, path in paths.items()},
                   "files": files}
        write_text(out_dir / MANIFEST, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return summary
