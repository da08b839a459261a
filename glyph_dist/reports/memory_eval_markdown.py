"""Memory-evaluation markdown: the index (one table per suite and size, differences to the baselines, missing
trials) and the per-suite summaries, all generated from the numbers. Every table is captioned
with the answerer, judge and token counter; with the model-free answerer the tables compare evidence recall and
show no EM, F1 or success (see `memory_eval_load.Setting`)."""

from __future__ import annotations

import math

import pandas as pd

from glyph_dist.reports.common import difference, interval, listed, table
from glyph_dist.reports.memory_eval_load import CELL, CORE, SPATIAL_METRICS, MemoryRuns, Setting, label
from glyph_dist.reports.studies import MEMORY_EVAL

# Suite links: {"summary": path, "plots": [(title, path), ...]}, relative to the index.
Links = dict[str, dict]
Cells = dict[tuple, pd.Series]
METRIC_ORDER = ("em", "em_raw", "f1", "contains", "llm_equivalent", "llm_contains_agreement", "llm_contains_kappa",
                "llm_em_agreement", "llm_em_kappa", "memory_hit_rate", "evidence_recall", *SPATIAL_METRICS, "n_items",
                "tokens", "avg_context_tokens", "time_ms_per_100", "rss_mb", "latency_ms_mean", "write_seconds")
# The index's columns beside the compared score, in order (those of the answers only with a model answerer).
INDEX_METRICS = ("f1", "contains", "llm_equivalent", "llm_contains_agreement", "llm_contains_kappa", "memory_hit_rate",
                 "spatial_success", "tokens", "latency_ms_mean")


def statistics(setting: Setting) -> str:
    score = setting.label
    note = (f"{score} is the mean over seeds ± the half-width of the 95% Student-t interval across seeds (n/a with "
            f"one seed); the other columns are means over seeds. {score} − core is paired by seed: the mean of the "
            "per-seed differences ± the half-width of their 95% t-interval; the verdict is better or worse when that "
            "interval excludes 0 and within noise when it contains 0; — where baselines/core has no run with the "
            "same seed.")
    if setting.model_free:
        note += (f" The answerer `{setting.answerer}` is model-free: it answers with the gold answer exactly when the "
                 "evidence is in the memory's context, so the tables report evidence recall (model-free upper bound) "
                 "and no EM, F1 or success, which would only restate it.")
    return note


def cells(summary: pd.DataFrame) -> Cells:
    return {tuple(row[key] for key in (*CELL, "name")): row for _, row in summary.iterrows()}


def _mean(found: Cells, key: tuple) -> str:
    row = found.get(key)
    return "—" if row is None or math.isnan(row["mean"]) else f"{row['mean']:.3f}"


def _interval(found: Cells, key: tuple) -> str:
    row = found.get(key)
    return "—" if row is None else interval(row["mean"], row["ci"])


def _difference(row: pd.Series | None) -> str:
    return "—" if row is None else difference(row["mean"], row["ci"], row["pairs"])


def sections(summary: pd.DataFrame):
    """(suite, n, variants in report order) for every suite and size with runs."""
    counted = summary[summary["name"] == "n_items"]
    for (suite, n), rows in counted.groupby(["suite", "n"], sort=False):
        yield suite, n, list(rows["variant"])


def _index_table(found: Cells, against: dict, suite: str, n: int, variants: list[str], setting: Setting) -> str:
    present = {key[3] for key in found if key[:2] == (suite, n)}
    names = [name for name in setting.shown(INDEX_METRICS) if name in present and name != setting.score]
    header = ("variant", "seeds", setting.label, *map(label, names), f"{setting.label} − core (paired 95% CI)",
              "verdict")
    rows = []
    for variant in variants:
        versus = against.get((suite, n, variant, CORE))
        score = (suite, n, variant, setting.score)
        rows.append([variant, str(found[score]["seeds"]), _interval(found, score),
                     *(_mean(found, (suite, n, variant, name)) for name in names),
                     "reference" if variant == CORE else _difference(versus),
                     "—" if versus is None else versus["verdict"]])
    return f"{setting.caption()}\n\n" + table(header, rows)


def _versus_baselines(against: dict, suite: str, sizes: list[tuple[int, list[str]]], setting: Setting) -> str:
    """Every memory and ablation minus every baseline that ran on the suite, paired by seed."""
    baselines = list(dict.fromkeys(v for _, variants in sizes for v in variants if MEMORY_EVAL.is_baseline(v)))
    header = ("variant", "n", *(f"− {MEMORY_EVAL.verdicts.name(b)}" for b in baselines))
    rows = []
    for n, variants in sizes:
        for variant in (v for v in variants if not MEMORY_EVAL.is_baseline(v)):
            found = [against.get((suite, n, variant, b)) for b in baselines]
            rows.append([variant, str(n), *(_difference(row) + ("" if row is None or row["pairs"] < 2 else
                                                              f" ({row['verdict']})") for row in found)])
    if not rows or not baselines:
        return "No memory and baseline ran on this suite together: nothing to compare."
    return (f"{setting.label} of each memory minus each baseline, paired by seed (± 95% t half-width). "
            f"{setting.caption()}\n\n" + table(header, rows))


def _ablations(against: dict, suite: str, sizes: list[tuple[int, list[str]]], setting: Setting) -> str | None:
    """Every ablation minus the memory it changes, paired by seed: which parts of a memory matter."""
    rows = []
    for n, variants in sizes:
        for variant in variants:
            memory = MEMORY_EVAL.changed(variant)
            row = against.get((suite, n, variant, memory))
            if row is not None:
                rows.append([variant, memory, str(n), _difference(row), row["verdict"]])
    if not rows:
        return None
    return (f"{setting.label} of each ablation minus its memory with every setting on, paired by seed (± 95% t "
            f"half-width). {setting.caption()}\n\n"
            + table(("ablation", "memory", "n", f"{setting.label} − memory", "verdict"), rows))


def _missing_section(missing: pd.DataFrame | None, data: MemoryRuns) -> str:
    head = "## Missing\n\n"
    if missing is None:
        return head + f"No planned.json under `{data.root}`: nothing is known to be missing."
    if missing.empty:
        return head + f"Every one of the {len(data.planned)} planned trials has a metrics.json."
    lines = "\n".join(f"- {r['variant']}, suite {r['suite']}, n {r['n']}, seed {r['seed']}"
                      for _, r in missing.iterrows())
    return (head + f"{len(missing)} of {len(data.planned)} planned trials have no metrics.json (failed or not "
            f"run):\n\n{lines}\n\nThe other {len(data.runs)} runs found still rolled up into the tables above.")


def index_markdown(data: MemoryRuns, date: str, summary: pd.DataFrame, differences: pd.DataFrame,
                   missing: pd.DataFrame | None, links: Links) -> str:
    runs, setting = data.runs, data.setting
    found = cells(summary)
    against = {(r["suite"], r["n"], r["variant"], r["reference"]): r for _, r in differences.iterrows()}
    parts = [f"# Memory evaluation matrix, {date}\n\n"
             f"Generated by `glyph-dist report --date {date}` from {len(runs)} runs under `{data.root}`.\n\n"
             f"- answerer: {setting.answerer}\n- judge: {setting.judge}\n- token counter: {setting.token_counter}\n"
             f"- compared score: {setting.label}\n- budget(s): {listed(runs['budget'])} tokens\n"
             f"- profile(s): {listed(runs['profile'])}\n- window(s): {listed(runs['window'])}\n\n"
             f"{statistics(setting)}"]
    by_suite: dict[str, list] = {}
    for suite, n, variants in sections(summary):
        by_suite.setdefault(suite, []).append((n, variants))
    for suite, sizes in by_suite.items():
        plots = ", ".join(f"[{title}]({path})" for title, path in links[suite]["plots"])
        parts.append(f"## {suite}\n\nSummary: [{suite}/summary.md]({links[suite]['summary']}). Plots: {plots}.")
        parts += [f"### {suite}, n = {n}\n\n" + _index_table(found, against, suite, n, variants, setting)
                  for n, variants in sizes]
        parts.append(f"### {suite}: memories against every baseline\n\n"
                     + _versus_baselines(against, suite, sizes, setting))
        ablations = _ablations(against, suite, sizes, setting)
        if ablations:
            parts.append(f"### {suite}: ablations against their memory\n\n" + ablations)
    parts.append(_missing_section(missing, data))
    return "\n\n".join(parts) + "\n"


def _ordered(names) -> list[str]:
    known = [name for name in METRIC_ORDER if name in set(names)]
    return known + sorted(set(names) - set(known))


def _metric_tables(found: Cells, suite: str, sizes: list, names: list[str], title: str, setting: Setting) -> list[str]:
    return [f"## {title}, n = {n}\n\n{setting.caption()}\n\n" + table(("variant", *map(label, names)), [
        [variant, *(_interval(found, (suite, n, variant, name)) for name in names)] for variant in variants])
        for n, variants in sizes]


def suite_markdown(suite: str, date: str, summary: pd.DataFrame, counters: pd.DataFrame, plots: list,
                   setting: Setting) -> str:
    """All metrics per variant and n (none of the answers' scores with the model-free answerer), the spatial
    metrics apart, and the numeric counters' means."""
    rows = summary[summary["suite"] == suite]
    found = cells(rows)
    sizes = [(n, variants) for s, n, variants in sections(summary) if s == suite]
    parts = [f"# {suite}: memory evaluation summary, {date}\n\n[Back to the index](../index.md). Every cell is the "
             "mean over seeds ± the half-width of the 95% Student-t interval across seeds (n/a with one seed)."
             + (" The answerer is model-free: evidence recall (model-free upper bound) is reported and the scores of "
                "its answers are not." if setting.model_free else "")]
    parts += _metric_tables(found, suite, sizes, setting.shown(_ordered(rows["name"])), "All metrics", setting)
    if suite == "spatial" and not setting.model_free:
        parts += _metric_tables(found, suite, sizes, list(SPATIAL_METRICS), "Spatial metrics", setting)
    numeric = counters[counters["suite"] == suite]
    counter_rows = [[r["variant"], str(r["n"]), r["name"], interval(r["mean"], r["ci"]), str(r["seeds"])]
                    for _, r in numeric.iterrows()]
    parts.append("## Counters (numeric ones, means over seeds)\n\n" + (
        table(("variant", "n", "counter", "mean ± 95% CI", "seeds"), counter_rows) if counter_rows
        else "No run of this suite wrote a numeric counter."))
    parts.append("## Plots\n\n" + "\n\n".join(f"![{title}](../{path})" for title, path in plots))
    return "\n\n".join(parts) + "\n"
