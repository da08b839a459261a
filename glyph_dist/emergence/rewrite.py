"""`glyph-dist emergence rewrite`: the SFT (prompt, target) files, glyph and natural rows mixed.

The training problems are those with a kept trace (so every mix trains on the same problems and
only the targets differ); a seeded `n` of them, a `val_share` of which form the validation file.
In each file a `glyph_share` of the problems get the glyph trace as their target ("glyph" rows)
and the rest a plain worked answer ending in "The answer is X." ("natural" rows): share 0 is the
natural-only control. `selection` picks the glyph rows: `random` (seeded) or `hardest` (highest
difficulty score first), the latter pairing glyphs with hard problems in the data.

The prompt is clean: the question alone, never a word about glyphs, rendered as a user message in
the chat template of `template` (the model to be trained) when given. The SFT job masks it from the
loss. Before anything is written, every row is checked against the held-out problems: a row whose
normalised question is a held-out question is an error (`check_no_leak`).
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

from glyph_dist.data.corpus import write_jsonl
from glyph_dist.emergence.teachers import equation_steps
from glyph_dist.emergence.unify import normalise_question
from glyph_dist.errors import GlyphDistError
from glyph_dist.files import write_text

SELECTIONS = ("random", "hardest")
_ANNOTATION = re.compile(r"<<[^<>]*>>")


def natural_answer(problem: dict) -> str:
    """A plain worked answer from the problem's own solution, ending in "The answer is X." (MATH's
    solution is kept as it is: its answer is boxed)."""
    if problem["source"] == "math":
        return problem["solution"].strip()
    if problem["source"] == "gsm8k":
        work = "\n".join(s for s in (line.strip() for line in _ANNOTATION.sub("", problem["solution"]).split("\n")) if s)
    else:
        work = "\n".join(f"{step}." for step in equation_steps(problem["solution"])[1])
    return f"{work}\nThe answer is {problem['gold']}."


def check_no_leak(rows: list[dict], problems: list[dict], where: str) -> None:
    """Refuse rows of held-out problems: by split, or by a normalised question equal to a held-out one."""
    held_out = {normalise_question(p["question"]): p["id"] for p in problems if p["split"] == "test"}
    held_ids = {p["id"] for p in problems if p["split"] == "test"}
    for number, row in enumerate(rows, 1):
        match = held_out.get(normalise_question(row["question"]))
        if row["id"] in held_ids or match is not None:
            raise GlyphDistError(f"{where}, row {number} ({row['id']}): its question is the held-out problem "
                                 f"{match or row['id']}; held-out problems are never trained on")


def choose_glyph_rows(problems: list[dict], share: float, selection: str, rng: random.Random) -> set[str]:
    """Ids of the round(share x n) problems whose target is the glyph trace."""
    k = round(share * len(problems))
    order = rng.sample(problems, len(problems))  # the seeded tie-break of `hardest`
    if selection == "hardest":
        order.sort(key=lambda p: -p["features"]["score"])
    return {p["id"] for p in order[:k]}


def _render(template_dir: Path | None):
    if template_dir is None:
        return lambda question: question
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(template_dir, local_files_only=True)
    if not getattr(tokenizer, "chat_template", None):
        raise GlyphDistError(f"the tokenizer in {template_dir} has no chat template")
    return lambda question: tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                                          add_generation_prompt=True)


def rows_for(problems: list[dict], traces: dict[str, str], glyph_ids: set[str], render) -> list[dict]:
    return [{"prompt": render(p["question"]), "target": traces[p["id"]] if p["id"] in glyph_ids else natural_answer(p),
             "kind": "glyph" if p["id"] in glyph_ids else "natural", "id": p["id"], "source": p["source"],
             "bucket": p["bucket"], "score": p["features"]["score"], "question": p["question"]} for p in problems]


def rewrite(problems: list[dict], kept: list[dict], out: Path, glyph_share: float, selection: str = "hardest",
            n: int | None = None, val_share: float = 0.1, seed: int = 1337, template: Path | None = None) -> dict:
    """Write OUT/train.jsonl, OUT/val.jsonl and OUT/rewrite.json (settings and counts); returns the summary."""
    if not 0.0 <= glyph_share <= 1.0:
        raise GlyphDistError(f"glyph_share must lie in [0, 1], got {glyph_share}")
    if selection not in SELECTIONS:
        raise GlyphDistError(f"selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")
    if not 0.0 < val_share < 1.0:
        raise GlyphDistError(f"val_share must lie in (0, 1), got {val_share}")
    by_id = {p["id"]: p for p in problems}
    traces: dict[str, str] = {}
    for record in kept:
        if record["id"] not in by_id:
            raise GlyphDistError(f"kept trace of {record['id']}: no such problem in the unified file")
        traces.setdefault(record["id"], record["trace"])
    check_no_leak([by_id[i] for i in traces], problems, "kept traces")
    pool = sorted((by_id[i] for i in traces), key=lambda p: p["id"])
    rng = random.Random(seed)
    if n is not None:
        if not 2 <= n <= len(pool):
            raise GlyphDistError(f"n must lie in [2, {len(pool)}] (the problems with a kept trace), got {n}")
        pool = rng.sample(pool, n)
    rng.shuffle(pool)
    n_val = max(1, round(val_share * len(pool)))
    splits = {"val": pool[:n_val], "train": pool[n_val:]}
    if not splits["train"]:
        raise GlyphDistError(f"{len(pool)} problems leave none for training after the validation share {val_share}")
    render = _render(template)
    summary = {"glyph_share": glyph_share, "selection": selection, "n": len(pool), "val_share": val_share,
               "seed": seed, "template": str(template) if template else None, "files": {}}
    for name, split in splits.items():
        rows = rows_for(split, traces, choose_glyph_rows(split, glyph_share, selection, rng), render)
        check_no_leak(rows, problems, f"{name} rows")
        write_jsonl(Path(out) / f"{name}.jsonl", rows)
        counts = Counter((r["kind"], r["bucket"]) for r in rows)
        summary["files"][name] = {"path": str(Path(out) / f"{name}.jsonl"), "rows": len(rows),
                                  "counts": [{"kind": k, "bucket": b, "n": c} for (k, b), c in sorted(counts.items())]}
    write_text(Path(out) / "rewrite.json", json.dumps(summary, indent=1) + "\n")
    return summary
