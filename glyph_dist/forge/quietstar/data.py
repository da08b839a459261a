"""GSM8K solutions rewritten into strategy-tagged thoughts by rules (no model involved).

A pair's prompt is `Question: ...\\nAnswer:` and its target

    [thinking] <mece> knowns: 48; unknown: How many clips ...? <expert> counting <step> 48/2 = 24 clips
    in May. <step> ... <falsify> 48+24 = 72 holds <orthogonal> 72 - 24 = 48 <bayesian> ... <correct>
    [/endthinking]
    #### 72

Each strategy has a rule over the problem, and appears only where its rule fires:

    <mece>         always: the question's numbers (knowns) and its last question sentence (the unknown)
    <expert>       always: the domain named by keywords (money, time, percentages, fractions, else counting)
    <multidomain>  the keywords name two domains or more
    <step>         one per solution line, the `<<calc>>` annotations removed
    <falsify>      the last annotated calculation recomputed: "holds" or "fails"
    <orthogonal>   the last calculation checked by its inverse operation (72 - 24 = 48 for 48 + 24 = 72)
    <doubt>        the question has numbers no calculation uses
    <bayesian>     whether the answer is whole, as word problems' answers usually are
    <correct>      every annotated calculation recomputes; else <uncertain>, naming the first that fails

Training pairs come from GSM8K's train split, a seeded 5% of which is held out (`val`) for the
baking's token accuracy; GSM8K's test split is left for evaluation.
"""

from __future__ import annotations

import ast
import operator
import re
from pathlib import Path

from glyph_dist.data.corpus import is_heldout, write_jsonl
from glyph_dist.emergence.answers import format_number
from glyph_dist.emergence.unify import read_gsm8k
from glyph_dist.forge.cognate.data import FINAL_MARKER, Problem
from glyph_dist.forge.quietstar.tokens import THINK_CLOSE, THINK_OPEN

VAL_SHARE, SPLIT_SEED = 0.05, 0
_CALC = re.compile(r"<<([^<>=]*)=([^<>]*)>>")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
DOMAINS = {"money": ("$", "dollar", "cost", "price", "earn", "pay", "spend", "sell", "buy", "cent"),
           "time": ("hour", "minute", "day", "week", "month", "year", "second"),
           "percentages": ("%", "percent"),
           "fractions": ("half", "third", "quarter", "fraction", "twice")}
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_INVERSE = {ast.Add: ("-", operator.sub), ast.Sub: ("+", operator.add), ast.Mult: ("/", operator.truediv),
            ast.Div: ("*", operator.mul)}


def _value(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_value(node.left), _value(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_value(node.operand)
    raise ValueError("not arithmetic")


def evaluate(expression: str) -> float | None:
    """The value of an arithmetic expression (+ - * / and parentheses), else None."""
    try:
        return _value(ast.parse(expression.replace("x", "*").strip(), mode="eval").body)
    except (SyntaxError, ValueError, ZeroDivisionError):
        return None


def _num(text: str) -> float | None:
    try:
        return float(text.replace(",", "").strip())
    except ValueError:
        return None


def _holds(expression: str, claimed: str) -> bool:
    value, stated = evaluate(expression), _num(claimed)
    return value is not None and stated is not None and abs(value - stated) <= 1e-6 * max(1.0, abs(stated))


def _inverse_check(expression: str, claimed: str) -> str | None:
    """`c - b = a` for `a + b = c` (and so on), computed; None when the expression is not one operation."""
    try:
        node = ast.parse(expression.replace("x", "*").strip(), mode="eval").body
    except SyntaxError:
        return None
    result = _num(claimed)
    if not isinstance(node, ast.BinOp) or type(node.op) not in _INVERSE or result is None:
        return None
    try:
        right = _value(node.right)
        symbol, inverse = _INVERSE[type(node.op)]
        return f"{format_number(result)} {symbol} {format_number(right)} = {format_number(inverse(result, right))}"
    except (ValueError, ZeroDivisionError):
        return None


def domains(question: str) -> list[str]:
    text = question.lower()
    return [name for name, words in DOMAINS.items() if any(w in text for w in words)] or ["counting"]


def thought(question: str, solution: str, gold: str) -> tuple[str, list[str]]:
    """The strategy-tagged thought for one problem, and the strategies it uses."""
    calcs = _CALC.findall(solution)
    knowns = list(dict.fromkeys(_NUMBER.findall(question.replace(",", ""))))
    sentences = [s.strip() for s in re.split(r"(?<=[.?!])\s+", question) if s.strip()]
    unknown = next((s for s in reversed(sentences) if s.endswith("?")), sentences[-1] if sentences else question)
    parts = [("<mece>", f"knowns: {', '.join(knowns) or 'none'}; unknown: {unknown}"),
             ("<expert>", " and ".join(domains(question)))]
    if len(domains(question)) > 1:
        parts.append(("<multidomain>", f"combines {' and '.join(domains(question))}"))
    parts += [("<step>", _CALC.sub("", line).strip()) for line in solution.splitlines() if line.strip()]
    if calcs:
        expression, claimed = calcs[-1]
        parts.append(("<falsify>", f"{expression} = {claimed} {'holds' if _holds(expression, claimed) else 'fails'}"))
        inverse = _inverse_check(expression, claimed)
        if inverse:
            parts.append(("<orthogonal>", inverse))
    used = {format_number(float(n)) for e, c in calcs for n in _NUMBER.findall(e + " " + c)}
    unused = [k for k in knowns if format_number(float(k)) not in used]
    if calcs and unused:
        parts.append(("<doubt>", f"{', '.join(unused)} not used in a calculation"))
    whole = _num(gold) is not None and float(_num(gold)).is_integer()
    parts.append(("<bayesian>", f"a whole answer is likely; {gold} is {'whole' if whole else 'not whole'}"))
    failing = next((f"{e} = {c}" for e, c in calcs if not _holds(e, c)), None)
    parts.append(("<uncertain>", f"{failing} does not recompute") if failing else ("<correct>", ""))
    text = " ".join(f"{tag} {body}".rstrip() for tag, body in parts)
    return f" {THINK_OPEN} {text} {THINK_CLOSE}\n{FINAL_MARKER} {gold}", [tag for tag, _ in parts]


def thought_pairs(datasets: Path, limit: int | None = None) -> dict[str, list[dict]]:
    """{"train": [...], "val": [...]}: (prompt, target) pairs of GSM8K's train split."""
    splits: dict[str, list[dict]] = {"train": [], "val": []}
    problems = [p for p in read_gsm8k(datasets / "gsm8k") if p["split"] == "train"]
    for problem in problems[:limit]:
        target, strategies = thought(problem["question"], problem["solution"], problem["gold"])
        split = "val" if is_heldout(problem["id"], VAL_SHARE, SPLIT_SEED) else "train"
        splits[split].append({"id": problem["id"], "prompt": Problem(problem["question"], problem["gold"]).prompt,
                              "target": target, "strategies": strategies})
    return splits


def write_thought_data(datasets: Path, out: Path, limit: int | None = None) -> dict[str, int]:
    """Write OUT/train.jsonl and OUT/val.jsonl; returns the pairs per split."""
    splits = thought_pairs(datasets, limit)
    for name, rows in splits.items():
        write_jsonl(out / f"{name}.jsonl", rows)
    return {name: len(rows) for name, rows in splits.items()}
