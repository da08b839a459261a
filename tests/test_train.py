"""Supervised fine-tuning: config and data errors before training, and real Ray Train + DeepSpeed runs
(1 and 2 CPU workers, ZeRO 0/2/3) checked step by step against a plain single-process torch loop.

The reference loop trains the same tiny GPT-2 (same seed, tokens, batch order, learning rates and
clipping) with torch's AdamW on each step's whole global batch in one forward pass. Runs must follow
its losses within TOLERANCE (relative, per step, fp32). A run whose workers step on their own share
of the batch only, as when the gradients are not averaged across workers, is shown to miss it.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.hybrid import GLYPH_CLOSE, GLYPH_OPEN
from glyph_dist.fgt.store import resolve_tape_dir
from glyph_dist.train.checkpoint import STATE_FILE, check_resumable
from glyph_dist.train.config import SFTConfig, config_from_dict, load_sft_config
from glyph_dist.train.data import IGNORE, collate, eval_batches, step_batches, tokenize_pairs, read_pairs
from glyph_dist.train.job import HISTORY_FILE, TRIAL_RESOURCES, Prepared, prepare, sft_trial, train_sft
from glyph_dist.train.loop import lr_at, masked_loss_sum, scored_tokens
from glyph_dist.train.model import build_model, pad_id, param_groups

TINY_YAML = Path(__file__).resolve().parents[1] / "experiments" / "sft_tiny.yaml"
TOLERANCE = 1e-4  # relative difference of a step's loss from the reference's
WEIGHT_TOLERANCE = 1e-5  # absolute, on every weight of the saved model


def _write_pairs(path: Path, glyphs: list[str], n: int, seed: int) -> Path:
    """Pairs of varied lengths whose prompts hold glyph codes; the target is a function of the prompt."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        count = rng.randint(1, 9)
        filler = " and then some more" * rng.randint(0, 5)
        glyph = f"{GLYPH_OPEN}{glyphs[i % len(glyphs)]}{GLYPH_CLOSE}"
        prompt = f"Context:\n{glyph} the user books {count} seats{filler}.\nAnswer:"
        lines.append(json.dumps({"prompt": prompt, "target": f" {count} seats" + " please" * (i % 3),
                                 "variant": "glyph"}))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def pairs_dir(tape, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pairs")
    glyphs = [r.glyph for r in tape.records[:16]]
    _write_pairs(root / "train.jsonl", glyphs, 32, seed=1)
    _write_pairs(root / "val.jsonl", glyphs, 8, seed=2)
    return root


@pytest.fixture(scope="module")
def base(pairs_dir, tape_root) -> SFTConfig:
    """32 training pairs, micro batch 2; every run's global batch is 4 (8 steps an epoch)."""
    return config_from_dict({
        "name": "base", "train_file": str(pairs_dir / "train.jsonl"), "val_file": str(pairs_dir / "val.jsonl"),
        "tape": str(tape_root), "max_length": 64, "gpt2": {"n_positions": 64}, "micro_batch_size": 2,
        "learning_rate": 3e-3, "warmup_steps": 2, "lr_decay_steps": 10, "eval_every": 3, "log_every": 1,
        "checkpoint_every": 3})


@pytest.fixture(scope="module")
def prepared(base) -> Prepared:
    return prepare(base)


def _run_config(base: SFTConfig, tmp_path: Path, **changes) -> SFTConfig:
    return dataclasses.replace(base, storage_path=str(tmp_path / "runs"), **changes)


def reference_run(config: SFTConfig, prepared: Prepared, steps: int,
                  own_share_only: bool = False) -> tuple[list[float], torch.nn.Module]:
    """Losses of a plain torch loop over the same global batches; with `own_share_only` the model
    steps on worker 0's share of each batch alone (what it would do if gradients were not averaged)."""
    torch.manual_seed(config.seed)
    model = build_model(config, prepared.tokenizer)
    optimizer = torch.optim.AdamW(param_groups(model, config.weight_decay), lr=config.learning_rate,
                                  betas=(config.beta1, config.beta2), eps=1e-8)
    pad = pad_id(prepared.tokenizer)
    batches = step_batches(prepared.train, 0, 1, config.global_batch, 1, config.seed, pad)
    shares = step_batches(prepared.train, 0, config.num_workers, config.micro_batch_size * config.grad_accum, 1,
                          config.seed, pad)
    losses = []
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        [batch], [share] = next(batches), next(shares)
        loss = masked_loss_sum(model, batch) / scored_tokens(batch)
        losses.append(loss.item())
        stepped = masked_loss_sum(model, share) / scored_tokens(share) if own_share_only else loss
        optimizer.zero_grad()
        stepped.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
    return losses, model


def _relative_gaps(losses: list[float], reference: list[float]) -> list[float]:
    return [abs(a - b) / abs(b) for a, b in zip(losses, reference, strict=True)]


def _losses(history: list[dict]) -> list[float]:
    assert [row["step"] for row in history] == list(range(1, len(history) + 1))
    return [row["loss"] for row in history]


def _assert_same_weights(checkpoint: Path, reference: torch.nn.Module) -> None:
    saved = AutoModelForCausalLM.from_pretrained(checkpoint, local_files_only=True).state_dict()
    for name, tensor in reference.state_dict().items():
        assert torch.allclose(saved[name], tensor, atol=WEIGHT_TOLERANCE, rtol=0), name


# -- config and data errors, before any training


@pytest.mark.parametrize("override, message", [
    ("nmu_workers=2", "unknown key 'nmu_workers'"),
    ("gpt2.n_layers=4", "unknown gpt2 key.*n_layers"),
    ("num_workers=two", "num_workers must be int"),
    ("zero_stage=4", "zero_stage must be one of 0, 1, 2, 3"),
    ("micro_batch_size=0", "micro_batch_size must be >= 1"),
    ("max_steps", "expected key=value"),
])
def test_bad_overrides_are_refused(override, message):
    with pytest.raises(GlyphDistError, match=message):
        load_sft_config(TINY_YAML, [override])


def test_tiny_config_and_overrides():
    config = load_sft_config(TINY_YAML, ["num_workers=2", "gpt2.n_layer=4", "where.variant=raw", "grad_accum=3"])
    assert (config.num_workers, config.gpt2["n_layer"], config.gpt2["n_embd"]) == (2, 4, 64)
    assert config.where == {"variant": "raw"} and config.global_batch == 8 * 3 * 2
    assert Path(config.tape).is_absolute() and config.train_file.endswith("data/phase5/glyph_aware/train.jsonl")


def test_unknown_key_in_the_file(tmp_path):
    path = tmp_path / "sft.yaml"
    path.write_text(TINY_YAML.read_text() + "batch_size: 4\n")
    with pytest.raises(GlyphDistError, match="unknown key 'batch_size'"):
        load_sft_config(path)


@pytest.mark.parametrize("content, message", [
    ('{"prompt": "a", "target": "b"}\n{"prompt": "a", "target": \n', r"bad\.jsonl, line 2: not valid JSON"),
    ('{"prompt": "a", "target": "b"}\n\n{"prompt": "a"}\n', r"bad\.jsonl, line 3: expected an object"),
    ('{"prompt": "a", "target": "b", "variant": "raw"}\n', r"bad\.jsonl: no pairs with \{'variant': 'glyph'\}"),
])
def test_bad_data_is_refused_with_file_and_line(base, tmp_path, content, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content)
    with pytest.raises(GlyphDistError, match=message):
        train_sft(dataclasses.replace(base, val_file=str(bad), where={"variant": "glyph"}), quiet=True)


def test_missing_file_is_refused(base, tmp_path):
    with pytest.raises(GlyphDistError, match=r"missing\.jsonl: no such file"):
        train_sft(dataclasses.replace(base, train_file=str(tmp_path / "missing.jsonl")), quiet=True)


def test_glyph_data_needs_a_tokenizer_with_glyph_tokens(base, tape_root):
    plain = resolve_tape_dir(tape_root) / "tokenizer"  # the tape's base tokenizer, without glyph tokens
    with pytest.raises(GlyphDistError, match=r"train\.jsonl, line 1: .*glyph token.*<GLYPH>"):
        train_sft(dataclasses.replace(base, tape=None, tokenizer=str(plain)), quiet=True)


def test_offload_needs_a_zero_stage(base):
    with pytest.raises(GlyphDistError, match="offload_optimizer needs zero_stage 1, 2 or 3"):
        train_sft(dataclasses.replace(base, zero_stage=0, offload_optimizer=True), quiet=True)


def test_resume_needs_the_same_workers_and_stage(base, tmp_path):
    (tmp_path / "deepspeed").mkdir()
    (tmp_path / STATE_FILE).write_text(json.dumps({"step": 3, "workers": 2, "zero_stage": 2, "history": []}))
    assert check_resumable(tmp_path, dataclasses.replace(base, num_workers=2, zero_stage=2))["step"] == 3
    with pytest.raises(GlyphDistError, match="written by 2 workers under ZeRO-2"):
        check_resumable(tmp_path, dataclasses.replace(base, num_workers=1))


# -- data: masking, truncation, sharding


def test_loss_covers_the_target_only(prepared, pairs_dir):
    tokenizer = prepared.tokenizer
    pair = read_pairs(pairs_dir / "train.jsonl", {})[0]
    target = tokenizer(pair.target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    full, cut = tokenize_pairs([pair], tokenizer, 64), tokenize_pairs([pair], tokenizer, len(target) + 2)
    batch = collate([full[0], cut[0]], pad_id(tokenizer))
    for row in range(2):
        scored = batch["labels"][row][batch["labels"][row] != IGNORE].tolist()
        assert scored == target  # the prompt and the padding carry no loss; truncation keeps the target
    assert batch["attention_mask"][1].sum() == len(target) + 2


def test_global_batches_do_not_depend_on_the_number_of_workers(prepared):
    def global_batches(world: int, micro: int, accum: int, start: int) -> list[list[list[int]]]:
        workers = [step_batches(prepared.train, r, world, micro, accum, 7, 0, start_step=start) for r in range(world)]
        return [sorted(ids[mask.bool()].tolist() for w in workers for b in next(w)
                       for ids, mask in zip(b["input_ids"], b["attention_mask"])) for _ in range(10)]

    single = global_batches(1, 4, 1, 0)
    assert global_batches(2, 2, 1, 0) == single == global_batches(1, 2, 2, 0)
    assert global_batches(2, 1, 2, 3) == single[3:] + global_batches(1, 4, 1, 10)[:3]  # resumed mid-run
    shares = [list(eval_batches(prepared.val, r, 3, 2, 0)) for r in range(3)]
    assert len({len(s) for s in shares}) == 1  # the same number of forward passes on every worker
    assert sum(scored_tokens(b) for s in shares for b in s) == sum(
        scored_tokens(b) for b in eval_batches(prepared.val, 0, 1, 2, 0))


# -- training on Ray: 2 workers ZeRO-2, 1 worker ZeRO-0, ZeRO-3 inside a Tune trial


def test_two_workers_zero2_follow_a_single_process_and_resume(ray_session, base, prepared, tmp_path):
    config = _run_config(base, tmp_path, name="zero2", num_workers=2, zero_stage=2, max_steps=6)
    first = train_sft(config, quiet=True)
    reference, _ = reference_run(config, prepared, 10)
    gaps = _relative_gaps(_losses(first.history), reference[:6])
    assert max(gaps) < TOLERANCE, gaps
    own_share, _ = reference_run(config, prepared, 6, own_share_only=True)
    assert max(_relative_gaps(own_share, reference[:6])) > 10 * TOLERANCE  # a run without averaging would fail
    assert first.checkpoint.name == "checkpoint_000006" and first.metrics["step"] == 6
    assert {"loss", "eval_loss", "tokens_per_s", "step"} <= set(first.metrics)

    # The same name again: Ray Train restores the run and the loop continues from step 6.
    resumed = train_sft(dataclasses.replace(config, max_steps=10), quiet=True)
    assert resumed.path == first.path and resumed.history[:6] == first.history
    gaps = _relative_gaps(_losses(resumed.history), reference)
    assert max(gaps) < TOLERANCE, gaps
    assert resumed.checkpoint.name == "checkpoint_000010"
    assert sorted(p.name for p in first.path.glob("checkpoint_0*")) == ["checkpoint_000009", "checkpoint_000010"]
    assert len((first.path / HISTORY_FILE).read_text().splitlines()) == 10


def test_one_worker_with_accumulation_checkpoint_and_resume_from(ray_session, base, prepared, tmp_path):
    config = _run_config(base, tmp_path, name="one", num_workers=1, grad_accum=2, zero_stage=0, max_steps=6)
    first = train_sft(config, quiet=True)
    reference, model = reference_run(config, prepared, 6)
    assert max(_relative_gaps(_losses(first.history), reference)) < TOLERANCE
    _assert_same_weights(first.checkpoint, model)
    tokenizer = AutoTokenizer.from_pretrained(first.checkpoint, local_files_only=True)
    assert len(tokenizer) == len(prepared.tokenizer) and GLYPH_OPEN in tokenizer.get_vocab()
    assert json.loads((first.checkpoint / STATE_FILE).read_text())["step"] == 6

    resumed = train_sft(dataclasses.replace(config, name="one_more", resume_from=str(first.checkpoint), max_steps=8),
                        quiet=True)
    reference, _ = reference_run(config, prepared, 8)
    assert resumed.history[:6] == first.history and resumed.path != first.path
    assert max(_relative_gaps(_losses(resumed.history), reference)) < TOLERANCE


def test_zero3_in_a_tune_trial(ray_session, base, prepared, tmp_path):
    """The Tune function reserves no CPU, so its two 1-CPU workers fit on the session's 2 CPUs."""
    from ray import tune

    config = _run_config(base, tmp_path, name="tuned", num_workers=2, zero_stage=3, max_steps=2)
    tuner = tune.Tuner(tune.with_resources(sft_trial, TRIAL_RESOURCES), param_space=dataclasses.asdict(config),
                       run_config=tune.RunConfig(name="tune", storage_path=str(tmp_path / "tune"), verbose=0))
    [result] = tuner.fit()
    assert result.error is None
    assert result.metrics["step"] == 2 and "eval_loss" in result.metrics
    reference, model = reference_run(config, prepared, 2)
    assert abs(result.metrics["loss"] - reference[1]) / reference[1] < TOLERANCE
    _assert_same_weights(Path(result.metrics["checkpoint_path"]), model)  # gathered from both workers
