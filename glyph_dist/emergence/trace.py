"""Glyph traces: five glyphs, one section a line, in a fixed order.

    🜞 the guideline: the crux of the problem
    🜆 the plan
    🜂 a step (one or more, consecutive)
    🜃 the takeaway
    🝞 the final answer

A trace is valid when its non-empty lines each start with a glyph followed by text, in the order
guideline, plan, step (at least one), takeaway, answer, each other glyph exactly once. Glyph
characters elsewhere in a line are an error too (a line holds one section).
"""

from __future__ import annotations

from dataclasses import dataclass

GUIDELINE, PLAN, STEP, TAKEAWAY, ANSWER = "\U0001F71E", "\U0001F706", "\U0001F702", "\U0001F703", "\U0001F75E"
GLYPHS = (GUIDELINE, PLAN, STEP, TAKEAWAY, ANSWER)
NAMES = {GUIDELINE: "guideline", PLAN: "plan", STEP: "step", TAKEAWAY: "takeaway", ANSWER: "answer"}


@dataclass(frozen=True)
class Trace:
    guideline: str
    plan: str
    steps: tuple[str, ...]
    takeaway: str
    answer: str

    def render(self) -> str:
        lines = [(GUIDELINE, self.guideline), (PLAN, self.plan), *((STEP, s) for s in self.steps),
                 (TAKEAWAY, self.takeaway), (ANSWER, self.answer)]
        return "\n".join(f"{glyph} {' '.join(text.split())}" for glyph, text in lines)


def has_glyph(text: str) -> bool:
    return any(glyph in text for glyph in GLYPHS)


def structure_error(text: str) -> tuple[str, str] | None:
    """(reason, detail) when `text` is not a valid trace (see the module docstring), else None. The
    reasons: line_without_glyph, empty_section, glyph_inside_line, missing_glyph, glyph_order."""
    lines = [line.strip() for line in text.strip().split("\n") if line.strip()]
    glyphs = []
    for number, line in enumerate(lines, 1):
        glyph, body = line[0], line[1:].strip()
        if glyph not in GLYPHS:
            return "line_without_glyph", f"line {number} does not start with a glyph"
        if not body:
            return "empty_section", f"line {number}: empty {NAMES[glyph]}"
        if has_glyph(body):
            return "glyph_inside_line", f"line {number}: a second glyph inside the {NAMES[glyph]}"
        glyphs.append(glyph)
    missing = [NAMES[g] for g in GLYPHS if g not in glyphs]
    if missing:
        return "missing_glyph", f"no {', '.join(missing)}"
    if glyphs != [GUIDELINE, PLAN, *[STEP] * glyphs.count(STEP), TAKEAWAY, ANSWER]:
        return "glyph_order", "out of order or repeated: " + " ".join(NAMES[g] for g in glyphs)
    return None
