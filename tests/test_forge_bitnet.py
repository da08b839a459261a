"""BitNet b1.58: ternary and 8-bit quantisation against hand computation, the straight-through estimator,
BitLinear against a reference, the precision policy, the exact pack/unpack round trip, the packed
export's byte counts and loader, the int8 GEMM layer, and the Ray Train QAT job with resume and the CLI."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM

from glyph_dist.errors import GlyphDistError
from glyph_dist.forge.bitnet.bitlinear import (BitLinear, activation_codes, quantize_activation, quantize_weight,
                                               ternary_codes, weight_scale)
from glyph_dist.forge.bitnet.config import config_from_dict
from glyph_dist.forge.bitnet.convert import auto_keep, lambda_at, set_lambda, ternary_targets, to_bitnet
from glyph_dist.forge.bitnet.kernel import PackedBitLinear
from glyph_dist.forge.bitnet.pack import WEIGHTS_FILE, export_packed, load_packed, pack_ternary, unpack_ternary


def tiny_llama(layers: int = 4, vocab: int = 300) -> LlamaForCausalLM:
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=64, intermediate_size=130,
                                        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                                        tie_word_embeddings=True)).eval()


# --- quantisers --------------------------------------------------------------------------------------

def test_ternary_weights_by_absmean_on_a_hand_case():
    w = torch.tensor([[0.2, -0.9], [0.05, 0.4]])
    gamma = (0.2 + 0.9 + 0.05 + 0.4) / 4 + 1e-5  # 0.38751
    assert weight_scale(w).item() == pytest.approx(gamma)
    assert ternary_codes(w).tolist() == [[1, -1], [0, 1]]  # 0.516, -2.32 (clipped), 0.129, 1.03
    assert torch.allclose(quantize_weight(w), torch.tensor([[1.0, -1.0], [0.0, 1.0]]) * gamma)


def test_quantised_weights_take_only_three_values_times_the_scale():
    w = torch.randn(32, 48) * 0.02
    values = set((quantize_weight(w) / weight_scale(w)).round().unique().tolist())
    assert values <= {-1.0, 0.0, 1.0} and len(values) == 3
    scaled = quantize_weight(w) / weight_scale(w)
    assert torch.allclose(scaled, scaled.round(), atol=1e-5)


def test_activations_8bit_absmax_per_token():
    x = torch.tensor([[1.0, -0.5, 0.25], [-4.0, 2.0, 0.01]])
    codes, scale = activation_codes(x)
    assert codes.dtype == torch.int8
    assert codes.tolist() == [[127, -64, 32], [-127, 64, 0]]  # round(0.5*127)=64 (63.5 → 64), 0.01*127/4 → 0
    assert torch.allclose(scale.squeeze(1), torch.tensor([1 / 127, 4 / 127]))
    assert torch.allclose(quantize_activation(x), codes.float() * scale)


# --- BitLinear and the straight-through estimator -------------------------------------------------------

def test_bitlinear_forward_against_a_reference_computation():
    torch.manual_seed(0)
    linear = nn.Linear(16, 8)
    layer = BitLinear.from_linear(linear)
    x = torch.randn(3, 5, 16)
    gamma = linear.weight.abs().mean() + 1e-5
    w_ref = (linear.weight / gamma).round().clamp(-1, 1) * gamma
    s = x.abs().amax(-1, keepdim=True) / 127
    x_ref = (x / s).round().clamp(-128, 127) * s
    assert torch.allclose(layer(x), x_ref @ w_ref.T + linear.bias, atol=1e-5)
    layer.lam = 0.0
    assert torch.allclose(layer(x), linear(x), atol=1e-6)  # λ = 0: the full-precision layer
    layer.lam = 1.0
    assert not torch.allclose(layer(x), linear(x), atol=1e-3)


def test_straight_through_estimator_passes_gradients():
    torch.manual_seed(0)
    layer = BitLinear(16, 8, bias=False)
    x = torch.randn(4, 16, requires_grad=True)
    layer(x).pow(2).sum().backward()
    # STE: the gradient is that of F.linear at the quantised values, as if quantisation were the identity
    xq, wq = quantize_activation(x.detach()).requires_grad_(), quantize_weight(layer.weight.detach()).requires_grad_()
    F.linear(xq, wq).pow(2).sum().backward()
    assert layer.weight.grad.abs().sum() > 0 and x.grad.abs().sum() > 0
    assert torch.allclose(layer.weight.grad, wq.grad, atol=1e-5)
    assert torch.allclose(x.grad, xq.grad, atol=1e-5)


def test_lambda_ramp():
    assert [lambda_at(s, 4) for s in (0, 2, 4, 9)] == [0.0, 0.5, 1.0, 1.0]
    assert lambda_at(0, 0) == 1.0


# --- policy ------------------------------------------------------------------------------------------------

def test_policy_keeps_head_and_a_tiny_models_outer_blocks():
    model = tiny_llama()
    assert "lm_head" in auto_keep(model) and any("layers.0" in p for p in auto_keep(model))
    targets = ternary_targets(model)
    assert targets and all(".layers.1." in t or ".layers.2." in t for t in targets)
    assert "lm_head" not in targets
    assert len(ternary_targets(model, ["lm_head"])) == 4 * 7  # every block's 7 projections
    with pytest.raises(GlyphDistError, match="no linear layer"):
        ternary_targets(model, ["*"])
    to_bitnet(model, targets)
    assert sum(isinstance(m, BitLinear) for m in model.modules()) == len(targets)


def test_preflight_refuses_what_cannot_fit(tmp_path):
    from glyph_dist.forge.hfsize import model_size, preflight

    model = tiny_llama()
    size = model_size(model)
    assert size.embedding == 300 * 64 and size.category == "tiny"
    preflight(model, 1024, 2, tmp_path, "QAT")
    with pytest.raises(GlyphDistError, match="pre-flight: QAT .* GiB is free"):
        preflight(model, 10**12, 2, tmp_path, "QAT")


# --- packing and export ----------------------------------------------------------------------------------

@pytest.mark.parametrize("cols", [1, 4, 7, 130])
def test_pack_unpack_round_trip_is_exact(cols):
    codes = torch.randint(-1, 2, (5, cols), dtype=torch.int8)
    packed = pack_ternary(codes)
    assert packed.dtype == torch.uint8 and packed.shape == (5, -(-cols // 4))
    assert torch.equal(unpack_ternary(packed, cols), codes)


def test_pack_layout_and_bad_input():
    assert pack_ternary(torch.tensor([[-1, 0, 1, 1]], dtype=torch.int8)).item() == 0 | 1 << 2 | 2 << 4 | 2 << 6
    with pytest.raises(GlyphDistError, match="-1, 0, 1"):
        pack_ternary(torch.tensor([[2, 0]], dtype=torch.int8))


def _bitnet_model() -> LlamaForCausalLM:
    model = to_bitnet(tiny_llama(), ternary_targets(tiny_llama(), ["lm_head"]))
    set_lambda(model, 1.0)
    return model


def test_export_byte_counts_and_ratio(tmp_path):
    model = _bitnet_model()
    result = export_packed(model, None, tmp_path / "packed")
    packed_file = tmp_path / "packed" / WEIGHTS_FILE
    assert result["packed_bytes"] == os.path.getsize(packed_file)
    params = sum(p.numel() for p in model.parameters())  # the tied head once
    ternary = [m for m in model.modules() if isinstance(m, BitLinear)]
    ternary_params = sum(m.weight.numel() for m in ternary)
    # payloads: fp32 4 bytes a parameter; packed: ¼ byte a ternary weight (+ a 4-byte scale each), 2 bytes the rest
    payload = sum(m.out_features * -(-m.in_features // 4) + 4 for m in ternary) + 2 * (params - ternary_params)
    headers = 20_000  # safetensors' JSON headers, at most
    assert 4 * params <= result["fp32_bytes"] <= 4 * params + headers
    assert 2 * params <= result["fp16_bytes"] <= 2 * params + headers
    assert payload <= result["packed_bytes"] <= payload + headers
    assert result["ratio_vs_fp32"] == pytest.approx(result["fp32_bytes"] / result["packed_bytes"])
    assert result["ratio_vs_fp16"] == pytest.approx(result["fp16_bytes"] / result["packed_bytes"])
    assert 0 < result["sparsity"] < 1
    smaller = export_packed(model, None, tmp_path / "q", quantize_embeddings=True)
    assert smaller["packed_bytes"] < result["packed_bytes"] and smaller["ratio_vs_fp32"] > result["ratio_vs_fp32"]


def test_packed_layer_equals_bitlinear():
    torch.manual_seed(0)
    layer = BitLinear(30, 12)
    packed = PackedBitLinear(30, 12, bias=True, input_norm=False)
    w = layer.weight.detach()
    packed.load_state_dict({"weight_packed": pack_ternary(ternary_codes(w)), "weight_scale": weight_scale(w)[None],
                            "bias": layer.bias.detach()})
    x = torch.randn(2, 3, 30)
    assert torch.allclose(packed(x), layer(x), atol=1e-5)


def test_loaded_packed_model_matches_the_fake_quantised_model(tmp_path):
    model = _bitnet_model()
    with torch.no_grad():  # the export stores the full-precision tensors in fp16
        for name, p in model.named_parameters():
            if not any(name.startswith(n + ".") for n, m in model.named_modules() if isinstance(m, BitLinear)):
                p.copy_(p.half().float())
    export_packed(model, None, tmp_path / "packed")
    loaded = load_packed(tmp_path / "packed")
    assert sum(isinstance(m, PackedBitLinear) for m in loaded.modules()) == 28
    ids = torch.randint(0, 300, (2, 12))
    with torch.no_grad():
        assert torch.allclose(loaded(input_ids=ids).logits, model(input_ids=ids).logits, atol=1e-4)


def test_load_packed_refuses_other_directories(tmp_path):
    with pytest.raises(GlyphDistError, match="not a BitNet model directory"):
        load_packed(tmp_path)
    model = _bitnet_model()
    export_packed(model, None, tmp_path / "packed")
    meta = json.loads((tmp_path / "packed" / "bitnet.json").read_text())
    (tmp_path / "packed" / "bitnet.json").write_text(json.dumps({**meta, "ternary": meta["ternary"][:-1]}))
    with pytest.raises(GlyphDistError, match="does not fit the model"):
        load_packed(tmp_path / "packed")


# --- the job ----------------------------------------------------------------------------------------------

def test_config_errors_name_the_key():
    with pytest.raises(GlyphDistError, match="unknown key"):
        config_from_dict({"nam": "x"})
    with pytest.raises(GlyphDistError, match="keep must be"):
        config_from_dict({"model": None, "tokenizer": ".", "keep": 3})
    with pytest.raises(GlyphDistError, match="lambda_ramp_steps must be >= 0"):
        config_from_dict({"model": None, "tokenizer": ".", "lambda_ramp_steps": -1})
    with pytest.raises(GlyphDistError, match="needs a tokenizer"):
        config_from_dict({"model": None})


def _job_values(tmp_path, tokenizer) -> dict:
    return {"name": "qat", "storage_path": str(tmp_path), "model": None, "tokenizer": str(tokenizer),
            "llama": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 3, "num_attention_heads": 2,
                      "num_key_value_heads": 1, "tie_word_embeddings": True},
            "seq_len": 32, "micro_batch_size": 2, "max_steps": 4, "lambda_ramp_steps": 2, "checkpoint_every": 2,
            "eval_tokens": 128, "log_every": 1}


def test_qat_job_trains_exports_and_benches(ray_session, smollm2_dir, tmp_path, capsys):
    from glyph_dist.cli import main
    from glyph_dist.forge.bitnet.qat import load_bitnet, train_bitnet

    result = train_bitnet(config_from_dict(_job_values(tmp_path, smollm2_dir)), quiet=True)
    assert [r["lambda"] for r in result["history"]] == [0.0, 0.5, 1.0, 1.0]
    assert result["ternary_layers"] == 7  # the middle block of three; the outer ones and the head kept
    assert math.isfinite(result["final"]["perplexity"])
    assert result["final"]["perplexity"] != result["source"]["perplexity"]  # trained and quantised
    model = load_bitnet(result["checkpoint"])
    assert sum(isinstance(m, BitLinear) for m in model.modules()) == 7

    packed, figures = tmp_path / "packed", tmp_path / "bench.json"
    assert main(["forge", "bitnet", "export", result["checkpoint"], str(packed)]) in (0, None)
    assert "x), fp16" in capsys.readouterr().out
    assert main(["forge", "bitnet", "bench", str(packed), result["source_model"], "--heldout-tokens", "64",
                 "--seq-len", "32", "--decode-tokens", "4", "--json", str(figures)]) in (0, None)
    bench = json.loads(figures.read_text())
    assert bench["packed"]["decode_tokens_per_s"] > 0 and bench["reference"]["perplexity"] > 1
    assert bench["perplexity_relative_change"] == pytest.approx(
        bench["packed"]["perplexity"] / bench["reference"]["perplexity"] - 1)


@pytest.mark.slow
def test_qat_job_resumes_from_its_checkpoint(ray_session, smollm2_dir, tmp_path):
    from glyph_dist.forge.bitnet.qat import train_bitnet

    first = train_bitnet(config_from_dict(_job_values(tmp_path, smollm2_dir)), quiet=True)
    resumed = train_bitnet(config_from_dict({**_job_values(tmp_path, smollm2_dir), "max_steps": 5}), quiet=True)
    assert resumed["history"][:4] == first["history"] and len(resumed["history"]) == 5
