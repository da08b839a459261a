"""`glyph-dist eval glyph-model`: a fine-tuned mini-model on the glyph-aware test pairs of its variant.

A model with a chat template (SmolLM2 and its glyph adapters, as `adapter train` renders their
pairs) reads each prompt as a user message of the template; other models read the prompt as it is.

Context QA pairs are answered greedily (first line) and scored by the rule judge; the long-horizon
summary pairs are generated to `summary_tokens` and scored by token F1 and by fact recall (the
share of the target's `label: value` lines whose value the generation contains). Each question's
context is also measured model-free, as in the context benchmark: whether the evidence sentences
(looked up in the context-benchmark episodes) and the gold answer are in it. The result has the
context-benchmark schema plus `config.model`, so the context-benchmark report tables it beside the cells.
"""

from __future__ import annotations

import json
from pathlib import Path
from statistics import fmean

from glyph_dist.context.episodes import load_episodes
from glyph_dist.context.prompts import PROMPT_TEMPLATE, VARIANTS
from glyph_dist.errors import GlyphDistError
from glyph_dist.eval.loop import position_bucket
from glyph_dist.metrics import contains, f1
from glyph_dist.models.answerers import ContextRecall, QARequest
from glyph_dist.models.catalog import CATALOG, resolve_model
from glyph_dist.models.judges import get_judge

_TASK_MARK = "\n\nTask: "


def read_pairs(path: Path, variant: str) -> list[dict]:
    if variant not in VARIANTS:
        raise GlyphDistError(f"unknown variant {variant!r}: use {' or '.join(VARIANTS)}")
    if not path.is_file():
        raise GlyphDistError(f"{path} not found: make it with `glyph-dist data glyph-aware`")
    pairs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    chosen = [p for p in pairs if p["variant"] == variant]
    if not chosen:
        raise GlyphDistError(f"{path}: no pairs of variant {variant!r}")
    return chosen


def model_directory(path: Path) -> Path:
    """A catalog name's directory, a model directory, or a training run's latest checkpoint (`checkpoint_NNNNNN/`)."""
    if str(path) in CATALOG:
        return resolve_model(str(path))
    if (path / "config.json").is_file():
        return path
    checkpoints = sorted(path.glob("checkpoint_*/config.json"))
    if not checkpoints:
        raise GlyphDistError(f"{path}: neither a model directory nor a training run with checkpoints")
    return checkpoints[-1].parent


def split_prompt(prompt: str) -> tuple[str, str]:
    """(context, instruction) of a prompt made with the glyph-aware template."""
    context, _, rest = prompt.rpartition(_TASK_MARK)
    return context.removeprefix(PROMPT_TEMPLATE.split("{context}")[0]), rest.rsplit("\nAnswer:", 1)[0]


def _questions(bench_dir: Path, pairs: list[dict]) -> dict[tuple[str, str, str], tuple]:
    """(dataset, episode id, question text) -> (episode, question), for the pairs' data sets."""
    found = {}
    for dataset in sorted({p["dataset"] for p in pairs}):
        for episode in load_episodes(bench_dir / f"{dataset}.jsonl"):
            for question in episode.questions:
                found[(dataset, episode.episode_id, question.question)] = (episode, question)
    return found


def _fact_recall(generated: str, target: str) -> float:
    values = [line.split(": ", 1)[-1] for line in target.splitlines() if line.strip()]
    return fmean(contains(generated, v) for v in values) if values else 0.0


def evaluate_model(model_dir: Path, pairs_path: Path, variant: str, bench_dir: Path = Path("data/phase5"),
                   max_new_tokens: int = 24, summary_tokens: int = 96, batch_size: int = 16,
                   model_label: str | None = None, seed: int | None = None, limit: int | None = None) -> dict:
    """The model's cell: `results[<its strategy>]` with success, recalls and the summary scores; with
    `limit`, over the first `limit` QA pairs and summary pairs of the variant only."""
    from glyph_dist.models.hf import LocalLM

    if limit is not None and limit < 1:
        raise GlyphDistError(f"limit must be at least 1, got {limit}")
    pairs = read_pairs(pairs_path, variant)
    lm = LocalLM(model_directory(Path(model_dir)))
    chat = lm.has_chat_template
    qa = [p for p in pairs if p["task"] == "qa"][:limit]
    summaries = [p for p in pairs if p["task"] == "summary"][:limit]
    pairs = qa + summaries
    lookup = _questions(bench_dir, qa)
    contexts = [split_prompt(p["prompt"]) for p in qa]
    missing = [c[1] for p, c in zip(qa, contexts) if (p["dataset"], p["episode_id"], c[1]) not in lookup]
    if missing:
        raise GlyphDistError(f"{pairs_path}: {len(missing)} questions are not in {bench_dir} (e.g. {missing[0]!r})")
    answers = lm.generate([p["prompt"] for p in qa], max_new_tokens, batch_size, chat=chat)
    judge = get_judge("rule")
    scores = judge.score(answers, [p["target"] for p in qa])
    found: list[tuple] = [lookup[(p["dataset"], p["episode_id"], c[1])] for p, c in zip(qa, contexts)]
    evidence = [ContextRecall.recalled(QARequest(q.question, c[0], q.answer, e.evidence_sentences(q)))
                for (e, q), c in zip(found, contexts)]
    generated = (lm.generate([p["prompt"] for p in summaries], summary_tokens, batch_size, first_line=False, chat=chat)
                 if summaries else [])
    row = {
        "success_rate": fmean(s["success"] for s in scores), "em": fmean(s["em"] for s in scores),
        "f1": fmean(s["f1"] for s in scores),
        "avg_tokens": fmean(p["context_tokens"] for p in qa),
        "evidence_recall": fmean(evidence),
        "answer_recall": fmean(contains(c[0], p["target"]) for p, c in zip(qa, contexts)),
        "glyph_evidence": 0.0,  # not measured for model evaluations: the prompts are fixed text
        "n_questions": len(qa),
        "summary_f1": fmean(f1(g, p["target"]) for g, p in zip(generated, summaries)) if summaries else None,
        "summary_fact_recall": (fmean(_fact_recall(g, p["target"]) for g, p in zip(generated, summaries))
                                if summaries else None),
        "n_summaries": len(summaries),
        "by_evidence_position": _by_position(found, scores, evidence),
    }
    budgets = sorted({p["budget"] for p in pairs})
    return {"config": {"dataset": str(pairs_path), "dataset_name": "glyph_aware", "split": pairs_path.stem,
                       "budget": budgets[0] if len(budgets) == 1 else budgets, "seed": seed,
                       "answerer": f"hf:{model_label or lm.name}", "judge": judge.name, "model": model_label or lm.name,
                       "token_counter": "the tape's hybrid tokenizer", "strategies": [VARIANTS[variant]],
                       "n_episodes": len({(p["dataset"], p["episode_id"]) for p in pairs}), "n_questions": len(qa)},
            "results": {VARIANTS[variant]: row}}


def _by_position(found: list[tuple], scores: list[dict], evidence: list[bool]) -> list[dict]:
    groups: dict[str, list[int]] = {}
    for k, (_, question) in enumerate(found):
        groups.setdefault(position_bucket(question.evidence_position), []).append(k)
    return [{"bucket": b, "n": len(ks), "success_rate": fmean(scores[k]["success"] for k in ks),
             "evidence_recall": fmean(evidence[k] for k in ks)} for b, ks in sorted(groups.items())]

