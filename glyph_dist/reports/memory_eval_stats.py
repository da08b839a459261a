"""The memory evaluation on the report layer (`study.py`): means and 95% Student-t intervals across seeds, the
compared score (EM, or evidence recall with the model-free answerer) of every variant against every baseline and
of every ablation against its memory, paired by seed; and the health checks of the smoke report."""

from __future__ import annotations

import pandas as pd

from glyph_dist.reports import study
from glyph_dist.reports.memory_eval_load import TRIAL, MemoryRuns, suite_order
from glyph_dist.reports.studies import BASELINE_PREFIX, MEMORY_EVAL

KEYS = ["suite", "n", "variant", "name"]
# Metrics that are shares of items: a value outside [0, 1] is a bug in the trial.
RATES = ("em", "em_raw", "f1", "contains", "memory_hit_rate", "evidence_recall", "spatial_success", "llm_equivalent",
         "llm_em_agreement", "llm_contains_agreement")


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


def missing_trials(data: MemoryRuns) -> pd.DataFrame | None:
    """Planned trials without a metrics.json, sorted; None when nothing was planned (no planned.json)."""
    if data.planned is None:
        return None
    found = data.runs[list(TRIAL)].assign(found=True)
    merged = data.planned.merge(found, on=list(TRIAL), how="left")
    return merged[merged["found"].isna()][list(TRIAL)].sort_values(list(TRIAL)).reset_index(drop=True)


UNDEFINED_WITHOUT_SUCCESS = "spatial_suboptimality"


def _where(row: pd.Series, root) -> str:
    return f"`{row['path'].relative_to(root).as_posix()}`"


def health_problems(data: MemoryRuns) -> dict[str, list[str]]:
    """Per check, one line per problem: NaN metrics, rates outside [0, 1], runs whose n_items differs from n.
    A null sub-optimality is no problem: it is undefined when no route of the run succeeded."""
    values = data.metrics.merge(data.runs[[*TRIAL, "path"]], on=list(TRIAL))
    nan = values[values["value"].isna() & (values["name"] != UNDEFINED_WITHOUT_SUCCESS)]
    rates = values[values["name"].isin(RATES) & ((values["value"] < 0) | (values["value"] > 1))]
    items = values[(values["name"] == "n_items") & values["value"].notna() & (values["value"] != values["n"])]
    return {
        "NaN metrics": [f"{_where(r, data.root)}: {r['name']} is NaN" for _, r in nan.iterrows()],
        f"rates outside [0, 1] ({', '.join(RATES)})": [f"{_where(r, data.root)}: {r['name']} = {r['value']:.3f}"
                                                     for _, r in rates.iterrows()],
        "n_items different from n": [f"{_where(r, data.root)}: n_items = {r['value']:.0f}, n = {r['n']}"
                                     for _, r in items.iterrows()],
    }
