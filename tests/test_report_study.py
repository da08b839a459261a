"""The report layer on hand-computed rows: per-seed means, t-intervals and paired verdicts, and a run's report
(`glyph-dist report study`) from its results.jsonl."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from glyph_dist.errors import GlyphDistError
from glyph_dist.reports import study
from glyph_dist.reports.rows import ConfigAxes
from glyph_dist.reports.run_rows import load_run_rows
from glyph_dist.reports.study_report import write_study_report
from glyph_dist.reports.study import StudyDeclaration, Verdicts

STUDY = StudyDeclaration(name="toy", group=("suite",), compared="variant", baselines=("base/",),
                         verdicts=Verdicts(higher="better than {reference}", strip="base/"))


def rows(values: dict[str, tuple[float, ...]], name: str = "em") -> pd.DataFrame:
    return pd.DataFrame([{"suite": "s", "variant": variant, "seed": seed, "name": name, "value": value}
                         for variant, per_seed in values.items() for seed, value in enumerate(per_seed)])


def test_summary_averages_per_seed_means_with_a_t_interval():
    frame = pd.concat([rows({"a": (0.4, 0.6)}), rows({"a": (0.6,)})])  # seed 0 twice: its mean is 0.5
    found = study.summarize(frame, ["suite", "variant"]).iloc[0]
    assert found["mean"] == pytest.approx(0.55) and found["seeds"] == 2
    assert found["ci"] == pytest.approx(12.7062 * 0.0707107 / math.sqrt(2), rel=1e-4)
    assert (found["low"], found["high"]) == (pytest.approx(0.5), pytest.approx(0.6))


def test_paired_differences_use_only_seeds_both_ran_and_name_the_verdict():
    frame = rows({"base/core": (0.40, 0.44, 0.50), "mem": (0.64, 0.70)})
    pairs = STUDY.against_baselines(["base/core", "mem"])
    assert pairs == [("mem", "base/core")]
    found = study.paired_differences(frame, STUDY, "em", pairs).iloc[0]
    assert found["pairs"] == 2 and found["mean"] == pytest.approx(0.25)
    assert found["ci"] == pytest.approx(12.7062 * 0.0141421 / math.sqrt(2), rel=1e-4)
    assert found["reference_mean"] == pytest.approx(0.42) and found["verdict"] == "better than core"


def test_a_study_without_keys_pairs_over_all_its_rows():
    frame = rows({"base/core": (0.40, 0.44), "mem": (0.64, 0.70)}).drop(columns="suite")
    found = study.paired_differences(frame, replace(STUDY, group=()), "em", [("mem", "base/core")]).iloc[0]
    assert found["mean"] == pytest.approx(0.25) and found["pairs"] == 2


@pytest.mark.parametrize("mean, half, pairs, expected", [
    (0.1, 0.05, 3, study.HIGHER), (-0.1, 0.05, 3, study.LOWER), (0.1, 0.2, 3, study.NOISE),
    (0.1, math.nan, 1, study.ONE_SEED)])
def test_outcome_needs_an_interval_that_excludes_zero(mean, half, pairs, expected):
    assert study.outcome(mean, half, pairs) == expected


def test_overlap_outcome_calls_only_intervals_apart():
    assert study.overlap_outcome(0.6, 0.05, 0.3, 0.1) == study.HIGHER
    assert study.overlap_outcome(0.5, 0.05, 0.48, 0.1) == study.NOISE
    assert study.overlap_outcome(0.5, math.nan, 0.3, 0.1) == study.ONE_SEED



def test_a_declared_score_follows_the_answerer_and_an_undeclared_one_is_refused():
    scored = replace(STUDY, score_by_answerer=("evidence", "em"))
    assert (scored.score("context-recall"), scored.score("hf:smollm2")) == ("evidence", "em")
    with pytest.raises(GlyphDistError, match="the toy declares no compared score"):
        STUDY.score("hf:smollm2")


def test_a_value_that_changes_another_is_compared_against_it_after_the_baselines():
    ablating = replace(STUDY, changes="+")
    values = ["base/core", "mem", "mem+gate=off", "other+x"]
    assert ablating.changed("mem+gate=off") == "mem" and ablating.changed("mem") is None
    assert ablating.pairs(values) == [("mem", "base/core"), ("mem+gate=off", "base/core"), ("other+x", "base/core"),
                                      ("mem+gate=off", "mem")]
    assert STUDY.pairs(values) == STUDY.against_baselines(values)


def test_rows_are_ordered_by_a_given_order_of_values_then_by_value():
    frame = pd.DataFrame({"variant": ["b", "a", "z", "a"], "n": [1, 2, 1, 1]})
    found = study.ordered(frame, ["variant", "n"], {"variant": ["b", "a"]})
    assert list(zip(found["variant"], found["n"])) == [("b", 1), ("a", 1), ("a", 2), ("z", 1)]


def test_config_axes_read_texts_integers_defaults_and_renames_and_name_a_bad_key(tmp_path):
    axes = ConfigAxes(texts=("name",), integers=("n",), defaults={"judge": "rule"}, renames={"name": "suite"})
    assert axes.read({"name": "spatial", "n": 20.0, "judge": None}, tmp_path) == {"suite": "spatial", "n": 20,
                                                                                 "judge": "rule"}
    with pytest.raises(GlyphDistError, match=r"'trials\[3\]\.n' is not an integer"):
        axes.read({"name": "spatial", "n": 2.5}, tmp_path, "trials[3]")
    with pytest.raises(GlyphDistError, match="'config' is not a JSON object"):
        axes.read([], tmp_path)

# A run's results.jsonl as the memory evaluation's: each line a trial's parameters and row, as runner/run.py writes
# it (the trial's `seeds` and `evidence_recall` / `evidence_share`, read as `seed`, `memory_hit_rate` and
# `evidence_recall`). EM differences 0.4 and -0.1; evidence recall differences 0.40 and 0.41.
SCORES = {("baselines/core", 1): (0.1, 0.2), ("baselines/core", 2): (0.3, 0.4),
          ("memory/hei_nw", 1): (0.5, 0.6), ("memory/hei_nw", 2): (0.2, 0.81)}
T2 = 12.7062  # the Student-t quantile of a 95% interval with 1 degree of freedom


def trial_line(variant: str, seed: int, **changes) -> dict:
    em, recall = SCORES[(variant, seed)]
    line = {"results": "memory_eval", "answerer": "context-recall", "split": None, "preset": variant,
            "suite": "episodic", "n": 4, "seeds": seed, "ablation": {}, "em": em, "f1": em, "evidence_recall": recall,
            "evidence_share": recall, "tokens": 100 * seed, "by_question_type": [], "variant": variant,
            "counters": {"stored": 3}, "rss_mb": 600.0, "token_counter": "hybrid tokenizer", "trial_seconds": 0.5}
    return {**line, **changes}


def write_run(directory: Path, lines: list, name: str = "results.jsonl") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n"
                                          for line in lines))
    return directory


def good_lines() -> list[dict]:
    return [trial_line(variant, seed) for seed in (1, 2) for variant in ("baselines/core", "memory/hei_nw")]


def test_a_runs_rows_make_the_declared_tables_and_paired_verdicts(tmp_path):
    paths = write_study_report(write_run(tmp_path / "run", good_lines()))
    report = tmp_path / "run" / "report"
    assert paths[:2] == [report / "study.md", report / "study.json"]
    assert {p.name for p in paths[2:]} == {"memory_hit_rate.png", "em.png"} and all(p.stat().st_size for p in paths)
    numbers = json.loads((report / "study.json").read_text())
    assert (numbers["study"], numbers["rows"], numbers["keys"]) == ("memory-eval", 4, ["suite", "n"])
    means = {(m["variant"], m["name"]): m for m in numbers["means"]}
    recall = means[("memory/hei_nw", "memory_hit_rate")]
    assert recall["mean"] == pytest.approx(0.705) and recall["seeds"] == 2
    assert recall["ci"] == pytest.approx(T2 * 0.148492 / math.sqrt(2), rel=1e-4)
    assert means[("baselines/core", "em")]["ci"] == pytest.approx(T2 * 0.141421 / math.sqrt(2), rel=1e-4)
    assert means[("memory/hei_nw", "tokens")]["mean"] == 150 and ("memory/hei_nw", "rss_mb") not in means
    paired = {(d["metric"], d["variant"]): d for d in numbers["differences"]}
    assert set(paired) == {("memory_hit_rate", "memory/hei_nw"), ("em", "memory/hei_nw")}, "each against the baseline"
    better = paired[("memory_hit_rate", "memory/hei_nw")]
    assert better["mean"] == pytest.approx(0.405) and better["pairs"] == 2 and better["verdict"] == "better than core"
    assert better["ci"] == pytest.approx(T2 * 0.00707107 / math.sqrt(2), rel=1e-4)
    noise = paired[("em", "memory/hei_nw")]
    assert noise["mean"] == pytest.approx(0.15) and noise["ci"] == pytest.approx(T2 * 0.353553 / math.sqrt(2), rel=1e-4)
    assert noise["verdict"] == "within noise"
    text = (report / "study.md").read_text()
    assert "## suite episodic, n 4" in text
    assert "| memory/hei_nw | 1, 2 | 0.350 ± 1.906 |" in text  # EM: (0.5 + 0.2) / 2, 12.7062 * 0.212132 / √2
    assert ("| evidence recall (model-free upper bound) | memory/hei_nw | baselines/core | 0.705 ± 1.334 | "
            "0.300 ± 1.271 | +0.405 ± 0.064 | 2 | better than core |") in text
    assert "![EM](plots/em.png)" in text


def test_one_seed_gives_no_interval_and_a_study_named_reads_the_rows_as_its_own(tmp_path):
    lines = [trial_line(v, 1) for v in ("baselines/core", "memory/hei_nw")]
    write_study_report(write_run(tmp_path, lines), "memory-eval", tmp_path / "out")
    numbers = json.loads((tmp_path / "out" / "study.json").read_text())
    assert {d["verdict"] for d in numbers["differences"]} == {"n/a (1 seed)"}
    assert "| memory/hei_nw | 1 | 0.500 ± n/a |" in (tmp_path / "out" / "study.md").read_text()


@pytest.mark.parametrize("second, message", [
    ("{not json", ":2: malformed JSON"),
    ("[1, 2]", ":2: expected a JSON object, got list"),
    (trial_line("memory/hei_nw", 1, em="0.5"), ":2: 'em' is not a number: '0.5'"),
    ({k: v for k, v in trial_line("memory/hei_nw", 1).items() if k != "variant"}, ":2: no 'variant'"),
    ({k: v for k, v in trial_line("memory/hei_nw", 1).items() if k != "suite"}, ":2: no 'suite'"),
    ({**trial_line("memory/hei_nw", 1), "variant": {"x": 1}}, ":2: axis 'variant' is not a single value"),
    ({**trial_line("memory/hei_nw", 1), "seed": 1}, ":2: two keys read as 'seed'"),
    (trial_line("baselines/core", 1, profile="hard"), ":2: the same axes as line 1"),
])
def test_bad_rows_are_refused_naming_the_file_and_line(tmp_path, second, message):
    run = write_run(tmp_path, [trial_line("baselines/core", 1), second])
    with pytest.raises(GlyphDistError, match=re.escape(f"{run / 'results.jsonl'}{message}")):
        write_study_report(run, "memory-eval")


def test_a_missing_or_empty_file_or_rows_of_no_study_are_refused(tmp_path):
    with pytest.raises(GlyphDistError, match=r"results.jsonl not found: a run writes it"):
        write_study_report(tmp_path)
    with pytest.raises(GlyphDistError, match=r"results.jsonl holds no rows"):
        write_study_report(write_run(tmp_path, ["", "  "]))
    with pytest.raises(GlyphDistError, match=r"fit none of the studies \(context-bench: results context_bench or phase5; "
                                          r"memory-eval: results memory_eval\): name one"):
        write_study_report(write_run(tmp_path, [trial_line("baselines/core", 1, results="other")]))


def test_a_real_eval_runs_results_make_the_context_benchmarks_report(tmp_path, tape_root, capsys):
    """The rows of real `eval` trials, written as `glyph-dist run` writes them (Tune aside), through the command."""
    from glyph_dist.cli import main
    from glyph_dist.runner import eval_trial, run
    from glyph_dist.runner.config import load_experiment

    episodes = [{"episode_id": f"e{k}", "turns": [{"role": "user", "text": f"My locker code is {4100 + k}."},
                                                  {"role": "assistant", "text": "Noted."},
                                                  {"role": "user", "text": "The weather is mild today."}],
                 "questions": [{"question": "What is my locker code?", "answer": str(4100 + k), "evidence": [0]}]}
                for k in range(3)]
    data = write_run(tmp_path, episodes, "talk.jsonl") / "talk.jsonl"
    experiment = load_experiment(Path(__file__).resolve().parents[1] / "experiments" / "context_bench.yaml", [
        f"dataset={data}", "strategy=[raw_truncate, bm25_topk]", "budget=[16]", "seed=[1, 2]", f"tape={tape_root}",
        "split=null", f"data_dir={tmp_path}"])
    trials = eval_trial.check([run.absolute_paths(t, eval_trial.PATH_KEYS) for t in experiment.trials()])
    run._write_rows(tmp_path / "run", [(t, {**eval_trial.run(t), "trial_seconds": 0.0}) for t in trials])

    assert main(["report", "study", "--run-dir", str(tmp_path / "run")]) == 0
    numbers = json.loads((tmp_path / "run" / "report" / "study.json").read_text())
    assert numbers["study"] == "context-bench" and numbers["rows"] == 4 and numbers["keys"][-1] == "budget"
    lines = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    for strategy in ("raw_truncate", "bm25_topk"):
        found = next(m for m in numbers["means"] if m["strategy"] == strategy and m["name"] == "evidence_recall")
        per_seed = [line["evidence_recall"] for line in lines if line["strategy"] == strategy]
        assert found["mean"] == pytest.approx(sum(per_seed) / 2) and found["seeds"] == 2
    assert {(d["metric"], d["variant"], d["reference"], d["pairs"]) for d in numbers["differences"]} == {
        ("evidence_recall", "bm25_topk", "raw_truncate", 2)}, "the model-free answerer's compared score only"
    assert "## answerer context-recall, judge rule" in (tmp_path / "run" / "report" / "study.md").read_text()
    assert str(tmp_path / "run" / "report" / "study.md") in capsys.readouterr().out
    former = write_run(tmp_path / "former", [{**line, "results": "phase5"} for line in lines])  # the former name
    assert load_run_rows(former / "results.jsonl").name == "context-bench"


def test_each_answerers_rows_are_paired_on_the_score_compared_for_it(tmp_path):
    lines = [{"results": "context_bench", "answerer": answerer, "strategy": strategy, "seed": seed, "budget": 16,
              "evidence_recall": 0.1 * seed + (0.5 if strategy == "bm25_topk" else 0.0), "success_rate": 0.2 * seed}
             for answerer in ("context-recall", "smollm2") for strategy in ("raw_truncate", "bm25_topk")
             for seed in (1, 2)]
    write_study_report(write_run(tmp_path, lines))
    found = json.loads((tmp_path / "report" / "study.json").read_text())["differences"]
    assert sorted((d["answerer"], d["metric"], round(d["mean"], 6)) for d in found) == [
        ("context-recall", "evidence_recall", 0.5), ("smollm2", "success_rate", 0.0)]


def test_long_titles_are_wrapped_at_words_to_the_width_they_have():
    from glyph_dist.reports.plots import wrapped

    title = " ".join(f"setting{k}" for k in range(30))
    lines = wrapped(f"{title}\nerror bars", 5.6, 12).split("\n")
    assert len(lines) > 2 and max(map(len, lines)) <= 5.6 * 72 / (12 * 0.6)
    assert " ".join(lines[:-1]) == title and lines[-1] == "error bars"
