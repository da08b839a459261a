"""The declarations of the studies the report layer reads: what each compares, against which baselines, on
which metrics, in which words."""

from __future__ import annotations

from glyph_dist.registry import Registry
from glyph_dist.reports.rows import ConfigAxes
from glyph_dist.reports.study import StudyDeclaration, Verdicts

# The context benchmark (`reports/phase5/*.json`, or a run's `results.jsonl`): fgt_context against raw_truncate
# and the best retrieval peer at each budget, one table per source, model, answerer, judge, data set, split,
# token counter and FGMS read (a run's rows carry no source, model or FGMS read: its tables leave them out).
FGT, RAW, FULL = "fgt_context", "raw_truncate", "full"
CONTEXT_BENCH = StudyDeclaration(
    name="context benchmark",
    group=("source", "model", "answerer", "judge", "dataset", "split", "token_counter", "fgms_read"),
    compared="strategy", baselines=(RAW,), within=("budget",),
    metrics={"evidence_recall": "evidence recall (model-free upper bound)", "success_rate": "containment",
             "em": "EM", "f1": "F1", "avg_tokens": "avg tokens"},
    score_by_answerer=("evidence_recall", "success_rate"),
    marks={"results": ("context_bench", "phase5")},  # phase5: its former name
    # a file's `dataset` is the data file's path, `dataset_name` the name its tables show
    config=ConfigAxes(texts=("answerer", "judge", "dataset_name", "dataset", "split", "token_counter"),
                      integers=("budget", "seed", "n_episodes"), defaults={"model": ""},
                      renames={"dataset_name": "dataset", "dataset": "dataset_path"}))

# The glyph-aware mini-models of the context benchmark: model_glyph against model_raw, paired by seed.
MODEL_RAW, MODEL_GLYPH = "model_raw", "model_glyph"
MODEL_PAIR = StudyDeclaration(
    name="model_raw vs model_glyph", group=("dataset", "split", "judge", "token_counter"), compared="model",
    baselines=(MODEL_RAW,),
    metrics={"success_rate": "containment", "em": "EM", "f1": "F1", "summary_fact_recall": "summary fact recall",
             "avg_tokens": "avg tokens"})

# The memory-evaluation matrix (`runs/<DATE>/**/metrics.json`): every variant against every baseline, and every
# ablation against its memory, per suite and size.
BASELINE_PREFIX = "baselines/"
MEMORY_EVAL = StudyDeclaration(
    name="memory evaluation", group=("suite", "n"), compared="variant", baselines=(BASELINE_PREFIX,),
    metrics={"em": "EM", "em_raw": "EM (exact string)", "f1": "F1", "contains": "containment",
             "memory_hit_rate": "evidence recall (model-free upper bound)",
             "evidence_recall": "evidence statements recalled (share, model-free)",
             "llm_equivalent": "LLM judge: equivalent", "llm_contains_agreement": "LLM–rule agreement",
             "llm_contains_kappa": "Cohen's κ", "llm_em_agreement": "LLM–EM agreement",
             "llm_em_kappa": "Cohen's κ (EM)", "spatial_success": "spatial success", "tokens": "tokens",
             "latency_ms_mean": "latency ms"},
    verdicts=Verdicts(higher="better than {reference}", lower="worse than {reference}", one_seed="n/a (1 seed)",
                      strip=BASELINE_PREFIX),
    score_by_answerer=("memory_hit_rate", "em"), marks={"results": ("memory_eval",)},
    changes="+",  # memory/hei_nw+gate.enabled=false is an ablation of memory/hei_nw
    # runs from before the judge setting were judged by the rule; those from before the token counter name none
    config=ConfigAxes(texts=("variant", "suite", "answerer"), integers=("n", "seed", "budget"),
                      defaults={"judge": "rule", "token_counter": "not recorded"}),
    # an eval trial's row names the evidence recalls as the context benchmark does (runner/memory_runs.py)
    renames={"seeds": "seed", "dataset": "suite", "evidence_recall": "memory_hit_rate",
             "evidence_share": "evidence_recall"})

# The studies a run's report reads (`glyph-dist report study --study NAME`).
STUDIES = Registry("study", {"context-bench": CONTEXT_BENCH, "memory-eval": MEMORY_EVAL})
