"""Context-benchmark plots: one figure per setup (source, model, answerer, judge), one panel per data set and split.

Each plots the setup's score: evidence recall (model-free upper bound) for `context-recall`, containment
for a model answerer; the file names say which (`evidence_recall_vs_budget-...`, `containment_vs_budget-...`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from glyph_dist.reports.context_bench_load import SCORES, SETUP
from glyph_dist.reports.plots import INTERVALS, PlotSpec, errors, plt, save_all, slug
from glyph_dist.reports.studies import CONTEXT_BENCH, FULL

Colors = dict[str, str]
Panel = Callable[[Axes, pd.DataFrame, Colors], None]
BUCKET_AXES = {
    "by_evidence_position": ("{score}_by_evidence_position", "position of the evidence in the episode"),
    "by_episode_length": ("{score}_by_episode_length", "episode length"),
}


def setup_title(setup: tuple) -> str:
    source, model, answerer, judge = setup
    head = f"model {model}, " if model else ("model evaluation, " if source != "bench" else "")
    return f"{head}answerer {answerer}, judge {judge}"


def setup_slug(setup: tuple) -> str:
    return slug("-".join(part for part in setup if part))


def _score_vs_budget(ax: Axes, frame: pd.DataFrame, colors: Colors) -> None:
    for strategy, rows in frame[frame["strategy"] != FULL].groupby("strategy", sort=False):
        ax.errorbar(rows["budget"], rows["score"], yerr=errors(rows["score_ci"]), fmt="o-", capsize=3,
                    color=colors[strategy], label=strategy)
    for _, full in frame[frame["strategy"] == FULL].iterrows():
        ax.axhline(full["score"], color="black", linestyle="--",
                   label=f"{FULL} (no budget, {full['avg_tokens']:.0f} tokens)")
        if not np.isnan(full["score_ci"]):
            ax.axhspan(full["score"] - full["score_ci"], full["score"] + full["score_ci"], color="black", alpha=0.08)
    budgets = sorted(frame["budget"].dropna().unique())
    ax.set_xscale("log", base=2)
    ax.set_xticks(budgets, [f"{b:.0f}" for b in budgets])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set(xlabel="token budget (log scale)")


def _tokens_vs_score(ax: Axes, frame: pd.DataFrame, colors: Colors) -> None:
    for strategy, rows in frame.groupby("strategy", sort=False):
        ax.errorbar(rows["avg_tokens"], rows["score"], yerr=errors(rows["score_ci"]), fmt="o", capsize=3,
                    color="black" if strategy == FULL else colors[strategy], label=strategy)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set(xlabel="average context tokens (log scale)")


def _bucket_panel(ax: Axes, frame: pd.DataFrame, colors: Colors) -> None:
    """The score per bucket, pooled over budgets and seeds, weighting each cell by its questions."""
    order = list(pd.unique(frame.sort_values("order")["bucket"]))
    weighted = frame.assign(hits=frame["score"] * frame["n"])
    for strategy, rows in weighted.groupby("strategy", sort=False):
        pooled = rows.groupby("bucket")[["hits", "n"]].sum().reindex(order)
        ax.plot(order, pooled["hits"] / pooled["n"], marker="o", linestyle="--" if strategy == FULL else "-",
                color="black" if strategy == FULL else colors[strategy], label=strategy)


def _panels(frame: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    for (dataset, split), rows in frame.groupby(["dataset", "split"], sort=False):
        yield f"{dataset} ({split})", rows


def _figure(frame: pd.DataFrame, draw: Panel, colors: Colors, title: str, ylabel: str,
            xlabel: str | None = None) -> Figure:
    panels = list(_panels(frame))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 4.4), squeeze=False)
    for ax, (name, rows) in zip(axes[0], panels):
        draw(ax, rows, colors)
        ax.set_title(name)
        ax.set_ylabel(ylabel)
        if xlabel:
            ax.set_xlabel(xlabel)
        ax.set_ylim(-0.03, 1.03)
    fig.suptitle(title)
    return fig


def _specs(frame: pd.DataFrame, buckets: pd.DataFrame, setup: tuple, colors: Colors) -> list[PlotSpec]:
    """The plots of one setup, whose score is that of its answerer."""
    label = SCORES[CONTEXT_BENCH.score(setup[SETUP.index("answerer")])]
    name, title = label.split(" (")[0].replace(" ", "_"), setup_title(setup)  # evidence_recall, containment

    def spec(stem: str, heading: str, rows: pd.DataFrame, panel: Panel, xlabel: str | None = None) -> PlotSpec:
        return PlotSpec(f"{stem}-{setup_slug(setup)}", heading,
                        partial(_figure, rows, panel, colors, heading, label, xlabel))

    specs = [spec(f"{name}_vs_budget", f"{label.capitalize()} vs budget; {title}; {INTERVALS}", frame,
                  _score_vs_budget),
             spec(f"tokens_vs_{name}", f"Tokens vs {label}, one point per strategy and budget; {title}; {INTERVALS}",
                  frame, _tokens_vs_score)]
    for axis, rows in buckets.groupby("axis", sort=False):
        stem, xlabel = BUCKET_AXES[axis]
        specs.append(spec(stem.format(score=name), f"{label.capitalize()} by {xlabel}, pooled over all budgets and "
                          f"seeds; {title}", rows, _bucket_panel, xlabel))
    return specs


def write_plots(summary: pd.DataFrame, buckets: pd.DataFrame, strategies: list[str],
                plots_dir: Path) -> dict[str, Path]:
    """Write every plot for every setup; returns {file stem: path}."""
    colors = {strategy: f"C{i}" for i, strategy in enumerate(strategies)}
    bucket_groups = dict(list(buckets.groupby(SETUP, sort=False)))
    return save_all([spec for setup, frame in summary.groupby(SETUP, sort=False)
                     for spec in _specs(frame, bucket_groups.get(setup, buckets.iloc[:0]), setup, colors)], plots_dir)
