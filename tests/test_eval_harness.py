"""The one evaluation harness: the registry, data sets as episodes (both isolations), the loop over
every provider family, and the `eval` trial's parameter checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from glyph_dist.errors import GlyphDistError
from glyph_dist.eval.episodes import as_stream, item_episode, load_data
from glyph_dist.eval.loop import run_provider
from glyph_dist.eval.trial import dataset_path, parse_params, trial_config
from glyph_dist.memory.suites import generate_suite
from glyph_dist.memory.suites.io import write_suite
from glyph_dist.models.answerers import get_answerer
from glyph_dist.models.judges import get_judge
from glyph_dist.providers.base import Setup
from glyph_dist.providers.registry import PROVIDERS, build_provider, capabilities
from glyph_dist.registry import Registry

CONVERSATION = [{"episode_id": f"e{k}", "turns": [{"role": "user", "text": f"My locker code is {4100 + k}."},
                                                   {"role": "assistant", "text": "Noted."},
                                                   {"role": "user", "text": "The weather is mild today."}],
                 "questions": [{"question": "What is my locker code?", "answer": str(4100 + k), "evidence": [0]}]}
                for k in range(3)]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_registry_lookup_choices_and_errors():
    registry = Registry("widget", {"a": 1, "b": 2})
    assert registry.get("b") == 2 and registry["a"] == 1 and registry.choices() == ("a", "b") and "a" in registry
    with pytest.raises(GlyphDistError, match="unknown widget 'c'; known: a, b"):
        registry.get("c")
    with pytest.raises(GlyphDistError, match="unknown widget 'x', 'y'; known: a, b"):
        registry.check(["a", "x", "y"])
    assert {"raw_truncate", "fgt_context", "bm25_topk", "hei_nw", "longctx", "all"} <= set(PROVIDERS.choices())
    with pytest.raises(GlyphDistError, match="unknown provider 'oracle'"):
        PROVIDERS.get("oracle")


def test_capabilities_are_declared_not_special_cased():
    assert capabilities("fgt_context").needs_fgms and not capabilities("rag_topk").needs_fgms
    assert not capabilities("full").uses_budget and capabilities("raw_truncate").uses_budget
    assert capabilities("hei_nw").needs_surprise and capabilities("all").needs_surprise
    assert capabilities("longctx").reads_window and not capabilities("rag").reads_window


def test_suite_items_as_episodes_under_both_isolations(tmp_path):
    items = generate_suite("episodic", 5, 3)
    path = write_suite(tmp_path / "suite.jsonl", items)
    per_item = load_data(path, isolation="episode")
    assert len(per_item) == len(items)
    first = per_item[0]
    assert [text for _, text in first.turns] == [s.text for s in items[0].teach]
    assert [m["step"] for m in first.turn_meta] == [s.step for s in items[0].teach]
    question = first.questions[0]
    assert question.item == items[0] and question.evidence_texts == items[0].evidence
    assert all(first.turns[i][1] in items[0].evidence for i in question.evidence)
    stream, = load_data(path, isolation="stream")
    assert len(stream.turns) == sum(len(i.teach) for i in items) and len(stream.questions) == len(items)
    offset = len(items[0].teach)
    assert stream.questions[1].evidence == tuple(offset + i for i in per_item[1].questions[0].evidence)
    assert all(stream.turns[i] == per_item[1].turns[i - offset] for i in stream.questions[1].evidence)
    assert as_stream([item_episode(items[0])], "x").questions[0].evidence == question.evidence


def test_a_file_without_splits_runs_whole_and_a_missing_split_names_the_ones_there(tmp_path):
    plain = write_jsonl(tmp_path / "plain.jsonl", CONVERSATION)
    assert len(load_data(plain, "test")) == len(CONVERSATION)
    split = write_jsonl(tmp_path / "split.jsonl", [{**e, "split": s} for e, s in zip(CONVERSATION, ("dev", "dev", "test"))])
    assert len(load_data(split, "dev")) == 2 and len(load_data(split)) == 3
    with pytest.raises(GlyphDistError, match="split.jsonl: no line of split 'train'; its splits: dev, test"):
        load_data(split, "train")
    stream, = load_data(split, "dev", isolation="stream")
    assert [q.evidence for q in stream.questions] == [(0,), (3,)]


@pytest.fixture(scope="module")
def fgms(tape_root, tmp_path_factory):
    from glyph_dist.fgms.memory import ShardMemory

    memory = ShardMemory.open(tape_root, tmp_path_factory.mktemp("fgms"))
    yield memory
    memory.storage.close()


@pytest.mark.parametrize("name", ["raw_truncate", "bm25_topk", "rag_topk", "full", "fgt_context", "core", "rag",
                                  "longctx", "hei_nw", "sgc_rss", "smpd", "all"])
@pytest.mark.parametrize("isolation", ["episode", "stream"])
def test_every_provider_runs_on_conversations_and_suites_through_one_loop(name, isolation, fgms, tmp_path):
    answerer, judge = get_answerer("context-recall"), get_judge("rule")
    setup = Setup(fgms.hybrid, fgms)
    conversations = load_data(write_jsonl(tmp_path / "c.jsonl", CONVERSATION), isolation=isolation)
    suite = load_data(write_suite(tmp_path / "s.jsonl", generate_suite("spatial", 4, 5)), isolation=isolation)
    rows = []
    for episodes in (conversations, suite):
        rows.append(row := run_provider(build_provider(name, setup), episodes, 64, answerer, judge))
        assert row["n_questions"] == sum(len(e.questions) for e in episodes)
        assert 0 <= row["evidence_share"] <= 1 and row["evidence_recall"] <= row["evidence_share"] + 1e-9
        assert row["success_rate"] == row["evidence_recall"], "the model-free answerer answers what it recalls"
        if capabilities(name).uses_budget:
            assert row["max_tokens"] <= 64
    assert "spatial_success" in rows[1] and "em_raw" in rows[1] and "em_raw" not in rows[0], "suites add their scores"
    recalled = rows[0]["evidence_recall"]  # the locker codes: no memory, or specialists that keep only relations or moves
    assert recalled == 0 if name in ("core", "sgc_rss", "smpd") else recalled > 0


def test_stream_isolation_lets_a_memory_answer_across_episodes(fgms):
    """A locker code taught in one episode and asked about in the next: recalled when the two are one
    teach stream, not when each episode gets a fresh memory."""
    from glyph_dist.context.episodes import Episode, Question, episode_digest

    taught = (("user", "My locker code is 4100."),)
    asked = (("assistant", "Noted."),)
    question = Question("What is my locker code?", "4100", (), 1.0, ("My locker code is 4100.",))
    episodes = [Episode("e0", taught, (), episode_digest(taught)), Episode("e1", asked, (question,), episode_digest(asked))]
    setup = Setup(fgms.hybrid, fgms)
    answerer, judge = get_answerer("context-recall"), get_judge("rule")
    stream = run_provider(build_provider("rag", setup), [as_stream(episodes, "s")], 64, answerer, judge)
    isolated = run_provider(build_provider("rag", setup), episodes, 64, answerer, judge)
    assert (stream["evidence_recall"], isolated["evidence_recall"]) == (1.0, 0.0)


@pytest.mark.parametrize("trial, message", [
    ({"provider": "oracle"}, "unknown provider 'oracle'"),
    ({"provider": "rag", "budget": 0}, "budget: Input should be greater than 0"),
    ({"provider": "rag", "isolation": "file"}, "isolation: Input should be 'episode' or 'stream'"),
    ({"provider": "rag", "temperature": 1}, "temperature: Extra inputs are not permitted"),
    ({"provider": "rag", "dataset": "nowhere"}, "unknown dataset 'nowhere'"),
    ({"provider": "rag", "ablation": "speed.x=1"}, "ablation 'speed.x=1': unknown key 'speed'; known keys: gate"),
    ({"provider": "rag", "ablation": "gate=false"}, "gate needs a key, as in gate.KEY=VALUE"),
    ({"provider": "rag", "preset": "x"}, "either a provider"),
    ({"provider": None, "preset": "x", "presets": {"y": {"provider": "rag"}}}, "unknown preset 'x'; known: y"),
    ({"provider": "rag_topk", "policy": "newest"}, "policy: Input should be"),
])
def test_bad_trial_parameters_are_named(trial, message):
    base = {"dataset": "episodic", "budget": 64, "tape": "data/tapes/sgd"}
    with pytest.raises(GlyphDistError, match=message):
        params = parse_params({**base, **trial})
        trial_config(params)
        dataset_path(params)


def test_trial_names_accept_the_studies_keys_and_presets_set_modules():
    params = parse_params({"suite": "semantic", "seeds": 7, "preset": "memory/hei_nw", "budget": 64, "tape": "t",
                           "presets": {"memory/hei_nw": {"provider": "hei_nw"}}, "ablation": "gate.enabled=false"})
    assert (params.dataset, params.seed) == ("semantic", 7)
    name, config, variant, changes = trial_config(params)
    assert name == "hei_nw" and not config.gate.enabled and variant == "memory/hei_nw+gate.enabled=false"
    assert dataset_path(params).name == "easy_n50_s7.jsonl"
    assert parse_params(params.model_dump(by_alias=True)) == params


@pytest.mark.parametrize("results, read", [("context_bench", "context_bench"), ("phase5", "context_bench"),
                                           ("memory_eval", "memory_eval")])
def test_the_results_layout_reads_the_context_benchmarks_former_name(results, read):
    assert parse_params({"dataset": "episodic", "budget": 64, "tape": "t", "results": results}).results == read
    with pytest.raises(GlyphDistError, match="results: Input should be 'context_bench' or 'memory_eval'"):
        parse_params({"dataset": "episodic", "budget": 64, "tape": "t", "results": "phase6"})
