"""Quiet-STaR: the 12 thought tokens and their initialisation, the strategy-tagged GSM8K thoughts, the reward
against a hand case, policy gradients reaching the thought tokens' log-probs, the KL term, each
anti-theater check failing on a constructed case, and bake → train (with roll-back) → eval on Ray."""

from __future__ import annotations

import json
import math

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.store import load_tokenizer
from glyph_dist.forge.quietstar.checks import ablation_check, correlation_check, divergence_check, run_checks
from glyph_dist.forge.quietstar.config import RLConfig, config_from_dict
from glyph_dist.forge.quietstar.data import evaluate, thought
from glyph_dist.forge.quietstar.step import (MixingHead, kl_to_reference, losses, reinforce_loss, rewards,
                                             sample_thoughts)
from glyph_dist.forge.quietstar.tokens import THOUGHT_TOKENS, WORDS, add_thought_tokens, thought_token_ids

NATALIA = ("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
           "How many clips did Natalia sell altogether in April and May?")
NATALIA_SOLUTION = ("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
                    "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.")


def tiny_llama(vocab: int, layers: int = 2) -> LlamaForCausalLM:
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64,
                                        num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=1,
                                        tie_word_embeddings=True))


# --- tokens ----------------------------------------------------------------------------------------------

def test_the_twelve_tokens():
    assert THOUGHT_TOKENS == ("[thinking]", "[/endthinking]", "<step>", "<mece>", "<falsify>", "<expert>",
                              "<orthogonal>", "<doubt>", "<bayesian>", "<multidomain>", "<correct>", "<uncertain>")


def test_tokens_added_round_trip_and_start_from_their_words(smollm2_dir):
    tokenizer = load_tokenizer(smollm2_dir)
    with pytest.raises(GlyphDistError, match="lacks the thought tokens"):
        thought_token_ids(tokenizer)
    model = tiny_llama(len(tokenizer))
    words = {t: tokenizer(" " + WORDS[t], add_special_tokens=False)["input_ids"] for t in THOUGHT_TOKENS}
    ids = add_thought_tokens(model, tokenizer)
    assert len(set(ids)) == 12 and model.get_input_embeddings().num_embeddings >= len(tokenizer)
    text = "Answer: [thinking] <step> 2 + 2 = 4 <doubt> none <correct> [/endthinking]"
    encoded = tokenizer(text, add_special_tokens=False)["input_ids"]
    used = [i for t, i in thought_token_ids(tokenizer).items() if t in text]
    assert len(used) == 5 and all(i in encoded for i in used)  # each a single token
    assert tokenizer.decode(encoded) == text
    table = model.get_input_embeddings().weight
    for token, token_id in zip(THOUGHT_TOKENS, ids):
        assert torch.allclose(table[token_id], table[words[token]].mean(0))
    assert add_thought_tokens(model, tokenizer) == ids  # idempotent


# --- data ------------------------------------------------------------------------------------------------

def test_thought_for_a_gsm8k_solution():
    target, strategies = thought(NATALIA, NATALIA_SOLUTION, "72")
    assert target.startswith(" [thinking] <mece> knowns: 48; unknown: How many clips")
    assert target.endswith("[/endthinking]\n#### 72")
    assert "<step> Natalia sold 48/2 = 24 clips in May." in target
    assert "<falsify> 48+24 = 72 holds" in target and "<orthogonal> 72 - 24 = 48" in target
    assert strategies[-1] == "<correct>" and strategies.count("<step>") == 2


def test_a_wrong_calculation_makes_the_thought_uncertain():
    target, strategies = thought(NATALIA, NATALIA_SOLUTION.replace("=72>>72", "=73>>73"), "73")
    assert "<falsify> 48+24 = 73 fails" in target and "<uncertain> 48+24 = 73 does not recompute" in target
    assert "<correct>" not in strategies
    assert evaluate("2*(3+4)") == 14 and evaluate("__import__('os')") is None and evaluate("1/0") is None


# --- the step -------------------------------------------------------------------------------------------

def test_reward_is_the_gain_over_the_mean_of_the_thoughts():
    log_p = torch.tensor([[[-1.0, -1.0], [-2.0, -2.0], [-3.0, -3.0]], [[-0.5, -0.5], [-0.5, -0.5], [-2.0, -0.5]]])
    # sums: [-2, -4, -6] (mean -4) and [-1, -1, -2.5] (mean -1.5)
    assert torch.allclose(rewards(log_p), torch.tensor([[2.0, 0.0, -2.0], [0.5, 0.5, -1.0]]))


def test_policy_gradient_reaches_thought_log_probs():
    logits = torch.zeros(1, 2, 1, 3, requires_grad=True)  # [P, n, L, V], uniform
    tokens = torch.tensor([[[1], [2]]])
    log_probs = torch.log_softmax(logits, -1).gather(-1, tokens[..., None]).squeeze(-1)
    reinforce_loss(torch.tensor([[1.0, -1.0]]), log_probs).backward()
    # d/dlogit_v of -r·log softmax_k / 2 = -r·(1[v=k] - 1/3) / 2
    expected = torch.tensor([[[[1 / 6, -1 / 3, 1 / 6]], [[-1 / 6, -1 / 6, 1 / 3]]]])
    assert torch.allclose(logits.grad, expected)


def test_reinforce_updates_the_model_through_its_thoughts_only(smollm2_dir):
    model, reference = tiny_llama(320), tiny_llama(320)
    head = MixingHead(32)
    contexts, targets = torch.randint(0, 300, (2, 10)), torch.randint(0, 300, (2, 3))
    torch.manual_seed(1)
    thoughts = sample_thoughts(model, contexts, targets, 318, 3, 4, 1.0)
    assert thoughts.tokens.shape == (2, 3, 4)
    terms, scored = losses(model, head, reference, thoughts, 318, 319)
    assert terms["kl"].item() == pytest.approx(0.0, abs=1e-6)  # the same weights as the reference
    assert terms["reward_abs"] > 0
    terms["reinforce"].backward()
    assert all(p.grad is None for p in head.parameters())  # the reward is detached
    assert model.get_input_embeddings().weight.grad.abs().sum() > 0
    with torch.no_grad():
        model.lm_head.weight.add_(0.5 * torch.randn_like(model.lm_head.weight))
    terms, _ = losses(model, head, reference, thoughts, 318, 319)
    assert terms["kl"] > 0


def test_kl_against_a_hand_case():
    p = torch.log(torch.tensor([[0.5, 0.5]]))
    q = torch.log(torch.tensor([[0.25, 0.75]]))
    assert kl_to_reference(p, q).item() == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(2 / 3))


# --- anti-theater checks ------------------------------------------------------------------------------------

def test_ablation_fails_on_a_model_whose_thoughts_are_ignored():
    model, reference = tiny_llama(320), tiny_llama(320)
    head = MixingHead(32)
    with torch.no_grad():
        head.net[-1].bias.fill_(-100.0)  # mixing weight 0: the prediction ignores the thought
    contexts, targets = torch.randint(0, 300, (4, 10)), torch.randint(0, 300, (4, 3))
    settings = RLConfig(n_thoughts=2, thought_length=3)
    checks = {c.name: c for c in run_checks(model, head, reference, None, contexts, targets,
                                            {"open": 318, "close": 319}, settings)}
    assert checks["ablation"].value == 0.0 and not checks["ablation"].passed
    assert ablation_check(0.30, 0.25, 0.02).passed and not ablation_check(0.30, 0.29, 0.02).passed


def test_divergence_fails_on_thoughts_that_copy_the_input():
    contexts = [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]]
    assert not divergence_check([[2, 3, 4], [9, 10, 11]], contexts, 0.5).passed
    fresh = divergence_check([[20, 21, 22], [30, 31, 32]], contexts, 0.5)
    assert fresh.passed and fresh.value == 1.0


def test_correlation_fails_when_coherent_thoughts_are_not_the_accurate_ones():
    coherence = [-1.0, -2.0, -3.0, -4.0]
    assert not correlation_check(coherence, [0.0, 0.25, 0.5, 0.75], 0.0).passed  # r = -1
    assert not correlation_check(coherence, [0.5] * 4, 0.0).passed  # constant: undefined
    assert correlation_check(coherence, [0.75, 0.5, 0.25, 0.0], 0.0).passed


def test_config_errors_name_the_key():
    with pytest.raises(GlyphDistError, match="unknown key rl.n_thought"):
        config_from_dict({"model": None, "tokenizer": ".", "rl": {"n_thought": 2}})
    with pytest.raises(GlyphDistError, match="n_thoughts must be >= 2"):
        config_from_dict({"model": None, "tokenizer": ".", "rl": {"n_thoughts": 1}})
    with pytest.raises(GlyphDistError, match="rl.window must be > 0"):
        config_from_dict({"model": None, "tokenizer": ".", "rl": {"window": 0}})


# --- bake, train, eval ----------------------------------------------------------------------------------------

def test_bake_train_with_rollback_and_eval(ray_session, smollm2_dir, tmp_path, capsys):
    from glyph_dist.cli import main
    from glyph_dist.forge.quietstar.bake import bake
    from glyph_dist.forge.quietstar.rl import load_lm, load_rl_model, train_quietstar

    values = {"name": "qs", "storage_path": str(tmp_path), "model": None, "tokenizer": str(smollm2_dir),
              "llama": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                        "num_key_value_heads": 1, "tie_word_embeddings": True},
              "limit": 40, "sft": {"max_steps": 2, "micro_batch_size": 4, "zero_stage": 0, "eval_every": 2},
              "rl": {"max_steps": 3, "batch_size": 1, "window": 16, "positions": 2, "n_thoughts": 2,
                     "thought_length": 3, "ahead": 2, "check_every": 1, "check_windows": 2,
                     "min_ablation_drop": 1.0, "max_rollbacks": 1}}
    config = config_from_dict(values)
    baked = bake(config, quiet=True)
    assert baked["pairs"]["train"] + baked["pairs"]["val"] == 40 and 0 <= baked["token_accuracy"] <= 1
    assert baked["converged"] == (baked["token_accuracy"] >= 0.85)
    result = train_quietstar(config, quiet=True)
    # an ablation drop above 1 cannot happen: every check fails and rolls back to the baked start
    checked = [r for r in result["history"] if "checks_passed" in r]
    assert checked and not any(r["checks_passed"] for r in checked)
    assert result["rollbacks"] == 2 and result["final_passing_step"] == 0 and result["step"] == 2
    model, _ = load_rl_model(result["checkpoint"])
    start = load_lm(baked["checkpoint"])
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), start.state_dict().values()))
    out = tmp_path / "eval.json"
    assert main(["forge", "quietstar", "eval", f"baked={baked['checkpoint']}", "--questions", "1",
                 "--max-new-tokens", "8", "--out", str(out)]) in (0, None)
    row = json.loads(out.read_text())["baked"]
    assert row["gsm8k_n"] == 1 and row["seconds_per_answer"] > 0
    assert "baked: GSM8K" in capsys.readouterr().out
