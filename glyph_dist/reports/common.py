"""What every study's report shares: the model-free answerer and the LLM judge's rates, the 95%
Student-t interval across seeds, the text of intervals, ranges and paired differences, and markdown tables."""

from __future__ import annotations

import math

import pandas as pd
from scipy import stats

LEVEL = 0.95
MODEL_FREE = "context-recall"  # the answerer that scores evidence in the context, with no model
LLM_RATES = ("llm_equivalent", "llm_em_agreement", "llm_em_kappa", "llm_contains_agreement", "llm_contains_kappa")


def t_factor(n: int) -> float:
    """The Student-t quantile of a two-sided 95% interval for the mean of `n` values."""
    return float(stats.t.ppf(0.5 + LEVEL / 2, n - 1))


def t_half_width(values: pd.Series) -> float:
    """Half-width of the 95% Student-t interval of the mean of `values`; NaN with fewer than two."""
    n = int(values.count())
    return t_factor(n) * float(values.std(ddof=1)) / math.sqrt(n) if n >= 2 else math.nan


def interval(mean: float, half: float, digits: int = 3) -> str:
    """`mean ± half`, `n/a` for a missing half-width."""
    return f"{mean:.{digits}f} ± {'n/a' if math.isnan(half) else f'{half:.{digits}f}'}"


def difference(mean: float, half: float, pairs: int, digits: int = 3) -> str:
    """A difference paired by seed, `+mean ± half`: `± n/a (1 seed)` with one pair, a dash with none."""
    if not pairs:
        return "—"
    return f"{mean:+.{digits}f} ± {'n/a (1 seed)' if pairs < 2 else f'{half:.{digits}f}'}"


def span(low: float, high: float, fmt: str = "{:.0f}") -> str:
    """A range of values as text: `low–high`, one value where they are equal."""
    return fmt.format(low) if low == high else f"{fmt.format(low)}–{fmt.format(high)}"


def listed(values) -> str:
    """The distinct values present, sorted, whole numbers without a decimal point; a dash when there are none."""
    distinct = sorted({value for value in values if value is not None and not pd.isna(value)})
    return ", ".join(str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in distinct) or "—"


def table(header: tuple[str, ...] | list[str], rows: list[list[str]]) -> str:
    """A markdown table of text cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
