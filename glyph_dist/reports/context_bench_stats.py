"""The context benchmark's comparisons on the report layer (`study.py`): per-seed means and intervals across
seeds, and fgt_context against raw_truncate and the best retrieval peer (model_glyph against model_raw:
`context_bench_models.py`)."""

from __future__ import annotations

import math

import pandas as pd

from glyph_dist.reports import study
from glyph_dist.reports.common import LLM_RATES
from glyph_dist.reports.context_bench_load import GROUP
from glyph_dist.reports.rows import melted
from glyph_dist.reports.studies import CONTEXT_BENCH, FGT, FULL, RAW

NOT_PEERS = (FGT, RAW, FULL)
RATES = ("score", "success_rate", "em", "f1", *LLM_RATES, "evidence_recall", "evidence_recall_expanded",
         "answer_recall", "glyph_evidence", "avg_tokens")
HIGHER, LOWER, NOISE, NO_INTERVAL = (CONTEXT_BENCH.verdicts.text(outcome, FGT, RAW)
                                     for outcome in (study.HIGHER, study.LOWER, study.NOISE, study.ONE_SEED))
VERDICTS = (HIGHER, LOWER, NOISE, NO_INTERVAL)


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
    found = study.summarize(melted(cells, [*keys, "seed"], [*RATES, "n_questions"]), keys).set_index([*keys, "name"])
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
