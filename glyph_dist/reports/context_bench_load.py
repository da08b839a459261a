"""Context-benchmark result files (one benchmark cell each): read and checked into uniform rows (`rows.Row`, one per
strategy of a cell) and a frame of their breakdown buckets.

Each row gets `score`, the metric its tables compare: with the model-free `context-recall` answerer
that is evidence recall (a model-free upper bound; its "answers" are the gold answer whenever the
evidence is in the context, so EM, F1 and success would only restate it), with a model answerer the
containment of the gold answer in the model's answer (`success_rate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from glyph_dist.errors import GlyphDistError
from glyph_dist.files import json_field, read_json
from glyph_dist.fgms.schema import READ_SETTINGS
from glyph_dist.reports.common import LLM_RATES
from glyph_dist.reports.rows import TELEMETRY, Row, number, required_number, wide
from glyph_dist.reports.studies import CONTEXT_BENCH, FULL

METRICS = ("success_rate", "evidence_recall", "answer_recall", "glyph_evidence", "avg_tokens", "n_questions")
# Read where present (NaN where absent or null): EM and F1, an LLM judge's verdicts and agreement with the rule,
# the model evaluations' summary scores.
OPTIONAL = ("em", "f1", *LLM_RATES, "evidence_recall_expanded", "summary_fact_recall", "n_summaries")
BREAKDOWNS = ("by_evidence_position", "by_episode_length")
# One table (and one set of intervals) per combination of these; `source` keeps model evaluations apart.
GROUP = list(CONTEXT_BENCH.group)
# The plots draw one figure per setup and one panel per data set.
SETUP = ["source", "model", "answerer", "judge"]
MODEL_EVAL_PREFIX = "model_eval"
SCORES = CONTEXT_BENCH.metrics


@dataclass(frozen=True)
class ContextBenchResults:
    """`cells`: one row per file and strategy; `buckets`: one row per breakdown bucket of those."""

    files: list[Path]
    cells: pd.DataFrame
    buckets: pd.DataFrame


def _cell_keys(path: Path, config: dict) -> dict:
    """The table axes and setup of one file, from its config (read as the study declares)."""
    return {"source": MODEL_EVAL_PREFIX if path.name.startswith(MODEL_EVAL_PREFIX) else "bench",
            **CONTEXT_BENCH.config.read(config, path),
            # a setting absent or 0 (neighbours before the setting existed) is left out of the label
            "fgms_read": ", ".join(f"{key} {config[key]}" for key in READ_SETTINGS if config.get(key))}


def _buckets(path: Path, where: str, result: dict) -> list[dict]:
    rows = []
    for axis in BREAKDOWNS:
        for order, entry in enumerate(result.get(axis, [])):
            at = f"{where}.{axis}[{order}]"
            rows.append({"axis": axis, "order": order, "bucket": str(json_field(entry, "bucket", at, path)),
                         "n": required_number(entry, "n", at, path),
                         **{m: required_number(entry, m, at, path) for m in ("success_rate", "evidence_recall")}})
    return rows


def _read_file(path: Path) -> tuple[list[Row], list[dict]]:
    """One row per strategy (its `score` is the compared metric) and one per breakdown bucket of each."""
    data = read_json(path)
    keys = _cell_keys(path, json_field(data, "config", "", path))
    results = json_field(data, "results", "", path)
    if not isinstance(results, dict) or not results:
        raise GlyphDistError(f"{path}: 'results' must be a non-empty object keyed by strategy")
    score = CONTEXT_BENCH.score(keys["answerer"])
    cells, buckets = [], []
    for strategy, result in results.items():
        where = f"results.{strategy}"
        # `full` reads the whole history: the file's budget does not apply to it
        axes = {**keys, "strategy": strategy, "budget": None if strategy == FULL else keys["budget"]}
        values = {**{metric: required_number(result, metric, where, path) for metric in METRICS},
                  **{metric: number(result.get(metric), f"{where}.{metric}", path) for metric in OPTIONAL},
                  **{key: number(result[key], f"{where}.{key}", path) for key in TELEMETRY if key in result}}
        cells.append(Row.of(axes, {**values, "score": values[score]}))
        buckets += [{**axes, **row, "score": row[score]} for row in _buckets(path, where, result)]
    return cells, buckets


def load_results(reports_dir: Path) -> ContextBenchResults:
    """Every `*.json` result file in `reports_dir`, checked; a GlyphDistError names a bad file and key."""
    files = sorted(Path(reports_dir).glob("*.json"))
    if not files:
        raise GlyphDistError(f"no context-benchmark result files (*.json) in {reports_dir}: run `glyph-dist bench context`")
    cells, buckets = [], []
    for path in files:
        file_cells, file_buckets = _read_file(path)
        cells += file_cells
        buckets += file_buckets
    columns = [*GROUP, "strategy", "budget", "seed", "axis", "order", "bucket", "n", "success_rate",
               "evidence_recall", "score"]
    return ContextBenchResults(files, wide(cells).astype({"budget": float}),
                         pd.DataFrame(buckets, columns=columns).astype({"budget": float}))
