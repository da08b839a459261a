"""`glyph-dist emergence traces`: glyph traces of training problems from a teacher.

- The programmatic teacher builds a trace from a problem's own worked solution: GSM8K's annotated
  lines (a step per line, the plan from the calculations' operations in order) or SVAMP's equation
  (a step per operation, innermost first). The guideline is the question's goal, the takeaway one
  line, the answer the gold. MATH has no annotated calculations: it is left to a model teacher.
- A model teacher is any local causal LM (catalog name or directory) prompted with `GLYPH_PROMPT`,
  generating greedily on a pool of Ray actors (`pool.generate`). Its traces are checked by the filter.
"""

from __future__ import annotations

import ast
import operator
import random
import re
from collections import Counter
from pathlib import Path

from glyph_dist.emergence.answers import format_number, parse_number
from glyph_dist.emergence.pool import generate
from glyph_dist.emergence.trace import ANSWER, GUIDELINE, PLAN, STEP, TAKEAWAY, Trace
from glyph_dist.errors import GlyphDistError

PROGRAMMATIC = "programmatic"
_ANNOTATION = re.compile(r"<<([^<>=]*)=[^<>]*>>")
_SENTENCE = re.compile(r"(?<=[.?!])\s+")
_UNARY_MINUS = re.compile(r"(^|[-+*/(])\s*-")
_OPERATIONS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}
_AST_OPERATIONS = {ast.Add: ("+", operator.add), ast.Sub: ("-", operator.sub),
                   ast.Mult: ("*", operator.mul), ast.Div: ("/", operator.truediv)}

GLYPH_PROMPT = f"""Solve the math problem. Write your solution as lines that each start with a glyph:
{GUIDELINE} the crux of the problem
{PLAN} the plan
{STEP} one calculation (one line for each calculation)
{TAKEAWAY} the takeaway
{ANSWER} the final answer, a number only

Example:
Problem: Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?
{GUIDELINE} Find: how many clips did Natalia sell altogether in April and May?
{PLAN} divide, then add
{STEP} Natalia sold 48/2 = 24 clips in May.
{STEP} Natalia sold 48+24 = 72 clips altogether in April and May.
{TAKEAWAY} Two calculations, each result carried into the next, give the answer.
{ANSWER} 72

Problem: {{question}}
"""


def goal(question: str) -> str:
    """The question's last sentence that asks something (else its last sentence)."""
    sentences = [s.strip() for s in _SENTENCE.split(question.strip()) if s.strip()]
    asking = [s for s in sentences if s.endswith("?")]
    return (asking or sentences)[-1]


def _takeaway(calculations: int) -> str:
    if calculations == 1:
        return "One calculation on the given numbers gives the answer."
    return f"{calculations} calculations, each result carried into the next, give the answer."


def _named(expression: str) -> str:
    """The operations of a calculation in order of appearance: `48+24*2` -> `add and multiply`."""
    binary = _UNARY_MINUS.sub(r"\1", expression.strip())
    names = list(dict.fromkeys(_OPERATIONS[c] for c in binary if c in _OPERATIONS))
    return " and ".join(names) or "copy"


def gsm8k_trace(question: str, solution: str, gold: str) -> Trace | None:
    """A step per line of the worked solution (annotations removed); None without any calculation."""
    calculations = _ANNOTATION.findall(solution)
    if not calculations:
        return None
    steps = tuple(s for s in (_ANNOTATION.sub("", line).strip() for line in solution.split("\n")) if s)
    plan = ", then ".join(_named(c) for c in calculations)
    return Trace(f"Find: {goal(question)}", plan, steps, _takeaway(len(calculations)), gold)


def _evaluate(node: ast.AST, steps: list[str]) -> float:
    """The expression's value; each operation appends its step `a op b = c`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand, steps)
    if isinstance(node, ast.BinOp) and type(node.op) in _AST_OPERATIONS:
        left, right = _evaluate(node.left, steps), _evaluate(node.right, steps)
        symbol, apply = _AST_OPERATIONS[type(node.op)]
        value = apply(left, right)
        steps.append(f"{format_number(left)} {symbol} {format_number(right)} = {format_number(value)}")
        return value
    raise ValueError(f"unsupported equation part {ast.dump(node)}")


def equation_steps(equation: str) -> tuple[float, list[str]]:
    """The value of an arithmetic equation and its steps `a op b = c`, innermost first; ValueError if it
    is not one (or divides by zero)."""
    steps: list[str] = []
    try:
        return _evaluate(ast.parse(equation, mode="eval").body, steps), steps
    except (SyntaxError, ZeroDivisionError) as error:
        raise ValueError(f"{equation!r}: {error}") from None


def svamp_trace(question: str, equation: str, gold: str) -> Trace | None:
    """A step per operation of the equation; None when it does not evaluate to the gold answer."""
    try:
        value, steps = equation_steps(equation)
    except ValueError:
        return None
    gold_value = parse_number(gold)
    if not steps or gold_value is None or abs(value - gold_value) > 1e-6 * max(1.0, abs(gold_value)):
        return None
    plan = ", then ".join(_named(step.split("=")[0]) for step in steps)
    return Trace(f"Find: {goal(question)}", plan, tuple(steps), _takeaway(len(steps)), gold)


def programmatic_trace(problem: dict) -> Trace | None:
    """The trace of a GSM8K or SVAMP problem; None when its solution gives none (or for MATH)."""
    if problem["source"] == "gsm8k":
        return gsm8k_trace(problem["question"], problem["solution"], problem["gold"])
    if problem["source"] == "svamp":
        return svamp_trace(problem["question"], problem["solution"], problem["gold"])
    return None


def trace_record(problem: dict, teacher: str, trace: str, **extra) -> dict:
    return {key: problem[key] for key in ("id", "source", "split", "bucket", "question", "gold")} | {
        "teacher": teacher, "trace": trace, **extra}


def training_sample(problems: list[dict], n: int | None, seed: int) -> list[dict]:
    """The training problems, or a seeded sample of `n` of them (held-out problems never get traces)."""
    train = [p for p in problems if p["split"] == "train"]
    if not train:
        raise GlyphDistError("no training problems in the unified file")
    if n is None or n >= len(train):
        return train
    if n < 1:
        raise GlyphDistError(f"n must be at least 1, got {n}")
    return random.Random(seed).sample(train, n)


def programmatic_traces(problems: list[dict]) -> tuple[list[dict], dict]:
    """Traces of the problems the programmatic teacher can build, and a summary (built, skipped by source)."""
    records, skipped = [], Counter()
    for problem in problems:
        trace = programmatic_trace(problem)
        if trace is None:
            skipped[problem["source"]] += 1
        else:
            records.append(trace_record(problem, PROGRAMMATIC, trace.render()))
    return records, {"teacher": PROGRAMMATIC, "problems": len(problems), "traces": len(records),
                     "skipped_by_source": dict(skipped)}


def model_traces(problems: list[dict], model: Path, max_new_tokens: int = 320, batch_size: int = 8,
                 actors: int = 1, cpus_per_actor: float = 1, gpus_per_actor: float = 0) -> tuple[list[dict], dict]:
    """The model's greedy answers to `GLYPH_PROMPT`, unchecked, and a summary with its throughput."""
    prompts = [GLYPH_PROMPT.format(question=p["question"]) for p in problems]
    out = generate(model, prompts, max_new_tokens, batch_size, actors, cpus_per_actor, gpus_per_actor)
    teacher = f"model:{Path(model).name}"
    records = [trace_record(p, teacher, text, tokens=n) for p, text, n in zip(problems, out.texts, out.tokens)]
    return records, {"teacher": teacher, "problems": len(problems), "traces": len(records),
                     "generated_tokens": sum(out.tokens), "seconds": round(out.seconds, 2),
                     "tokens_per_s": round(out.tokens_per_s, 2), "actors": actors, "gpus_per_actor": gpus_per_actor}
