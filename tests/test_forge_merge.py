"""EvoMerge: merge methods against hand-computed cases and (when importable) mergekit, layer plans,
recipes, the evolution's selection, mutation, diversity and resume, and the command end to end."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from glyph_dist.errors import GlyphDistError
from glyph_dist.forge.cognate.data import Problem
from glyph_dist.forge.merge.evolve import Evolution, GAConfig, distance, fingerprint, mutate
from glyph_dist.forge.merge.family import HFFamily, Model
from glyph_dist.forge.merge.layers import LayerLayout, dfs_steps, franken_steps, stack_layers
from glyph_dist.forge.merge.methods import Dare, Linear, Slerp, Ties, method, slerp
from glyph_dist.forge.merge.recipe import COMBOS, RecipeRanges, apply_recipe, random_recipe, source_depths
from glyph_dist.forge.merge.state import merge_state_dicts, shared_fraction

LLAMA = LayerLayout("model.layers.", ("self_attn.o_proj.weight", "mlp.down_proj.weight"))


# -- methods against hand-computed cases ----------------------------------------------------------------
def test_linear_is_the_weighted_mean():
    a, b = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])
    assert torch.allclose(Linear().merge([a, b], [1.0, 3.0]), torch.tensor([2.5, 3.5]))
    assert torch.allclose(Linear(normalize=False).merge([a, b], [1.0, 3.0]), torch.tensor([10.0, 14.0]))


def test_slerp_follows_the_arc_and_lerps_when_parallel():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    half = math.sin(math.pi / 4) / math.sin(math.pi / 2)
    assert torch.allclose(slerp(0.5, a, b), torch.tensor([half, half]))
    third = slerp(1 / 3, a, b)  # 30 degrees along the quarter circle
    assert torch.allclose(third, torch.tensor([math.cos(math.pi / 6), math.sin(math.pi / 6)]), atol=1e-6)
    c = torch.tensor([2.0, 1e-5])  # nearly parallel to a: plain interpolation
    assert torch.allclose(slerp(0.25, a, c), 0.75 * a + 0.25 * c)
    # three tensors folded with t_k = w_k / (w_0 + ... + w_k): parallel inputs give the weighted mean
    x = torch.tensor([1.0, 1.0])
    assert torch.allclose(Slerp().merge([x, 2 * x, 4 * x], [1.0, 1.0, 2.0]), (x + 2 * x + 8 * x) / 4)


def test_ties_trims_elects_the_sign_and_takes_the_disjoint_mean():
    base = torch.zeros(4)
    t1 = torch.tensor([1.0, -2.0, 3.0, 0.1])  # trimmed to the top half: [0, -2, 3, 0]
    t2 = torch.tensor([-4.0, 1.0, 0.5, 0.2])  # [-4, 1, 0, 0]
    # elected signs: sign(sum) = [-, -, +, + (0 counts as +)]; agreeing entries: [-4], [-2], [3], none
    merged = Ties(density=0.5).merge([t1, t2], [1.0, 1.0], base)
    assert torch.equal(merged, torch.tensor([-4.0, -2.0, 3.0, 0.0]))
    scaled = Ties(density=0.5, scale=0.5).merge([t1 + 1, t2 + 1], [1.0, 1.0], base + 1)
    assert torch.allclose(scaled, torch.tensor([-1.0, 0.0, 2.5, 1.0]))


def test_dare_drops_and_rescales_with_a_seed():
    base = torch.zeros(2000)
    delta = torch.linspace(0.5, 1.5, 2000)
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    merged = Dare(density=0.3).merge([delta], [1.0], base, g())
    kept = merged != 0
    assert 0.25 < kept.float().mean() < 0.35
    assert torch.allclose(merged[kept], delta[kept] / 0.3)  # 1/density, the paper's rescale
    assert torch.equal(merged, Dare(density=0.3).merge([delta], [1.0], base, g()))  # the seed fixes the mask
    assert not torch.equal(merged, Dare(density=0.3).merge([delta], [1.0], base, torch.Generator().manual_seed(4)))
    l1 = Dare(density=0.3, rescale="l1").merge([delta], [1.0], base, g())
    assert torch.equal(l1 != 0, kept) and torch.isclose(l1.abs().sum(), delta.abs().sum())


def test_bad_method_parameters_are_errors():
    with pytest.raises(GlyphDistError, match="unknown merge method"):
        method("average")
    with pytest.raises(GlyphDistError, match="density"):
        method("ties", density=1.5)
    with pytest.raises(GlyphDistError, match="rescale"):
        method("dare", rescale="l3")
    with pytest.raises(GlyphDistError, match="needs a base"):
        merge_state_dicts([{"w": torch.ones(2)}] * 2, Ties(), [1.0, 1.0])


# -- state dicts, layer plans, recipes ------------------------------------------------------------------
def _llama_state(seed: int, layers: int = 3, width: int = 8) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {"model.embed_tokens.weight": torch.randn(20, width, generator=g), "model.norm.weight": torch.ones(width)}
    for i in range(layers):
        for name, shape in (("self_attn.q_proj.weight", (width, width)), ("self_attn.o_proj.weight", (width, width)),
                            ("mlp.down_proj.weight", (width, 2 * width)), ("input_layernorm.weight", (width,))):
            state[f"model.layers.{i}.{name}"] = torch.randn(*shape, generator=g)
    return state


def test_state_dict_merge_skips_tensors_of_other_shapes():
    a, b, wide = _llama_state(0), _llama_state(1), _llama_state(2, width=12)
    merged = merge_state_dicts([a, b, wide], Linear(), [1.0, 1.0, 1.0])
    name = "model.layers.0.self_attn.q_proj.weight"
    assert torch.allclose(merged[name], (a[name] + b[name]) / 2)  # the wide model takes no part
    assert set(merged) == set(a)
    assert shared_fraction(b, a) == 1.0 and shared_fraction(wide, a) == 0.0


def test_franken_stacks_real_layers_and_dfs_scales_the_residual_outputs():
    a, b = _llama_state(0), _llama_state(1)
    stacked = stack_layers([a, b], franken_steps([(0, 0, 2), (1, 1, 3)]), LLAMA)
    assert LLAMA.depth(stacked) == 4
    assert torch.equal(stacked["model.layers.1.self_attn.q_proj.weight"], a["model.layers.1.self_attn.q_proj.weight"])
    assert torch.equal(stacked["model.layers.3.mlp.down_proj.weight"], b["model.layers.2.mlp.down_proj.weight"])
    assert torch.equal(stacked["model.embed_tokens.weight"], a["model.embed_tokens.weight"])
    # DFS: the slots are a0 a1 a2 b0 b1 b2 (one repeat); the path keeps the included ones in slot order
    steps = dfs_steps([3, 3], 1, [True, False, False, False, True, True], [0.5, 1, 1, 1, 2.0, 1.0])
    assert steps == [(0, 0, 0.5), (1, 1, 2.0), (1, 2, 1.0)]
    path = stack_layers([a, b], steps, LLAMA)
    o_proj = "self_attn.o_proj.weight"
    assert torch.equal(path[f"model.layers.0.{o_proj}"], 0.5 * a[f"model.layers.0.{o_proj}"])
    assert torch.equal(path["model.layers.0.self_attn.q_proj.weight"], a["model.layers.0.self_attn.q_proj.weight"])
    assert torch.equal(path["model.layers.1.mlp.down_proj.weight"], 2.0 * b["model.layers.1.mlp.down_proj.weight"])
    with pytest.raises(GlyphDistError, match="other shapes"):
        stack_layers([a, _llama_state(2, width=12)], [(1, 0, 1.0)], LLAMA)
    with pytest.raises(GlyphDistError, match="no such layer"):
        stack_layers([a, b], [(1, 7, 1.0)], LLAMA)


def test_every_combination_makes_a_model_of_the_target_architecture():
    parents = [_llama_state(i) for i in range(3)] + [_llama_state(9, width=12)]
    depths = source_depths(parents, LLAMA)
    assert depths == [3, 3, 3, 3, 0]
    rng = np.random.default_rng(0)
    for combo in COMBOS:
        recipe = random_recipe(combo, 4, depths, RecipeRanges(), rng)
        merged = apply_recipe(recipe, parents, LLAMA)
        assert 1 <= LLAMA.depth(merged) <= int(1.5 * 3)
        assert all(t.shape[-1] in (8, 16) for t in merged.values())  # never the 12-wide parent's layers
        assert abs(sum(recipe.weights) - 1) < 1e-3 and recipe.combo == "+".join(combo)
    # the stages compose as documented: with density 1 and scale 0, a linear+ties+franken recipe of the
    # full first parent's stack is the linear interpolation
    recipe = random_recipe(COMBOS[0], 4, depths, RecipeRanges(), rng)
    recipe.scale, recipe.slices = 0.0, [[0, 0, 3]]
    merged = apply_recipe(recipe, parents, LLAMA)
    name = "model.layers.2.self_attn.q_proj.weight"
    expected = sum(w * p[name] for w, p in zip(recipe.weights[:3], parents)) / sum(recipe.weights[:3])
    assert torch.allclose(merged[name], expected, atol=1e-6)


def _tiny_llama(tmp_path, seed: int = 0) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    from glyph_dist.fgt.bpe import as_hf_tokenizer, train_bpe

    tokenizer = as_hf_tokenizer(train_bpe(["Question: 2 + 3?\nAnswer: 5\n#### 5", "USER: hi\nSYSTEM: hello"] * 8, 300))
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64)
    directory = tmp_path / f"llama{seed}"
    LlamaForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def test_hf_merges_are_written_as_loadable_models_of_the_new_depth(tmp_path):
    from transformers import AutoModelForCausalLM

    from glyph_dist.forge.merge.evaluate import EvalData, EvalSettings, evaluate_model

    family = HFFamily()
    a, b = family.load(_tiny_llama(tmp_path, 0)), family.load(_tiny_llama(tmp_path, 1))
    stacked = stack_layers([a.state, b.state], franken_steps([(0, 0, 2), (1, 1, 2)]), family.layout)
    out = family.save(stacked, a, tmp_path / "merged")
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.num_hidden_layers == 3 and (out / "tokenizer.json").is_file()
    up = "mlp.up_proj.weight"
    assert torch.equal(model.state_dict()[f"model.layers.2.{up}"], b.state[f"model.layers.1.{up}"])
    # evaluated like any candidate: perplexity over windows, per-window results, GSM8K answers, size
    data = EvalData({"toy": ["Question: 2 + 3?\nAnswer: 5\n#### 5"] * 6}, [Problem("2 + 3?", "5")])
    metrics = evaluate_model(out, data, EvalSettings(seq_len=8, tokens=32, batch_size=2, max_new_tokens=2))
    assert metrics["heldout_tokens"] == 32 and len(metrics["windows"]) == 4 and metrics["gsm8k_n"] == 1
    nll = sum(w[1] for w in metrics["windows"]) / 32
    assert math.isclose(metrics["perplexity"], math.exp(nll)) and metrics["perplexity"] > 1
    assert metrics["weights_mb"] == pytest.approx((out / "model.safetensors").stat().st_size / 2**20)


def test_model_directories_resolve_from_runs(tmp_path):
    from glyph_dist.forge.merge.family import resolve_model_dir

    run = tmp_path / "run"
    for step in ("checkpoint_000010", "checkpoint_000020"):
        (run / step).mkdir(parents=True)
    (run / "checkpoint_manager_snapshot.json").write_text("{}")
    assert resolve_model_dir(run) == run / "checkpoint_000020"  # the latest checkpoint
    (run / "eval.json").write_text(json.dumps({"checkpoint": str(run / "checkpoint_000010")}))
    assert resolve_model_dir(run) == run / "checkpoint_000010"  # the one the run evaluated last
    with pytest.raises(GlyphDistError, match="neither a catalog name"):
        resolve_model_dir(tmp_path / "missing")


def test_finetune_variants_are_training_pairs_in_the_chat_template(tmp_path):
    from transformers import AutoTokenizer

    from glyph_dist.forge.merge.finetunes import variant_pairs, write_variants

    tokenizer = AutoTokenizer.from_pretrained(_tiny_llama(tmp_path))
    tokenizer.chat_template = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}<assistant>"
    datasets = Path(__file__).resolve().parents[2] / "shared" / "datasets"
    written = write_variants(tmp_path / "ft", datasets, tokenizer, ["gsm8k"], 20, seed=1)
    rows = [json.loads(line) for line in Path(written["gsm8k"]["train"]).read_text().splitlines()]
    assert len(rows) == 20
    assert all(r["prompt"].startswith("<user>") and r["prompt"].endswith("<assistant>") for r in rows)
    assert all("####" in r["target"] and "<<" not in r["target"] for r in rows)  # no calculator annotations
    test_questions = {json.loads(line)["question"] for line in (datasets / "gsm8k" / "test.jsonl").open()}
    assert not any(r["prompt"][len("<user>"):-len("<assistant>")] in test_questions for r in rows)
    with pytest.raises(GlyphDistError, match="unknown fine-tune variant"):
        variant_pairs("poetry", datasets, tokenizer, 10, 1)


# -- mergekit ------------------------------------------------------------------------------------------
def _mergekit():
    """mergekit, importable from the environment or from GLYPH_DIST_MERGEKIT (an unpacked wheel
    directory with its missing dependencies, put on sys.path), else the test is skipped."""
    extra = os.environ.get("GLYPH_DIST_MERGEKIT")
    if extra and extra not in sys.path:
        sys.path.insert(0, extra)
    return pytest.importorskip("mergekit.merge_methods", reason="mergekit is not importable")


def test_methods_agree_with_mergekit_per_tensor():
    mk = _mergekit()
    torch.manual_seed(0)
    base = torch.randn(16, 24)
    tensors = [base + 0.1 * torch.randn(16, 24) for _ in range(3)]
    w = [0.2, 0.5, 0.3]
    close = lambda a, b: torch.allclose(a, b, atol=1e-5, rtol=0)  # noqa: E731
    assert close(Linear().merge(tensors, w), mk.merge_tensors(tensors, "linear", parameters={"weight": w}))
    assert close(Slerp().merge(tensors[:2], [0.65, 0.35]),
                 mk.merge_tensors(tensors[:2], "slerp", parameters={"t": 0.35}, base_index=0))
    assert close(Ties(density=0.4).merge(tensors, w, base),
                 mk.merge_tensors([base, *tensors], "ties", parameters={"weight": w, "density": 0.4}, base_index=0))
    for name, consensus in (("dare_linear", False), ("dare_ties", True)):
        torch.manual_seed(11)  # mergekit draws from the global generator, in input order
        reference = mk.merge_tensors([base, *tensors], name, parameters={"weight": w, "density": 0.4}, base_index=0)
        ours = Dare(density=0.4, rescale="l1", consensus=consensus).merge(tensors, w, base,
                                                                           torch.Generator().manual_seed(11))
        assert close(ours, reference)


@pytest.mark.slow
def test_merges_of_llama_models_on_disk_agree_with_mergekit(tmp_path):
    """linear, SLERP, TIES and passthrough layer stacking (with a residual scale, as DFS writes it) of
    small Llama models saved to disk, by mergekit's own run_merge and by ours, to 1e-5."""
    _mergekit()
    import yaml
    from mergekit.config import MergeConfiguration
    from mergekit.merge import run_merge
    from mergekit.options import MergeOptions
    from safetensors.torch import load_file
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
    dirs = []
    for seed in range(3):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
        if seed:  # fine-tunes of model 0: the base plus a small task vector
            base_state = LlamaForCausalLM.from_pretrained(dirs[0]).state_dict()
            model.load_state_dict({k: v + 0.02 * torch.randn_like(v) for k, v in base_state.items()})
        model.save_pretrained(tmp_path / f"m{seed}")
        dirs.append(tmp_path / f"m{seed}")
    family = HFFamily()
    models = [family.load(d) for d in dirs]
    states = [m.state for m in models]

    def mergekit(spec: dict, name: str) -> dict:
        out = tmp_path / name
        run_merge(MergeConfiguration.model_validate(yaml.safe_load(yaml.safe_dump(spec))), str(out),
                  MergeOptions(copy_tokenizer=False, lazy_unpickle=False))
        return load_file(str(out / "model.safetensors"))

    def agree(ours: dict, theirs: dict) -> None:
        assert set(ours) == set(theirs)
        for k in ours:
            assert torch.allclose(ours[k].float(), theirs[k].float(), atol=1e-5, rtol=0), k

    m = [str(d) for d in dirs]
    agree(merge_state_dicts(states, Linear(), [0.2, 0.5, 0.3]),
          mergekit({"merge_method": "linear", "dtype": "float32", "models": [
              {"model": p, "parameters": {"weight": w}} for p, w in zip(m, [0.2, 0.5, 0.3])]}, "linear"))
    agree(merge_state_dicts(states[1:], Slerp(), [0.6, 0.4]),
          mergekit({"merge_method": "slerp", "dtype": "float32", "base_model": m[1], "parameters": {"t": 0.4},
                    "models": [{"model": m[1]}, {"model": m[2]}]}, "slerp"))
    agree(merge_state_dicts(states[1:], Ties(density=0.5), [0.7, 0.3], base=states[0]),
          mergekit({"merge_method": "ties", "dtype": "float32", "base_model": m[0], "models": [
              {"model": p, "parameters": {"weight": w, "density": 0.5}} for p, w in zip(m[1:], [0.7, 0.3])]}, "ties"))
    # mergekit takes the embeddings from the first slice's model and the final norm and head from the
    # last's; ours from the target (model 0): slices that begin and end with model 0 compare all tensors
    steps = [(0, 0, 1.0), (1, 1, 0.5), (1, 2, 0.5), (0, 2, 1.0)]
    scale = {"scale": [{"filter": "o_proj", "value": 0.5}, {"filter": "down_proj", "value": 0.5}, {"value": 1.0}]}
    theirs = mergekit({"merge_method": "passthrough", "dtype": "float32", "slices": [
        {"sources": [{"model": m[0], "layer_range": [0, 1]}]},
        {"sources": [{"model": m[1], "layer_range": [1, 3]}], "parameters": scale},
        {"sources": [{"model": m[0], "layer_range": [2, 3]}]}]}, "passthrough")
    agree(stack_layers(states, steps, family.layout), theirs)


# -- the evolution -------------------------------------------------------------------------------------
def test_mutation_perturbs_only_the_masked_fraction():
    state = {"w": torch.randn(100, 100), "step": torch.tensor(3)}
    mutant = mutate(state, 0.1, 0.5, seed=1)
    changed = (mutant["w"] != state["w"]).float().mean()
    assert 0.08 < changed < 0.12 and torch.equal(mutant["step"], state["step"])
    noise = (mutant["w"] - state["w"])[mutant["w"] != state["w"]]
    assert abs(float(noise.std()) / float(state["w"].std()) - 0.5) < 0.05
    assert torch.equal(mutate(state, 0.1, 0.5, seed=1)["w"], mutant["w"])


def test_diversity_distance_is_normalised():
    a = fingerprint({"w": torch.ones(10)}, 100, 0)
    assert distance(a, a) == 0.0
    assert math.isclose(distance(a, fingerprint({"w": -torch.ones(10)}, 100, 0)), 1.0)
    assert math.isclose(distance(a, fingerprint({"w": 3 * torch.ones(10)}, 100, 0)), 0.5)
    assert distance(a, fingerprint({"v": torch.ones(10)}, 100, 0)) == 1.0  # nothing shared


class _ToyFamily(HFFamily):
    """The Llama family's layout and files, on toy state dicts saved as safetensors."""

    def save(self, state, like, directory):
        from safetensors.torch import save_file
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "config.json").write_text(json.dumps(self.with_depth(like.config, self.layout.depth(state))))
        save_file({k: v.contiguous() for k, v in state.items()}, str(directory / "model.safetensors"))
        return directory


def _objective(directories):
    """A real objective on the saved weights: closeness of the first layer's q_proj to all ones."""
    out = []
    for d in directories:
        state = _ToyFamily().load(d).state
        out.append({"error": float((state["model.layers.0.self_attn.q_proj.weight"] - 1).pow(2).mean())})
    return out


def _evolution(tmp_path, generations, log, calls=None, scores=None):
    family = _ToyFamily()
    parents = [Model(_llama_state(i), {"num_hidden_layers": 3}, tmp_path / f"p{i}") for i in range(3)]

    def evaluate(directories):
        metrics = _objective(directories)
        if calls is not None:
            calls.append([d.name for d in directories])
        if scores is not None:
            scores.update({d.name: -m["error"] for d, m in zip(directories, metrics)})
        return metrics

    ga = GAConfig(generations=generations, diversity_floor=0.0, patience=50, diversity_sample=500)
    return Evolution(tmp_path / "run", family, parents, evaluate, lambda m: -m["error"], ga, RecipeRanges(),
                     log=log.append)


def test_evolution_selects_elites_mutates_them_and_merges_the_losers(tmp_path):
    log: list[str] = []
    calls: list[list[str]] = []
    scores: dict[str, float] = {}
    state = _evolution(tmp_path, 1, log, calls, scores).run()
    assert calls[0] == [f"g000-seed{i}" for i in range(8)]  # the 8 combinations
    assert calls[1] == [f"g001-e{e}m{k}" for e in range(2) for k in range(3)] + ["g001-c0", "g001-c1"]
    ranked = sorted(calls[0], key=lambda i: -scores[i])
    population = state["population"]
    assert len(population) == 10 and [m["id"] for m in population[:2]] == ranked[:2]  # the elites stay
    for m in population[2:8]:  # 3 mutants of each elite
        assert m["origin"]["kind"] == "mutant" and m["origin"]["parents"] == [ranked[int(m["id"][6])]]
    # the bottom 6, best first, merged in two groups of three into two children
    assert [c["origin"]["parents"] for c in population[8:]] == [ranked[2:5], ranked[5:8]]
    assert all(c["origin"]["kind"] == "child" and c["origin"]["combo"] for c in population[8:])
    assert state["history"][1]["best"] >= state["history"][0]["best"]  # elitism: the best never gets worse
    assert state["history"][1]["best"] == max(scores[m["id"]] for m in population)
    assert {d.name for d in (tmp_path / "run" / "candidates").iterdir()} == {m["id"] for m in population}
    assert state["stopped"] == "generations" and len(log) == 2


def test_evolution_resumes_where_it_stopped_and_repeats_its_choices(tmp_path):
    straight = _evolution(tmp_path / "a", 3, []).run()
    calls: list[list[str]] = []
    _evolution(tmp_path / "b", 2, []).run()
    resumed = _evolution(tmp_path / "b", 3, [], calls).run()
    assert calls == [[f"g003-e{e}m{k}" for e in range(2) for k in range(3)] + ["g003-c0", "g003-c1"]]
    assert [m["id"] for m in resumed["population"]] == [m["id"] for m in straight["population"]]
    fitness = [m["fitness"] for m in straight["population"]]
    assert [m["fitness"] for m in resumed["population"]] == pytest.approx(fitness)
    assert [h["best"] for h in resumed["history"]] == pytest.approx([h["best"] for h in straight["history"]])


def test_evolution_stops_early_and_reseeds_on_collapse(tmp_path):
    family = _ToyFamily()
    parents = [Model(_llama_state(i), {"num_hidden_layers": 3}, tmp_path / f"p{i}") for i in range(3)]
    ga = GAConfig(generations=20, patience=2, min_delta=1e9, diversity_floor=1.1, diversity_sample=500)
    log: list[str] = []
    state = Evolution(tmp_path / "run", family, parents, _objective, lambda m: -m["error"], ga, RecipeRanges(),
                      log=log.append).run()
    assert state["generation"] == 2 and state["stopped"].startswith("best fitness stalled")
    assert all(h["reseeded"] for h in state["history"][1:])  # a floor above any distance re-seeds every time
    assert len(state["population"]) == 10 and sum(m["id"].startswith("g002-seed") for m in state["population"]) == 8


def test_report_gain_is_paired_and_its_interval_excludes_zero_only_for_a_real_difference():
    from glyph_dist.reports.forge_merge import gain, verdict

    weights = {"perplexity": 1.0, "gsm8k": 1.0, "speed": 0.0, "memory": 0.0}
    windows = [["s", 30.0 + i % 7, 10] for i in range(40)]
    parent = {"windows": windows, "gsm8k_items": [1, 0] * 10, "tokens_per_s": 100.0, "weights_mb": 1.0}
    ref = {"perplexity": math.exp(sum(w[1] for w in windows) / 400), "tokens_per_s": 100.0, "weights_mb": 1.0}
    same = gain(parent, parent, weights, ref)
    assert all(v == {"value": 0.0, "low": 0.0, "high": 0.0} for k, v in same.items() if k != "perplexity_ratio")
    assert "did not clearly help" in verdict(same, "p")
    better = {**parent, "windows": [[s, n - 1.0, t] for s, n, t in windows]}  # 0.1 nats a token lower everywhere
    g = gain(better, parent, weights, ref)
    assert math.isclose(g["perplexity_ratio"]["value"], math.exp(-0.1))
    assert g["perplexity_ratio"]["high"] < 1 and g["fitness"]["low"] > 0 and "Merging helped" in verdict(g, "p")
    with pytest.raises(ValueError, match="same windows"):
        gain({**parent, "windows": windows[:-1]}, parent, weights, ref)


# -- the command ---------------------------------------------------------------------------------------
def test_forge_evolve_runs_end_to_end_and_resumes(ray_session, tmp_path, capsys):
    """Three tiny Cognate models (reasoning, memory, speed: the speed one wider, merging nowhere), one
    generation on the Ray actor pool, the report; a second call with one more generation resumes."""
    from glyph_dist.cli import main
    from glyph_dist.fgt.bpe import as_hf_tokenizer, train_bpe
    from glyph_dist.forge.cognate.checkpoint import build_model, save_pretrained
    from glyph_dist.forge.cognate.model import CognateConfig
    from glyph_dist.forge.cognate.specialisations import specialise

    texts = ["Question: 2 + 3?\nAnswer: 5\n#### 5", "USER: hi\nSYSTEM: hello"] * 8
    tokenizer = as_hf_tokenizer(train_bpe(texts, 300))
    base = CognateConfig(vocab_size=len(tokenizer), d_model=16, n_layers=2, n_heads=2, outer_steps=2, inner_steps=1,
                         memory_dim=4, memory_hidden=8, memory_chunk=8, max_seq_len=32)
    parents = [save_pretrained(build_model(specialise(base, name), seed=seed), tokenizer, tmp_path / name, name)
               for seed, name in enumerate(("reasoning", "memory", "speed"))]
    root = Path(__file__).resolve().parents[1]
    args = ["forge", "evolve", str(root / "experiments" / "forge_evolve_tiny.yaml"), f"storage_path={tmp_path}",
            f"parents={[str(p) for p in parents]}", "workers=1", "ga.generations=1", "eval.seq_len=16",
            "eval.tokens=16", "eval.sources=[gsm8k]", "eval.gsm8k_fitness=1", "eval.gsm8k_final=1",
            "eval.max_new_tokens=2", f"eval.datasets={root.parent / 'shared' / 'datasets'}",
            "--report", str(tmp_path / "report")]
    assert main(args) == 0
    run = tmp_path / "evolve_cognate_tiny"
    summary = json.loads((run / "summary.json").read_text())
    assert [h["generation"] for h in summary["history"]] == [0, 1] and summary["evaluations"] == 16
    assert set(summary["parents_final"]) == {"reasoning", "memory", "speed"}
    champion = summary["champion"]
    assert champion["final"]["gsm8k_n"] == 1 and (run / "champion" / "cognate.json").is_file()
    report = (tmp_path / "report" / "evolve.md").read_text()
    assert "Merging" in report and "champion" in report and (tmp_path / "report" / "evolve.png").is_file()
    # resumed with one generation more: generation 0 is not evaluated again, the parents not measured again
    assert main([*args[:-2], "ga.generations=2", "--report", str(tmp_path / "report")]) == 0
    resumed = json.loads((run / "summary.json").read_text())
    assert [h["generation"] for h in resumed["history"]] == [0, 1, 2] and resumed["evaluations"] == 8
    assert resumed["history"][:2] == summary["history"]
    # bad input: a parent that is no model directory, an unknown key
    capsys.readouterr()
    assert main([*args[:3], f"storage_path={tmp_path / 'bad'}", "names=[a, b]",
                 f"parents={[str(tmp_path), str(parents[0])]}"]) == 2
    assert "neither a Cognate" in capsys.readouterr().err
    assert main([*args[:3], "ga.generation=3"]) == 2
    assert "unknown key(s) generation" in capsys.readouterr().err
