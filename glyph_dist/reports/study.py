"""The one report layer's statistics, driven by a study's declaration.

Rows are long: the study's axes, the pairing axis (the seed), `name` (a metric) and `value`. From them the layer
computes, per group of axes, the mean over per-seed means with its 95% Student-t interval across seeds, and the
differences of each compared value against its baselines paired by seed (both ran the same items), whose
t-interval gives the verdict: higher or lower when it excludes 0, within noise when it holds 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from glyph_dist.errors import GlyphDistError
from glyph_dist.reports.common import MODEL_FREE, t_half_width
from glyph_dist.reports.rows import ConfigAxes

HIGHER, LOWER, NOISE, ONE_SEED = "higher", "lower", "noise", "one seed"
# The columns of a paired difference, after the study's group axes.
DIFFERENCE_COLUMNS = ["variant", "reference", "variant_mean", "variant_ci", "reference_mean", "reference_ci", "mean",
                      "ci", "pairs", "verdict"]


@dataclass(frozen=True)
class Verdicts:
    """The words of a study's verdicts; `{variant}` and `{reference}` name the two sides (without `strip`)."""

    higher: str = "{variant} higher"
    lower: str = "{variant} lower"
    noise: str = "within noise"
    one_seed: str = "no interval (1 seed)"
    strip: str = ""

    def name(self, value: str) -> str:
        """`value` as the verdicts name it (`baselines/core` -> `core`)."""
        return value.removeprefix(self.strip)

    def text(self, outcome: str, variant: str, reference: str) -> str:
        words = {HIGHER: self.higher, LOWER: self.lower, NOISE: self.noise, ONE_SEED: self.one_seed}[outcome]
        return words.format(variant=self.name(variant), reference=self.name(reference))


@dataclass(frozen=True)
class StudyDeclaration:
    """What one study compares: `group`, the axes of one table (one set of intervals); `within`, axes inside a
    table whose values are compared apart (a budget); `compared`, the axis whose values are compared;
    `baselines`, the values of `compared` (or prefixes of them) the others are compared against; `pair`, the
    axis that pairs two values (the same seed ran the same items); `metrics`, the metrics' labels in report
    order; `score_by_answerer`, the score it compares (paired against the baselines, plotted): (with the
    model-free answerer, with a model answerer); `changes`, the mark of a compared value that changes the value
    before the mark (an ablation of a memory), which its own reports compare it against too.

    How a run's `results.jsonl` rows read as the study's: `renames` (a row's key -> the study's name for it)
    and `marks` (a key every row of the study's runs carries, with the values it may take, which pick the study
    for a run); how its own result files' settings read as their rows' axes: `config`."""

    name: str
    group: tuple[str, ...]
    compared: str
    baselines: tuple[str, ...]
    metrics: dict[str, str] = field(default_factory=dict)
    verdicts: Verdicts = Verdicts()
    pair: str = "seed"
    within: tuple[str, ...] = ()
    score_by_answerer: tuple[str, str] | None = None
    changes: str = ""
    renames: dict[str, str] = field(default_factory=dict)
    marks: dict[str, tuple] = field(default_factory=dict)
    config: ConfigAxes = ConfigAxes()

    @property
    def keys(self) -> tuple[str, ...]:
        """The axes of one set of intervals and pairs: the table's group, then the axes within it."""
        return (*self.group, *self.within)

    def label(self, metric: str) -> str:
        return self.metrics.get(metric, metric)

    @property
    def scores(self) -> tuple[str, ...]:
        """The compared scores, whichever the answerer."""
        return tuple(dict.fromkeys(self.score_by_answerer or ()))

    def score(self, answerer: str) -> str:
        """The compared score of results from `answerer`: evidence recall for the model-free one, which scores the
        evidence in the context with no model (its answers would only restate it)."""
        if self.score_by_answerer is None:
            raise GlyphDistError(f"the {self.name} declares no compared score (score_by_answerer)")
        return self.score_by_answerer[0 if answerer == MODEL_FREE else 1]

    def is_baseline(self, value: str) -> bool:
        return any(value == b or (b.endswith("/") and value.startswith(b)) for b in self.baselines)

    def against_baselines(self, values: Iterable[str]) -> list[tuple[str, str]]:
        """(value, baseline) for every baseline among `values` and every other value, in the order given."""
        values = list(values)
        return [(value, reference) for reference in values if self.is_baseline(reference)
                for value in values if value != reference]

    def changed(self, value: str) -> str | None:
        """The value `value` changes (`memory/hei_nw+gate.enabled=false` -> `memory/hei_nw`); None: it changes none."""
        return value.split(self.changes, 1)[0] if self.changes and self.changes in value else None

    def pairs(self, values: Iterable[str]) -> list[tuple[str, str]]:
        """`against_baselines`, then (value, the value it changes) for each value among `values` that changes one."""
        values = list(values)
        return [*self.against_baselines(values),
                *[(value, self.changed(value)) for value in values if self.changed(value) in values]]


def outcome(mean: float, half: float, pairs: int) -> str:
    """A paired difference's outcome: higher or lower when its interval excludes 0, noise when it holds 0."""
    if pairs < 2:
        return ONE_SEED
    if mean - half > 0:
        return HIGHER
    if mean + half < 0:
        return LOWER
    return NOISE


def overlap_outcome(mean: float, half: float, other_mean: float, other_half: float) -> str:
    """Two unpaired means by their intervals: a difference counts only when the intervals do not overlap."""
    if math.isnan(half) or math.isnan(other_half):
        return ONE_SEED
    if mean - half > other_mean + other_half:
        return HIGHER
    if mean + half < other_mean - other_half:
        return LOWER
    return NOISE


def summarize(values: pd.DataFrame, keys: Sequence[str], pair: str = "seed") -> pd.DataFrame:
    """One row per combination of `keys` and `name`: `mean` over the per-`pair` means (NaN where none has a value),
    `ci` the 95% t half-width across them, `seeds` how many have a value, `low` and `high` their range."""
    per_pair = values.groupby([*keys, pair, "name"], dropna=False)["value"].mean().reset_index()
    return per_pair.groupby([*keys, "name"], dropna=False).agg(
        mean=("value", "mean"), ci=("value", t_half_width), seeds=("value", "count"),
        low=("value", "min"), high=("value", "max")).reset_index()


def ordered(frame: pd.DataFrame, by: Sequence[str], orders: dict[str, Sequence]) -> pd.DataFrame:
    """`frame` sorted by the columns `by` (a report's order): a column of `orders` by its values' places there,
    any other by value; missing values last."""
    ranks = {column: {value: i for i, value in enumerate(values)} for column, values in orders.items()}
    return frame.sort_values(list(by), na_position="last", key=lambda column: (
        column.map(ranks[column.name]) if column.name in ranks else column)).reset_index(drop=True)


def paired_differences(values: pd.DataFrame, declaration: StudyDeclaration, metric: str,
                       pairs: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """`metric` of each (variant, reference) in `pairs`, per group of the study's keys, over the seeds where both
    have a value: both sides' means and intervals, the mean per-seed difference and its interval, the number of
    pairs and the verdict in the declaration's words. A group where the two share no seed has no row."""
    group, compared = list(declaration.keys), declaration.compared
    rows = values[values["name"] == metric]
    wide = rows.groupby([*group, declaration.pair, compared])["value"].mean().unstack(compared)
    found = []
    for variant, reference in pairs:
        if variant not in wide or reference not in wide:
            continue
        both_ran = wide[[variant, reference]].dropna()
        for key, both in both_ran.groupby(level=group, sort=False) if group else [((), both_ran)]:
            side, other = both[variant], both[reference]
            differences = side - other
            mean, half, n = float(differences.mean()), t_half_width(differences), len(differences)
            found.append({**dict(zip(group, key if isinstance(key, tuple) else (key,))), "variant": variant,
                          "reference": reference, "variant_mean": side.mean(), "variant_ci": t_half_width(side),
                          "reference_mean": other.mean(), "reference_ci": t_half_width(other), "mean": mean,
                          "ci": half, "pairs": n,
                          "verdict": declaration.verdicts.text(outcome(mean, half, n), variant, reference)})
    return pd.DataFrame(found, columns=[*group, *DIFFERENCE_COLUMNS])
