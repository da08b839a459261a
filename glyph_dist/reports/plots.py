"""The report layer's plots: means with their 95% t-intervals by compared value, differences paired by seed
against a reference, and a study's plots as specs (`PlotSpec`: file stem, title, how to draw) saved in one
call. Error bars are 95% t-intervals across seeds (none with one seed)."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from glyph_dist.reports.atomic import save_png  # noqa: E402

INTERVALS = "error bars: 95% t-interval across seeds"
TITLE_POINTS, AXES_TITLE_POINTS = 12, 10
CHARACTER_WIDTH = 0.6  # of a character, in font sizes: wider than most, so wrapped lines fit


@dataclass(frozen=True)
class PlotSpec:
    """One plot of a report: the stem of its file, its title where the report links it, and how to draw it."""

    stem: str
    title: str
    draw: Callable[[], Figure]


def slug(text: str) -> str:
    """`text` as a file-name part: each run of characters other than letters, digits, `.` and `_` becomes `-`."""
    return re.sub(r"[^A-Za-z0-9._]+", "-", text).strip("-")


def errors(half: pd.Series) -> np.ndarray:
    """Half-widths as error bars: none (0) where one seed gave no interval."""
    return half.fillna(0.0).to_numpy()


def mean_bars(means: pd.DataFrame, series: str, compared: str, ylabel: str, title: str) -> Figure:
    """One bar per compared value and series value (`mean`, `ci` columns), e.g. one per variant and size n."""
    values = list(dict.fromkeys(means[compared]))
    kinds = sorted(set(means[series]))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.0 * len(values) + 2), 4.6))
    width = 0.8 / len(kinds)
    for i, kind in enumerate(kinds):
        rows = means[means[series] == kind].set_index(compared).reindex(values)
        x = np.arange(len(values)) - 0.4 + width * (i + 0.5)
        ax.bar(x, rows["mean"], width, yerr=errors(rows["ci"]), capsize=3, label=f"{series} = {kind}", color=f"C{i}")
    ax.set_xticks(np.arange(len(values)), values, rotation=30, ha="right", fontsize=8)
    ax.set(ylabel=ylabel, ylim=(0, 1.05), title=f"{title}\n{INTERVALS}")
    return fig


def difference_dots(differences: pd.DataFrame, series: str, xlabel: str, title: str) -> Figure:
    """`study.paired_differences` rows as dots with their paired intervals, one line per variant, against 0."""
    variants = list(dict.fromkeys(differences["variant"]))
    kinds = sorted(set(differences[series]))
    fig, ax = plt.subplots(figsize=(6.8, max(3.0, 0.45 * len(variants) + 1.6)))
    step = 0.6 / len(kinds)
    for i, kind in enumerate(kinds):
        rows = differences[differences[series] == kind].set_index("variant").reindex(variants)
        y = np.arange(len(variants)) - 0.3 + step * (i + 0.5)
        ax.errorbar(rows["mean"], y, xerr=errors(rows["ci"]), fmt="o", capsize=3, color=f"C{i}",
                    label=f"{series} = {kind}")
    ax.axvline(0.0, color="black", linewidth=1)
    ax.set_yticks(np.arange(len(variants)), variants, fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel=f"{xlabel} (paired by seed)", title=f"{title}\n{INTERVALS}")
    return fig


def wrapped(title: str, inches: float, points: float) -> str:
    """`title`, each of its lines wrapped at word boundaries to fit `inches` at a font of `points`."""
    width = max(20, int(inches * 72 / (points * CHARACTER_WIDTH)))
    return "\n".join(part for line in title.split("\n") for part in textwrap.wrap(line, width) or [""])


def save(fig: Figure, path: Path) -> Path:
    """Wrap the titles of `fig` to their widths, give every axes a small title, a light grid and a legend, lay it
    out, save it as a PNG at `path` and close it."""
    try:
        if fig.get_suptitle():
            fig.suptitle(wrapped(fig.get_suptitle(), fig.get_figwidth(), TITLE_POINTS), fontsize=TITLE_POINTS)
        for ax in fig.axes:
            width = ax.get_position().width * fig.get_figwidth()
            ax.set_title(wrapped(ax.get_title(), width, AXES_TITLE_POINTS), fontsize=AXES_TITLE_POINTS)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        return save_png(fig, path)
    finally:
        plt.close(fig)


def save_all(specs: Iterable[PlotSpec], directory: Path) -> dict[str, Path]:
    """Draw and save every spec as `directory/STEM.png`; {stem: path}, in the specs' order."""
    return {spec.stem: save(spec.draw(), directory / f"{spec.stem}.png") for spec in specs}
