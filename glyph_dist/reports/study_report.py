"""`glyph-dist report study --run-dir DIR`: one study's report from a run's `results.jsonl`, all of it decided
by the study's declaration (`studies.py`).

Per setting (a combination of the declaration's keys): each metric's mean over per-seed means ± the 95% t-interval
across seeds for every compared value, and the compared score (the answerer's, where answerers are an axis) of
every compared value minus that of each baseline, paired by seed, with its verdict (`study.py`); one plot of means
per score. Written under `out`: `study.md`, `study.json` (the same numbers) and `plots/SCORE.png`.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pandas as pd

from glyph_dist.files import write_text
from glyph_dist.reports import study
from glyph_dist.reports.common import difference, interval, listed, table
from glyph_dist.reports.plots import PlotSpec, mean_bars, save_all
from glyph_dist.reports.rows import long, wide
from glyph_dist.reports.run_rows import RESULTS, RunRows, load_run_rows


def setting(keys: list[str], values: tuple) -> str:
    """`budget 512, dataset agent_logs`; `all rows` when the study has no keys."""
    return ", ".join(f"{key} {value}" for key, value in zip(keys, values)) or "all rows"


def _settings(frame: pd.DataFrame, keys: list[str]):
    """(text, rows) of every setting, in the order of the run's rows."""
    if not keys:
        yield setting([], ()), frame
        return
    for values, rows in frame.groupby(keys, sort=False):
        yield setting(keys, values if isinstance(values, tuple) else (values,)), rows


def summary(data: RunRows) -> pd.DataFrame:
    """One row per setting, compared value and declared metric with a value: mean, ci, seeds, low, high."""
    declaration = data.study
    keys = [*declaration.keys, declaration.compared]
    found = study.summarize(long(data.rows, [*keys, declaration.pair]), keys, declaration.pair)
    return found[found["name"].isin(declaration.metrics) & found["mean"].notna()].reset_index(drop=True)


def compared_by_answerer(values: pd.DataFrame, declaration: study.StudyDeclaration, metric: str) -> pd.DataFrame:
    """The rows whose answerer the declaration compares by `metric` (every row where the answerer is no axis)."""
    if "answerer" not in values.columns:
        return values
    return values[values["answerer"].map(declaration.score) == metric]


def differences(data: RunRows, scores: list[str]) -> pd.DataFrame:
    """Each score of every compared value against every baseline, paired by seed, with a `metric` column; with an
    answerer axis, each setting's the declaration compares for its answerer."""
    declaration = data.study
    values = long(data.rows, [*declaration.keys, declaration.compared, declaration.pair])
    pairs = declaration.against_baselines(dict.fromkeys(row.axes[declaration.compared] for row in data.rows))
    found = [study.paired_differences(compared_by_answerer(values, declaration, metric), declaration, metric, pairs)
             .assign(metric=metric) for metric in scores]
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=["metric", *study.DIFFERENCE_COLUMNS])


def _means_table(rows: pd.DataFrame, seeds: pd.Series, data: RunRows, metrics: list[str]) -> str:
    compared = data.study.compared
    cells = rows.set_index([compared, "name"])
    body = [[str(value), seeds[value], *(interval(cells.at[(value, m), "mean"], cells.at[(value, m), "ci"])
                                         if (value, m) in cells.index else "—" for m in metrics)]
            for value in dict.fromkeys(rows[compared])]
    return table([compared, "seeds", *map(data.study.label, metrics)], body)


def _differences_table(rows: pd.DataFrame, data: RunRows) -> str:
    body = [[data.study.label(r["metric"]), str(r["variant"]), str(r["reference"]),
             interval(r["variant_mean"], r["variant_ci"]), interval(r["reference_mean"], r["reference_ci"]),
             difference(r["mean"], r["ci"], r["pairs"]), str(r["pairs"]), r["verdict"]] for _, r in rows.iterrows()]
    return table(("metric", "variant", "reference", "variant mean", "reference mean", "difference", "pairs",
                  "verdict"), body)


def markdown(data: RunRows, means: pd.DataFrame, paired: pd.DataFrame, plots: dict[str, Path]) -> str:
    """The report: how to read it, then per setting the means table and the paired differences, then the plots."""
    declaration, keys = data.study, list(data.study.keys)
    metrics = [m for m in declaration.metrics if m in set(means["name"])]
    frame = wide(data.rows)
    lines = [f"# {declaration.name}: {data.path}", "",
             f"{len(data.rows)} rows. Compared: `{declaration.compared}` against {', '.join(declaration.baselines)}; "
             f"settings by {', '.join(keys) or 'nothing'}; paired by `{declaration.pair}`. Each cell is the mean over "
             "per-seed means ± the half-width of its 95% Student-t interval across seeds (n/a with one seed). A "
             "difference is the mean of the per-seed differences ± its 95% t-interval: higher or lower when the "
             "interval excludes 0, within noise when it holds 0."]
    for text, rows in _settings(frame, keys):
        at = means if not keys else means.merge(rows[keys].drop_duplicates(), on=keys)
        seeds = rows.groupby(declaration.compared, sort=False)[declaration.pair].apply(listed)
        lines += ["", f"## {text}", "", _means_table(at, seeds, data, metrics)]
        pairs = paired if not keys else paired.merge(rows[keys].drop_duplicates(), on=keys)
        if len(pairs):
            lines += ["", f"Paired by {declaration.pair} against the baselines:", "", _differences_table(pairs, data)]
    lines += ["", "## Plots", ""] + [f"![{declaration.label(m)}](plots/{path.name})" for m, path in plots.items()]
    return "\n".join(lines) + "\n"


def _plots(data: RunRows, means: pd.DataFrame, scores: list[str]) -> list[PlotSpec]:
    """One bar chart of means per score: a bar per compared value and setting, the settings named by the keys
    whose values differ between them."""
    declaration = data.study
    found = []
    for metric in scores:
        rows = means[means["name"] == metric]
        varying = [key for key in declaration.keys if rows[key].nunique() > 1]
        series = ", ".join(varying) or "setting"
        labels = [", ".join(map(str, values)) for values in rows[varying].itertuples(index=False)] if varying else "all"
        title = f"{declaration.name}: {declaration.label(metric)} by {declaration.compared}"
        found.append(PlotSpec(metric, title, partial(mean_bars, rows.assign(**{series: labels}), series,
                                                     declaration.compared, declaration.label(metric), title)))
    return found


def _records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records"))


def write_study_report(run_dir: Path, study_name: str | None = None, out: Path | None = None) -> list[Path]:
    """The report of `run_dir/results.jsonl` as the study `study_name` (None: the one its rows pick) under `out`
    (default `run_dir/report`): study.md, study.json and the plots."""
    data = load_run_rows(Path(run_dir) / RESULTS, study_name)
    out = Path(out) if out else Path(run_dir) / "report"
    means = summary(data)
    scores = [m for m in data.study.scores if m in set(means["name"])]
    paired = differences(data, scores)
    plots = save_all(_plots(data, means, scores), out / "plots")
    declaration = data.study
    numbers = {"study": data.name, "results": str(data.path), "rows": len(data.rows),
               "keys": list(declaration.keys), "compared": declaration.compared,
               "baselines": list(declaration.baselines), "pair": declaration.pair, "scores": scores,
               "means": _records(means), "differences": _records(paired)}
    paths = [write_text(out / "study.md", markdown(data, means, paired, plots)),
             write_text(out / "study.json", json.dumps(numbers, indent=1) + "\n")]
    return [*paths, *plots.values()]
