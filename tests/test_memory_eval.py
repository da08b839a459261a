"""The memory evaluation matrix: presets, overrides and ablations, baselines, the trial's outputs,
and the memory's context reaching the answerer's prompt."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from glyph_dist.errors import GlyphDistError
from glyph_dist.memory.base import Services, Statement
from glyph_dist.memory.baselines import Core, LongCtx, Rag
from glyph_dist.memory.combined import AllMemory
from glyph_dist.eval.episodes import load_data
from glyph_dist.eval.loop import model_surprise, run_provider
from glyph_dist.memory.suites import generate_suite
from glyph_dist.memory.suites.io import write_suite
from glyph_dist.models.answerers import PROMPT, HFAnswerer
from glyph_dist.models.judges import LLMJudge, RuleJudge
from glyph_dist.eval.trial import parse_params, trial_config
from glyph_dist.runner import eval_trial, memory_runs
from glyph_dist.providers.base import Setup
from glyph_dist.providers.registry import build_provider
from glyph_dist.runner.config import load_experiment

MEMORY_EVAL = Path(__file__).resolve().parents[1] / "experiments" / "memory_eval.yaml"


def words(text: str) -> int:
    return len(text.split())


@pytest.fixture(scope="module")
def services(tape) -> Services:
    return Services(embed=tape.embedder.encode, count=lambda t: len(tape.tokenizer(t, add_special_tokens=False).input_ids))


def trials_of(tmp_path: Path, tape_root: Path, *overrides: str) -> list[dict]:
    experiment = load_experiment(MEMORY_EVAL, [f"tape={tape_root}", f"data_dir={tmp_path / 'data'}",
                                               f"runs_dir={tmp_path / 'runs'}", "date=2026-01-02", *overrides])
    return eval_trial.check(experiment.trials())


def test_presets_switches_and_aliases_expand_the_matrix(tmp_path, tape_root):
    default = load_experiment(MEMORY_EVAL)
    assert len(default.trials()) == 7 * 3
    matrix = load_experiment(MEMORY_EVAL, ["+run_matrix=true", "preset=memory/hei_nw", "suite=all"])
    assert matrix.axes["n"] == [50, 200, 1000] and matrix.axes["seeds"] == [1337, 2025, 4242]
    assert matrix.axes["suite"] == ["episodic", "semantic", "spatial"] and len(matrix.trials()) == 3 * 3 * 3
    baselines = load_experiment(MEMORY_EVAL, ["preset=baselines", "n=200", "seeds=[1337]"])
    assert baselines.axes["preset"] == ["baselines/core", "baselines/rag", "baselines/longctx"]
    assert load_experiment(MEMORY_EVAL, ["gate.enabled=false"]).spec["params"]["gate"] == {"enabled": False}


@pytest.mark.parametrize("overrides, message", [
    (["preset=memory/nope"], "unknown preset 'memory/nope'; known: baselines/core"),
    (["suite=cooking"], "unknown dataset 'cooking': use agent_logs, public_dialog, episodic"),
    (["n=0"], "n: Input should be greater than 0"),
    (["max_items=abc"], "max_items: Input should be a valid integer"),
    (["tape=/nowhere/tape"], "tape not found: /nowhere/tape"),
    (["n=-5"], "n: Input should be greater than 0"),
    (["profile=tricky"], "unknown profile 'tricky'"),
    (["gate.enable=false"], "gate.enable=.*unknown key 'enable'; known keys: enabled"),
    (["ablation=gate.enabld=false"], "unknown memory setting 'gate.enabld'"),
    (["ablation=colour.red=true"], "unknown key 'colour'; known keys: gate, hopfield, schema, macro"),
    (["hopfield.enabled=maybe"], "hopfield.enabled"),
    (["+run_everything=true"], "no switch 'run_everything'; switches: run_matrix"),
])
def test_bad_presets_suites_sizes_and_overrides_are_refused(tmp_path, tape_root, overrides, message):
    with pytest.raises(GlyphDistError, match=message):
        trials_of(tmp_path, tape_root, *overrides)


def test_one_date_holds_runs_of_one_setting(tmp_path, tape_root):
    planned = tmp_path / "runs" / "2026-01-02" / "planned.json"
    planned.parent.mkdir(parents=True)
    setting = {"answerer": "context-recall", "judge": "rule", "profile": "easy", "budget": 256, "window": 2048, "max_items": None,
               "tape": str(tape_root.resolve()), "tokenizer": None}
    planned.write_text(json.dumps({"setting": setting, "trials": []}))
    assert trials_of(tmp_path, tape_root, "suite=episodic")  # the same setting adds to the date
    with pytest.raises(GlyphDistError, match='different settings \\(profile: "easy" vs "hard"\\).*date=2026-01-02-b'):
        trials_of(tmp_path, tape_root, "profile=hard")


def test_suite_files_follow_the_generators(tmp_path, tape_root):
    trial = trials_of(tmp_path, tape_root, "preset=baselines/core", "suite=episodic", "n=3")[0]
    path, = memory_runs.write_suites([parse_params(trial)])
    fresh = path.read_text()
    path.write_text(fresh.splitlines()[0] + "\n")  # a file from an older generator, or cut short
    memory_runs.write_suites([parse_params(trial)])
    manifest = json.loads((tmp_path / "data" / "MANIFEST.json").read_text())["files"]["memory/episodic/easy_n3_s1337.jsonl"]
    assert path.read_text() == fresh and manifest["items"] == 3 and manifest["seed"] == 1337


def test_ablation_variants_name_what_changed_and_identical_trials_run_once(tmp_path, tape_root, capsys):
    trials = trials_of(tmp_path, tape_root, "preset=[baselines/core, memory/hei_nw, memory/all]", "suite=episodic",
                       "ablation=[none, gate.enabled=false, macro.distill=false]")
    variants = [trial_config(parse_params(t))[2] for t in trials]
    assert variants == ["baselines/core", "memory/hei_nw", "memory/hei_nw+gate.enabled=false",
                        "memory/all", "memory/all+gate.enabled=false", "memory/all+macro.distill=false"]
    assert "changes nothing for this preset" in capsys.readouterr().err
    _, config, _, _ = trial_config(parse_params(trials[-2]))
    assert not (config.hei_nw.gate.enabled or config.sgc_rss.gate.enabled or config.smpd.gate.enabled)
    # a setting only one module's gate has reaches that module, also inside ALL
    tuned = trials_of(tmp_path, tape_root, "preset=[memory/smpd, memory/all]", "suite=spatial",
                      "ablation=['gate.tau=0.3,gate.flap_flips=4']", "max_items=500")
    (_, smpd, smpd_name, _), (_, combined, all_name, _) = (trial_config(parse_params(t)) for t in tuned)
    assert smpd.gate.flap_flips == 4 and combined.hei_nw.gate.tau == 0.3 and combined.smpd.gate.flap_flips == 4
    assert combined.sgc_rss.max_items == combined.hei_nw.max_items == smpd.max_items == 500
    assert smpd_name == "memory/smpd+gate.flap_flips=4" and all_name == "memory/all+gate.flap_flips=4,gate.tau=0.3"


def test_baselines_core_rag_and_longctx(services):
    texts = ["On day 3, Ada Byron met Alan Turing at the library.", "Harbor Books is in Lyon.",
             "On day 4, Ada Byron called Grace Hopper at the museum."]
    window = services.count(texts[0]) + services.count(texts[2])  # the last statement and most of the one before
    rag, longctx, core = Rag(services), LongCtx(services), Core(services)
    for step, text in enumerate([*texts, texts[0]]):
        for memory in (rag, longctx, core):
            memory.write(Statement(text, step))
    assert core.read("Where did Ada Byron meet Alan Turing on day 3?", 512) == ""
    context = rag.read("Where did Ada Byron meet Alan Turing on day 3?", 512)
    assert context.count(texts[0]) == 1 and services.count(context) <= 512 and rag.counters()["stored"] == 3
    one_line = services.count(texts[0])  # room for the best statement only
    assert rag.read("Where did Ada Byron meet Alan Turing on day 3?", one_line) == texts[0]
    assert longctx.read("anything", window) == texts[0] and longctx.counters()["stored"] == 4
    assert longctx.read("anything", 512) == "\n".join([*texts, texts[0]])


def test_all_routes_questions_to_the_module_of_their_type(services):
    memory = AllMemory(services)
    for item in [*generate_suite("spatial", 2, 5), *generate_suite("semantic", 2, 5), *generate_suite("episodic", 2, 5)]:
        for statement in item.teach:
            memory.write(statement)
    spatial, semantic, episodic = generate_suite("spatial", 2, 5)[0], generate_suite("semantic", 2, 5)[0], \
        generate_suite("episodic", 2, 5)[0]
    assert [memory.route(i.question).name for i in (spatial, semantic, episodic)] == ["smpd", "sgc_rss", "hei_nw"]
    memory.read(spatial.question, 256)
    assert memory.counters()["routed_smpd"] == 1 and memory.counters()["routed_hei_nw"] == 0


def untrained_lm(path: Path, texts: list[str]) -> Path:
    """A 1-layer GPT-2 with a byte-level BPE fitted to `texts`, saved under `path`."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from glyph_dist.fgt.bpe import EOS_TOKEN, train_bpe

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=train_bpe(texts, vocab_size=400), eos_token=EOS_TOKEN)
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=32, n_positions=4096, vocab_size=len(tokenizer),
                               eos_token_id=tokenizer.eos_token_id)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_memory_content_reaches_the_answerers_prompt(hybrid, tmp_path):
    items = generate_suite("episodic", 6, 11)
    episodes = load_data(write_suite(tmp_path / "suite.jsonl", items))
    texts = [s.text for item in items for s in item.teach] + [PROMPT]
    model = untrained_lm(tmp_path / "tiny-gpt2", texts)
    answerer, judge = HFAnswerer(str(model), max_new_tokens=2), LLMJudge(str(model))
    prompts: list[str] = []
    generate = answerer.lm.generate  # the real model still answers; the prompts it is given are kept
    answerer.lm.generate = lambda batch, *args, **kwargs: prompts.extend(batch) or generate(batch, *args, **kwargs)
    for name in ("rag", "core"):
        prompts.clear()
        metrics = run_provider(build_provider(name, Setup(hybrid)), episodes, 256, answerer, judge)
        evidence_in_prompts = [all(e in prompt for e in item.evidence) for item, prompt in zip(items, prompts)]
        assert len(prompts) == len(items)
        assert {"contains", "llm_equivalent", "llm_em_agreement", "llm_contains_agreement"} <= set(metrics)
        assert sum(evidence_in_prompts) == round(len(items) * metrics["evidence_recall"])
        assert (metrics["evidence_recall"] > 0) == (name == "rag")


def test_hei_nw_takes_surprise_from_the_answering_model_when_there_is_one(hybrid, tmp_path):
    from glyph_dist.models.answerers import ContextRecall

    items = generate_suite("episodic", 4, 3)
    texts = [s.text for i in items for s in i.teach]
    model = HFAnswerer(str(untrained_lm(tmp_path / "tiny-gpt2", texts)))
    surprise = model_surprise(model, texts)
    scores = surprise([items[0].teach[0].text, items[1].teach[0].text])
    assert scores.shape == (2,) and np.all(scores > 0) and scores[0] != scores[1]
    with_model = build_provider("hei_nw", Setup(hybrid, surprise=surprise))
    run_provider(with_model, load_data(write_suite(tmp_path / "suite.jsonl", items)), 128, model, RuleJudge())
    assert with_model.counters()["surprise_source"] == "model"
    assert model_surprise(ContextRecall(), texts) is None


def test_matrix_run_writes_per_trial_outputs_and_the_roll_up(ray_session, tmp_path, tape_root):
    from glyph_dist.runner.run import run_experiment

    experiment = load_experiment(MEMORY_EVAL, [
        f"tape={tape_root}", f"data_dir={tmp_path / 'data'}", f"runs_dir={tmp_path / 'runs'}", "date=2026-01-02",
        f"report={tmp_path / 'reports'}", "preset=[baselines/core, baselines/rag, memory/all]", "suite=all", "n=12",
        "seeds=[1, 2]", "max_items=40"])
    summary = run_experiment(experiment, tmp_path / "run")
    assert summary["finished"] == summary["trials"] == 3 * 3 * 2
    day = tmp_path / "runs" / "2026-01-02"
    document = json.loads((day / "memory/all/spatial/12_2/metrics.json").read_text())
    assert document["config"]["variant"] == "memory/all" and document["metrics"]["n_items"] == 12
    assert document["metrics"]["max_context_tokens"] <= 256 and "spatial_success" in document["metrics"]
    assert document["counters"]["smpd.pruned"] > 0 and any("max_items=40" in line for line in document["log"])
    meta = json.loads((day / "baselines/core/episodic/12_1/meta.json").read_text())
    assert meta["trial"]["preset"] == "baselines/core" and meta["config_hash"] and "git_commit" in json.dumps(meta)
    core = json.loads((day / "baselines/core/episodic/12_1/metrics.json").read_text())["metrics"]
    rag = json.loads((day / "baselines/rag/episodic/12_1/metrics.json").read_text())["metrics"]
    assert core["em"] == 0 and core["memory_hit_rate"] == 0 and rag["memory_hit_rate"] > 0
    manifest = json.loads((tmp_path / "data" / "MANIFEST.json").read_text())
    assert "memory/episodic/easy_n12_s1.jsonl" in manifest["files"]
    index = (tmp_path / "reports" / "2026-01-02" / "index.md").read_text()
    assert "memory/all" in index and "baselines/rag" in index
    assert np.isfinite(rag["latency_ms_mean"]) and rag["tokens"] > 0
