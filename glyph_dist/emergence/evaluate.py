"""`glyph-dist emergence eval`: glyph use, accuracy and answer length on held-out problems only.

The evaluation set is a seeded sample of the held-out problems (GSM8K test, the SVAMP slice,
MATH test when unified), spread as evenly as the buckets allow. Every model gets the clean prompt
(the question as a user message in its chat template), never a word about glyphs, and answers
greedily. Per model and difficulty bucket: the glyph-use rate (any glyph; the full valid
structure), the accuracy and the mean answer tokens. Selectivity = rate(hard) - rate(easy), with a
percentile bootstrap interval that resamples the problems of each bucket. Selectivity has emerged
in a model when the interval of its any-glyph selectivity lies above zero.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import yaml
from scipy.stats import bootstrap

from glyph_dist.data.corpus import write_jsonl
from glyph_dist.emergence.answers import answers_match, extract_answer
from glyph_dist.emergence.difficulty import BUCKETS
from glyph_dist.emergence.pool import generate
from glyph_dist.emergence.trace import ANSWER, has_glyph, structure_error
from glyph_dist.errors import GlyphDistError

CONFIDENCE, RESAMPLES = 0.95, 2000


def heldout_sample(problems: list[dict], n: int, seed: int) -> list[dict]:
    """`n` held-out problems, a seeded sample spread evenly over the buckets (a short bucket's
    remainder goes to the others)."""
    by_bucket = {b: sorted((p for p in problems if p["split"] == "test" and p["bucket"] == b), key=lambda p: p["id"])
                 for b in BUCKETS}
    available = sum(map(len, by_bucket.values()))
    if not 1 <= n <= available:
        raise GlyphDistError(f"n must lie in [1, {available}] (the held-out problems), got {n}")
    quota, left = dict.fromkeys(BUCKETS, 0), n
    while left:
        open_buckets = [b for b in BUCKETS if quota[b] < len(by_bucket[b])]
        for b in open_buckets[:left]:
            quota[b] += 1
        left = n - sum(quota.values())
    rng = random.Random(seed)
    return [p for b in BUCKETS for p in rng.sample(by_bucket[b], quota[b])]


def score(problem: dict, output: str, tokens: int) -> dict:
    return {"id": problem["id"], "source": problem["source"], "bucket": problem["bucket"], "gold": problem["gold"],
            "glyph_any": has_glyph(output), "glyph_full": structure_error(output) is None,
            "correct": answers_match(extract_answer(output, ANSWER), problem["gold"]), "answer_tokens": tokens,
            "output": output}


def selectivity(rows: list[dict], metric: str, seed: int) -> dict:
    """rate(hard) - rate(easy) of `metric` and its bootstrap interval; None values without both buckets."""
    hard = np.array([r[metric] for r in rows if r["bucket"] == "hard"], dtype=float)
    easy = np.array([r[metric] for r in rows if r["bucket"] == "easy"], dtype=float)
    if not len(hard) or not len(easy):
        return {"value": None, "low": None, "high": None}
    value = float(hard.mean() - easy.mean())
    if len(hard) < 2 or len(easy) < 2:
        return {"value": value, "low": None, "high": None}
    interval = bootstrap((hard, easy), lambda h, e, axis: h.mean(axis=axis) - e.mean(axis=axis), vectorized=True,
                         n_resamples=RESAMPLES, confidence_level=CONFIDENCE, method="percentile",
                         rng=np.random.default_rng(seed)).confidence_interval
    return {"value": value, "low": float(interval.low), "high": float(interval.high)}


def summarise(rows: list[dict], seed: int) -> dict:
    """Per-bucket rates, accuracy and answer tokens, the two selectivities and the verdict."""
    buckets = {}
    for b in BUCKETS:
        mine = [r for r in rows if r["bucket"] == b]
        if mine:
            buckets[b] = {"n": len(mine), **{k: float(np.mean([r[k] for r in mine])) for k in
                                             ("glyph_any", "glyph_full", "correct", "answer_tokens")}}
    sel = {metric: selectivity(rows, metric, seed) for metric in ("glyph_any", "glyph_full")}
    low = sel["glyph_any"]["low"]
    return {"n": len(rows), "buckets": buckets, "accuracy": float(np.mean([r["correct"] for r in rows])),
            "selectivity": sel, "selectivity_emerged": low is not None and low > 0}


def training_info(model: Path) -> dict | None:
    """How a checkpoint of `glyph-dist train sft` was trained (its run's history and config, and the
    rewrite settings next to its training file); None for a model that is not such a checkpoint."""
    run = Path(model).parent
    if not (run / "history.jsonl").is_file() or not (run / "sft_config.yaml").is_file():
        return None
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines() if line.strip()]
    config = yaml.safe_load((run / "sft_config.yaml").read_text())
    if not history:
        return None
    evaluated = [row for row in history if "eval_loss" in row]
    data = Path(config["train_file"]).parent / "rewrite.json"
    return {"run": str(run), "steps": history[-1]["step"], "loss": history[-1]["loss"],
            "eval_loss": evaluated[-1]["eval_loss"] if evaluated else float("nan"),
            "tokens_per_s": float(np.mean([row["tokens_per_s"] for row in history])),
            "data": json.loads(data.read_text()) if data.is_file() else None}


def evaluate_model(name: str, model: Path, problems: list[dict], out: Path, seed: int, max_new_tokens: int = 256,
                   batch_size: int = 8, actors: int = 1, cpus_per_actor: float = 1, gpus_per_actor: float = 0) -> dict:
    """Generate, score and summarise one model on `problems`; its scored outputs go to OUT/NAME.jsonl."""
    generated = generate(model, [p["question"] for p in problems], max_new_tokens, batch_size, actors,
                         cpus_per_actor, gpus_per_actor)
    rows = [score(p, text, n) for p, text, n in zip(problems, generated.texts, generated.tokens)]
    write_jsonl(Path(out) / f"{name}.jsonl", rows)
    return {"name": name, "model": str(model), "tokens_per_s": generated.tokens_per_s,
            "seconds": generated.seconds, "training": training_info(model), **summarise(rows, seed)}


def eval_setup(problems: list[dict], seed: int, max_new_tokens: int) -> dict:
    """What the report says about the evaluation set."""
    sources: dict[str, int] = {}
    for p in problems:
        sources[p["source"]] = sources.get(p["source"], 0) + 1
    return {"n": len(problems), "seed": seed, "max_new_tokens": max_new_tokens, "by_source": sources}
