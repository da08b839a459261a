"""Glyph-aware training pairs: both variants per question, budgets, splits, summary targets, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from glyph_dist.context.prompts import PROMPT_TEMPLATE
from glyph_dist.data.agent_logs import SLOTS
from glyph_dist.data.corpus import write_jsonl
from glyph_dist.data.glyph_aware import SUMMARY_INSTRUCTION, build_glyph_aware, fact_label, summary_target
from glyph_dist.data.manifest import SPLITS
from glyph_dist.data.context_bench import prepare_context_bench
from glyph_dist.errors import GlyphDistError
from tests.conftest import SGD_DEV

BUDGET = 160
DIALOGS_PER_SPLIT = 2  # public_dialog is cut down to keep the suite fast
HEAD, MIDDLE = PROMPT_TEMPLATE.split("{context}")[0], PROMPT_TEMPLATE.split("{context}")[1].split("{instruction}")[0]
TAIL = PROMPT_TEMPLATE.split("{instruction}")[1]


def _read(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def _parts(prompt: str) -> tuple[str, str]:
    """(context, instruction) of a prompt made from PROMPT_TEMPLATE."""
    assert prompt.startswith(HEAD) and prompt.endswith(TAIL)
    context, instruction = prompt[len(HEAD):len(prompt) - len(TAIL)].rsplit(MIDDLE, 1)
    return context, instruction


@pytest.fixture(scope="module")
def phase5(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data")
    prepare_context_bench(out, seed=11, sgd_dir=SGD_DEV, agent_episodes=12, quiet=True)
    dialog = out / "phase5" / "public_dialog.jsonl"
    episodes = _read(dialog)
    kept = [e for split in SPLITS for e in [e for e in episodes if e["split"] == split][:DIALOGS_PER_SPLIT]]
    write_jsonl(dialog, kept)
    return out / "phase5"


@pytest.fixture(scope="module")
def built(phase5, tape_root, tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("glyph_aware")
    return build_glyph_aware(phase5, tape_root, out, budget=BUDGET, quiet=True), out


@pytest.fixture(scope="module")
def sources(phase5) -> dict[tuple[str, str], dict]:
    """(dataset, episode_id) -> the source episode."""
    return {(name, e["episode_id"]): e for name in ("agent_logs", "public_dialog")
            for e in _read(phase5 / f"{name}.jsonl")}


@pytest.fixture(scope="module")
def rows(built) -> dict[str, list[dict]]:
    return {split: _read(built[1] / f"{split}.jsonl") for split in SPLITS}


def test_every_question_and_episode_has_both_variants_with_one_target(rows, sources):
    seen = set()
    for split, pairs in rows.items():
        assert len(pairs) % 2 == 0
        by_episode: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
        for raw, glyph in zip(pairs[0::2], pairs[1::2]):
            assert (raw["variant"], glyph["variant"]) == ("raw", "glyph")
            assert {k: v for k, v in raw.items() if k not in ("prompt", "variant", "context_tokens")} == \
                   {k: v for k, v in glyph.items() if k not in ("prompt", "variant", "context_tokens")}
            instruction = _parts(raw["prompt"])[1]
            assert _parts(glyph["prompt"])[1] == instruction
            task = (raw["task"], instruction, raw["target"])
            by_episode.setdefault((raw["dataset"], raw["episode_id"]), []).append(task)
        for key, tasks in by_episode.items():
            source = sources[key]
            assert source["split"] == split
            questions = [("qa", q["question"], q["answer"]) for q in source["questions"]]
            assert tasks == questions + [("summary", SUMMARY_INSTRUCTION, summary_target(source["questions"]))]
        seen |= set(by_episode)
    assert seen == {key for key, e in sources.items() if e["questions"]}  # every episode, each in its own split only


def test_contexts_stay_within_the_budget(rows, hybrid):
    for pairs in rows.values():
        for row in pairs:
            context = _parts(row["prompt"])[0]
            tokens = len(hybrid.token_ids([context])[0]) if context else 0
            assert row["budget"] == BUDGET and tokens == row["context_tokens"] <= BUDGET


def test_the_glyph_variant_carries_glyph_codes(rows):
    dialog = [r for pairs in rows.values() for r in pairs if r["dataset"] == "public_dialog"]
    assert any("<GLYPH>" in r["prompt"] for r in dialog if r["variant"] == "glyph")
    assert not any("<GLYPH>" in r["prompt"] for r in dialog if r["variant"] == "raw")


def test_summary_targets_hold_final_values_only(rows, sources):
    values = {slot.name: slot.values for slot in SLOTS}
    revised = 0
    for pairs in rows.values():
        for row in pairs:
            if row["task"] != "summary" or row["dataset"] != "agent_logs":
                continue
            source = sources[row["dataset"], row["episode_id"]]
            lines = row["target"].splitlines()
            assert len(lines) == len(source["questions"])
            for q in source["questions"]:
                assert f"{fact_label(q)}: {q['answer']}" in lines
                old = {v for i in q["superseded"] for v in values[q["slot"]] if v in source["turns"][i]["text"]}
                for value in old - {q["answer"]}:
                    assert f"{fact_label(q)}: {value}" not in lines
                revised += bool(old - {q["answer"]})
    assert revised  # the fixture holds revised decisions


def test_summary_target_orders_facts_by_the_turn_that_last_set_them():
    questions = [{"slot": "port", "answer": "8080", "evidence": [3, 9]},
                 {"slot": "city", "service": "Weather_1", "answer": "Union City", "evidence": [5]}]
    assert summary_target(questions) == "Weather_1 city: Union City\nport: 8080"


def test_output_is_deterministic_and_summarised(built, phase5, tape_root, tmp_path):
    summary, out = built
    again = build_glyph_aware(phase5, tape_root, tmp_path, budget=BUDGET, quiet=True)
    for split in SPLITS:
        assert (tmp_path / f"{split}.jsonl").read_bytes() == (out / f"{split}.jsonl").read_bytes()
        assert again["files"][split]["sha256"] == summary["files"][split]["sha256"]
        counts = summary["files"][split]["counts"]
        assert counts["raw"]["qa"] == counts["glyph"]["qa"] and counts["raw"]["summary"] == counts["glyph"]["summary"]
    assert json.loads((out / "manifest.json").read_text()) == summary


@pytest.mark.parametrize("case, match", [("no_bench_data", "glyph-dist data prepare"),
                                         ("no_tape", "glyph-dist tape build"),
                                         ("no_budget", "budget")])
def test_missing_inputs_raise_and_write_nothing(phase5, tape_root, tmp_path, case, match):
    args = {"bench_dir": phase5, "tape": tape_root, "budget": BUDGET}
    args.update({"no_bench_data": {"bench_dir": tmp_path / "nowhere"}, "no_tape": {"tape": tmp_path / "no-tape"},
                 "no_budget": {"budget": 0}}[case])
    with pytest.raises(GlyphDistError, match=match):
        build_glyph_aware(out_dir=tmp_path / "out", quiet=True, **args)
    assert not (tmp_path / "out").exists()
