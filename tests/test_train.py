"""Supervised fine-tuning: config and data errors before training, and real Ray Train + DeepSpeed runs
(1 and 2 CPU workers, ZeRO 0/2/3) checked step by step against a plain single-process torch loop.

The reference loop trains the same tiny GPT-2 (same seed, tokens, batch order, learning rates and
clipping) with torch's AdamW on each step's whole global batch in one forward pass, with its own
batches: padded to their longest pair, an attention mask, labels, and logits at every position.
Runs must follow its losses within TOLERANCE (relative, per step, fp32). A run whose workers step on
their own share of the batch only, as when the gradients are not averaged across workers, is shown
to miss it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import socket
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.hybrid import GLYPH_CLOSE, GLYPH_OPEN
from glyph_dist.fgt.store import resolve_tape_dir
from glyph_dist.train.checkpoint import STATE_FILE, check_resumable
from glyph_dist.train.config import SFTConfig, config_from_dict, load_sft_config
from glyph_dist.models.pairs import read_pairs, tokenize_pairs
from glyph_dist.train.data import Collator, epoch_order, eval_batches, step_batches, steps_per_epoch
from glyph_dist.train.job import HISTORY_FILE, TRIAL_RESOURCES, Prepared, prepare, sft_trial, train_sft
from glyph_dist.train.loop import WorkerSession, lr_at, run_worker
from glyph_dist.train.model import TargetLoss, build_model, pad_id, param_groups

TINY_YAML = Path(__file__).resolve().parents[1] / "experiments" / "sft_tiny.yaml"
TOLERANCE = 1e-4  # relative difference of a step's loss from the reference's
# absolute, on every weight of the saved model: 3% of one step at the tests' peak learning rate (3e-3). AdamW
# divides each gradient element by its running RMS, so where an element is near 0 the rounding of another
# CPU's kernels moves its steps visibly (up to 1.2e-5 after 6 steps on one machine); a missed or doubled
# step moves weights by about the learning rate.
WEIGHT_TOLERANCE = 1e-4


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


IGNORE = -100  # the label of a position without loss


def labelled(examples: list[tuple[np.ndarray, int]], pad: int) -> dict[str, torch.Tensor]:
    """The reference's batch: right-padded to its longest pair, an attention mask, and labels that
    are IGNORE on the prompt and the padding."""
    width = max(len(ids) for ids, _ in examples)
    batch = {"input_ids": torch.full((len(examples), width), pad), "attention_mask": torch.zeros(len(examples), width,
             dtype=torch.long), "labels": torch.full((len(examples), width), IGNORE)}
    for row, (ids, prompt_len) in enumerate(examples):
        batch["input_ids"][row, :len(ids)] = torch.tensor(ids)
        batch["attention_mask"][row, :len(ids)] = 1
        batch["labels"][row, prompt_len:len(ids)] = torch.tensor(ids[prompt_len:])
    return batch


def reference_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The mean cross-entropy of the labelled tokens, from logits at every position."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), batch["labels"][:, 1:].flatten(), ignore_index=IGNORE)


def global_batches(config: SFTConfig, data, steps: int):
    """Each step's global batch: the pairs of its block of `epoch_order`, epoch after epoch."""
    per_epoch = steps_per_epoch(len(data), 1, config.global_batch, 1)
    for step in range(steps):
        epoch, index = divmod(step, per_epoch)
        order = epoch_order(data.lengths, config.global_batch, config.seed, epoch, config.length_window)
        yield order[index * config.global_batch:(index + 1) * config.global_batch]


def reference_run(config: SFTConfig, prepared: Prepared, steps: int,
                  own_share_only: bool = False) -> tuple[list[float], torch.nn.Module]:
    """Losses of a plain torch loop over the same global batches; with `own_share_only` the model
    steps on worker 0's share of each batch alone (what it would do if gradients were not averaged)."""
    torch.manual_seed(config.seed)
    model = build_model(config, prepared.tokenizer)
    optimizer = torch.optim.AdamW(param_groups(model, config.weight_decay), lr=config.learning_rate,
                                  betas=(config.beta1, config.beta2), eps=1e-8)
    pad = pad_id(prepared.tokenizer)
    losses = []
    for step, block in enumerate(global_batches(config, prepared.train, steps)):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        loss = reference_loss(model, labelled([prepared.train[i] for i in block], pad))
        losses.append(loss.item())
        share = block[::config.num_workers]
        stepped = reference_loss(model, labelled([prepared.train[i] for i in share], pad)) if own_share_only else loss
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
    ("pad_multiple=0", "pad_multiple must be >= 1"),
    ("torch_compile=maybe", "torch_compile must be bool or null"),
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


# -- data: the loss positions, truncation, batch shapes, sharding; the training modules need no faiss


def test_loss_covers_the_target_only(prepared, pairs_dir):
    tokenizer = prepared.tokenizer
    pair = read_pairs(pairs_dir / "train.jsonl", {})[0]
    target = tokenizer(pair.target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    full, cut = tokenize_pairs([pair], tokenizer, 64), tokenize_pairs([pair], tokenizer, len(target) + 2)
    batch = Collator(pad_id(tokenizer))([full[0], cut[0]])
    width = batch.input_ids.shape[1]
    rows = (batch.positions // width).tolist()
    assert rows == [0] * len(target) + [1] * len(target)  # the prompt and the padding carry no loss
    assert batch.targets.tolist() == target * 2  # truncation keeps the target
    following = batch.input_ids.flatten()[batch.positions + 1]
    assert torch.equal(following, batch.targets)  # each position is followed by its target
    assert batch.tokens == len(full[0][0]) + len(target) + 2 and list(cut.scored) == [len(target)]


def test_target_loss_equals_the_full_logits_loss(prepared, base):
    torch.manual_seed(0)
    model = build_model(base, prepared.tokenizer)
    pad = pad_id(prepared.tokenizer)
    examples = [prepared.train[i] for i in range(5)]
    batch = Collator(pad, multiple=16)(examples)
    loss = TargetLoss(model)
    assert loss.head_on_targets_only
    expected = reference_loss(model, labelled(examples, pad)) * len(batch.targets)
    assert torch.allclose(loss(batch.input_ids, batch.positions, batch.targets), expected, rtol=1e-5)

    class ScaledLogits(GPT2LMHeadModel):  # logits that are not the output layer's alone
        def forward(self, *args, **kwargs):
            output = super().forward(*args, **kwargs)
            output.logits = output.logits * 2
            return output

    scaled = ScaledLogits(GPT2Config(**base.gpt2, vocab_size=len(prepared.tokenizer)))
    scaled_loss = TargetLoss(scaled)
    assert not scaled_loss.head_on_targets_only  # so the loss takes the model's own logits
    logits = scaled(input_ids=batch.input_ids).logits.flatten(0, 1)[batch.positions]
    assert torch.allclose(scaled_loss(batch.input_ids, batch.positions, batch.targets),
                          F.cross_entropy(logits, batch.targets, reduction="sum"), rtol=1e-5)


def test_batch_widths_are_rounded_up_and_capped():
    pairs = [(np.arange(n), 1) for n in (3, 17, 30)]
    assert Collator(0, multiple=16)(pairs).input_ids.shape == (3, 32)
    assert Collator(0, multiple=16, limit=30)(pairs).input_ids.shape == (3, 30)
    assert Collator(0, multiple=16, limit=24)(pairs).input_ids.shape == (3, 30)  # never narrower than a pair
    assert Collator(0)(pairs[:2]).input_ids.shape == (2, 17)


def test_length_windows_group_similar_lengths(prepared):
    lengths = prepared.train.lengths
    orders = {window: epoch_order(lengths, 4, 7, 0, window) for window in (1, 4)}
    assert all(len(set(order)) == len(order) == 32 for order in orders.values())  # each pair once an epoch

    def spread(order):  # the mean difference between the longest and the shortest pair of a global batch
        return np.mean([np.ptp(lengths[block]) for block in order.reshape(-1, 4)])

    assert spread(orders[4]) < spread(orders[1])
    window = orders[4][:16]
    assert set(window) == set(orders[1][:16])  # a window deals its own pairs only
    blocks = sorted((lengths[block] for block in window.reshape(4, 4)), key=min)
    assert all(a.max() <= b.min() for a, b in zip(blocks, blocks[1:]))  # cut from the window sorted by length
    assert not np.array_equal(epoch_order(lengths, 4, 7, 1, 4), orders[4])  # another order each epoch


@pytest.mark.parametrize("window", [1, 4])
def test_global_batches_do_not_depend_on_the_number_of_workers(prepared, window):
    def pairs_of(world: int, micro: int, accum: int, start: int) -> list[list[tuple]]:
        workers = [step_batches(prepared.train, r, world, micro, accum, 7, lambda examples: examples, start, window)
                   for r in range(world)]
        steps = [[next(w) for w in workers] for _ in range(10)]
        assert all(len({(s.scored, s.tokens) for s in step}) == 1 for step in steps)  # every worker knows the totals
        return [sorted(tuple(ids) for s in step for micro_batch in s.micro_batches for ids, _ in micro_batch)
                for step in steps]

    single = pairs_of(1, 4, 1, 0)
    assert pairs_of(2, 2, 1, 0) == single == pairs_of(1, 2, 2, 0)
    assert pairs_of(2, 1, 2, 3) == single[3:] + pairs_of(1, 4, 1, 10)[:3]  # resumed mid-run
    collator = Collator(0, multiple=8)
    shares = [list(eval_batches(prepared.val, r, 3, 2, collator)) for r in range(3)]
    assert len({len(s) for s in shares}) == 1  # the same number of forward passes on every worker
    assert sum(len(b.targets) for s in shares for b in s) == prepared.val.scored.sum()


def test_training_modules_import_without_faiss():
    """A Ray Train worker imports these modules; faiss (the tape's) must not be among their imports."""
    code = ("import sys; sys.modules['faiss'] = None\n"
            "import glyph_dist.train.checkpoint, glyph_dist.train.config, glyph_dist.train.data\n"
            "import glyph_dist.train.loop, glyph_dist.train.model, glyph_dist.train.zero\n"
            "print(sorted(m for m in sys.modules if m.startswith('glyph_dist.fgt')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_loop_runs_in_process_with_the_hooks_it_is_given(base, prepared, tmp_path, monkeypatch):
    """One worker without Ray: metrics and checkpoints reach the session's report hook."""
    port = _free_port()
    for key, value in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(port), "DS_ACCELERATOR": "cpu"}.items():
        monkeypatch.setenv(key, value)
    reports = []

    def report(row: dict, directory: Path | None, name: str | None) -> None:
        reports.append((row["step"], name, directory is not None and (directory / STATE_FILE).is_file()))

    config = _run_config(base, tmp_path, max_steps=3, zero_stage=0)
    cfg = {"config": config, "tokenizer": prepared.tokenizer, "train": prepared.train, "val": prepared.val,
           "quiet": True}
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        history = run_worker(cfg, WorkerSession(0, 1, lambda: None, report))
    finally:
        dist.destroy_process_group()
    assert [row["step"] for row in history] == [1, 2, 3]
    assert all(math.isfinite(row["loss"]) for row in history) and "eval_loss" in history[-1]
    # log_every 1: every step reported; checkpoint_every 3: the last with its checkpoint and state file
    assert reports == [(1, None, False), (2, None, False), (3, "checkpoint_000003", True)]
