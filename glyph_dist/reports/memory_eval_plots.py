"""Memory-evaluation plots, per suite: the compared score by variant (one bar per size n), the score's difference
to baselines/core paired by seed, and with a model answerer evidence recall against EM; error bars are 95%
t-intervals (none with one seed). The score is EM, or evidence recall with the model-free answerer."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from glyph_dist.reports.atomic import save_png  # noqa: E402
from glyph_dist.reports.memory_eval_load import CORE, Setting, label  # noqa: E402

INTERVALS = "error bars: 95% t-interval across seeds"


def _metric(summary: pd.DataFrame, name: str) -> pd.DataFrame:
    return summary[summary["name"] == name].set_index(["n", "variant"])


def _score_by_variant(summary: pd.DataFrame, suite: str, setting: Setting) -> Figure:
    scores = _metric(summary, setting.score)
    variants = list(dict.fromkeys(scores.index.get_level_values("variant")))
    sizes = sorted(set(scores.index.get_level_values("n")))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.0 * len(variants) + 2), 4.6))
    width = 0.8 / len(sizes)
    for i, n in enumerate(sizes):
        rows = scores.loc[n].reindex(variants)
        x = np.arange(len(variants)) - 0.4 + width * (i + 0.5)
        ax.bar(x, rows["mean"], width, yerr=rows["ci"].fillna(0.0), capsize=3, label=f"n = {n}", color=f"C{i}")
    ax.set_xticks(np.arange(len(variants)), variants, rotation=30, ha="right", fontsize=8)
    ax.set(ylabel=setting.label, ylim=(0, 1.05), title=f"{suite}: {setting.label} by variant\n{INTERVALS}")
    return fig


def _recall_vs_em(summary: pd.DataFrame, suite: str, setting: Setting) -> Figure:
    em, hits = _metric(summary, "em"), _metric(summary, "memory_hit_rate")
    both = em.join(hits, rsuffix="_hits", how="inner")
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for i, (n, rows) in enumerate(both.groupby(level="n")):
        ax.errorbar(rows["mean_hits"], rows["mean"], xerr=rows["ci_hits"].fillna(0.0), yerr=rows["ci"].fillna(0.0),
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


def _score_minus_core(differences: pd.DataFrame, suite: str, setting: Setting) -> Figure:
    variants = list(dict.fromkeys(differences["variant"]))
    sizes = sorted(set(differences["n"]))
    fig, ax = plt.subplots(figsize=(6.8, max(3.0, 0.45 * len(variants) + 1.6)))
    step = 0.6 / len(sizes)
    for i, n in enumerate(sizes):
        rows = differences[differences["n"] == n].set_index("variant").reindex(variants)
        y = np.arange(len(variants)) - 0.3 + step * (i + 0.5)
        ax.errorbar(rows["mean"], y, xerr=rows["ci"].fillna(0.0), fmt="o", capsize=3, color=f"C{i}", label=f"n = {n}")
    ax.axvline(0.0, color="black", linewidth=1)
    ax.set_yticks(np.arange(len(variants)), variants, fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel=f"{setting.label} − baselines/core (paired by seed)",
           title=f"{suite}: {setting.label} difference to core\n{INTERVALS}")
    return fig


def _save(fig: Figure, path: Path) -> Path:
    try:
        for ax in fig.axes:
            ax.title.set_fontsize(10)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        return save_png(fig, path)
    finally:
        plt.close(fig)


def write_suite_plots(summary: pd.DataFrame, differences: pd.DataFrame, suite: str, slug: str, assets_dir: Path,
                      setting: Setting) -> list[tuple[str, Path]]:
    """The plots of one suite as (title, path); the difference plot only where baselines/core ran, evidence
    recall against EM only with a model answerer."""
    rows = summary[summary["suite"] == suite]
    to_core = differences[(differences["suite"] == suite) & (differences["reference"] == CORE)]
    score = "evidence_recall" if setting.model_free else "em"  # in file names
    specs = [(f"{setting.label} by variant", _score_by_variant, rows, f"{score}_by_variant")]
    if not setting.model_free:
        specs.append(("evidence recall vs EM", _recall_vs_em, rows, "evidence_recall_vs_em"))
    if not to_core.empty:
        specs.append((f"{setting.label} difference to core", _score_minus_core, to_core, f"{score}_minus_core"))
    return [(title, _save(draw(frame, suite, setting), assets_dir / f"{stem}-{slug}.png"))
            for title, draw, frame, stem in specs]
