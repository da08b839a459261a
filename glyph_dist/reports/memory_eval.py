"""The memory-evaluation report of one date (`glyph-dist report --date DATE`): index, smoke check, per-suite
summaries and plots under `reports/<DATE>/`, from the trials' `runs/<DATE>/**/metrics.json`.

Its numbers come from the report layer (`study.py`) as the study's declaration says: means and 95% Student-t
intervals across seeds, and the compared score (EM, or evidence recall with the model-free answerer) of every
variant against every baseline and of every ablation against its memory, paired by seed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from glyph_dist.files import write_text
from glyph_dist.reports import study
from glyph_dist.reports.memory_eval_load import CELL, load_runs, suite_order, variant_order
from glyph_dist.reports.memory_eval_markdown import index_markdown, suite_markdown
from glyph_dist.reports.memory_eval_plots import write_suite_plots
from glyph_dist.reports.memory_eval_smoke import missing_trials, smoke_markdown
from glyph_dist.reports.plots import slug
from glyph_dist.reports.studies import MEMORY_EVAL


def _ordered(frame: pd.DataFrame, order: list[str], by: list[str]) -> pd.DataFrame:
    return study.ordered(frame, by, {"suite": suite_order(frame["suite"]), "variant": order})


def summarize(values: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """One row per suite, n, variant and name (metric or counter): mean over seeds, 95% half-width, seeds."""
    return _ordered(study.summarize(values, list(CELL)), order, [*CELL, "name"])


def paired_differences(metrics: pd.DataFrame, order: list[str], metric: str) -> pd.DataFrame:
    """`metric` of every variant minus that of every baseline, and of every ablation minus its memory, per suite
    and n, paired by seed: one row per suite, n, variant and reference with a seed both ran."""
    found = study.paired_differences(metrics, MEMORY_EVAL, metric, MEMORY_EVAL.pairs(order))
    return _ordered(found, order, list(CELL))


def write_memory_report(runs_dir: Path, reports_dir: Path, date: str) -> list[Path]:
    """Write index.md, smoke.md, <suite>/summary.md and assets/*.png under `reports_dir/date`.

    Every metrics.json (and planned.json) is read and checked before anything is written. Returns the written
    paths: the index, the smoke check, the summaries, then the plots.
    """
    data = load_runs(Path(runs_dir), date)
    out = Path(reports_dir) / date
    order = variant_order(data.runs)
    summary, counters = summarize(data.metrics, order), summarize(data.counters, order)
    differences = paired_differences(data.metrics, order, data.setting.score)
    missing = missing_trials(data)
    links, summaries, plots = {}, [], []
    for suite in suite_order(data.runs["suite"]):
        folder = slug(suite) or "suite"
        suite_plots = [(title, path.relative_to(out).as_posix()) for title, path
                       in write_suite_plots(summary, differences, suite, folder, out / "assets", data.setting)]
        plots += [out / path for _, path in suite_plots]
        links[suite] = {"summary": f"{folder}/summary.md", "plots": suite_plots}
        summaries.append(write_text(out / folder / "summary.md",
                                    suite_markdown(suite, date, summary, counters, suite_plots, data.setting)))
    smoke = write_text(out / "smoke.md", smoke_markdown(data, date, order, missing))
    index = write_text(out / "index.md", index_markdown(data, date, summary, differences, missing, links))
    return [index, smoke, *summaries, *plots]
