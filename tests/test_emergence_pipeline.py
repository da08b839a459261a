"""Glyph emergence end to end: the `glyph-dist emergence` commands on a tiny slice, the model teacher and
the evaluation on Ray actors, the data-mix sweep on Ray Tune (training through `train sft`), and, slow,
the catalog's SmolLM2 as teacher and as the fine-tuned model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from glyph_dist.cli import main
from glyph_dist.emergence.records import TRACE_KEYS, read_records
from glyph_dist.emergence.sweep import load_sweep, run_sweep
from glyph_dist.errors import GlyphDistError
from glyph_dist.reports.emergence import write_report
from tests.conftest import SHARED


@pytest.fixture(scope="module")
def tiny_chat_lm(tmp_path_factory, smollm2_dir) -> Path:
    """A 1-layer random-weight Llama with SmolLM2's tokenizer and chat template (mechanics only)."""
    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=1, max_position_embeddings=1024, vocab_size=len(tokenizer),
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    path = tmp_path_factory.mktemp("models") / "tiny-chat"
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, smollm2_dir) -> dict[str, Path]:
    """unify, programmatic traces of 48 training problems, filter and a half-glyph rewrite, all by the CLI."""
    root = tmp_path_factory.mktemp("emergence")
    files = {"unified": root / "unified.jsonl", "traces": root / "traces.jsonl", "kept": root / "kept.jsonl",
             "mix": root / "mix"}
    assert main(["emergence", "unify", "--gsm8k", str(SHARED / "gsm8k"), "--svamp", str(SHARED / "svamp"),
                 "--out", str(files["unified"])]) == 0
    assert main(["emergence", "traces", "--unified", str(files["unified"]), "--n", "48", "--seed", "1",
                 "--out", str(files["traces"])]) == 0
    assert main(["emergence", "filter", "--traces", str(files["traces"]), "--out", str(files["kept"])]) == 0
    assert main(["emergence", "rewrite", "--unified", str(files["unified"]), "--kept", str(files["kept"]),
                 "--out", str(files["mix"]), "--glyph-share", "0.5", "--n", "24", "--val-share", "0.25",
                 "--template", str(smollm2_dir)]) == 0
    return files


def test_the_commands_run_the_programmatic_pipeline(pipeline, capsys):
    traces = read_records(pipeline["traces"], TRACE_KEYS)
    kept = read_records(pipeline["kept"], TRACE_KEYS)
    assert len(traces) >= 46 and {t["teacher"] for t in traces} == {"programmatic"}
    assert len(kept) == len(traces)  # the programmatic teacher's traces are all valid and right
    assert json.loads(pipeline["kept"].with_suffix(".summary.json").read_text())["keep_rate"] == 1.0
    summary = json.loads((pipeline["mix"] / "rewrite.json").read_text())
    assert summary["files"]["train"]["rows"] == 18 and summary["files"]["val"]["rows"] == 6
    kinds = {c["kind"] for c in summary["files"]["train"]["counts"]}
    assert kinds == {"glyph", "natural"}


def test_bad_command_input_is_a_clear_error(pipeline, tmp_path, capsys):
    assert main(["emergence", "filter", "--traces", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "k")]) == 2
    assert "none.jsonl: no such file" in capsys.readouterr().err
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\n')
    assert main(["emergence", "filter", "--traces", str(tmp_path / "bad.jsonl"), "--out", str(tmp_path / "k")]) == 2
    assert "bad.jsonl:1: missing key(s) source" in capsys.readouterr().err
    assert main(["emergence", "eval", "--unified", str(pipeline["unified"]), "--model", "a=/no/such/dir"]) == 2
    assert "neither a catalog name" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["emergence", "eval", "--model", "no-equals-sign"])
    assert not (tmp_path / "k").exists()


def test_model_teacher_and_evaluation_on_ray_actors(ray_session, pipeline, tiny_chat_lm, tmp_path, capsys):
    out = tmp_path / "model_traces.jsonl"
    assert main(["emergence", "traces", "--unified", str(pipeline["unified"]), "--teacher", str(tiny_chat_lm),
                 "--n", "6", "--max-new-tokens", "6", "--batch-size", "4", "--out", str(out)]) == 0
    summary = json.loads(out.with_suffix(".summary.json").read_text())
    assert summary["teacher"] == "model:tiny-chat" and summary["traces"] == 6
    assert summary["generated_tokens"] > 0 and summary["tokens_per_s"] > 0
    capsys.readouterr()
    assert main(["emergence", "filter", "--traces", str(out), str(pipeline["traces"]), "--out", str(tmp_path / "k.jsonl")]) == 0
    cells = json.loads(capsys.readouterr().out)["by_cell"]
    assert {c["teacher"] for c in cells} == {"model:tiny-chat", "programmatic"}
    assert sum(c["kept"] for c in cells if c["teacher"] == "model:tiny-chat") == 0  # random weights: no valid trace

    report = tmp_path / "report"
    assert main(["emergence", "eval", "--unified", str(pipeline["unified"]), "--model", f"tiny={tiny_chat_lm}",
                 "--n", "6", "--max-new-tokens", "6", "--out", str(report)]) == 0
    assert "Selectivity did not emerge" in capsys.readouterr().out
    summary = json.loads((report / "emergence.json").read_text())
    (model,) = summary["models"]
    assert summary["eval"]["n"] == 6 and {b: c["n"] for b, c in model["buckets"].items()} == {"easy": 2, "medium": 2,
                                                                                              "hard": 2}
    assert model["training"] is None and (report / "emergence.png").stat().st_size > 0
    rows = read_records(report / "outputs" / "tiny.jsonl", ("id", "glyph_any", "correct", "output", "answer_tokens"))
    assert all(r["id"].split("-")[1] == "test" for r in rows)  # held-out problems only
    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_lm)
    assert all(r["output"] and r["answer_tokens"] == len(tokenizer(r["output"], add_special_tokens=False)["input_ids"])
               for r in rows)
    markdown = (report / "emergence.md").read_text()
    assert "| tiny | hard | 2 |" in markdown and "Selectivity did not emerge" in markdown


def _sweep_settings(tmp_path: Path, pipeline: dict, smollm2_dir: Path, base: Path | None, shares: list[float],
                    **sft) -> dict:
    sft_file = tmp_path / "sft.yaml"
    sft_file.write_text(yaml.safe_dump({
        "tokenizer": str(smollm2_dir), "gpt2": {"n_layer": 1, "n_head": 2, "n_embd": 32, "n_positions": 512},
        "max_length": 512, "max_steps": 2, "micro_batch_size": 4, "learning_rate": 1e-3, "warmup_steps": 0,
        "eval_every": 2, "checkpoint_every": 2, "zero_stage": 0, **sft}))
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump({
        "storage_path": str(tmp_path / "runs"), "unified": str(pipeline["unified"]), "kept": str(pipeline["kept"]),
        "sft": str(sft_file), "glyph_share": shares, "seeds": [7], "n_train": 20, "val_share": 0.2,
        "template": str(smollm2_dir), "base_model": str(base) if base else None, "out": str(tmp_path / "report")}))
    return load_sweep(config, ["eval.n=3", "eval.max_new_tokens=4", "eval.batch_size=3"])


def test_a_sweep_trial_trains_on_tune_and_evaluates_held_out(ray_session, pipeline, smollm2_dir, tmp_path,
                                                             monkeypatch):
    # the SFT config's relative paths mean the sweep's directory, not the one Tune starts the trial in
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "smollm2").symlink_to(smollm2_dir)
    settings = _sweep_settings(tmp_path, pipeline, smollm2_dir, None, [0.5], tokenizer="models/smollm2")
    summary = run_sweep(settings)
    assert summary["failed"] == [] and [m["name"] for m in summary["models"]] == ["glyph0.5-seed7"]
    (model,) = summary["models"]
    assert model["training"]["steps"] == 2 and model["training"]["data"]["glyph_share"] == 0.5
    assert model["training"]["data"]["files"]["train"]["rows"] == 16 and model["selectivity_emerged"] is False
    assert summary["eval"]["n"] == 3 and sum(c["n"] for c in model["buckets"].values()) == 3


@pytest.mark.slow
def test_sweep_trains_each_mix_on_tune_and_evaluates_held_out(ray_session, pipeline, smollm2_dir, tiny_chat_lm,
                                                              tmp_path):
    settings = _sweep_settings(tmp_path, pipeline, smollm2_dir, tiny_chat_lm, [0.0, 1.0])
    summary = run_sweep(settings)
    assert summary["failed"] == []
    names = [m["name"] for m in summary["models"]]
    assert names == ["base", "glyph0-seed7", "glyph1-seed7"]
    for model in summary["models"][1:]:
        training = model["training"]
        assert training["steps"] == 2 and training["loss"] > 0 and training["eval_loss"] > 0
        assert training["data"]["glyph_share"] == float(model["name"][5])  # the trial's own mix
        assert sum(c["n"] for c in model["buckets"].values()) == 3
    paths = write_report(summary, Path(settings["out"]))
    assert [p.name for p in paths] == ["emergence.json", "emergence.md", "emergence.png"]
    assert "| glyph1-seed7 | 1.0, hardest, 16 | 2 |" in paths[1].read_text()


def test_sweep_config_is_checked():
    with pytest.raises(GlyphDistError, match="unknown key 'glyph_shares'"):
        load_sweep(Path("experiments/emergence_sweep.yaml"), ["glyph_shares=[0]"])
    with pytest.raises(GlyphDistError, match="eval takes the keys"):
        load_sweep(Path("experiments/emergence_sweep.yaml"), ["eval.temperature=1"])
    with pytest.raises(GlyphDistError, match="seeds must be a non-empty list"):
        load_sweep(Path("experiments/emergence_sweep.yaml"), ["seeds=3"])
    settings = load_sweep(Path("experiments/emergence_sweep.yaml"), ["eval.n=50", "sft_overrides.max_steps=5"])
    assert settings["eval"]["n"] == 50 and settings["eval"]["max_new_tokens"] == 256
    assert settings["sft_overrides"] == {"max_steps": 5} and Path(settings["unified"]).is_absolute()
    gpu = load_sweep(Path("experiments/emergence_sweep_gpu.yaml"))
    assert gpu["sft_overrides"]["use_gpu"] and gpu["eval"]["gpus_per_actor"] == 1


@pytest.mark.slow
def test_smollm2_as_teacher_and_as_the_fine_tuned_model(ray_session, pipeline, smollm2_dir, tmp_path):
    """The catalog's SmolLM2: glyph traces under the Glyph prompt, then two SFT steps on the mix and the evaluation."""
    out = tmp_path / "smollm2_traces.jsonl"
    assert main(["emergence", "traces", "--unified", str(pipeline["unified"]), "--teacher", str(smollm2_dir),
                 "--n", "2", "--max-new-tokens", "48", "--out", str(out)]) == 0
    assert all(r["trace"] for r in read_records(out, TRACE_KEYS))
    sft = tmp_path / "sft.yaml"
    shutil.copy("experiments/emergence_sft.yaml", sft)
    assert main(["train", "sft", str(sft), f"model={smollm2_dir}", f"storage_path={tmp_path / 'runs'}",
                 f"train_file={pipeline['mix'] / 'train.jsonl'}", f"val_file={pipeline['mix'] / 'val.jsonl'}",
                 "max_steps=2", "eval_every=2", "checkpoint_every=2", "micro_batch_size=2", "zero_stage=0"]) == 0
    checkpoint = next((tmp_path / "runs" / "emergence_sft").glob("checkpoint_*"))
    report = tmp_path / "report"
    assert main(["emergence", "eval", "--unified", str(pipeline["unified"]), "--model", f"sft={checkpoint}",
                 "--n", "3", "--max-new-tokens", "16", "--out", str(report)]) == 0
    model = json.loads((report / "emergence.json").read_text())["models"][0]
    assert model["training"]["steps"] == 2 and model["training"]["data"]["glyph_share"] == 0.5
