"""`glyph-dist emergence filter`: keep the traces that are valid, right and short enough.

A trace is kept when (checked in this order) its glyph structure is valid (`trace.structure_error`),
the answer on its answer line matches the gold answer (`answers.answers_match`: numbers within a
relative or absolute 1e-6, expressions after normalisation), and it is at most `max_chars` long.
A rejected trace is counted under its first failed check.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from glyph_dist.emergence.answers import answers_match, extract_answer
from glyph_dist.emergence.trace import ANSWER, structure_error
from glyph_dist.errors import GlyphDistError

MAX_CHARS = 1200
REASONS = ("line_without_glyph", "empty_section", "glyph_inside_line", "missing_glyph", "glyph_order",
           "wrong_answer", "too_long")


def rejection(record: dict, max_chars: int = MAX_CHARS) -> str | None:
    """The first check the trace fails (one of `REASONS`), or None when it is kept."""
    trace = record["trace"]
    error = structure_error(trace)
    if error is not None:
        return error[0]
    if not answers_match(extract_answer(trace, ANSWER), record["gold"]):
        return "wrong_answer"
    if len(trace) > max_chars:
        return "too_long"
    return None


def filter_traces(records: list[dict], max_chars: int = MAX_CHARS) -> tuple[list[dict], dict]:
    """The kept traces, and the keep rates per (source, teacher, bucket) with the reasons of the rejected."""
    if max_chars < 1:
        raise GlyphDistError(f"max_chars must be at least 1, got {max_chars}")
    kept, cells, reasons = [], defaultdict(Counter), Counter()
    for record in records:
        reason = rejection(record, max_chars)
        cell = cells[(record["source"], record["teacher"], record["bucket"])]
        cell["n"] += 1
        if reason is None:
            kept.append(record)
            cell["kept"] += 1
        else:
            reasons[(record["teacher"], reason)] += 1
    rates = [{"source": s, "teacher": t, "bucket": b, "n": c["n"], "kept": c["kept"], "keep_rate": c["kept"] / c["n"]}
             for (s, t, b), c in sorted(cells.items())]
    return kept, {"traces": len(records), "kept": len(kept), "keep_rate": len(kept) / len(records) if records else 0.0,
                  "max_chars": max_chars, "by_cell": rates,
                  "rejected": [{"teacher": t, "reason": r, "n": n} for (t, r), n in sorted(reasons.items())]}
