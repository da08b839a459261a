"""Context strategies under a budget, the benchmark cell and its schema, episode validation."""

from __future__ import annotations

import json

import pytest

from glyph_dist.context.bench import CellConfig, run_cell
from glyph_dist.context.episodes import Episode, Question, load_episodes, turn_line
from glyph_dist.context.strategies import STRATEGIES, Context, make_strategy
from glyph_dist.errors import GlyphDistError
from glyph_dist.eval.loop import Timing, ask, summarise
from glyph_dist.fgms.memory import ShardMemory
from glyph_dist.fgt.hybrid import GLYPH_CLOSE, GLYPH_OPEN
from glyph_dist.models.answerers import get_answerer
from glyph_dist.models.judges import get_judge
from tests.test_hybrid import _long_family


@pytest.fixture(scope="module")
def phase5(tmp_path_factory):
    from glyph_dist.data.context_bench import prepare_context_bench

    out = tmp_path_factory.mktemp("data")
    prepare_context_bench(out, seed=7, agent_episodes=30, quiet=True)
    return out / "phase5"


@pytest.fixture(scope="module")
def memory(tape_root, tmp_path_factory):
    return ShardMemory.open(tape_root, tmp_path_factory.mktemp("fgms"))


@pytest.fixture(scope="module")
def episodes(phase5):
    return load_episodes(phase5 / "agent_logs.jsonl", "test")[:4]


@pytest.mark.parametrize("name", [n for n, s in STRATEGIES.items() if s.uses_budget])
@pytest.mark.parametrize("budget", [1, 40, 300])
def test_budgeted_strategies_never_exceed_the_budget(memory, episodes, name, budget):
    strategy = make_strategy(name, memory.hybrid, memory)
    for episode in episodes:
        for question in episode.questions[:3]:
            context = strategy.context(episode, question, budget)
            assert context.tokens == (len(memory.hybrid.token_ids([context.text])[0]) if context.text else 0)
            assert context.tokens <= budget


def test_raw_truncate_keeps_the_end_of_the_history(memory, episodes):
    episode = episodes[0]
    history = "\n".join(turn_line(i, role, text) for i, (role, text) in enumerate(episode.turns))
    context = make_strategy("raw_truncate", memory.hybrid).context(episode, episode.questions[0], 200)
    assert 190 <= context.tokens <= 200 and history.endswith(context.text.lstrip("\ufffd"))


@pytest.mark.parametrize("name", ["rag_topk", "bm25_topk"])
def test_retrieval_finds_the_evidence_and_keeps_chronological_order(memory, episodes, name):
    strategy = make_strategy(name, memory.hybrid)
    found = 0
    for episode in episodes:
        for question in episode.questions:
            context = strategy.context(episode, question, 120)
            turns = [int(line.split()[0][2:]) for line in context.text.splitlines()]
            assert turns == sorted(turns)
            found += all(turn_line(i, *episode.turns[i]) in context.text.splitlines() for i in question.evidence)
    assert found >= 0.3 * sum(len(e.questions) for e in episodes), "retrieval should often find the evidence turn"


def test_fgt_context_reads_from_fgms_and_reports_glyph_turns(memory, phase5):
    strategy = make_strategy("fgt_context", memory.hybrid, memory, mode="glyph")
    episode = load_episodes(phase5 / "public_dialog.jsonl", "test")[0]  # dialogue text, like the tape's
    context = strategy.context(episode, episode.questions[0], 300)
    assert memory.stats()["actors"] >= 1 and context.text
    assert context.glyph_turns, "glyph mode renders coded spans as glyphs"
    again = strategy.context(episode, episode.questions[0], 300)
    assert again == context, "the episode is written once, reads are repeatable"


def test_cell_result_schema_and_model_free_metrics(memory, phase5):
    config = CellConfig(str(phase5 / "public_dialog.jsonl"), 512)
    result = run_cell(config, memory.hybrid, get_answerer("context-recall"), get_judge("rule"), memory)
    assert set(result["results"]) == set(config.strategies)
    assert result["config"]["answerer"] == "context-recall" and result["config"]["judge"] == "rule"
    for name, row in result["results"].items():
        assert {"success_rate", "avg_tokens", "evidence_recall", "evidence_recall_expanded", "answer_recall",
                "glyph_evidence"} <= set(row)
        assert row["evidence_recall_expanded"] >= row["evidence_recall"], "expanding never removes text"
        assert sum(b["n"] for b in row["by_evidence_position"]) == row["n_questions"]
        assert sum(b["n"] for b in row["by_episode_length"]) == row["n_questions"]
        assert row["by_question_type"] == [], "public_dialog names no question types"
        # context-recall answers exactly when the evidence is there verbatim
        assert row["success_rate"] == pytest.approx(row["evidence_recall"])
        if name != "full":
            assert row["max_tokens"] <= 512
    assert result["results"]["full"]["evidence_recall"] == 1.0
    assert result["results"]["raw_truncate"]["evidence_recall"] < 1.0, "the budget bites"
    json.dumps(result)


def test_cell_rejects_bad_configs():
    with pytest.raises(GlyphDistError, match="budget"):
        CellConfig("x.jsonl", 0)
    with pytest.raises(GlyphDistError, match="unknown provider 'oracle'; known: raw_truncate"):
        CellConfig("x.jsonl", 10, strategies=("raw_truncate", "oracle"))


@pytest.mark.parametrize("line, message", [
    ('{"turns": [{"text": "hi"}], "questions": [', "malformed JSON"),
    ('{"turns": [], "questions": []}', "non-empty list 'turns'"),
    ('{"turns": [{"text": "hi"}], "questions": [{"question": "q", "answer": "a", "evidence": [3]}]}', "evidence"),
    ('{"turns": [{"role": "user"}], "questions": []}', "'text'"),
])
def test_bad_episodes_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "episodes.jsonl"
    good = '{"turns": [{"text": "I live in Oslo."}], "questions": [{"question": "Where?", "answer": "Oslo", "evidence": [0]}]}'
    path.write_text(good + "\n" + line + "\n")
    with pytest.raises(GlyphDistError, match=f"episodes.jsonl:2.*{message}"):
        load_episodes(path)


def test_missing_data_set_and_a_split_the_file_lacks(tmp_path):
    with pytest.raises(GlyphDistError, match="not found"):
        load_episodes(tmp_path / "none.jsonl")
    path = tmp_path / "e.jsonl"
    path.write_text('{"split": "train", "turns": [{"text": "a"}], "questions": [{"question": "q", "answer": "a", "evidence": [0]}]}\n')
    with pytest.raises(GlyphDistError, match="e.jsonl: no line of split 'test'; its splits: train"):
        load_episodes(path, "test")


@pytest.fixture(scope="module")
def judge_lm(memory, tmp_path_factory):
    """A 1-layer GPT-2 with random weights over the tape's tokenizer: only the mechanics are checked."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    path = tmp_path_factory.mktemp("models") / "judge-lm"
    tokenizer = memory.tape.tokenizer
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=32, n_positions=1024, vocab_size=len(tokenizer),
                               eos_token_id=tokenizer.eos_token_id)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    turns = [{"role": "user", "text": "Book a table for two at Sino at 7 pm."}, {"role": "assistant", "text": "Done."}]
    data = tmp_path_factory.mktemp("tiny") / "tiny.jsonl"
    data.write_text("".join(json.dumps({"episode_id": f"e{k}", "turns": turns + [{"text": f"Thanks {k}!"}] * (20 * k),
                                        "questions": [{"question": "Which restaurant?", "answer": "Sino",
                                                       "evidence": [0]}]}) + "\n" for k in range(3)))
    return data


def test_rows_carry_evidence_recall_whatever_the_answerer(memory, judge_lm, tiny_data):
    config = CellConfig(str(tiny_data), 40, split=None, strategies=("raw_truncate", "bm25_topk"))
    free = run_cell(config, memory.hybrid, get_answerer("context-recall"), get_judge("rule"), memory)["results"]
    model = run_cell(config, memory.hybrid, get_answerer(str(judge_lm), max_new_tokens=3), get_judge(f"llm:{judge_lm}"),
                     memory)["results"]
    assert 0 < free["raw_truncate"]["evidence_recall"] < 1, "the budget cuts the evidence of the long episodes"
    for name, row in model.items():
        assert row["evidence_recall"] == free[name]["evidence_recall"]
        assert "llm_equivalent" not in free[name] and 0 <= row["llm_equivalent"] <= 1
        assert 0 <= row["llm_contains_agreement"] <= 1 and 0 <= row["llm_em_agreement"] <= 1


def test_pairwise_llm_judge_compares_fgt_context_with_each_strategy(memory, judge_lm, tmp_path):
    """A local causal LM judges answer pairs."""
    turns = [{"role": "user", "text": "Book a table for two at Sino at 7 pm."}, {"role": "assistant", "text": "Done."}]
    data = tmp_path / "tiny.jsonl"
    data.write_text("".join(json.dumps({"episode_id": f"e{k}", "turns": turns + [{"text": f"Thanks {k}!"}],
                                        "questions": [{"question": "Which restaurant?", "answer": "Sino",
                                                       "evidence": [0]}]}) + "\n" for k in range(3)))
    config = CellConfig(str(data), 256, split=None, strategies=("fgt_context", "raw_truncate"))
    result = run_cell(config, memory.hybrid, get_answerer("context-recall"), get_judge("rule"), memory,
                      pairwise_judge=get_judge(f"llm:{judge_lm}"))
    rates = result["pairwise"]["versus"]["raw_truncate"]
    assert result["pairwise"]["judge"] == "llm:judge-lm" and result["pairwise"]["reference"] == "fgt_context"
    assert rates["tie"] == 1.0, "both strategies recall the evidence: equal answers always tie"
    with pytest.raises(GlyphDistError, match="pairwise judge compares fgt_context"):
        run_cell(CellConfig(str(data), 256, split=None, strategies=("raw_truncate",)), memory.hybrid,
                 get_answerer("context-recall"), get_judge("rule"), memory, pairwise_judge=get_judge("rule"))


@pytest.mark.parametrize("relevance", ["lexical", "hybrid"])
def test_fgt_context_with_turn_units_gives_evidence_turns_whole(memory, episodes, relevance):
    strategy = make_strategy("fgt_context", memory.hybrid, memory, policy="relevant", mode="text",
                             relevance=relevance, unit="turn")
    found = 0
    for episode in episodes:
        for question in episode.questions:
            context = strategy.context(episode, question, 120)
            lines = context.text.splitlines()
            assert lines and context.tokens <= 120
            assert all(line == turn_line(int(line.split()[0][2:]), *episode.turns[int(line.split()[0][2:])])
                       for line in lines), "every line is a whole turn, as the other strategies render it"
            found += all(turn_line(i, *episode.turns[i]) in lines for i in question.evidence)
    assert found >= 0.3 * sum(len(e.questions) for e in episodes), "turn reads should often hold the evidence whole"


def test_evidence_recall_expanded_credits_compression_that_keeps_the_facts(hybrid, tape):
    """Hand-made contexts for one evidence turn: verbatim, as a residual code (the facts kept), as a bare
    glyph code (its particular words lost), and absent."""
    record, changed = _long_family(tape)
    code = f"{GLYPH_OPEN}{record.glyph}{GLYPH_CLOSE}"
    residual = hybrid.render([changed], [record.family_id])[0].residual
    question = Question("Where to?", "Zanzibar", (0,), 0.0)
    episode = Episode("e", (("user", f"Hello there. {changed}"), ("assistant", "Fine.")), (question,), "d")
    contexts = {f"[t0 user] Hello there. {changed}": (True, True),
                f"[t0 user] Hello there. {code}{residual}\n[t1 assistant] Fine.": (False, True),
                f"[t0 user] Hello there. {code}\n[t1 assistant] Fine.": (False, False),
                "[t1 assistant] Fine.": (False, False)}
    outcomes = [ask(episode, question, Context(text, len(hybrid.token_ids([text])[0])), hybrid) for text in contexts]
    assert [(o.evidence_present, o.evidence_present_expanded) for o in outcomes] == list(contexts.values())
    for outcome in outcomes:
        outcome.scores = {"success": 0.0, "contains": 0.0, "em": 0.0, "f1": 0.0}
    row = summarise(outcomes, Timing(read_seconds=1.0))
    assert (row["evidence_recall"], row["evidence_recall_expanded"]) == (0.25, 0.5)


def test_fgt_context_reads_as_fgms_phase5_and_the_benchmark_by_default():
    """One default read everywhere: the long-conversation dev set's best (relevant, text, hybrid, turn, 6 neighbours)."""
    from pathlib import Path

    import yaml

    from glyph_dist.cli import build_parser
    from glyph_dist.context.strategies import FgtContext
    from glyph_dist.fgms.schema import READ_SETTINGS as keys, ReadRequest

    bench = tuple(getattr(CellConfig, k) for k in keys)
    assert bench == ("relevant", "text", "hybrid", "turn", 6)
    request = ReadRequest(actor_id="a", token_budget=1)
    assert tuple(getattr(request, k) for k in keys) == bench
    strategy = FgtContext(None, None)
    assert tuple(strategy.read_settings[k] for k in keys) == bench
    with pytest.raises(GlyphDistError, match="unknown FGMS read setting neighbors"):
        FgtContext(None, None, neighbors=2)
    cli = build_parser().parse_args(["memory", "read", "--actor", "a", "query"])
    assert tuple(getattr(cli, k) for k in keys) == bench
    phase5 = yaml.safe_load((Path(__file__).resolve().parents[1] / "experiments" / "context_bench.yaml").read_text())
    assert tuple(phase5["params"][k] for k in keys) == bench
