"""Phase-5 aggregation: per-seed means, Student-t intervals across seeds, fgt_context's comparisons, and
model_glyph against model_raw paired by seed."""

from __future__ import annotations

import math

import pandas as pd

from glyph_dist.reports.common import LLM_RATES, t_half_width
from glyph_dist.reports.context_bench_load import FULL, GROUP, MODEL_EVAL_PREFIX

FGT, RAW = "fgt_context", "raw_truncate"
NOT_PEERS = (FGT, RAW, FULL)
RATES = ("score", "success_rate", "em", "f1", *LLM_RATES, "evidence_recall", "evidence_recall_expanded",
         "answer_recall", "glyph_evidence", "avg_tokens")
HIGHER, LOWER, NOISE, NO_INTERVAL = "fgt_context higher", "fgt_context lower", "within noise", "no interval (1 seed)"
VERDICTS = (HIGHER, LOWER, NOISE, NO_INTERVAL)
MODEL_RAW, MODEL_GLYPH = "model_raw", "model_glyph"
PAIRED = ("success_rate", "em", "f1", "summary_fact_recall", "avg_tokens")
PER_SEED = (*PAIRED, "n_questions", "n_summaries")
# model_raw and model_glyph are compared within each combination of these (their answerers differ by name).
PAIR_KEYS = ["dataset", "split", "judge", "token_counter"]
# What each paired metric is counted over: summary fact recall over the summary pairs, the rest over the questions.
COUNTS = {"summary_fact_recall": "n_summaries"}
GLYPH_HIGHER, GLYPH_LOWER, NOT_MEASURED = "model_glyph higher", "model_glyph lower", "not measured"


def strategy_order(cells: pd.DataFrame) -> list[str]:
    """Strategies in the order the result files list them, `full` (the unbudgeted reference) last."""
    strategies = list(pd.unique(cells["strategy"]))
    return [s for s in strategies if s != FULL] + [s for s in strategies if s == FULL]


def summarize(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per table group, strategy and budget: means over per-seed means (NaN where no seed has the
    metric), the interval of the score (`score_ci`), seeds, questions.

    `full` has no budget, so its per-seed value pools the copies that every budget's file carries.
    """
    keys = [*GROUP, "strategy", "budget"]
    per_seed = cells.groupby([*keys, "seed"], dropna=False)[[*RATES, "n_questions"]].mean().reset_index()
    summary = per_seed.groupby(keys, dropna=False).agg(
        **{rate: (rate, "mean") for rate in RATES},
        score_ci=("score", t_half_width),
        n_seeds=("seed", "nunique"),
        questions_min=("n_questions", "min"),
        questions_max=("n_questions", "max"),
    ).reset_index()
    rank = {strategy: i for i, strategy in enumerate(strategy_order(cells))}
    summary["rank"] = summary["strategy"].map(rank)
    return summary.sort_values([*GROUP, "rank", "budget"], na_position="last").drop(columns="rank")


def verdict(mean: float, half: float, other_mean: float, other_half: float) -> str:
    """Compare two means by their intervals: a difference counts only when the intervals do not overlap."""
    if math.isnan(half) or math.isnan(other_half):
        return NO_INTERVAL
    if mean - half > other_mean + other_half:
        return HIGHER
    if mean + half < other_mean - other_half:
        return LOWER
    return NOISE


def _versus(fgt: pd.Series, other: pd.Series | None, prefix: str) -> dict:
    if other is None:
        return {f"{prefix}_mean": math.nan, f"{prefix}_ci": math.nan, f"vs_{prefix}": None}
    return {f"{prefix}_mean": other["score"], f"{prefix}_ci": other["score_ci"],
            f"vs_{prefix}": verdict(fgt["score"], fgt["score_ci"], other["score"], other["score_ci"])}


def _comparison(fgt: pd.Series, at_budget: pd.DataFrame) -> dict:
    raw = at_budget[at_budget["strategy"] == RAW]
    peers = at_budget[~at_budget["strategy"].isin(NOT_PEERS)]
    peer = peers.loc[peers["score"].idxmax()] if len(peers) else None
    return {**{key: fgt[key] for key in GROUP}, "budget": fgt["budget"],
            "fgt_mean": fgt["score"], "fgt_ci": fgt["score_ci"],
            **_versus(fgt, raw.iloc[0] if len(raw) else None, "raw"),
            "peer": None if peer is None else peer["strategy"], **_versus(fgt, peer, "peer")}


def compare(summary: pd.DataFrame) -> pd.DataFrame:
    """For every fgt_context cell: its score against raw_truncate and the best retrieval peer at that budget.

    The best peer is the strategy other than fgt_context, raw_truncate and full with the highest mean score.
    """
    rows = [_comparison(fgt, group[group["budget"] == fgt["budget"]])
            for _, group in summary.groupby(GROUP, sort=False)
            for _, fgt in group[group["strategy"] == FGT].iterrows()]
    return pd.DataFrame(rows, columns=[*GROUP, "budget", "fgt_mean", "fgt_ci", "raw_mean", "raw_ci", "vs_raw",
                                       "peer", "peer_mean", "peer_ci", "vs_peer"])


def model_seeds(cells: pd.DataFrame) -> pd.DataFrame:
    """model_raw and model_glyph: one row per pairing group, model and seed, with the paired metrics and counts."""
    models = cells[(cells["source"] == MODEL_EVAL_PREFIX) & cells["model"].isin((MODEL_RAW, MODEL_GLYPH))]
    return models.groupby([*PAIR_KEYS, "model", "seed"])[list(PER_SEED)].mean().reset_index()


def paired_verdict(differences: pd.Series) -> str:
    """A difference counts only when the t-interval of its per-seed values excludes 0."""
    n = int(differences.count())
    if n < 2:
        return NO_INTERVAL if n else NOT_MEASURED
    mean, half = differences.mean(), t_half_width(differences)
    if mean - half > 0:
        return GLYPH_HIGHER
    if mean + half < 0:
        return GLYPH_LOWER
    return NOISE


def compare_models(seeds: pd.DataFrame) -> pd.DataFrame:
    """One row per paired metric of one pairing group, over the seeds that both models have: each model's mean
    and interval, the mean glyph − raw difference and the t-interval of its per-seed values, seeds, counts, verdict.
    """
    wide = seeds.pivot(index="seed", columns="model", values=list(PER_SEED))
    wide = wide[wide["n_questions"].notna().all(axis=1)]
    rows = []
    for metric in PAIRED:
        raw, glyph = wide[metric][MODEL_RAW], wide[metric][MODEL_GLYPH]
        differences = (glyph - raw).dropna()
        counts = wide[COUNTS.get(metric, "n_questions")]
        rows.append({"metric": metric, "raw_mean": raw.mean(), "raw_ci": t_half_width(raw),
                     "glyph_mean": glyph.mean(), "glyph_ci": t_half_width(glyph),
                     "difference": differences.mean(), "difference_ci": t_half_width(differences),
                     "n_seeds": int(differences.count()), "count_min": counts.min(axis=None),
                     "count_max": counts.max(axis=None), "verdict": paired_verdict(differences)})
    return pd.DataFrame(rows)
