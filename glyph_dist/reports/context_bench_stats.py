"""The context benchmark's comparisons on the report layer (`study.py`): per-seed means and intervals across
seeds, fgt_context against raw_truncate and the best retrieval peer, and model_glyph against model_raw paired by
seed."""

from __future__ import annotations

import math

import pandas as pd

from glyph_dist.reports import study
from glyph_dist.reports.common import LLM_RATES
from glyph_dist.reports.context_bench_load import GROUP, MODEL_EVAL_PREFIX
from glyph_dist.reports.studies import CONTEXT_BENCH, FGT, FULL, MODEL_GLYPH, MODEL_PAIR, MODEL_RAW, RAW

NOT_PEERS = (FGT, RAW, FULL)
RATES = ("score", "success_rate", "em", "f1", *LLM_RATES, "evidence_recall", "evidence_recall_expanded",
         "answer_recall", "glyph_evidence", "avg_tokens")
HIGHER, LOWER, NOISE, NO_INTERVAL = (CONTEXT_BENCH.verdicts.text(outcome, FGT, RAW)
                                     for outcome in (study.HIGHER, study.LOWER, study.NOISE, study.ONE_SEED))
VERDICTS = (HIGHER, LOWER, NOISE, NO_INTERVAL)
PAIRED = tuple(MODEL_PAIR.metrics)
PER_SEED = (*PAIRED, "n_questions", "n_summaries")
PAIR_KEYS = list(MODEL_PAIR.group)
# What each paired metric is counted over: summary fact recall over the summary pairs, the rest over the questions.
COUNTS = {"summary_fact_recall": "n_summaries"}
GLYPH_HIGHER, GLYPH_LOWER = (MODEL_PAIR.verdicts.text(outcome, MODEL_GLYPH, MODEL_RAW)
                             for outcome in (study.HIGHER, study.LOWER))
NOT_MEASURED = "not measured"


def strategy_order(cells: pd.DataFrame) -> list[str]:
    """Strategies in the order the result files list them, `full` (the unbudgeted reference) last."""
    strategies = list(pd.unique(cells["strategy"]))
    return [s for s in strategies if s != FULL] + [s for s in strategies if s == FULL]


def _long(frame: pd.DataFrame, keys: list[str], names) -> pd.DataFrame:
    return frame.melt(id_vars=[*keys, "seed"], value_vars=list(names), var_name="name", value_name="value")


def summarize(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per table group, strategy and budget: means over per-seed means (NaN where no seed has the
    metric), the interval of the score (`score_ci`), seeds, questions.

    `full` has no budget, so its per-seed value pools the copies that every budget's file carries.
    """
    keys = [*GROUP, "strategy", "budget"]
    found = study.summarize(_long(cells, keys, [*RATES, "n_questions"]), keys).set_index([*keys, "name"])
    summary = found["mean"].unstack("name")[list(RATES)]
    summary["score_ci"] = found["ci"].xs("score", level="name")
    summary["n_seeds"] = found["seeds"].xs("score", level="name")
    summary["questions_min"] = found["low"].xs("n_questions", level="name")
    summary["questions_max"] = found["high"].xs("n_questions", level="name")
    summary = summary.reset_index().rename_axis(columns=None)
    return study.ordered(summary, [*GROUP, "strategy", "budget"], {"strategy": strategy_order(cells)})


def _versus(fgt: pd.Series, other: pd.Series | None, prefix: str) -> dict:
    if other is None:
        return {f"{prefix}_mean": math.nan, f"{prefix}_ci": math.nan, f"vs_{prefix}": None}
    outcome = study.overlap_outcome(fgt["score"], fgt["score_ci"], other["score"], other["score_ci"])
    return {f"{prefix}_mean": other["score"], f"{prefix}_ci": other["score_ci"],
            f"vs_{prefix}": CONTEXT_BENCH.verdicts.text(outcome, FGT, other["strategy"])}


def _comparison(fgt: pd.Series, at_budget: pd.DataFrame) -> dict:
    raw = at_budget[at_budget["strategy"] == RAW]
    peers = at_budget[~at_budget["strategy"].isin(NOT_PEERS)]
    peer = peers.loc[peers["score"].idxmax()] if len(peers) else None
    return {**{key: fgt[key] for key in GROUP}, "budget": fgt["budget"],
            "fgt_mean": fgt["score"], "fgt_ci": fgt["score_ci"],
            **_versus(fgt, raw.iloc[0] if len(raw) else None, "raw"),
            "peer": None if peer is None else peer["strategy"], **_versus(fgt, peer, "peer")}


def compare(summary: pd.DataFrame) -> pd.DataFrame:
    """For every fgt_context cell: its score against raw_truncate and the best retrieval peer at that budget, by
    their intervals across seeds (a difference counts only when they do not overlap).

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


def compare_models(seeds: pd.DataFrame) -> pd.DataFrame:
    """One row per paired metric of one pairing group (`study.paired_differences`' columns), over the seeds that
    both models have, with the questions (or summary pairs) per seed; `not measured` where no seed has both."""
    both = seeds.pivot(index="seed", columns="model", values=list(PER_SEED))
    both = both[both["n_questions"].notna().all(axis=1)]
    rows = []
    for metric in PAIRED:
        found = study.paired_differences(_long(seeds, [*PAIR_KEYS, "model"], [metric]), MODEL_PAIR, metric,
                                         [(MODEL_GLYPH, MODEL_RAW)])
        pair = found.iloc[0].to_dict() if len(found) else {"pairs": 0, "verdict": NOT_MEASURED}
        counts = both[COUNTS.get(metric, "n_questions")]
        rows.append({**pair, "metric": metric, "count_min": counts.min(axis=None), "count_max": counts.max(axis=None)})
    return pd.DataFrame(rows, columns=[*PAIR_KEYS, *study.DIFFERENCE_COLUMNS, "metric", "count_min", "count_max"])
