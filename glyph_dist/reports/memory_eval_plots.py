"""Memory-evaluation plots, per suite, on the report layer's plots (`plots.py`): the compared score by variant
(one bar per size n), the score's difference to baselines/core paired by seed, and with a model answerer evidence
recall against EM. The score is EM, or evidence recall with the model-free answerer."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from glyph_dist.reports.memory_eval_load import CORE, Setting, label
from glyph_dist.reports.plots import INTERVALS, PlotSpec, difference_dots, errors, mean_bars, plt, save_all


def _metric(summary: pd.DataFrame, name: str) -> pd.DataFrame:
    return summary[summary["name"] == name].set_index(["n", "variant"])


def _recall_vs_em(summary: pd.DataFrame, suite: str) -> Figure:
    em, hits = _metric(summary, "em"), _metric(summary, "memory_hit_rate")
    both = em.join(hits, rsuffix="_hits", how="inner")
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for i, (n, rows) in enumerate(both.groupby(level="n")):
        ax.errorbar(rows["mean_hits"], rows["mean"], xerr=errors(rows["ci_hits"]), yerr=errors(rows["ci"]),
                    fmt="o", capsize=3, color=f"C{i}", label=f"n = {n}")
        points: dict[tuple[float, float], list[str]] = {}  # variants at one point share one label
        for (_, variant), row in rows.iterrows():
            points.setdefault((row["mean_hits"], row["mean"]), []).append(variant)
        for point, variants in points.items():
            right = point[0] > 0.5  # labels of points on the right half stand to their left, inside the axes
            ax.annotate("\n".join(variants), point, textcoords="offset points", xytext=(-4 if right else 4, 4),
                        ha="right" if right else "left", fontsize=7)
    ax.set(xlabel=label("memory_hit_rate"), ylabel="EM", xlim=(-0.03, 1.03), ylim=(-0.03, 1.03),
           title=f"{suite}: evidence recall vs EM\n{INTERVALS}")
    return fig


def write_suite_plots(summary: pd.DataFrame, differences: pd.DataFrame, suite: str, suffix: str, assets_dir: Path,
                      setting: Setting) -> list[tuple[str, Path]]:
    """The plots of one suite as (title, path), their file stems ending in `-suffix`; the difference plot only
    where baselines/core ran, evidence recall against EM only with a model answerer."""
    rows = summary[summary["suite"] == suite]
    to_core = differences[(differences["suite"] == suite) & (differences["reference"] == CORE)]
    score = "evidence_recall" if setting.model_free else "em"  # in file names
    specs = [PlotSpec(f"{score}_by_variant-{suffix}", f"{setting.label} by variant",
                      lambda: mean_bars(rows[rows["name"] == setting.score], "n", "variant", setting.label,
                                        f"{suite}: {setting.label} by variant"))]
    if not setting.model_free:
        specs.append(PlotSpec(f"evidence_recall_vs_em-{suffix}", "evidence recall vs EM",
                              lambda: _recall_vs_em(rows, suite)))
    if not to_core.empty:
        specs.append(PlotSpec(f"{score}_minus_core-{suffix}", f"{setting.label} difference to core",
                              lambda: difference_dots(to_core, "n", f"{setting.label} − {CORE}",
                                                      f"{suite}: {setting.label} difference to core")))
    paths = save_all(specs, assets_dir)
    return [(spec.title, paths[spec.stem]) for spec in specs]
