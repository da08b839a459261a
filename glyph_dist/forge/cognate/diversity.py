"""Behavioural diversity between specialisations, on three measured figures of each model:

    halting_steps   mean outer steps a held-out token takes (act.py)
    memory_share    mean weight 1 − g the blocks give the memory read (model.py)
    tokens_per_s    held-out tokens through the halted forward pass per second (evaluate.py)

The spread of a figure is its relative range over the models, (max − min) / max: 0 when all agree,
approaching 1 when one is far below the largest. It is scale-free, so figures in steps, shares and
tokens per second are comparable. The diversity is the mean spread of the three figures (the
plan's target is > 0.3). The coefficient of variation (population std / mean) is reported beside it.
"""

from __future__ import annotations

import statistics

FIGURES = ("halting_steps", "memory_share", "tokens_per_s")


def spread(values: list[float]) -> float:
    """(max − min) / max of positive values."""
    return (max(values) - min(values)) / max(values)


def diversity(models: dict[str, dict]) -> dict:
    """Per figure: every model's value, the relative range and the coefficient of variation; and
    `diversity`, the mean relative range."""
    figures = {}
    for figure in FIGURES:
        values = {name: float(metrics[figure]) for name, metrics in models.items()}
        series = list(values.values())
        figures[figure] = {"values": values, "spread": spread(series),
                           "cv": statistics.pstdev(series) / statistics.fmean(series)}
    return {"figures": figures, "diversity": statistics.fmean(f["spread"] for f in figures.values())}
