"""Cognate: causality, ACT gradients and halting, the Titans memory update, Muon and Grokfast against
hand computation, specialisations, sizes, config and data checks, checkpoints and resume, and the
Ray Train job end to end on the tiny config."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from glyph_dist.errors import GlyphDistError
from glyph_dist.forge.cognate import model as model_module
from glyph_dist.forge.cognate import titans
from glyph_dist.forge.cognate.act import halted_forward, halting_loss, halting_targets
from glyph_dist.forge.cognate.checkpoint import (build_model, load_pretrained, restore_checkpoint, save_checkpoint,
                                                 save_pretrained)
from glyph_dist.forge.cognate.config import load_pretrain_config
from glyph_dist.forge.cognate.data import Streams, jsonl_texts, load_source, parse_curriculum
from glyph_dist.forge.cognate.diversity import diversity
from glyph_dist.forge.cognate.evaluate import _finished
from glyph_dist.forge.cognate.model import Cognate, CognateConfig, attention_mask
from glyph_dist.forge.cognate.optim import GrokfastEMA, MuonAdamW, OptimConfig, split_parameters
from glyph_dist.forge.cognate.sizes import category_of, model_size, preflight
from glyph_dist.forge.cognate.specialisations import SPECIALISATIONS, specialise
from glyph_dist.forge.cognate.train import train_step
from glyph_dist.forge.cognate.trm import supervision_steps

ROOT = Path(__file__).resolve().parents[1]
TINY_CONFIG = ROOT / "experiments" / "forge_cognate_tiny.yaml"


def tiny(**changes) -> CognateConfig:
    values = dict(vocab_size=64, d_model=32, n_layers=2, n_heads=2, max_seq_len=32, outer_steps=3, inner_steps=1,
                  memory_dim=8, memory_hidden=16, memory_chunk=4)
    return CognateConfig(**{**values, **changes})


def seeded(config: CognateConfig) -> Cognate:
    torch.manual_seed(0)
    return Cognate(config).eval()


# --- causality -------------------------------------------------------------------------------------

def _future_leak(model: Cognate, threshold: float) -> tuple[float, float]:
    """(largest change of the logits at positions < 12 when tokens 12.. change, largest change at 12..)."""
    torch.manual_seed(1)
    idx = torch.randint(0, model.config.vocab_size, (2, 20))
    changed = idx.clone()
    changed[:, 12:] = (changed[:, 12:] + 7) % model.config.vocab_size
    a = halted_forward(model, idx, threshold).logits
    b = halted_forward(model, changed, threshold).logits
    return float((a[:, :12] - b[:, :12]).abs().max()), float((a[:, 12:] - b[:, 12:]).abs().max())


@pytest.mark.parametrize("changes", [{}, {"positions": "learned"}, {"window": 5}])
@pytest.mark.parametrize("threshold", [0.5, 1.0])
def test_a_future_token_cannot_change_an_earlier_logit(changes, threshold):
    before, after = _future_leak(seeded(tiny(**changes)), threshold)
    assert before == 0.0
    assert after > 1e-4  # the changed tokens do change their own predictions


def test_the_leak_check_catches_a_bidirectional_decoder(monkeypatch):
    """The reference code's flaw, reproduced: with attention over every position the check fails."""
    monkeypatch.setattr(model_module, "attention_mask", lambda L, window, device: torch.ones(L, L, dtype=torch.bool))
    before, _ = _future_leak(seeded(tiny()), 1.0)
    assert before > 1e-4


def test_attention_mask_is_causal_and_windowed():
    mask = attention_mask(6, 3, torch.device("cpu"))
    for i in range(6):
        for j in range(6):
            assert bool(mask[i, j]) == (j <= i and i - j < 3)
    assert attention_mask(6, 0, torch.device("cpu")) is None  # plain causal attention


def test_the_memory_reads_only_earlier_chunks():
    memory = titans.NeuralMemory(16, 8, 16, chunk=4, lr=0.5, momentum=0.9, decay=0.1)
    x = torch.randn(1, 12, 16)
    changed = x.clone()
    changed[:, 8:] += 1.0
    a, _ = memory(x)
    b, _ = memory(changed)
    assert torch.equal(a[:, :8], b[:, :8])
    assert not torch.allclose(a[:, 8:], b[:, 8:])


# --- ACT -------------------------------------------------------------------------------------------

def test_the_halting_head_receives_gradient_from_its_bce():
    model = seeded(tiny()).train()
    idx = torch.randint(0, 64, (2, 16))
    enc = model.encode(idx)
    for y, _, _ in supervision_steps(model, enc):
        _, halt = model.readout(y)
        logits, _ = model.readout(y)
        halting_loss(halt, logits, idx).backward(retain_graph=True)
    assert model.halt_head.weight.grad.abs().sum() > 0
    assert model.halt_head.bias.grad.abs().sum() > 0
    assert model.blocks[0].attn.qkv.weight.grad.abs().sum() > 0  # through y into the recursion


def test_a_training_step_updates_the_halting_head():
    model = seeded(tiny()).train()
    before = model.halt_head.weight.detach().clone()
    optimizer = MuonAdamW(model, OptimConfig(warmup_steps=0))
    x, y = torch.randint(0, 64, (2, 16)), torch.randint(0, 64, (2, 16))
    row = train_step(model, optimizer, [(x, y)], act_weight=1.0, grad_clip=1.0, device=torch.device("cpu"))
    assert not torch.equal(before, model.halt_head.weight)
    assert row["halting_loss"] > 0 and math.isfinite(row["loss"])


def test_halting_targets_are_whether_the_argmax_is_already_right():
    logits = torch.tensor([[[0.1, 2.0, 0.3], [3.0, 0.0, 0.0]]])
    assert halting_targets(logits, torch.tensor([[1, 2]])).tolist() == [[1.0, 0.0]]


def test_halting_thresholds_set_the_steps():
    model = seeded(tiny(outer_steps=4))
    idx = torch.randint(0, 64, (2, 16))
    never = halted_forward(model, idx, 1.0)
    at_once = halted_forward(model, idx, 0.0)
    assert never.steps.eq(4).all() and at_once.steps.eq(1).all()
    first_y, _, _ = next(supervision_steps(model, model.encode(idx)))
    torch.testing.assert_close(at_once.logits, model.readout(first_y)[0])
    # a threshold in between: each token keeps the logits of the step where it halted
    middle = halted_forward(model, idx, float(torch.sigmoid(model.readout(first_y)[1]).median().detach()))
    assert middle.steps.min() == 1 and middle.steps.max() > 1


# --- Titans memory ---------------------------------------------------------------------------------

def _weights(batch: int = 2) -> titans.Weights:
    torch.manual_seed(3)
    return torch.randn(batch, 4, 6) * 0.5, torch.randn(batch, 6, 4) * 0.5


def test_a_test_time_update_reduces_the_recall_loss_of_what_was_written():
    weights = _weights()
    keys, values = F.normalize(torch.randn(2, 3, 4), dim=-1), torch.randn(2, 3, 4)
    momentum = tuple(torch.zeros_like(w) for w in weights)
    gradient = titans.surprise(weights, keys, values)
    rate = torch.full((2,), 0.2)
    updated, _ = titans.update(weights, momentum, gradient, rate, torch.zeros(2), torch.zeros(2))
    for b in range(2):
        mine = (weights[0][b], weights[1][b])
        new = (updated[0][b], updated[1][b])
        assert titans.recall_loss(new, keys[b], values[b]) < titans.recall_loss(mine, keys[b], values[b])


def test_surprise_is_each_sequences_own_recall_gradient():
    weights = _weights()
    keys, values = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    gradient = titans.surprise(weights, keys, values)
    for b in range(2):
        mine = tuple(w[b].clone().requires_grad_() for w in weights)
        expected = torch.autograd.grad(titans.recall_loss(mine, keys[b], values[b]), mine)
        for got, want in zip(gradient, expected):
            torch.testing.assert_close(got[b], want)


def test_momentum_and_decay_follow_equations_13_and_14():
    weights = _weights(1)
    momentum = tuple(torch.zeros_like(w) for w in weights)
    theta, eta, alpha = torch.tensor([0.3]), torch.tensor([0.8]), torch.tensor([0.1])
    g1 = tuple(torch.full_like(w, 1.0) for w in weights)
    g2 = tuple(torch.full_like(w, -2.0) for w in weights)
    w1, s1 = titans.update(weights, momentum, g1, theta, eta, alpha)
    w2, s2 = titans.update(w1, s1, g2, theta, eta, alpha)
    for i, w0 in enumerate(weights):
        hand_s1 = -0.3 * 1.0  # S1 = eta * 0 - theta g1
        hand_w1 = 0.9 * w0 + hand_s1  # M1 = (1 - alpha) M0 + S1
        hand_s2 = 0.8 * hand_s1 - 0.3 * -2.0  # S2 = eta S1 - theta g2
        torch.testing.assert_close(s1[i], torch.full_like(w0, hand_s1))
        torch.testing.assert_close(w1[i], hand_w1)
        torch.testing.assert_close(s2[i], torch.full_like(w0, hand_s2))
        torch.testing.assert_close(w2[i], 0.9 * hand_w1 + hand_s2)


def test_the_memory_forward_reports_recall_improving_on_every_chunk():
    memory = titans.NeuralMemory(16, 8, 16, chunk=4, lr=1.0, momentum=0.0, decay=0.0)
    _, stats = memory(torch.randn(2, 16, 16))
    assert (stats.recall_after < stats.recall_before).all()
    assert stats.state_bytes == 2 * (8 * 16 + 16 * 8) * 4


# --- optimiser --------------------------------------------------------------------------------------

class _TwoParts(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(2, 3, bias=False)])  # a hidden 3x2 matrix: Muon's
        self.wte = nn.Embedding(4, 2)  # an embedding: AdamW's
        self.norm = nn.RMSNorm(2)  # a vector: AdamW's without decay


def _newton_schulz(update: torch.Tensor) -> torch.Tensor:
    """Five quintic Newton–Schulz iterations by hand (float64), on the wide orientation."""
    a, b, c = 3.4445, -4.7750, 2.0315
    x = update.double().T  # 3x2 -> 2x3
    x = x / x.norm()
    for _ in range(5):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T


def test_muon_step_matches_a_hand_computation():
    model = _TwoParts()
    muon, decay, no_decay = split_parameters(model)
    assert muon == [model.blocks[0].weight] and decay == [model.wte.weight] and no_decay == [model.norm.weight]
    config = OptimConfig(muon_lr=0.1, weight_decay=0.01, momentum=0.9, grokfast_lambda=0.0)
    optimizer = MuonAdamW(model, config)
    w0 = model.blocks[0].weight.detach().clone().double()
    grads = [torch.tensor([[1.0, -2.0], [0.5, 0.0], [3.0, 1.0]]), torch.tensor([[-1.0, 0.5], [2.0, 1.0], [0.0, -1.0]])]
    buffer, w = torch.zeros(3, 2, dtype=torch.float64), w0
    for g in grads:
        model.blocks[0].weight.grad = g.clone()
        optimizer.step()
        g = g.double()
        buffer = 0.9 * buffer + 0.1 * g  # B <- mu B + (1 - mu) G
        nesterov = 0.1 * g + 0.9 * buffer  # U = (1 - mu) G + mu B
        w = w * (1 - 0.1 * 0.01) - 0.1 * math.sqrt(3 / 2) * _newton_schulz(nesterov)
    # torch runs Newton–Schulz in bfloat16: agreement to its precision, far below the step's size
    torch.testing.assert_close(model.blocks[0].weight.detach().double(), w, atol=5e-3, rtol=0)
    assert (w - w0).abs().max() > 0.1


def test_grokfast_adds_lambda_times_the_ema_of_the_gradient():
    p = nn.Parameter(torch.zeros(3))
    grokfast = GrokfastEMA([p], alpha=0.5, lamb=2.0)
    g1, g2 = torch.tensor([1.0, -2.0, 4.0]), torch.tensor([3.0, 0.0, -4.0])
    p.grad = g1.clone()
    grokfast.apply()
    torch.testing.assert_close(p.grad, g1 + 2.0 * g1)  # the EMA starts at the first gradient
    p.grad = g2.clone()
    grokfast.apply()
    ema = 0.5 * g1 + 0.5 * g2
    torch.testing.assert_close(p.grad, g2 + 2.0 * ema)  # [7, -2, -4]
    assert not torch.allclose(p.grad, g2 + 2.0 * (g2 - ema))  # the reference code's flaw


def test_the_optimiser_state_round_trips():
    model = _TwoParts()
    optimizer = MuonAdamW(model, OptimConfig())
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()
    other = MuonAdamW(model, OptimConfig())
    other.load_state_dict(optimizer.state_dict())
    torch.testing.assert_close(other.grokfast.ema[0], optimizer.grokfast.ema[0])
    assert other.adamw.state_dict()["state"].keys() == optimizer.adamw.state_dict()["state"].keys()


# --- specialisations, sizes, diversity -----------------------------------------------------------------

def test_specialisations_differ_in_recursion_memory_and_shape():
    base = tiny(outer_steps=3, inner_steps=1)
    configs = {name: specialise(base, name) for name in SPECIALISATIONS}
    r, m, s = configs["reasoning"], configs["memory"], configs["speed"]
    applications = {n: c.outer_steps * (c.inner_steps + 1) * c.n_layers for n, c in configs.items()}
    assert applications["reasoning"] > applications["memory"] > applications["speed"]
    assert r.halt_threshold > m.halt_threshold > s.halt_threshold
    assert m.memory_hidden > r.memory_hidden > s.memory_hidden and m.memory_lr > r.memory_lr
    assert m.window and not r.window
    assert s.n_layers < r.n_layers and s.d_model > r.d_model
    with pytest.raises(GlyphDistError, match="unknown specialisation"):
        specialise(base, "poetry")


def test_specialisations_halt_differently():
    """Untrained, every halting probability is near 0.5: the reasoning model (threshold 0.9) runs all
    its steps, the speed model (0.5) stops after its first for some tokens."""
    idx = torch.randint(0, 64, (2, 16))
    steps = {name: halted_forward(seeded(specialise(tiny(), name)), idx).steps.float().mean().item()
             for name in SPECIALISATIONS}
    assert steps["reasoning"] == 5 and steps["memory"] == 3
    assert steps["speed"] < 2


def test_size_counts_embeddings_apart_and_sets_the_category():
    model = Cognate(tiny())
    size = model_size(model)
    assert size.embedding == 64 * 32
    assert size.total == sum(p.numel() for p in model.parameters())
    assert size.category == "tiny"
    assert [category_of(n) for n in (1, 5_000_000, 60_000_000, 10**9)] == ["tiny", "small", "medium", "large"]
    learned = model_size(Cognate(tiny(positions="learned")))
    assert learned.embedding == 64 * 32 + 32 * 32


def test_preflight_refuses_a_job_that_cannot_fit(tmp_path):
    model = Cognate(tiny())
    assert preflight(model, 2, 16, tmp_path, 2, torch.device("cpu"))["memory_needed"] > 0
    with pytest.raises(GlyphDistError, match="pre-flight.*memory"):
        preflight(model, 10**7, 32, tmp_path, 2, torch.device("cpu"))


def test_diversity_is_the_mean_relative_range():
    models = {"a": {"halting_steps": 4.0, "memory_share": 0.5, "tokens_per_s": 100.0},
              "b": {"halting_steps": 2.0, "memory_share": 0.5, "tokens_per_s": 400.0}}
    result = diversity(models)
    assert result["figures"]["halting_steps"]["spread"] == 0.5
    assert result["figures"]["memory_share"]["spread"] == 0.0
    assert result["figures"]["tokens_per_s"]["spread"] == 0.75
    assert result["diversity"] == pytest.approx((0.5 + 0.0 + 0.75) / 3)


# --- config and data -------------------------------------------------------------------------------------

@pytest.mark.parametrize("override, error", [
    ("modle.d_model=4", "only model, optim, eval take dotted keys"),
    ("model.d_modle=64", "unknown key model.d_modle"),
    ("model.d_model=33", "must split into"),
    ("max_steps=0", "max_steps must be >= 1"),
    ("max_steps=ten", "max_steps must be int"),
    ("specialisations=[poetry]", "specialisations must name"),
    ("curriculum=[{name: a, share: 0.5, sources: [sgd]}]", "sum to 0.5"),
    ("colour=red", "unknown key"),
])
def test_bad_config_values_are_named(override, error):
    with pytest.raises(GlyphDistError, match=error):
        load_pretrain_config(TINY_CONFIG, [override])


def test_the_default_config_is_about_25m_parameters_a_model():
    config = load_pretrain_config(ROOT / "experiments" / "forge_cognate.yaml")
    for name in config.specialisations:
        with torch.device("meta"):
            size = model_size(Cognate(specialise(config.base_model(config.bpe_vocab), name)))
        assert 22e6 < size.non_embedding < 28e6, (name, size.describe())


def test_the_curriculum_moves_through_its_stages_and_draws_next_token_windows():
    stages = parse_curriculum([{"name": "a", "share": 0.25, "sources": ["x"]},
                               {"name": "b", "share": 0.75, "sources": ["x", "y"]}])
    streams = Streams({"x": torch.arange(100, dtype=torch.int32), "y": torch.arange(1000, 1100, dtype=torch.int32)},
                      {}, stages)
    assert [streams.stage_at(s, 8).name for s in range(8)] == ["a", "a", "b", "b", "b", "b", "b", "b"]
    inputs, targets = streams.batch(stages[1], 10, 6, torch.Generator().manual_seed(0))
    assert inputs.shape == (6, 10) and torch.equal(targets[:, :-1], inputs[:, 1:])
    assert torch.equal(targets[:, -1], inputs[:, -1] + 1)  # consecutive tokens of one stream
    with pytest.raises(GlyphDistError, match="fewer than one window"):
        streams.check(200)


def test_local_jsonl_and_hf_sources_load_with_a_template(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps({"q": f"question {i}", "a": str(i)}) + "\n" for i in range(60)))
    texts = load_source(f"jsonl:{path}:Q: {{q}}\\nA: {{a}}", tmp_path)
    assert len(texts.train) + len(texts.heldout) == 60 and texts.heldout
    assert texts.train[0].startswith("Q: question") and "\nA: " in texts.train[0]
    with pytest.raises(GlyphDistError, match=r"qa.jsonl:1: the record has no field 'text'"):
        jsonl_texts(path, "{text}")
    from datasets import Dataset, DatasetDict

    DatasetDict({"train": Dataset.from_dict({"text": ["a b", "c d"]}),
                 "test": Dataset.from_dict({"text": ["e f"]})}).save_to_disk(str(tmp_path / "hf"))
    hf = load_source(f"hf:{tmp_path / 'hf'}", tmp_path)
    assert hf.train == ["a b", "c d"] and hf.heldout == ["e f"]
    with pytest.raises(GlyphDistError, match="unknown data source"):
        load_source("wikipedia", tmp_path)


def test_the_shared_sets_give_train_and_heldout_texts():
    datasets = ROOT.parent / "shared" / "datasets"
    gsm8k = load_source("gsm8k", datasets)
    assert len(gsm8k.train) == 7473 and len(gsm8k.heldout) == 1319
    assert gsm8k.train[0].startswith("Question: ") and "\n#### " in gsm8k.train[0]


def test_generation_stops_after_the_final_answer_line():
    assert not _finished(" 3 + 4 = 7\n#### 7")
    assert _finished(" 3 + 4 = 7\n#### 7\n")
    assert _finished(" 7\n\nQuestion: next")


# --- checkpoints ---------------------------------------------------------------------------------------

def test_a_saved_model_loads_with_the_same_outputs(tmp_path):
    from glyph_dist.fgt.bpe import as_hf_tokenizer, train_bpe

    tokenizer = as_hf_tokenizer(train_bpe(["a small text to fit a tokenizer on"] * 4, 300))
    model = build_model(vars(tiny(vocab_size=len(tokenizer))), seed=0).eval()
    save_pretrained(model, tokenizer, tmp_path / "m", "reasoning")
    loaded, loaded_tokenizer = load_pretrained(tmp_path / "m")
    idx = torch.randint(0, len(tokenizer), (1, 12))
    torch.testing.assert_close(loaded(idx), model(idx))
    assert loaded_tokenizer.get_vocab() == tokenizer.get_vocab()
    # resuming restores weights and optimiser states
    optimizer = MuonAdamW(model, OptimConfig())
    x = torch.randint(0, len(tokenizer), (2, 12))
    train_step(model.train(), optimizer, [(x, x)], 0.5, 1.0, torch.device("cpu"))
    save_checkpoint(model, tokenizer, optimizer, {"step": 1, "workers": 1, "history": []}, tmp_path / "c")
    fresh = build_model(model.config, seed=1)
    fresh_optimizer = MuonAdamW(fresh, OptimConfig())
    assert restore_checkpoint(fresh, fresh_optimizer, tmp_path / "c")["step"] == 1
    for a, b in zip(fresh.state_dict().values(), model.state_dict().values()):
        torch.testing.assert_close(a, b)
    with pytest.raises(GlyphDistError, match="another model config"):
        restore_checkpoint(build_model(tiny(vocab_size=len(tokenizer), d_model=64)),
                           fresh_optimizer, tmp_path / "c")


# --- the job -------------------------------------------------------------------------------------------

def test_forge_pretrain_on_ray_train_trains_checkpoints_evaluates_and_resumes(ray_session, tmp_path, capsys):
    from glyph_dist.cli import main

    args = ["forge", "pretrain", str(TINY_CONFIG), f"storage_path={tmp_path}", "max_steps=4", "checkpoint_every=2",
            "specialisations=[speed, memory]", "curriculum=[{name: arithmetic, share: 1.0, sources: [svamp]}]",
            "heldout_sources=[svamp, gsm8k]", "eval.gsm8k_questions=1", "eval.max_new_tokens=4",
            f"datasets={ROOT.parent / 'shared' / 'datasets'}"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "speed:" in out and "memory:" in out and "diversity" in out
    root = tmp_path / "cognate_tiny"
    summary = json.loads((root / "summary.json").read_text())
    assert set(summary["models"]) == {"speed", "memory"} and summary["diversity"]["diversity"] > 0
    speed = json.loads((root / "speed" / "eval.json").read_text())
    assert [row["step"] for row in speed["history"]] == [1, 2, 3, 4] and speed["gsm8k_n"] == 1
    assert speed["halting_steps"] < summary["models"]["memory"]["halting_steps"]
    model, _ = load_pretrained(Path(speed["checkpoint"]))
    assert model.config.n_layers == 1 and (root / "meta.json").is_file()
    # memory is finished (eval.json) and is not trained again; speed, unfinished and given more
    # steps, continues from its latest checkpoint
    memory_eval = (root / "memory" / "eval.json").read_text()
    (root / "speed" / "eval.json").unlink()
    assert main([*args, "max_steps=6"]) == 0
    resumed = json.loads((root / "speed" / "eval.json").read_text())
    assert [row["step"] for row in resumed["history"]] == [1, 2, 3, 4, 5, 6]
    assert resumed["history"][:4] == speed["history"]
    assert (root / "memory" / "eval.json").read_text() == memory_eval
