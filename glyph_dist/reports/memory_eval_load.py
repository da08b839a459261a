"""Memory-evaluation trials of one date: every `metrics.json` under `runs/<DATE>`, checked and flattened.

Each trial wrote `runs/<DATE>/<variant>/<suite>/<n>_<seed>/metrics.json` (the variant may hold slashes), and
`runs/<DATE>/planned.json`, when present, lists every trial that was planned. Each becomes a uniform row
(`rows.Row`); metrics, telemetry and numeric counters are kept in long frames (one row per run and name).

The runs of a date share one answerer and judge (`Setting`). With the model-free `context-recall` answerer the
reports compare evidence recall (model-free upper bound: `memory_hit_rate`, every evidence statement verbatim in
the context) and show none of the scores of its answers (EM, F1, containment, spatial success), which would only
restate it; with a model answerer they compare EM and show the other scores beside evidence recall.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from glyph_dist.errors import GlyphDistError
from glyph_dist.files import json_field, read_json
from glyph_dist.memory_rows import SPATIAL_METRICS, SUITES
from glyph_dist.reports.common import LLM_RATES, MODEL_FREE
from glyph_dist.reports.rows import ConfigAxes, Row, is_number, long, number
from glyph_dist.reports.studies import MEMORY_EVAL

CORE = "baselines/core"
BASELINE_ORDER = ("baselines/core", "baselines/rag", "baselines/longctx")
KINDS = ("baseline", "memory", "ablation")
TRIAL = ("variant", "suite", "n", "seed")
CELL = ("suite", "n", "variant")  # the axes of one cell of the tables (one set of intervals)
PLANNED = ConfigAxes(texts=("variant", "suite"), integers=("n", "seed"))  # a planned trial in planned.json
OPTIONAL_SETTINGS = ("profile", "window")
# Every run writes these; the spatial suite also writes SPATIAL_METRICS.
METRICS = ("em", "f1", "memory_hit_rate", "tokens", "latency_ms_mean", "n_items")
# Scores of the answers, shown only with a model answerer.
ANSWER_SCORES = ("em", "em_raw", "f1", "contains", *SPATIAL_METRICS, *LLM_RATES)
label = MEMORY_EVAL.label


@dataclass(frozen=True)
class Setting:
    """The answerer, judge and token counter of a date's runs, and the score its reports compare."""

    answerer: str
    judge: str
    token_counter: str

    @property
    def model_free(self) -> bool:
        return self.answerer == MODEL_FREE

    @property
    def score(self) -> str:
        return MEMORY_EVAL.score(self.answerer)

    @property
    def label(self) -> str:
        return label(self.score)

    def caption(self) -> str:
        return f"Answerer {self.answerer}, judge {self.judge}, token counter {self.token_counter}."

    def shown(self, names) -> list[str]:
        """`names` without the answers' scores when the answerer is model-free."""
        return [name for name in names if not (self.model_free and name in ANSWER_SCORES)]


@dataclass(frozen=True)
class MemoryRuns:
    """`runs`: one row per metrics.json; `metrics`, `counters`: one row per run and written number;
    `planned`: the planned trials (None without planned.json); `setting`: their answerer, judge and counter."""

    root: Path
    runs: pd.DataFrame
    metrics: pd.DataFrame
    counters: pd.DataFrame
    planned: pd.DataFrame | None
    setting: Setting


def variant_kind(variant: str, ablation: object) -> str:
    """`baseline` for baselines/*, `ablation` for a memory with overrides, `memory` otherwise."""
    if MEMORY_EVAL.is_baseline(variant):
        return "baseline"
    return "ablation" if ablation or MEMORY_EVAL.changed(variant) else "memory"


def variant_order(runs: pd.DataFrame) -> list[str]:
    """Baselines (core, rag, longctx, then others), memories, then ablations; by name within each kind."""
    kinds = runs.drop_duplicates("variant").set_index("variant")["kind"]

    def key(variant: str) -> tuple:
        known = BASELINE_ORDER.index(variant) if variant in BASELINE_ORDER else len(BASELINE_ORDER)
        return KINDS.index(kinds[variant]), known, variant

    return sorted(kinds.index, key=key)


def suite_order(suites) -> list[str]:
    """The known suites in their usual order, then any others by name."""
    return sorted(set(suites), key=lambda s: (SUITES.index(s) if s in SUITES else len(SUITES), s))


def _read_run(path: Path) -> tuple[Row, Row]:
    """The run's row (axes: the trial, its setting and kind) and a row of its numeric counters."""
    data = read_json(path)
    config, metrics = json_field(data, "config", "", path), json_field(data, "metrics", "", path)
    axes = {"path": path, **MEMORY_EVAL.config.read(config, path),
            **{key: config.get(key) for key in OPTIONAL_SETTINGS}}
    axes["kind"] = variant_kind(axes["variant"], config.get("ablation"))
    for key in METRICS + (SPATIAL_METRICS if axes["suite"] == "spatial" else ()):
        json_field(metrics, key, "metrics", path)
    counters = data.get("counters") or {}
    if not isinstance(counters, dict):
        raise GlyphDistError(f"{path}: 'counters' is not a JSON object")
    return (Row.of(axes, {name: number(value, f"metrics.{name}", path) for name, value in metrics.items()}),
            Row(axes, {name: float(value) for name, value in counters.items() if is_number(value)}))


def _planned(root: Path) -> pd.DataFrame | None:
    path = root / "planned.json"
    if not path.exists():
        return None
    trials = json_field(read_json(path), "trials", "", path)
    if not isinstance(trials, list):
        raise GlyphDistError(f"{path}: 'trials' is not a list")
    rows = [PLANNED.read(trial, path, f"trials[{i}]") for i, trial in enumerate(trials)]
    return pd.DataFrame(rows, columns=list(TRIAL)).drop_duplicates()


def load_runs(runs_dir: Path, date: str) -> MemoryRuns:
    """Every metrics.json under `runs_dir/date`, checked; a GlyphDistError names a bad file and field."""
    root = Path(runs_dir) / date
    files = sorted(root.rglob("metrics.json")) if root.is_dir() else []
    if not files:
        raise GlyphDistError(f"no runs were found under {root}: no metrics.json in it or below it")
    runs, counters, seen = [], [], {}
    for path in files:
        run, numeric = _read_run(path)
        trial = tuple(run.axes[key] for key in TRIAL)
        if trial in seen:
            raise GlyphDistError(f"{path}: the same trial (variant, suite, n, seed) = {trial} as {seen[trial]}")
        seen[trial] = path
        runs.append(run)
        counters.append(numeric)
    frame = pd.DataFrame([run.axes for run in runs])
    return MemoryRuns(root, frame, long(runs, TRIAL), long(counters, TRIAL), _planned(root), _setting(root, frame))


def _setting(root: Path, runs: pd.DataFrame) -> Setting:
    """The date's one answerer and judge (the trials refuse to mix them under one date)."""
    values = {key: sorted(set(runs[key])) for key in ("answerer", "judge", "token_counter")}
    for key in ("answerer", "judge"):
        if len(values[key]) > 1:
            raise GlyphDistError(f"{root}: the runs of one date must share one {key}, found {', '.join(values[key])}")
    return Setting(values["answerer"][0], values["judge"][0], "; ".join(values["token_counter"]))
