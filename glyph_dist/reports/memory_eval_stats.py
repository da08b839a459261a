"""The memory evaluation on the report layer (`study.py`): means and 95% Student-t intervals across seeds, the
compared score (EM, or evidence recall with the model-free answerer) of every variant against every baseline and
of every ablation against its memory, paired by seed."""

from __future__ import annotations

import pandas as pd

from glyph_dist.reports import study
from glyph_dist.reports.memory_eval_load import suite_order
from glyph_dist.reports.studies import BASELINE_PREFIX, MEMORY_EVAL

KEYS = ["suite", "n", "variant", "name"]


def _ranked(frame: pd.DataFrame, order: list[str], by: list[str]) -> pd.DataFrame:
    return study.ordered(frame, by, {"suite": suite_order(frame["suite"]), "variant": order})


def summarize(values: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """One row per suite, n, variant and name (metric or counter): mean over seeds, 95% half-width, seeds."""
    return _ranked(study.summarize(values, KEYS[:-1]), order, KEYS)


def parent(variant: str) -> str | None:
    """The memory an ablation variant changes (`memory/hei_nw+gate.enabled=false` -> `memory/hei_nw`)."""
    return variant.split("+", 1)[0] if "+" in variant else None


def short_name(variant: str) -> str:
    """A baseline's name without its prefix (`baselines/core` -> `core`)."""
    return variant.removeprefix(BASELINE_PREFIX)


def paired_differences(metrics: pd.DataFrame, order: list[str], metric: str = "em") -> pd.DataFrame:
    """`metric` of every variant minus that of every baseline, and of every ablation minus its memory
    (`memory/hei_nw+gate.enabled=false` minus `memory/hei_nw`), per suite and n, paired by seed.

    One row per suite, n, variant and reference with at least one seed that both ran: mean and 95% half-width of
    the per-seed differences, the number of pairs and the verdict.
    """
    pairs = MEMORY_EVAL.against_baselines(order)
    pairs += [(variant, parent(variant)) for variant in order if parent(variant) in order]
    found = study.paired_differences(metrics, MEMORY_EVAL, metric, pairs)
    return _ranked(found, order, ["suite", "n", "variant"])
