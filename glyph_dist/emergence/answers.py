"""Final answers: read from a text, normalised, and compared with the gold answer.

A gold answer is a number (GSM8K, SVAMP; written without thousands separators or a trailing `.0`)
or a LaTeX expression (MATH: the content of the solution's last `\\boxed{}`). Two answers match
when both read as numbers within `REL_TOL` (relative) or `ABS_TOL` (absolute) of each other, or
else when their normalised expressions are equal (spaces, `\\left`/`\\right`, `\\!`, `dfrac`/`tfrac`,
`^\\circ`, `\\$` and a trailing full stop dropped; `\\text{...}` unwrapped).
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

REL_TOL, ABS_TOL = 1e-6, 1e-6
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_ANSWER_IS = re.compile(r"answer is[:\s]*\$?\s*(" + NUMBER.pattern + r")", re.IGNORECASE)
_LATEX_DROP = (r"\left", r"\right", r"\!", r"\,", r"\;", r"\$", "$", r"^\circ", r"^{\circ}", " ")


def format_number(value: float | Fraction) -> str:
    """`72`, `0.5`, `-3.25`: an integer without a decimal part, else the shortest float repr."""
    value = float(value)
    if value.is_integer():
        return str(int(value))
    return repr(round(value, 10))


def parse_number(text: str) -> float | None:
    """`1,200` -> 1200.0, `$5.` -> 5.0, `3/4` -> 0.75, `\\frac{3}{4}` -> 0.75; None if not a number."""
    text = text.strip().replace("$", "").replace(",", "").rstrip(".").strip()
    fraction = re.fullmatch(r"\\[dt]?frac\{(-?\d+)\}\{(-?\d+)\}|(-?\d+)/(-?\d+)", text)
    if fraction:
        num, den = (int(g) for g in fraction.groups() if g is not None)
        return num / den if den else None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def last_boxed(text: str) -> str | None:
    """The content of the last `\\boxed{...}` (or `\\fbox{...}`), braces balanced; None if there is none."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    brace = text.find("{", start)
    if brace < 0:
        return None
    depth = 0
    for end in range(brace, len(text)):
        depth += {"{": 1, "}": -1}.get(text[end], 0)
        if depth == 0:
            return text[brace + 1:end].strip()
    return None


def normalise_expression(text: str) -> str:
    """A LaTeX answer reduced for comparison (see the module docstring)."""
    text = re.sub(r"\\text\{([^{}]*)\}", r"\1", text)
    text = text.replace(r"\dfrac", r"\frac").replace(r"\tfrac", r"\frac")
    for token in _LATEX_DROP:
        text = text.replace(token, "")
    return text.rstrip(".")


def normalise_gold(text: str) -> str:
    """A gold answer as stored: a number formatted by `format_number`, else the normalised expression."""
    value = parse_number(text)
    return format_number(value) if value is not None else normalise_expression(text)


def answers_match(predicted: str | None, gold: str) -> bool:
    if predicted is None:
        return False
    a, b = parse_number(predicted), parse_number(gold)
    if a is not None and b is not None:
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    return normalise_expression(predicted) == normalise_expression(gold)


def extract_answer(text: str, final_marker: str | None = None) -> str | None:
    """The answer a text gives: what follows `final_marker` (the trace's answer glyph) on its line,
    else the last `\\boxed{}`, else the number after "answer is", else the last number; None if none."""
    if final_marker and final_marker in text:
        line = text.rsplit(final_marker, 1)[1].strip().split("\n", 1)[0].strip()
        boxed = last_boxed(line)
        if boxed is not None:
            return boxed
        numbers = NUMBER.findall(line)
        return numbers[-1] if len(numbers) == 1 else (line or None)
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    stated = _ANSWER_IS.findall(text)
    if stated:
        return stated[-1]
    numbers = NUMBER.findall(text)
    return numbers[-1] if numbers else None
