"""(prompt, target) files for the fine-tuned variants of one base model that the second EvoMerge
population merges: each variant is `glyph-dist train sft` on one kind of data from the shared sets.

    gsm8k   a GSM8K training question -> its worked solution (calculator annotations removed)
            ending in `#### N`
    svamp   a SVAMP training question -> `EQUATION = N` and `#### N`
    sgd     the last turns of a training SGD dialogue (`USER: ...` / `SYSTEM: ...` lines) -> the
            system's next utterance

The prompt is the question (or dialogue) as one user message in the base model's chat template,
as the project's other SFT data; the SFT job masks it from the loss. Training problems and
dialogues only: GSM8K test, the SVAMP test slice and the held-out SGD dialogues (cognate/data.py's
split) stay for the fitness and the final scoring.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from glyph_dist.data.corpus import is_heldout, write_jsonl
from glyph_dist.emergence.unify import read_gsm8k, read_svamp
from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.ingest import sgd_dialogues
from glyph_dist.forge.cognate.data import FINAL_MARKER, HELDOUT_SHARE, SPLIT_SEED

VARIANTS = ("gsm8k", "svamp", "sgd")
VAL_PAIRS = 32
DIALOGUE_TURNS = 4  # turns of context before the system's reply
_ANNOTATION = re.compile(r"<<[^<>]*>>")


def _problem_pairs(variant: str, datasets: Path) -> list[tuple[str, str]]:
    if variant == "gsm8k":
        return [(p["question"], f"{_ANNOTATION.sub('', p['solution'])}\n{FINAL_MARKER} {p['gold']}")
                for p in read_gsm8k(datasets / "gsm8k") if p["split"] == "train"]
    return [(p["question"], f"{p['solution']} = {p['gold']}\n{FINAL_MARKER} {p['gold']}")
            for p in read_svamp(datasets / "svamp") if p["split"] == "train"]


def _dialogue_pairs(datasets: Path) -> list[tuple[str, str]]:
    pairs = []
    for dialogue in sgd_dialogues(datasets / "sgd" / "dev"):
        if is_heldout(str(dialogue.get("dialogue_id")), HELDOUT_SHARE, SPLIT_SEED):
            continue
        lines = [f"{t.get('speaker', 'USER')}: {t.get('utterance', '')}" for t in dialogue["turns"]]
        for i, turn in enumerate(dialogue["turns"]):
            if i and turn.get("speaker") == "SYSTEM":
                pairs.append(("\n".join(lines[max(0, i - DIALOGUE_TURNS):i]), turn.get("utterance", "")))
    return pairs


def variant_pairs(variant: str, datasets: Path, tokenizer, n: int, seed: int) -> tuple[list[dict], list[dict]]:
    """(train, validation) records of a variant: `n` + VAL_PAIRS pairs drawn with `seed`."""
    if variant not in VARIANTS:
        raise GlyphDistError(f"unknown fine-tune variant {variant!r}; known: {', '.join(VARIANTS)}")
    pairs = _dialogue_pairs(datasets) if variant == "sgd" else _problem_pairs(variant, datasets)
    if len(pairs) < n + VAL_PAIRS:
        raise GlyphDistError(f"variant {variant}: {len(pairs)} training pairs, fewer than {n} + {VAL_PAIRS}")
    chosen = random.Random(seed).sample(pairs, n + VAL_PAIRS)
    records = [{"prompt": tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                                        add_generation_prompt=True),
                "target": target, "variant": variant} for question, target in chosen]
    return records[:n], records[n:]


def write_variants(out: Path, datasets: Path, tokenizer, variants: list[str], n: int, seed: int) -> dict[str, dict]:
    """OUT/VARIANT/{train,val}.jsonl for every variant; returns the files and pair counts."""
    written = {}
    for variant in variants:
        train, val = variant_pairs(variant, datasets, tokenizer, n, seed)
        write_jsonl(out / variant / "train.jsonl", train)
        write_jsonl(out / variant / "val.jsonl", val)
        written[variant] = {"train": str(out / variant / "train.jsonl"), "val": str(out / variant / "val.jsonl"),
                            "pairs": len(train)}
    return written
