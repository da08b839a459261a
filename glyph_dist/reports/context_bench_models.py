"""model_raw vs model_glyph (`MODEL_PAIR`): the context benchmark's glyph-aware mini-models, from their
`model_eval_*.json` files, paired by seed on each metric, and their section of the summary table and the results
document."""

from __future__ import annotations

import math

import pandas as pd

from glyph_dist.reports import study
from glyph_dist.reports.common import difference, interval, span, table
from glyph_dist.reports.context_bench_load import MODEL_EVAL_PREFIX
from glyph_dist.reports.rows import melted
from glyph_dist.reports.studies import MODEL_GLYPH, MODEL_PAIR, MODEL_RAW

PAIRED = tuple(MODEL_PAIR.metrics)
PER_SEED = (*PAIRED, "n_questions", "n_summaries")
PAIR_KEYS = list(MODEL_PAIR.group)
# What each paired metric is counted over: summary fact recall over the summary pairs, the rest over the questions.
COUNTS = {"summary_fact_recall": "n_summaries"}
GLYPH_HIGHER, GLYPH_LOWER, GLYPH_NOISE = (MODEL_PAIR.verdicts.text(outcome, MODEL_GLYPH, MODEL_RAW)
                                          for outcome in (study.HIGHER, study.LOWER, study.NOISE))
NOT_MEASURED = "not measured"
PAIR_LABELS = MODEL_PAIR.metrics
PAIR_COLUMNS = ("metric", MODEL_RAW, MODEL_GLYPH, f"{MODEL_GLYPH} − {MODEL_RAW} (paired)", "seeds", "questions",
                "verdict")


def model_seeds(cells: pd.DataFrame) -> pd.DataFrame:
    """model_raw and model_glyph: one row per pairing group, model and seed, with the paired metrics and counts."""
    models = cells[(cells["source"] == MODEL_EVAL_PREFIX) & cells["model"].isin((MODEL_RAW, MODEL_GLYPH))]
    return models.groupby([*PAIR_KEYS, "model", "seed"])[list(PER_SEED)].mean().reset_index()


def compare_models(seeds: pd.DataFrame) -> pd.DataFrame:
    """One row per paired metric of one pairing group (`study.paired_differences`' columns), over the seeds where
    both models have it, with the questions (or summary pairs) per seed of those seeds; `not measured` where no seed
    has both."""
    both = seeds.pivot(index="seed", columns="model", values=list(PER_SEED))
    rows = []
    for metric in PAIRED:
        found = study.paired_differences(melted(seeds, [*PAIR_KEYS, "model", "seed"], [metric]), MODEL_PAIR, metric,
                                         [(MODEL_GLYPH, MODEL_RAW)])
        pair = found.iloc[0].to_dict() if len(found) else {"pairs": 0, "verdict": NOT_MEASURED}
        paired = both[metric].reindex(columns=[MODEL_RAW, MODEL_GLYPH]).notna().all(axis=1)  # the seeds it pairs
        counts = both.loc[paired, COUNTS.get(metric, "n_questions")]
        rows.append({**pair, "metric": metric, "count_min": counts.min(axis=None), "count_max": counts.max(axis=None)})
    return pd.DataFrame(rows, columns=[*PAIR_KEYS, *study.DIFFERENCE_COLUMNS, "metric", "count_min", "count_max"])


def _pair_label(key: pd.Series) -> str:
    return f"{key['dataset']} ({key['split']}), judge {key['judge']}, token counter {key['token_counter']}"


def _digits(metric: str) -> int:
    return 1 if metric == "avg_tokens" else 3


def _model_cell(mean: float, half: float, digits: int) -> str:
    return "—" if math.isnan(mean) else interval(mean, half, digits)


def _pair_rows(pairs: pd.DataFrame) -> list[list[str]]:
    return [[PAIR_LABELS[r["metric"]], _model_cell(r["reference_mean"], r["reference_ci"], _digits(r["metric"])),
             _model_cell(r["variant_mean"], r["variant_ci"], _digits(r["metric"])),
             difference(r["mean"], r["ci"], r["pairs"], _digits(r["metric"])), str(r["pairs"]),
             "—" if math.isnan(r["count_min"]) else span(r["count_min"], r["count_max"]), r["verdict"]]
            for _, r in pairs.iterrows()]


def _joined(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _pair_sentence(pairs: pd.DataFrame) -> str:
    """The whole comparison in one sentence: the metrics beyond noise, or that there are none."""
    seeds = pairs.loc[pairs["pairs"] > 0, "pairs"]
    if seeds.max() < 2:
        return "With one seed there is no interval, so no difference can be called."
    counted = f"({span(seeds.min(), seeds.max())} seeds)"
    claims = [f"{word} on {_joined([PAIR_LABELS[m] for m in pairs.loc[pairs['verdict'] == name, 'metric']])}"
              for word, name in (("higher", GLYPH_HIGHER), ("lower", GLYPH_LOWER)) if (pairs["verdict"] == name).any()]
    if not claims:
        return f"All differences are within noise {counted}."
    rest = "; the other differences are within noise" if (pairs["verdict"] == GLYPH_NOISE).any() else ""
    return f"{MODEL_GLYPH} is {' and '.join(claims)} than {MODEL_RAW} beyond noise{rest} {counted}."


def _unpaired(by_model: dict[str, set], common: set) -> str:
    alone = [f"{model} ({', '.join(str(s) for s in sorted(by_model[model] - common))})"
             for model in (MODEL_RAW, MODEL_GLYPH) if by_model[model] - common]
    return f"\n\nSeeds with one model only are left out: {'; '.join(alone)}." if alone else ""


def _pair_body(group: pd.DataFrame, reports_dir: str) -> str:
    """The side-by-side table and its sentence, or which model has no files or seed to pair with."""
    by_model = {model: set(rows["seed"]) for model, rows in group.groupby("model")}
    missing = [model for model in (MODEL_RAW, MODEL_GLYPH) if model not in by_model]
    if missing:
        return (f"Only {next(iter(by_model))} has result files; {missing[0]} has none in `{reports_dir}` "
                f"(`model_eval_{missing[0]}_s<SEED>.json`, from `glyph-dist eval glyph-model "
                f"--{missing[0].removeprefix('model_')} CHECKPOINT`), so there is nothing to compare.")
    common = by_model[MODEL_RAW] & by_model[MODEL_GLYPH]
    if not common:
        return f"{MODEL_RAW} and {MODEL_GLYPH} share no seed, so nothing is paired." + _unpaired(by_model, common)
    pairs = compare_models(group)
    return table(PAIR_COLUMNS, _pair_rows(pairs)) + "\n\n" + _pair_sentence(pairs) + _unpaired(by_model, common)


def model_pair_parts(seeds: pd.DataFrame, reports_dir: str) -> list[str]:
    """The `model_raw vs model_glyph` section, one table per pairing group; none when neither model has files."""
    if seeds.empty:
        return []
    head = (f"## {MODEL_RAW} vs {MODEL_GLYPH}\n\nThe glyph-aware mini-models side by side. Each model: mean over "
            "seeds ± half-width of the 95% Student-t interval across seeds. Difference: mean over seeds of "
            f"{MODEL_GLYPH} − {MODEL_RAW} ± half-width of the 95% Student-t interval of those per-seed differences "
            "(paired by seed). A difference is called only when that interval excludes 0, otherwise it is within "
            "noise. Seeds: those both models have. Questions: per seed (summary pairs for summary fact recall).")
    return [head, *(f"### {_pair_label(group.iloc[0])}\n\n" + _pair_body(group, reports_dir)
                    for _, group in seeds.groupby(PAIR_KEYS, sort=False))]
