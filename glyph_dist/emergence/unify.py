"""`glyph-dist emergence unify`: GSM8K, SVAMP and MATH as one JSONL file of problems.

Each problem: id, source, split (train or test), question, gold (a normalised number, or MATH's
normalised last `\\boxed{}`), solution (GSM8K's worked answer with its `<<a*b=c>>` calculator
annotations, SVAMP's equation, MATH's solution), difficulty features and bucket.

Held out, never trained on nor used to choose anything: GSM8K test, a fixed SVAMP slice (the
problems whose ID hashes below `SVAMP_TEST_SHARE`) and MATH test. A training problem whose
normalised question equals a held-out one is dropped and counted (`leaks_dropped`).
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

from glyph_dist.data.corpus import write_jsonl
from glyph_dist.emergence.answers import format_number, last_boxed, normalise_gold
from glyph_dist.emergence.difficulty import bucket, features
from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.ingest import iter_jsonl

SVAMP_TEST_SHARE = 0.3
_ANNOTATION = re.compile(r"<<([^<>=]*)=([^<>]*)>>")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def normalise_question(text: str) -> str:
    """Lower case, every run of characters other than letters and digits one space: the leakage key."""
    return _NOT_WORD.sub(" ", text.lower()).strip()


def _problem(source: str, split: str, number: int | str, question: str, gold: str, solution: str,
             steps: int | None, **extra) -> dict:
    feats = {**features(question), "solution_steps": steps}
    return {"id": f"{source}-{split}-{number}", "source": source, "split": split, "question": question.strip(),
            "gold": gold, "solution": solution, "features": feats, "bucket": bucket(feats["score"]), **extra}


def gsm8k_gold(answer: str, where: str) -> tuple[str, str]:
    """(worked solution, gold number) of a GSM8K answer ending in `#### NUMBER`."""
    solution, sep, gold = answer.rpartition("####")
    if not sep or not gold.strip():
        raise GlyphDistError(f"{where}: the answer has no '#### NUMBER' line")
    return solution.strip(), normalise_gold(gold)


def read_gsm8k(directory: Path) -> list[dict]:
    problems = []
    for split in ("train", "test"):
        path = directory / f"{split}.jsonl"
        if not path.is_file():
            raise GlyphDistError(f"GSM8K: {path} does not exist")
        for line, record in iter_jsonl(path):
            if not all(isinstance(record.get(k), str) for k in ("question", "answer")):
                raise GlyphDistError(f"{path}:{line}: expected string fields 'question' and 'answer'")
            solution, gold = gsm8k_gold(record["answer"], f"{path}:{line}")
            problems.append(_problem("gsm8k", split, line - 1, record["question"], gold, solution,
                                     len(_ANNOTATION.findall(solution))))
    return problems


def svamp_question(body: str, question: str) -> str:
    """Body and question as one text (a body without a closing stop runs into the question)."""
    body, question = body.strip(), question.strip()
    if body.endswith((".", "?", "!")):
        return f"{body} {question}"
    return f"{body}, {question[:1].lower()}{question[1:]}"


def is_svamp_test(problem_id: str) -> bool:
    digest = hashlib.blake2b(problem_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < SVAMP_TEST_SHARE


def read_svamp(directory: Path) -> list[dict]:
    path = directory / "SVAMP.json"
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise GlyphDistError(f"SVAMP: cannot read {path} ({error.strerror})") from None
    except json.JSONDecodeError as error:
        raise GlyphDistError(f"SVAMP: {path} is not valid JSON (line {error.lineno}: {error.msg})") from None
    problems = []
    for index, record in enumerate(records if isinstance(records, list) else [None]):
        keys = ("ID", "Body", "Question", "Equation", "Answer")
        if not isinstance(record, dict) or any(k not in record for k in keys):
            raise GlyphDistError(f"{path}: item {index} is not an object with {', '.join(keys)}")
        equation = record["Equation"].strip()
        steps = sum(isinstance(node, ast.BinOp) for node in ast.walk(ast.parse(equation, mode="eval")))
        split = "test" if is_svamp_test(record["ID"]) else "train"
        problems.append(_problem("svamp", split, record["ID"], svamp_question(record["Body"], record["Question"]),
                                 format_number(record["Answer"]), equation, steps))
    return problems


def read_math(directory: Path) -> tuple[list[dict], int]:
    """MATH in its public layout (`{train,test}/<subject>/<n>.json` of {problem, level, type, solution});
    returns the problems and how many had no `\\boxed{}` answer (left out)."""
    problems, unboxed = [], 0
    for split in ("train", "test"):
        files = sorted((directory / split).glob("*/*.json"))
        if not files:
            raise GlyphDistError(f"MATH: no {split}/<subject>/*.json files under {directory}")
        for path in files:
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as error:
                raise GlyphDistError(f"MATH: {path} is not a readable JSON file ({error})") from None
            keys = ("problem", "level", "type", "solution")
            if not isinstance(record, dict) or not all(isinstance(record.get(k), str) for k in keys):
                raise GlyphDistError(f"MATH: {path} lacks one of the string fields {', '.join(keys)}")
            boxed = last_boxed(record["solution"])
            if boxed is None:
                unboxed += 1
                continue
            level = re.search(r"\d+", record["level"])
            problems.append(_problem("math", split, f"{path.parent.name}-{path.stem}", record["problem"],
                                     normalise_gold(boxed), record["solution"], None,
                                     level=int(level.group()) if level else None, subject=record["type"]))
    return problems, unboxed


def drop_leaks(problems: list[dict]) -> tuple[list[dict], int]:
    """The problems without the training ones whose normalised question is also a held-out question."""
    held_out = {normalise_question(p["question"]) for p in problems if p["split"] == "test"}
    kept = [p for p in problems if p["split"] == "test" or normalise_question(p["question"]) not in held_out]
    return kept, len(problems) - len(kept)


def unify(out: Path, gsm8k: Path | None, svamp: Path | None, math: Path | None = None) -> dict:
    """Write the unified problems to `out`; returns a summary (counts by source, split and bucket)."""
    if not (gsm8k or svamp or math):
        raise GlyphDistError("name at least one source directory (GSM8K, SVAMP or MATH)")
    problems, unboxed = [], 0
    if gsm8k:
        problems += read_gsm8k(Path(gsm8k))
    if svamp:
        problems += read_svamp(Path(svamp))
    if math:
        found, unboxed = read_math(Path(math))
        problems += found
    problems, leaks = drop_leaks(problems)
    write_jsonl(Path(out), problems)
    counts = Counter((p["source"], p["split"], p["bucket"]) for p in problems)
    return {"out": str(out), "problems": len(problems), "leaks_dropped": leaks, "math_without_boxed": unboxed,
            "counts": [{"source": s, "split": sp, "bucket": b, "n": n} for (s, sp, b), n in sorted(counts.items())]}
