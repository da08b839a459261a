"""Evaluation of a fine-tuned mini-model on the glyph-aware pairs, in the context-benchmark schema."""

from __future__ import annotations

import json

import pytest

from glyph_dist.context.model_eval import evaluate_model, model_directory, split_prompt
from glyph_dist.context.prompts import PROMPT_TEMPLATE
from glyph_dist.data.glyph_aware import build_glyph_aware
from glyph_dist.data.context_bench import prepare_context_bench
from glyph_dist.errors import GlyphDistError


@pytest.fixture(scope="module")
def pairs(tmp_path_factory, tape_root):
    root = tmp_path_factory.mktemp("glyph-aware")
    prepare_context_bench(root, seed=13, agent_episodes=8, quiet=True)
    for name in ("public_dialog",):  # the evaluation reads what the pairs name; keep one data set small
        (root / "phase5" / f"{name}.jsonl").unlink()
    build_glyph_aware(root / "phase5", tape_root, root / "pairs", budget=96, datasets=("agent_logs",), quiet=True)
    return root


@pytest.fixture(scope="module")
def model_run(tmp_path_factory, tape_root):
    """A training run directory with two checkpoints of a tiny GPT-2 (random weights: the mechanics)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from glyph_dist.fgt.hybrid import HybridTokenizer
    from glyph_dist.fgt.store import load_tape

    tokenizer = HybridTokenizer(load_tape(tape_root)).base
    run = tmp_path_factory.mktemp("run")
    for step in (10, 20):
        torch.manual_seed(step)
        model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=32, n_positions=512,
                                           vocab_size=len(tokenizer), eos_token_id=tokenizer.eos_token_id))
        model.save_pretrained(run / f"checkpoint_{step:06d}")
        tokenizer.save_pretrained(run / f"checkpoint_{step:06d}")
    return run


def test_prompts_split_back_into_context_and_instruction():
    prompt = PROMPT_TEMPLATE.format(context="[t0 user] Use Postgres.", instruction="Which database?")
    assert split_prompt(prompt) == ("[t0 user] Use Postgres.", "Which database?")


def test_model_eval_cell_reads_in_the_phase5_report(pairs, model_run, tmp_path):
    from glyph_dist.reports.context_bench import write_context_bench_report

    assert model_directory(model_run).name == "checkpoint_000020"
    cells = {}
    for variant in ("raw", "glyph"):
        cells[variant] = evaluate_model(model_run, pairs / "pairs" / "test.jsonl", variant, pairs / "phase5",
                                        max_new_tokens=4, summary_tokens=8, model_label=f"model_{variant}", seed=1)
        (tmp_path / f"model_eval_model_{variant}_s1.json").write_text(json.dumps(cells[variant]))
    raw, glyph = cells["raw"]["results"]["raw_truncate"], cells["glyph"]["results"]["fgt_context"]
    assert raw["n_questions"] == glyph["n_questions"] > 0 and raw["n_summaries"] == glyph["n_summaries"] > 0
    assert 0 <= raw["evidence_recall"] <= 1 and raw["avg_tokens"] <= 96 and glyph["avg_tokens"] <= 96
    assert cells["glyph"]["config"]["model"] == "model_glyph" and cells["glyph"]["config"]["answerer"] == "hf:model_glyph"
    outputs = write_context_bench_report(tmp_path, tmp_path / "RESULTS.md")
    assert "model_glyph" in (tmp_path / "summary_table.md").read_text() and outputs["doc"].exists()


def test_model_eval_errors(pairs, tmp_path):
    with pytest.raises(GlyphDistError, match="unknown variant"):
        evaluate_model(tmp_path, pairs / "pairs" / "test.jsonl", "fancy")
    with pytest.raises(GlyphDistError, match="glyph-dist data glyph-aware"):
        evaluate_model(tmp_path, tmp_path / "none.jsonl", "raw")
    with pytest.raises(GlyphDistError, match="neither a model directory nor a training run"):
        evaluate_model(tmp_path, pairs / "pairs" / "test.jsonl", "raw", pairs / "phase5")
