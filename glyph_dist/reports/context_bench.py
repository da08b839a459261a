"""The context-benchmark report: summary table, plots and the results document, from `reports/phase5/*.json`."""

from __future__ import annotations

import os
from pathlib import Path

from glyph_dist.files import write_text
from glyph_dist.reports.context_bench_load import load_results
from glyph_dist.reports.context_bench_markdown import describe_groups, results_markdown, summary_markdown
from glyph_dist.reports.context_bench_models import model_seeds
from glyph_dist.reports.context_bench_plots import write_plots
from glyph_dist.reports.context_bench_stats import compare, strategy_order, summarize


def _relative(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()


def write_context_bench_report(reports_dir: Path = Path("reports/phase5"),
                        docs_path: Path = Path("docs/PHASE-5-RESULTS.md")) -> dict[str, Path]:
    """Write summary_table.md and plots/*.png under `reports_dir`, and the results document at `docs_path`.

    Every result file is read and checked before anything is written. Returns {"table", "doc", plot stems: path}.
    """
    reports_dir, docs_path = Path(reports_dir), Path(docs_path)
    results = load_results(reports_dir)
    summary = summarize(results.cells)
    groups, strategies = describe_groups(results.cells), strategy_order(results.cells)
    seeds = model_seeds(results.cells)
    table_path = write_text(reports_dir / "summary_table.md",
                            summary_markdown(summary, groups, seeds, len(results.files), str(reports_dir)))
    plots = write_plots(summary, results.buckets, strategies, reports_dir / "plots")
    docs_path.parent.mkdir(parents=True, exist_ok=True)
    links = {stem: _relative(path, docs_path.parent) for stem, path in {"table": table_path, **plots}.items()}
    document = results_markdown(summary, compare(summary), groups, seeds, strategies, len(results.files),
                                str(reports_dir), links)
    return {"table": table_path, **plots, "doc": write_text(docs_path, document)}
