"""Answerers and judges: context-recall, the rule judge, and HF causal LMs built offline from configs."""

from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.bpe import EOS_TOKEN, train_bpe
from glyph_dist.models.answerers import PROMPT, QARequest, get_answerer
from glyph_dist.models.judges import PairRequest, aggregate, get_judge, normalize, preference_rates

EVIDENCE = ("I need a table for two at Nopa.", "The reservation is at 7 pm on Friday.")
CONTEXTS = ["Hi there.", "Nopa has a table. " * 3, "The reservation is at 7 pm on Friday. " * 6, "Booked.\nThanks!"]


def _request(context: str, evidence: tuple[str, ...] = EVIDENCE, question: str = "When is the booking?"):
    return QARequest(question=question, context=context, answer="7 pm on Friday", evidence_texts=evidence)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models: a second thread only spins on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    """A 1-layer GPT-2 and a byte-level BPE saved to `tiny-gpt2/`, briefly trained to answer ' blue sky\\n'."""
    texts = [PROMPT.format(context=c, question=q) + " blue sky\n"
             for c in CONTEXTS for q in ("When is the booking?", "Where?", "Which answer is better, A or B?")]
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=train_bpe(texts * 4, vocab_size=320), eos_token=EOS_TOKEN)
    torch.manual_seed(0)
    config = GPT2Config(n_layer=1, n_head=2, n_embd=32, n_positions=192, vocab_size=len(tokenizer),
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id)
    model = GPT2LMHeadModel(config)
    rows = [torch.tensor(ids) for ids in tokenizer(texts)["input_ids"]]
    batch = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=tokenizer.eos_token_id)
    labels = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=-100)  # right padding: no mask
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-2)
    for _ in range(60):
        model(input_ids=batch, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert tokenizer.pad_token is None  # the answerer falls back to eos
    path = tmp_path_factory.mktemp("models") / "tiny-gpt2"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_context_recall_needs_every_evidence_turn_verbatim():
    recall = get_answerer("context-recall")
    assert recall.name == "context-recall"
    requests = [
        _request("Hello.\nI need a table   for two at Nopa.\n\nSure. The reservation is at 7 pm on Friday."),
        _request("I need a table for two at Nopa. Sure, when?"),  # the second evidence turn is missing
        _request("I need a table for two at No pa. The reservation is at 7 pm on Friday."),  # split inside a word
        _request("i need a table for two at nopa. The reservation is at 7 pm on Friday."),  # case differs
        _request("The reservation is at 7 pm on Friday.", evidence=()),  # nothing to check: never answerable
    ]
    assert recall.answer(requests) == ["7 pm on Friday", "", "", "", ""]
    assert recall.answer([]) == []


@pytest.mark.parametrize("prediction, gold, em, contains", [
    ("The Eiffel Tower!", "eiffel tower", 1, 1),
    ("  an APPLE. ", "apple", 1, 1),
    ("It is at 7 pm, late on Friday.", "7 pm on Friday", 0, 0),
    ("At 7 PM, on the Friday!", "7 pm on Friday", 0, 1),
    ("It is at 7 pm on Friday.", "7 pm on Friday", 0, 1),
    ("12 people", "2", 0, 0),  # whole words only
    ("table 2, please", "2", 0, 1),
    ("", "Nopa", 0, 0),
    ("anything", "", 0, 0),  # an empty gold is never a success
])
def test_rule_judge_normalises_like_squad(prediction, gold, em, contains):
    [score] = get_judge("rule").score([prediction], [gold])
    assert (score["em"], score["contains"], score["success"]) == (em, contains, contains)
    assert 0 <= score["f1"] <= 1 and (score["f1"] == 1) == bool(em)


def test_rule_metrics_and_aggregation():
    assert normalize("The  cat's hat, a_b!") == "cats hat ab"
    judge = get_judge()
    assert judge.name == "rule"
    scores = judge.score(["blue sky", "the red sky", ""], ["Blue sky.", "blue sky", "sky"])
    assert scores[1]["f1"] == pytest.approx(0.5)
    assert aggregate(scores) == pytest.approx({"em": 1 / 3, "f1": 0.5, "contains": 1 / 3, "success": 1 / 3})
    with pytest.raises(GlyphDistError, match="2 predictions for 1"):
        judge.score(["a", "b"], ["a"])


def test_unknown_specs_and_missing_directories_are_clear_errors(tmp_path):
    with pytest.raises(GlyphDistError, match="unknown answerer 'oracle'"):
        get_answerer("oracle")
    with pytest.raises(GlyphDistError, match="unknown judge 'gpt:x'"):
        get_judge("gpt:x")
    with pytest.raises(GlyphDistError, match="does not exist"):
        get_answerer(f"hf:{tmp_path / 'absent'}")
    with pytest.raises(GlyphDistError, match="does not exist"):
        get_judge(f"llm:{tmp_path / 'absent'}")
    with pytest.raises(GlyphDistError, match="no Hugging Face model"):
        get_answerer(str(tmp_path))


def test_hf_answerer_batches_like_single_requests(tiny_lm):
    answerer = get_answerer(f"hf:{tiny_lm}", batch_size=3)
    assert answerer.name == "hf:tiny-gpt2" and get_answerer(str(tiny_lm)).name == "hf:tiny-gpt2"
    requests = [_request(c, question=q) for c in CONTEXTS for q in ("When is the booking?", "Who?")]
    batched = answerer.answer(requests)
    single = get_answerer(str(tiny_lm), batch_size=1)
    assert batched == [single.answer([r])[0] for r in requests]
    assert batched == answerer.answer(requests)  # deterministic
    assert all("\n" not in a for a in batched)
    assert batched[0] == "blue sky"  # the trained continuation ' blue sky\nContext...' is cut at the newline
    with pytest.raises(GlyphDistError, match="exceeds the 192-token context"):
        answerer.answer([_request("word " * 200)])


def test_llm_judge_is_symmetric(tiny_lm):
    judge = get_judge(f"llm:{tiny_lm}", batch_size=3)
    assert judge.name == "llm:tiny-gpt2"
    episode = " ".join(EVIDENCE)
    answers = [("7 pm on Friday", "noon"), ("blue sky", "Nopa"), ("two", "7 pm"), ("Friday", "Friday")]
    pairs = [PairRequest("When?", episode, "7 pm on Friday", a, b) for a, b in answers]
    swapped = [PairRequest("When?", episode, "7 pm on Friday", b, a) for a, b in answers]
    preferences, flipped = judge.compare(pairs), judge.compare(swapped)
    assert len(preferences) == len(pairs) and all(p.winner in {"a", "b", "tie"} for p in preferences)
    assert [p.winner for p in flipped] == [{"a": "b", "b": "a", "tie": "tie"}[p.winner] for p in preferences]
    assert [p.prob_a for p in flipped] == pytest.approx([1 - p.prob_a for p in preferences], abs=1e-5)
    assert preferences[3].winner == "tie"  # the same answer twice: the orders always disagree
    assert judge.compare(pairs[:1]) == preferences[:1]
    rates = preference_rates(preferences)
    assert rates["a"] + rates["b"] + rates["tie"] == pytest.approx(1)


def test_llm_judge_needs_both_orders_to_agree(tiny_lm, monkeypatch):
    judge = get_judge(f"llm:{tiny_lm}")

    def biased(prompts, token_ids, batch_size):  # likes the slot holding "Friday", and slot A a little
        texts = judge.lm.tokenizer.batch_decode(prompts)
        return torch.tensor([[0.5 + ("Answer A: Friday" in t), float("Answer B: Friday" in t)] for t in texts])

    monkeypatch.setattr(judge.lm, "next_token_logprobs", biased)
    answers = [("Friday", "noon"), ("noon", "Friday"), ("noon", "Monday")]
    pairs = [PairRequest("When?", "On Friday.", "Friday", a, b) for a, b in answers]
    assert [p.winner for p in judge.compare(pairs)] == ["a", "b", "tie"]


def test_actors_serve_answerers_and_judges(ray_session):
    from glyph_dist.models.actors import answerer_actor, judge_actor

    ray = ray_session
    answerer, judge = answerer_actor("context-recall", num_cpus=0.5), judge_actor("rule", num_cpus=0.5)
    requests = [_request(" ".join(EVIDENCE)), _request("nothing")]
    answers = ray.get(answerer.answer.remote(requests))
    assert answers == ["7 pm on Friday", ""] and ray.get(answerer.name.remote()) == "context-recall"
    scores = ray.get(judge.score.remote(answers, [r.answer for r in requests]))
    assert [s["success"] for s in scores] == [1, 0]
    for handle in (answerer, judge):
        ray.kill(handle)
