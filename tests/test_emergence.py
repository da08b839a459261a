"""Glyph emergence, the plain-Python steps: answers, difficulty, unify (GSM8K, SVAMP, a MATH fixture),
the programmatic teacher, the filter, the latent rewrite with its leakage check and masked prompt,
and the held-out evaluation's sample, scores and selectivity."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glyph_dist.emergence.answers import answers_match, extract_answer, last_boxed, normalise_gold, parse_number
from glyph_dist.emergence.difficulty import bucket, features
from glyph_dist.emergence.evaluate import heldout_sample, score, selectivity, summarise
from glyph_dist.emergence.filter import filter_traces, rejection
from glyph_dist.emergence.records import PROBLEM_KEYS, read_records
from glyph_dist.emergence.rewrite import check_no_leak, natural_answer, rewrite
from glyph_dist.emergence.teachers import gsm8k_trace, programmatic_trace, programmatic_traces, svamp_trace
from glyph_dist.emergence.trace import ANSWER, GLYPHS, GUIDELINE, PLAN, STEP, TAKEAWAY, has_glyph, structure_error
from glyph_dist.emergence.unify import normalise_question, read_math, unify
from glyph_dist.errors import GlyphDistError
from tests.conftest import SHARED

NATALIA = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
           "How many clips did Natalia sell altogether in April and May?")
NATALIA_SOLUTION = ("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
                    "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.")
VALID = "\n".join([f"{GUIDELINE} Find: how many clips?", f"{PLAN} divide, then add", f"{STEP} 48/2 = 24",
                   f"{STEP} 48+24 = 72", f"{TAKEAWAY} Two calculations give the answer.", f"{ANSWER} 72"])

MATH_FILES = {
    "train/algebra/1.json": {"problem": "What is $1+1$?", "level": "Level 1", "type": "Algebra",
                             "solution": "We add: $1+1=\\boxed{2}$."},
    "train/algebra/2.json": {"problem": "Simplify $\\frac{6}{8}$.", "level": "Level 2", "type": "Algebra",
                             "solution": "Divide by 2: $\\boxed{\\dfrac{3}{4}}$."},
    "train/geometry/3.json": {"problem": "Find $x$ if $2x=\\sqrt{8}$.", "level": "Level 4", "type": "Geometry",
                              "solution": "So $x=\\boxed{\\sqrt{2}}$, since $\\sqrt{8}=2\\sqrt{2}$."},
    "train/geometry/4.json": {"problem": "No answer here.", "level": "Level 5", "type": "Geometry",
                              "solution": "There is no boxed answer."},
    "train/algebra/5.json": {"problem": "What is  $2+3$ ?", "level": "Level 1", "type": "Algebra",  # a leak
                             "solution": "$\\boxed{5}$"},
    "test/algebra/9.json": {"problem": "What is $2+3$?", "level": "Level 1", "type": "Algebra",
                            "solution": "$2+3=\\boxed{5}$"},
}


@pytest.fixture(scope="module")
def math_dir(tmp_path_factory) -> Path:
    """A few problems in MATH's public layout, one of them without a boxed answer and one a leak."""
    root = tmp_path_factory.mktemp("MATH")
    for name, record in MATH_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(json.dumps(record))
    return root


@pytest.fixture(scope="module")
def problems(tmp_path_factory, math_dir) -> list[dict]:
    out = tmp_path_factory.mktemp("emergence") / "unified.jsonl"
    summary = unify(out, SHARED / "gsm8k", SHARED / "svamp", math_dir)
    assert summary["leaks_dropped"] == 1 and summary["math_without_boxed"] == 1
    return read_records(out, PROBLEM_KEYS)


def test_answers_are_read_normalised_and_compared():
    assert parse_number("$1,200.") == 1200.0 and parse_number("3/4") == 0.75 and parse_number("\\frac{1}{8}") == 0.125
    assert parse_number("x+1") is None
    assert last_boxed("a \\boxed{\\frac{1}{2}} then \\boxed{x^{2}+1}.") == "x^{2}+1"
    assert last_boxed("no box") is None and last_boxed("\\boxed{unclosed") is None
    assert normalise_gold("1,000") == "1000" and normalise_gold("5.0") == "5" and normalise_gold("\\dfrac{3}{4}") == "0.75"
    assert normalise_gold("\\left( 3, \\text{east} \\right)") == "(3,east)"
    assert answers_match("72.0000001", "72") and not answers_match("72.01", "72") and not answers_match(None, "72")
    assert answers_match("\\tfrac{3}{4}", "0.75") and answers_match("\\sqrt{2}", "\\sqrt{2}")
    assert extract_answer(f"{STEP} 1+1 = 2\n{ANSWER} $1,200 dollars", ANSWER) == "1,200"
    assert extract_answer("so 3 + 4 = 7. The answer is 7.\nCheck: 8 9", ANSWER) == "7"
    assert extract_answer("It is \\boxed{12} or so 13") == "12"
    assert extract_answer("first 4 then 19 apples") == "19" and extract_answer("no numbers") is None


def test_difficulty_counts_words_numbers_and_operation_words():
    f = features("Tom has 3 apples and buys 2 more. How many apples in total?")
    assert f == {"words": 11, "numbers": 2, "operation_words": 2, "score": 11 + 10 + 20}
    assert [bucket(s) for s in (0, 59, 60, 119, 120)] == ["easy", "easy", "medium", "medium", "hard"]


def test_unify_reads_every_source_with_its_splits(problems):
    by = {(p["source"], p["split"]): 0 for p in problems}
    for p in problems:
        by[(p["source"], p["split"])] += 1
    assert by[("gsm8k", "train")] == 7473 and by[("gsm8k", "test")] == 1319
    assert by[("svamp", "train")] + by[("svamp", "test")] == 1000 and 200 < by[("svamp", "test")] < 400
    first = next(p for p in problems if p["id"] == "gsm8k-train-0")
    assert first["gold"] == "72" and "<<48/2=24>>" in first["solution"] and first["features"]["solution_steps"] == 2
    math = {p["id"]: p for p in problems if p["source"] == "math"}
    assert {k: p["gold"] for k, p in math.items()} == {
        "math-train-algebra-1": "2", "math-train-algebra-2": "0.75", "math-train-geometry-3": "\\sqrt{2}",
        "math-test-algebra-9": "5"}  # the unboxed problem and the leaked copy of the test problem are left out
    assert math["math-train-geometry-3"]["level"] == 4 and math["math-train-geometry-3"]["subject"] == "Geometry"
    assert all(p["bucket"] in ("easy", "medium", "hard") for p in problems)


def test_unify_refuses_bad_sources(tmp_path, math_dir):
    with pytest.raises(GlyphDistError, match="at least one source"):
        unify(tmp_path / "u.jsonl", None, None)
    with pytest.raises(GlyphDistError, match="GSM8K: .*train.jsonl does not exist"):
        unify(tmp_path / "u.jsonl", tmp_path, None)
    (tmp_path / "train.jsonl").write_text('{"question": "q", "answer": "no final line"}\n')
    (tmp_path / "test.jsonl").write_text("")
    with pytest.raises(GlyphDistError, match=r"train.jsonl:1: the answer has no '#### NUMBER'"):
        unify(tmp_path / "u.jsonl", tmp_path, None)
    with pytest.raises(GlyphDistError, match="MATH: no train/<subject>/\*.json files"):
        read_math(math_dir / "train")
    assert not (tmp_path / "u.jsonl").exists()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_programmatic_traces_of_gsm8k_and_svamp_rows_are_valid(problems, data):
    problem = data.draw(st.sampled_from([p for p in problems if p["source"] in ("gsm8k", "svamp")]))
    trace = programmatic_trace(problem)
    if trace is None:  # only a solution without any calculation (GSM8K) or off the gold (SVAMP) gives none
        assert "<<" not in problem["solution"] if problem["source"] == "gsm8k" else True
        return
    record = {"trace": trace.render(), "gold": problem["gold"]}
    assert rejection(record, max_chars=len(record["trace"])) is None, trace.render()  # length is the filter's call
    assert len(trace.steps) >= problem["features"]["solution_steps"] >= 1


def test_programmatic_teacher_builds_the_trace_from_the_solution():
    trace = gsm8k_trace(NATALIA, NATALIA_SOLUTION, "72")
    assert trace.render().split("\n") == [
        f"{GUIDELINE} Find: How many clips did Natalia sell altogether in April and May?", f"{PLAN} divide, then add",
        f"{STEP} Natalia sold 48/2 = 24 clips in May.", f"{STEP} Natalia sold 48+24 = 72 clips altogether in April and May.",
        f"{TAKEAWAY} 2 calculations, each result carried into the next, give the answer.", f"{ANSWER} 72"]
    assert gsm8k_trace(NATALIA, "No calculation here.", "72") is None
    svamp = svamp_trace("Ann has 5 and 4 more. She gives 3. How many are left?", "( ( 5.0 + 4.0 ) - 3.0 )", "6")
    assert svamp.steps == ("5 + 4 = 9", "9 - 3 = 6") and svamp.plan == "add, then subtract"
    assert svamp_trace("?", "( 5.0 + 4.0 )", "10") is None  # the equation does not give the gold answer
    assert programmatic_trace({"source": "math", "question": "q", "solution": "s", "gold": "1"}) is None


def test_programmatic_traces_are_tagged_and_counted(problems):
    sample = [p for p in problems if p["split"] == "train"][:40] + [p for p in problems if p["source"] == "math"][:2]
    records, summary = programmatic_traces(sample)
    assert {r["teacher"] for r in records} == {"programmatic"} and len(records) == summary["traces"]
    assert summary["skipped_by_source"].get("math") == 2 and summary["problems"] == 42


def _swap(lines: list[str], i: int, j: int) -> str:
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


@pytest.mark.parametrize("trace, reason", [
    (VALID.replace(f"{STEP} 48/2 = 24", "48/2 = 24"), "line_without_glyph"),
    (VALID.replace("divide, then add", " "), "empty_section"),
    (VALID.replace("divide, then add", f"divide {STEP} then add"), "glyph_inside_line"),
    (VALID.replace(f"\n{TAKEAWAY} Two calculations give the answer.", ""), "missing_glyph"),
    ("\n".join(VALID.split("\n")[:2] + VALID.split("\n")[-2:]), "missing_glyph"),  # no step
    (_swap(VALID.split("\n"), 0, 1), "glyph_order"),
    (VALID + f"\n{ANSWER} 72", "glyph_order"),  # a repeated glyph
    (_swap(VALID.split("\n"), 2, 4), "glyph_order"),  # steps not consecutive
    (VALID.replace(f"{ANSWER} 72", f"{ANSWER} 73"), "wrong_answer"),
    (VALID.replace(f"{ANSWER} 72", f"{ANSWER} seventy-two"), "wrong_answer"),
    (VALID.replace(f"{STEP} 48/2 = 24", f"{STEP} 48/2 = 24 " + "x" * 1200), "too_long"),
])
def test_the_filter_rejects_each_invalid_case(trace, reason):
    record = {"trace": trace, "gold": "72", "source": "gsm8k", "teacher": "t", "bucket": "easy"}
    assert rejection(record) == reason
    assert rejection({**record, "trace": VALID}) is None
    kept, summary = filter_traces([record, {**record, "trace": VALID}])
    assert kept == [{**record, "trace": VALID}] and summary["keep_rate"] == 0.5
    assert summary["rejected"] == [{"teacher": "t", "reason": reason, "n": 1}]
    assert summary["by_cell"] == [{"source": "gsm8k", "teacher": "t", "bucket": "easy", "n": 2, "kept": 1,
                                   "keep_rate": 0.5}]


def test_structure_accepts_blank_lines_and_numbers_with_units():
    assert structure_error("\n\n" + VALID.replace("\n", "\n\n") + "\n") is None
    assert has_glyph(VALID) and not has_glyph("plain 72") and len(GLYPHS) == 5


@pytest.fixture(scope="module")
def kept(problems) -> list[dict]:
    train = [p for p in problems if p["split"] == "train"]
    records, _ = programmatic_traces(random.Random(0).sample(train, 60))
    return filter_traces(records)[0]


def test_rewrite_mixes_glyph_and_natural_rows(problems, kept, tmp_path):
    summary = rewrite(problems, kept, tmp_path, glyph_share=0.5, selection="hardest", n=40, val_share=0.25, seed=3)
    train = read_records(tmp_path / "train.jsonl", ("prompt", "target", "kind", "id", "score", "question"))
    val = read_records(tmp_path / "val.jsonl", ("prompt", "target", "kind", "id"))
    assert (len(train), len(val)) == (30, 10) and summary["files"]["train"]["rows"] == 30
    assert not {r["id"] for r in train} & {r["id"] for r in val}
    glyph = [r for r in train if r["kind"] == "glyph"]
    natural = [r for r in train if r["kind"] == "natural"]
    assert len(glyph) == 15 and min(r["score"] for r in glyph) >= max(r["score"] for r in natural)  # the hardest
    assert all(structure_error(r["target"]) is None for r in glyph)
    assert all(not has_glyph(r["target"]) and r["target"].endswith(".") and "The answer is" in r["target"]
               for r in natural)
    assert all(r["prompt"] == r["question"] and not has_glyph(r["prompt"]) and "glyph" not in r["prompt"].lower()
               for r in train)  # the clean prompt
    control = rewrite(problems, kept, tmp_path / "c", glyph_share=0.0, n=40, val_share=0.25, seed=3)
    assert control["files"]["train"]["counts"][0]["kind"] == "natural"
    same = read_records(tmp_path / "c" / "train.jsonl", ("id",))
    assert [r["id"] for r in same] == [r["id"] for r in train]  # every mix trains on the same problems
    random_mix = rewrite(problems, kept, tmp_path / "r", glyph_share=1.0, selection="random", n=40, val_share=0.25)
    assert random_mix["files"]["train"]["counts"] and all(c["kind"] == "glyph" for c in random_mix["files"]["train"]["counts"])


def test_natural_answers_follow_the_solution(problems):
    gsm = next(p for p in problems if p["id"] == "gsm8k-train-0")
    assert natural_answer(gsm) == ("Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether "
                                   "in April and May.\nThe answer is 72.")
    svamp = next(p for p in problems if p["source"] == "svamp")
    assert natural_answer(svamp).endswith(f"The answer is {svamp['gold']}.")


@pytest.mark.parametrize("kwargs, message", [
    ({"glyph_share": 1.5}, "glyph_share must lie in"), ({"glyph_share": 0.5, "selection": "easiest"}, "selection must be"),
    ({"glyph_share": 0.5, "val_share": 0.0}, "val_share must lie in"), ({"glyph_share": 0.5, "n": 10**6}, "n must lie in"),
])
def test_rewrite_refuses_bad_settings(problems, kept, tmp_path, kwargs, message):
    with pytest.raises(GlyphDistError, match=message):
        rewrite(problems, kept, tmp_path, **kwargs)
    assert not list(tmp_path.iterdir())


def test_no_held_out_problem_reaches_the_training_data(problems, kept, tmp_path):
    test_problem = next(p for p in problems if p["split"] == "test" and p["source"] == "gsm8k")
    # a kept trace of a held-out problem is refused before anything is written
    leaked = [*kept, {**kept[0], "id": test_problem["id"], "question": test_problem["question"]}]
    with pytest.raises(GlyphDistError, match=f"held-out problem {test_problem['id']}"):
        rewrite(problems, leaked, tmp_path, glyph_share=0.5)
    assert not list(tmp_path.iterdir())
    # a training row whose normalised question is a held-out one (another id, other spacing and case)
    copy = {"id": "gsm8k-train-x", "question": "  " + test_problem["question"].upper().replace(" ", "  ")}
    assert normalise_question(copy["question"]) == normalise_question(test_problem["question"])
    with pytest.raises(GlyphDistError, match=r"train rows, row 2 \(gsm8k-train-x\).*held-out problem"):
        check_no_leak([{"id": "gsm8k-train-0", "question": NATALIA}, copy], problems, "train rows")
    check_no_leak([{"id": "gsm8k-train-0", "question": NATALIA}], problems, "train rows")
    # and the files rewrite writes hold no held-out question
    rewrite(problems, kept, tmp_path, glyph_share=0.5)
    held = {normalise_question(p["question"]) for p in problems if p["split"] == "test"}
    for name in ("train", "val"):
        rows = read_records(tmp_path / f"{name}.jsonl", ("question",))
        assert rows and not any(normalise_question(r["question"]) in held for r in rows)


def test_the_prompt_is_masked_in_the_sft_data(problems, kept, tmp_path, smollm2_dir):
    """The SFT job scores the tokens from a pair's prompt length on: they must be exactly the target's (and
    eos), and the prompt exactly the chat-template rendering of the question that the evaluation uses."""
    from transformers import AutoTokenizer

    from glyph_dist.models.pairs import read_pairs, tokenize_pairs

    rewrite(problems, kept, tmp_path, glyph_share=0.5, n=20, template=smollm2_dir)
    pairs = read_pairs(tmp_path / "train.jsonl", {})
    rows = read_records(tmp_path / "train.jsonl", ("question", "target", "kind"))
    assert {r["kind"] for r in rows} == {"glyph", "natural"}
    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    data = tokenize_pairs(pairs, tokenizer, max_length=512)
    for i, (pair, row) in enumerate(zip(pairs, rows)):
        ids, prompt_len = data[i]
        chat = tokenizer.apply_chat_template([{"role": "user", "content": row["question"]}], tokenize=False,
                                             add_generation_prompt=True)
        assert pair.prompt == chat and "glyph" not in pair.prompt.lower() and not has_glyph(pair.prompt)
        assert list(ids[:prompt_len]) == tokenizer(chat, add_special_tokens=False)["input_ids"]  # masked
        assert tokenizer.decode(ids[prompt_len:]) == row["target"] + tokenizer.eos_token  # scored


def test_heldout_sample_is_spread_over_buckets_and_held_out(problems):
    sample = heldout_sample(problems, 30, seed=1)
    assert len(sample) == 30 and all(p["split"] == "test" for p in sample)
    assert sorted(p["bucket"] for p in sample) == ["easy"] * 10 + ["hard"] * 10 + ["medium"] * 10
    assert [p["id"] for p in heldout_sample(problems, 30, seed=1)] == [p["id"] for p in sample]
    with pytest.raises(GlyphDistError, match="n must lie in"):
        heldout_sample(problems, 0, seed=1)
    few = [p for p in problems if p["split"] == "test" and p["bucket"] != "hard"][:20] + \
          [p for p in problems if p["split"] == "test" and p["bucket"] == "hard"][:3]
    assert sorted(p["bucket"] for p in heldout_sample(few, 21, 0)).count("hard") == 3  # the rest goes elsewhere


def test_score_and_selectivity():
    problem = {"id": "p", "source": "gsm8k", "bucket": "hard", "gold": "72"}
    assert score(problem, VALID, 30) | {"output": ""} == {
        "id": "p", "source": "gsm8k", "bucket": "hard", "gold": "72", "glyph_any": True, "glyph_full": True,
        "correct": True, "answer_tokens": 30, "output": ""}
    plain = score(problem, f"{STEP} so 48+24 = 72", 5)
    assert plain["glyph_any"] and not plain["glyph_full"] and plain["correct"]
    rows = [{"bucket": "hard", "glyph_any": True, "glyph_full": i % 2 == 0, "correct": True, "answer_tokens": 10}
            for i in range(20)] + [{"bucket": "easy", "glyph_any": False, "glyph_full": False, "correct": i < 5,
                                    "answer_tokens": 4} for i in range(20)]
    sel = selectivity(rows, "glyph_any", seed=0)
    assert sel == {"value": 1.0, "low": 1.0, "high": 1.0}
    summary = summarise(rows, seed=0)
    assert summary["selectivity_emerged"] and summary["buckets"]["easy"]["correct"] == 0.25
    assert summary["selectivity"]["glyph_full"]["low"] < 0.5 < summary["selectivity"]["glyph_full"]["high"]
    flat = [{**r, "glyph_any": True} for r in rows]  # glyphs everywhere: no selectivity
    assert summarise(flat, seed=0)["selectivity"]["glyph_any"] == {"value": 0.0, "low": 0.0, "high": 0.0}
    assert not summarise(flat, seed=0)["selectivity_emerged"]
    noisy = [{**r, "glyph_any": bool(np.random.default_rng(i).random() < 0.5)} for i, r in enumerate(rows)]
    interval = summarise(noisy, seed=0)["selectivity"]["glyph_any"]
    assert interval["low"] < interval["value"] < interval["high"]
    assert selectivity([r for r in rows if r["bucket"] == "hard"], "glyph_any", 0)["value"] is None
