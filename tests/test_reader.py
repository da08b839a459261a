"""The reader: fine-tuning pairs from the train and val splits only, its SFT config, its evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from glyph_dist.context.reader_eval import evaluate_readers, first_questions
from glyph_dist.data.context_bench import prepare_context_bench
from glyph_dist.data.reader_pairs import build_reader_pairs, draw_questions
from glyph_dist.errors import GlyphDistError
from glyph_dist.reports.reader import reader_markdown
from glyph_dist.train.config import load_sft_config
from tests.conftest import SGD_DEV

ROOT = Path(__file__).resolve().parents[1]
STRATEGIES = ("raw_truncate", "fgt_context", "rag_topk", "bm25_topk")
BUDGETS = (32, 64)


@pytest.fixture(scope="module")
def phase5(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data")
    prepare_context_bench(out, seed=11, sgd_dir=SGD_DEV, agent_episodes=12, quiet=True)
    return out / "phase5"


@pytest.fixture(scope="module")
def built(phase5, tape_root, smollm2_dir, tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("reader")
    summary = build_reader_pairs(str(smollm2_dir), phase5, tape_root, out, {"train": 3, "val": 2}, BUDGETS,
                                 STRATEGIES, seed=5, quiet=True)
    return summary, out


def _episodes(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8") as lines:
        return {e["episode_id"]: e["split"] for e in map(json.loads, lines)}


def test_pairs_come_from_train_and_val_episodes_only(built, phase5):
    summary, out = built
    splits = {name: _episodes(phase5 / f"{name}.jsonl") for name in ("agent_logs", "public_dialog")}
    assert any(split == "test" for episodes in splits.values() for split in episodes.values())
    for split, n in (("train", 3), ("val", 2)):
        pairs = [json.loads(line) for line in (out / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]
        assert len(pairs) == summary["files"][split]["pairs"] == n * len(BUDGETS) * len(STRATEGIES)
        assert {splits[p["dataset"]][p["episode_id"]] for p in pairs} == {split}
        assert all(p["split"] == split and p["context_tokens"] <= p["budget"] for p in pairs)
        assert {(p["strategy"], p["budget"]) for p in pairs} == {(s, b) for s in STRATEGIES for b in BUDGETS}
        assert all(p["prompt"].startswith("<|im_start|>") and p["prompt"].endswith("<|im_start|>assistant\n")
                   for p in pairs)
    assert not (out / "test.jsonl").exists()


def test_no_pairs_from_the_test_split(phase5):
    with pytest.raises(GlyphDistError, match="not 'test'"):
        draw_questions(phase5, ["agent_logs"], "test", 1, 0)
    with pytest.raises(GlyphDistError, match="questions asked for"):
        draw_questions(phase5, ["agent_logs"], "val", 10**6, 0)


def test_reader_sft_yaml_loads_for_cpu_and_gpu(smollm2_dir, monkeypatch):
    monkeypatch.chdir(ROOT)
    config = load_sft_config(ROOT / "experiments/reader_sft.yaml")
    assert config.model == str(smollm2_dir) and config.glyph_codes_as_text and not config.use_gpu
    gpu = load_sft_config(ROOT / "experiments/reader_sft.yaml", ["use_gpu=true", "micro_batch_size=32", "max_length=768"])
    assert gpu.use_gpu and gpu.global_batch == 32 and gpu.compiled
    with pytest.raises(GlyphDistError, match="glyph_codes_as_text must be bool"):
        load_sft_config(ROOT / "experiments/reader_sft.yaml", ["glyph_codes_as_text=3"])


def test_glyph_codes_as_text_lets_a_plain_tokenizer_train_on_glyph_contexts(smollm2_dir, tmp_path):
    from glyph_dist.train.config import config_from_dict
    from glyph_dist.train.job import prepare

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "Context: <GLYPH>仾</GLYPH>\nQ?", "target": "yes"}) + "\n", encoding="utf-8")
    values = {"train_file": str(pairs), "val_file": str(pairs), "model": str(smollm2_dir), "max_length": 64}
    with pytest.raises(GlyphDistError, match="lacks the glyph token"):
        prepare(config_from_dict(values))
    assert len(prepare(config_from_dict({**values, "glyph_codes_as_text": True})).train) == 1


def test_first_questions_of_the_test_split(phase5):
    episodes = first_questions(phase5 / "agent_logs.jsonl", 5)
    assert sum(len(e.questions) for e in episodes) == 5
    splits = _episodes(phase5 / "agent_logs.jsonl")
    assert {splits[e.episode_id] for e in episodes} == {"test"}


def test_evaluate_a_zero_shot_reader(phase5, tape_root, smollm2_dir):
    result = evaluate_readers({"zero-shot": str(smollm2_dir)}, phase5, tape_root, ["agent_logs"], 2, [48], ["raw_truncate"],
                              max_new_tokens=8, quiet=True)
    [row] = result["rows"]
    assert row["n_questions"] == 2 and row["avg_tokens"] <= 48 and 0.0 <= row["em"] <= row["f1"] <= 1.0
    assert result["config"]["token_counter"] == f"the tokenizer of {smollm2_dir.name}"
    table = reader_markdown(result)
    assert "| agent_logs | 48 | raw_truncate |" in table and "zero-shot EM" in table
