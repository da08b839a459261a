"""Phase-5 markdown: the summary table and the results document, both generated from the numbers.

A setup with the model-free `context-recall` answerer is reported by its evidence recall (a model-free
upper bound) and shows no EM, F1 or success; a model answerer's tables show its EM, F1 and
containment (the compared score), an LLM judge's verdicts and agreement with the rule, and evidence
recall beside them. Every table is headed by its data set, answerer, judge and token counter.
"""

from __future__ import annotations

import math

import pandas as pd

from glyph_dist.reports.common import MODEL_FREE, difference, interval, listed, t_factor, table
from glyph_dist.reports.context_bench_load import GROUP, SCORES
from glyph_dist.reports.context_bench_stats import (GLYPH_HIGHER, GLYPH_LOWER, HIGHER, LOWER, NO_INTERVAL, NOISE,
                                                    PAIR_KEYS, VERDICTS, compare_models)
from glyph_dist.reports.studies import FGT, FULL, MODEL_GLYPH, MODEL_PAIR, MODEL_RAW, RAW, context_score

SOURCES = {"bench": "Context benchmark (`glyph-dist bench context`)",
           "model_eval": "Model evaluation (`model_eval_*.json`), grouped by model"}
ANSWERER_NOTES = {
    MODEL_FREE: f"`{MODEL_FREE}` is model-free: it \"answers\" with the gold answer exactly when every evidence "
                "turn is in the context verbatim, so its tables report evidence recall (model-free upper bound): "
                "what a perfect reader of that context could answer, not the score of a language model. They show "
                "no EM, F1 or success, which would only restate it.",
}
CONTEXT_COLUMNS = ("evidence recall, expanded", "answer recall", "glyph evidence", "avg tokens", "seeds", "questions")
LLM_COLUMNS = {"llm_equivalent": "LLM judge: equivalent", "llm_contains_agreement": "LLM–rule agreement",
               "llm_contains_kappa": "Cohen's κ"}
COMPARISON_COLUMNS = ("budget", FGT, RAW, f"{FGT} − {RAW}", f"vs {RAW}", "best retrieval peer", "peer",
                      f"{FGT} − peer", "vs peer")
PAIR_LABELS = MODEL_PAIR.metrics
PAIR_COLUMNS = ("metric", MODEL_RAW, MODEL_GLYPH, f"{MODEL_GLYPH} − {MODEL_RAW} (paired)", "seeds", "questions",
                "verdict")


def budget_text(budget: float) -> str:
    return "—" if math.isnan(budget) else f"{budget:.0f}"


def _span(low: float, high: float, fmt: str = "{:.0f}") -> str:
    return fmt.format(low) if low == high else f"{fmt.format(low)}–{fmt.format(high)}"


def describe_groups(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per table group (indexed by GROUP): data file, episodes, questions, seeds and budgets, as text."""
    return cells.groupby(GROUP, sort=False).agg(
        dataset_path=("dataset_path", listed), episodes=("n_episodes", listed),
        questions=("n_questions", listed), seeds=("seed", listed), budgets=("budget", listed),
    )


def group_label(key: pd.Series) -> str:
    """`dataset (split)`, the answerer, judge and token counter, the model where there is one, and
    fgt_context's FGMS read (policy, mode, relevance, unit) where the files name it."""
    model = f", model {key['model']}" if key["model"] else ""
    read = f", FGMS read: {key['fgms_read']}" if key["fgms_read"] else ""
    return (f"{key['dataset']} ({key['split']}), answerer {key['answerer']}, judge {key['judge']}, "
            f"token counter {key['token_counter']}{model}{read}")


def score_label(answerer: str) -> str:
    """What a setup's compared score is: evidence recall (model-free upper bound), or containment."""
    return SCORES[context_score(answerer)]


def _number(value: float) -> str:
    return "—" if pd.isna(value) else f"{value:.3f}"


def _llm_columns(judge: str) -> dict[str, str]:
    return LLM_COLUMNS if judge.startswith("llm:") else {}


def summary_columns(key: pd.Series) -> tuple[str, ...]:
    """The header of one group's table: the score first; EM, F1, the LLM judge and evidence recall with a model."""
    score = f"{score_label(key['answerer'])} (mean ± 95% CI)"
    if key["answerer"] == MODEL_FREE:
        return ("strategy", "budget", score, *CONTEXT_COLUMNS)
    return ("strategy", "budget", score, "EM", "F1", *_llm_columns(key["judge"]).values(),
            SCORES["evidence_recall"], *CONTEXT_COLUMNS)


def _summary_rows(rows: pd.DataFrame) -> list[list[str]]:
    key = rows.iloc[0]
    scored = ([] if key["answerer"] == MODEL_FREE else
              ["em", "f1", *_llm_columns(key["judge"]), "evidence_recall"])
    return [[r["strategy"], budget_text(r["budget"]), interval(r["score"], r["score_ci"]),
             *(_number(r[metric]) for metric in scored), _number(r["evidence_recall_expanded"]),
             f"{r['answer_recall']:.3f}", f"{r['glyph_evidence']:.3f}",
             f"{r['avg_tokens']:.1f}", str(r["n_seeds"]), _span(r["questions_min"], r["questions_max"])]
            for _, r in rows.iterrows()]


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
             "—" if math.isnan(r["count_min"]) else _span(r["count_min"], r["count_max"]), r["verdict"]]
            for _, r in pairs.iterrows()]


def _joined(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _pair_sentence(pairs: pd.DataFrame) -> str:
    """The whole comparison in one sentence: the metrics beyond noise, or that there are none."""
    seeds = pairs.loc[pairs["pairs"] > 0, "pairs"]
    if seeds.max() < 2:
        return "With one seed there is no interval, so no difference can be called."
    counted = f"({_span(seeds.min(), seeds.max())} seeds)"
    claims = [f"{word} on {_joined([PAIR_LABELS[m] for m in pairs.loc[pairs['verdict'] == name, 'metric']])}"
              for word, name in (("higher", GLYPH_HIGHER), ("lower", GLYPH_LOWER)) if (pairs["verdict"] == name).any()]
    if not claims:
        return f"All differences are within noise {counted}."
    rest = "; the other differences are within noise" if (pairs["verdict"] == NOISE).any() else ""
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


def summary_markdown(summary: pd.DataFrame, groups: pd.DataFrame, seeds: pd.DataFrame, n_files: int,
                     reports_dir: str) -> str:
    """One table per data set, split, answerer, judge (and model), under one section per source, then
    model_raw against model_glyph."""
    parts = [f"# Phase 5: context under fixed token budgets, summary\n\n"
             f"Generated by `glyph-dist report context-bench` from {n_files} result files in `{reports_dir}`. "
             f"The first score column is {SCORES['evidence_recall']} with the model-free `{MODEL_FREE}` answerer "
             "and the containment of the gold answer in the model's answer otherwise: mean over seeds of each "
             "seed's rate ± half-width of the 95% Student-t interval across seed means (n/a with one seed); the "
             f"other columns are means over seeds; questions are per seed. `{FULL}` has no budget: its tokens are "
             "the whole history."]
    for source, frame in summary.groupby("source", sort=False):
        parts.append(f"## {SOURCES.get(source, source)}")
        for key, rows in frame.groupby(GROUP, sort=False):
            first = rows.iloc[0]
            parts.append(f"### {group_label(first)}\n\nAnswerer: {first['answerer']}. Judge: {first['judge']}. "
                         f"Token counter: {first['token_counter']}. Seeds: {groups.loc[key, 'seeds']}.\n\n"
                         + table(summary_columns(first), _summary_rows(rows)))
    return "\n\n".join(parts + model_pair_parts(seeds, reports_dir)) + "\n"


def _setup(groups: pd.DataFrame, strategies: list[str]) -> str:
    header = ("data set", "split", "data file", "episodes", "questions", "seeds", "budgets", "answerer", "judge",
              "model", "token counter", "FGMS read of fgt_context")
    rows = [[g["dataset"], g["split"], f"`{g['dataset_path']}`", g["episodes"], g["questions"], g["seeds"],
             g["budgets"], g["answerer"], g["judge"], g["model"] or "—", g["token_counter"], g["fgms_read"] or "—"]
            for _, g in groups.reset_index().iterrows()]
    return ("## Setup\n\n" + table(header, rows) + f"\n\nStrategies: {', '.join(strategies)}. `{FULL}` reads the whole "
            "history with no budget and is shown as a reference. The compared score is "
            f"{SCORES['evidence_recall']} with the model-free `{MODEL_FREE}` answerer (the share of questions "
            "whose evidence turns are all in the context verbatim) and, with a model answerer, containment (the "
            "share of questions whose normalised gold answer is in the model's answer, scored by the judge); ± "
            "is the half-width of the 95% Student-t interval across per-seed means.")


def _against(row: pd.Series, prefix: str) -> list[str]:
    """Score, difference and verdict against raw_truncate or the peer; dashes where there is none."""
    if pd.isna(row[f"vs_{prefix}"]):
        return ["—", "—", "—"]
    return [interval(row[f"{prefix}_mean"], row[f"{prefix}_ci"]), f"{row['fgt_mean'] - row[f'{prefix}_mean']:+.3f}",
            row[f"vs_{prefix}"]]


def _comparison_rows(rows: pd.DataFrame) -> list[list[str]]:
    return [[budget_text(r["budget"]), interval(r["fgt_mean"], r["fgt_ci"]), *_against(r, "raw"),
             "—" if pd.isna(r["peer"]) else r["peer"], *_against(r, "peer")]
            for _, r in rows.iterrows()]


def _full_line(full: pd.DataFrame) -> str:
    return "".join(f"\n\n`{FULL}` (no budget): {score_label(r['answerer'])} {interval(r['score'], r['score_ci'])} "
                   f"at {r['avg_tokens']:.0f} tokens on average." for _, r in full.iterrows())


def _key_numbers(comparisons: pd.DataFrame, summary: pd.DataFrame) -> str:
    parts = ["## Key numbers\n\nAt each budget: the score of fgt_context against raw_truncate and against the "
             "best retrieval peer (the strategy other than fgt_context, raw_truncate and full with the highest mean "
             "score at that budget). Each table names its score."]
    fulls = dict(list(summary[summary["strategy"] == FULL].groupby(GROUP, sort=False)))
    for key, rows in comparisons.groupby(GROUP, sort=False):
        first = rows.iloc[0]
        parts.append(f"### {group_label(first)}\n\nScore: {score_label(first['answerer'])}.\n\n"
                     + table(COMPARISON_COLUMNS, _comparison_rows(rows)) + _full_line(fulls.get(key, summary.iloc[:0])))
    if comparisons.empty:
        parts.append(f"No result file has a `{FGT}` cell, so there is nothing to compare.")
    return "\n\n".join(parts)


def _regime(row: pd.Series, against: str) -> str:
    peer = f" (vs {row['peer']})" if against == "peer" else ""
    return f"{budget_text(row['budget'])}{peer}"


def _regime_lines(comparisons: pd.DataFrame, against: str) -> list[str]:
    """One line per verdict: the data sets and budgets where it holds."""
    lines = []
    for name in VERDICTS:
        hits = comparisons[comparisons[f"vs_{against}"] == name]
        places = [f"{group_label(rows.iloc[0])} at budget{'s' if len(rows) > 1 else ''} "
                  + ", ".join(_regime(r, against) for _, r in rows.iterrows())
                  for _, rows in hits.groupby(GROUP, sort=False)]
        if places:
            lines.append(f"- {name}: " + "; ".join(places) + ".")
    return lines


def _regime_verdict(verdicts: pd.Series, target: str) -> str:
    """A plain sentence on the whole comparison with `target`."""
    called = verdicts[verdicts != NO_INTERVAL]
    if called.empty:
        return "No cell has more than one seed, so no difference can be called."
    if (called == NOISE).all():
        unseeded = "" if len(called) == len(verdicts) else " (cells with one seed have no interval)"
        return f"Every difference between fgt_context and {target} is within noise{unseeded}."
    if not (called == HIGHER).any():
        return f"fgt_context is not higher than {target} beyond noise in any regime."
    if not (called == LOWER).any():
        return f"fgt_context is never lower than {target} beyond noise."
    return f"fgt_context is higher than {target} in some regimes and lower in others (listed above)."


def _regimes(comparisons: pd.DataFrame) -> str:
    parts = ["## Where fgt_context helps and where it does not\n\nA difference counts only when the two 95% "
             "intervals do not overlap; overlapping intervals are reported as within noise."]
    for against, target in (("raw", RAW), ("peer", "the best retrieval peer")):
        known = comparisons.dropna(subset=[f"vs_{against}"])
        if known.empty:
            continue
        parts.append(f"Against {target}:\n\n" + "\n".join(_regime_lines(known, against)) + "\n\n"
                     + _regime_verdict(known[f"vs_{against}"], target))
    if len(parts) == 1:
        parts.append(f"No {FGT} cell has {RAW} or a retrieval peer at the same budget to compare with.")
    return "\n\n".join(parts)


def _glyph_note(summary: pd.DataFrame) -> str:
    fgt = summary.loc[summary["strategy"] == FGT, "glyph_evidence"]
    spread = f" For fgt_context it is {_span(fgt.min(), fgt.max(), '{:.3f}')} across cells." if len(fgt) else ""
    return ("Glyph evidence is the share of questions whose evidence is in the context only as a glyph code. A glyph "
            "code names a phrase family, not the particular facts of a turn, so these questions are counted apart, "
            "in their own column. Evidence recall, expanded, counts evidence present once every glyph code is decoded "
            "(a residual code rebuilds its sentence exactly, a bare code only its family's representative), so "
            "compression that keeps the facts is credited and compression that loses them is not (— where a "
            "file does not have it)." + spread)


def _seed_note(summary: pd.DataFrame) -> str:
    budgeted = summary[summary["strategy"] != FULL]
    low = int(summary["n_seeds"].min())
    note = (f"Seeds per cell: {_span(low, summary['n_seeds'].max())}. Intervals reflect variation across seeds only "
            "and are wide with few seeds")
    note += f" (the t factor is {t_factor(low):.2f} with {low} seeds)." if low >= 2 else "."
    note += " Requiring non-overlapping intervals is a conservative test."
    if low == 1:
        note += " Cells with one seed have no interval and support no claim."
    flat = int(((budgeted["n_seeds"] >= 2) & (budgeted["score_ci"] == 0)).sum())
    if flat:
        note += (f" {flat} cells have zero-width intervals: their seeds gave identical scores, so the seeds "
                 "say nothing about noise there.")
    return note


def _spread(values: pd.Series) -> str:
    values = values.dropna()
    return "undefined" if values.empty else _span(values.min(), values.max(), "{:.3f}")


def judge_notes(summary: pd.DataFrame) -> list[str]:
    """Per LLM judge: how often its verdict agreed with the rule's, across the cells it judged."""
    notes = []
    for judge, rows in summary[summary["judge"].str.startswith("llm:")].groupby("judge", sort=False):
        notes.append(f"The LLM judge `{judge}` asks the model whether each answer is equivalent to the gold answer "
                     "(yes against no in its next-token probabilities). Its verdict agreed with the rule's containment "
                     f"verdict on {_spread(rows['llm_contains_agreement'])} of the questions per cell (Cohen's κ "
                     f"{_spread(rows['llm_contains_kappa'])}) and with exact match on "
                     f"{_spread(rows['llm_em_agreement'])} (κ {_spread(rows['llm_em_kappa'])}); κ is undefined where "
                     "both verdicts were the same for every question.")
    return notes


def _caveats(summary: pd.DataFrame) -> str:
    notes = [ANSWERER_NOTES[a] for a in pd.unique(summary["answerer"]) if a in ANSWERER_NOTES]
    notes += [*judge_notes(summary), _glyph_note(summary), _seed_note(summary),
              f"`{FULL}` has no budget: its token count is the whole history, so it is a reference, not a peer."]
    if (summary["source"] != "bench").any():
        notes.append("Model evaluations are reported in their own tables, one per model; their key numbers and "
                     f"regimes use that model's own cells only ({MODEL_RAW} and {MODEL_GLYPH} are compared with "
                     "each other in their own section).")
    return "## Caveats\n\n" + "\n".join(f"- {note}" for note in notes)


def _links(links: dict[str, str]) -> str:
    table_link, plots = links["table"], {stem: link for stem, link in links.items() if stem != "table"}
    images = "\n\n".join(f"![{stem}]({link})" for stem, link in plots.items())
    return f"## Tables and plots\n\nFull table: [summary_table.md]({table_link}).\n\n{images}"


def results_markdown(summary: pd.DataFrame, comparisons: pd.DataFrame, groups: pd.DataFrame, seeds: pd.DataFrame,
                     strategies: list[str], n_files: int, reports_dir: str, links: dict[str, str]) -> str:
    """The Phase-5 results document; `links` maps "table" and each plot's stem to a relative path."""
    head = ("# Phase 5 results: glyph-coded context under fixed token budgets\n\n"
            f"Generated by `glyph-dist report context-bench` from {n_files} result files in `{reports_dir}`. Every number "
            "and claim below is computed from them: regenerate this file rather than edit it.")
    sections = [head, _setup(groups, strategies), _key_numbers(comparisons, summary), _regimes(comparisons),
                *model_pair_parts(seeds, reports_dir), _caveats(summary), _links(links)]
    return "\n\n".join(sections) + "\n"
