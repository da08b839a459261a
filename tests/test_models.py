"""Answerers and judges: context-recall, the rule judge, and HF causal LMs built offline from configs
(a tiny trained GPT-2 without a chat template, a random-weight Llama with one)."""

from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.bpe import EOS_TOKEN, train_bpe
from glyph_dist.metrics import normalize
from glyph_dist.models.answerers import CHAT_PROMPT, PROMPT, QARequest, answerer_spec, clean_answer, get_answerer
from glyph_dist.models.judges import (NO, YES, PairRequest, agreement, aggregate, cohen_kappa, get_judge, judge_spec,
                                      llm_rates, preference_rates)

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


CHATML = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


@pytest.fixture(scope="module")
def chat_lm(tmp_path_factory):
    """A 1-layer random-weight Llama with a byte-level BPE that has a ChatML chat template (mechanics only)."""
    texts = [CHAT_PROMPT.format(context=c, question="When is the booking?") for c in CONTEXTS] + [" ".join(YES + NO)]
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=train_bpe(texts * 4, vocab_size=320), eos_token="<|im_end|>",
                                        additional_special_tokens=["<|im_start|>", "<|im_end|>"])
    tokenizer.chat_template = CHATML
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=1, max_position_embeddings=512, vocab_size=len(tokenizer),
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.eos_token_id)
    path = tmp_path_factory.mktemp("models") / "tiny-chat"
    LlamaForCausalLM(config).save_pretrained(path)
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
    with pytest.raises(GlyphDistError, match="neither a catalog name .* nor a local directory"):
        get_answerer(f"hf:{tmp_path / 'absent'}")
    with pytest.raises(GlyphDistError, match="neither a catalog name .* nor a local directory"):
        get_judge(f"llm:{tmp_path / 'absent'}")
    with pytest.raises(GlyphDistError, match="no Hugging Face model"):
        get_answerer(str(tmp_path))


def test_specs_name_models_by_absolute_directory(tiny_lm, monkeypatch):
    monkeypatch.chdir(tiny_lm.parent)
    assert answerer_spec("context-recall") == "context-recall" and judge_spec("rule") == "rule"
    assert answerer_spec(tiny_lm.name) == answerer_spec(f"hf:{tiny_lm}") == f"hf:{tiny_lm.resolve()}"
    assert judge_spec(f"llm:{tiny_lm.name}") == f"llm:{tiny_lm.resolve()}"


@pytest.mark.parametrize("generated, cleaned", [
    ("  7 pm on Friday\nQuestion: next", "7 pm on Friday"),
    ("Answer: Nopa.", "Nopa"),
    ("The answer is: \"Sino\"", "Sino"),
    ("'two people'.", "two people"),
    ("Answers vary", "Answers vary"),  # no label
    ("", ""),
])
def test_clean_answer(generated, cleaned):
    assert clean_answer(generated) == cleaned


def test_hf_answerer_batches_like_single_requests(tiny_lm):
    answerer = get_answerer(f"hf:{tiny_lm}", batch_size=3)
    assert answerer.name == "hf:tiny-gpt2" and get_answerer(str(tiny_lm)).name == "hf:tiny-gpt2"
    assert not answerer.chat, "no chat template: the plain prompt"
    assert answerer.prompts([_request("Hi.")]) == [PROMPT.format(context="Hi.", question="When is the booking?")]
    requests = [_request(c, question=q) for c in CONTEXTS for q in ("When is the booking?", "Who?")]
    batched = answerer.answer(requests)
    single = get_answerer(str(tiny_lm), batch_size=1)
    assert batched == [single.answer([r])[0] for r in requests]
    assert batched == answerer.answer(requests)  # deterministic
    assert all("\n" not in a for a in batched)
    assert batched[0] == "blue sky"  # the trained continuation ' blue sky\nContext...' is cut at the newline
    with pytest.raises(GlyphDistError, match="exceeds the 192-token context"):
        answerer.answer([_request("word " * 200)])


def test_instruct_answerer_asks_in_the_chat_template(chat_lm):
    answerer = get_answerer(str(chat_lm), batch_size=3, max_new_tokens=6)
    assert answerer.chat and answerer.name == "hf:tiny-chat"
    request = _request("The reservation is at 7 pm on Friday.")
    [prompt] = answerer.prompts([request])
    assert prompt.startswith("Answer the question from the context. Reply with the answer only, in a few words.")
    assert "Context:\nThe reservation is at 7 pm on Friday." in prompt and prompt.endswith("Question: When is the booking?")
    [ids] = answerer.lm.encode([prompt], chat=True)
    rendered = answerer.lm.tokenizer.decode(ids)
    assert rendered == f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"
    requests = [_request(c, question=q) for c in CONTEXTS for q in ("When is the booking?", "Who?")]
    batched = answerer.answer(requests)
    single = get_answerer(str(chat_lm), batch_size=1, max_new_tokens=6)
    assert batched == [single.answer([r])[0] for r in requests], "left padding: alone or in a batch, the same answer"
    assert all(a == clean_answer(a) for a in batched)
    plain = get_answerer(str(chat_lm), chat=False)
    assert plain.prompts([request]) == [PROMPT.format(context=request.context, question=request.question)]


def _lean(judge, word: str):
    """Next-token log-probabilities that put a little more mass on `word` (yes or no) for every prompt."""
    def logprobs(prompts, token_ids, batch_size):
        favoured = set(judge.yes if word == "yes" else judge.no)
        return torch.tensor([[-1.0 if t in favoured else -2.0 for t in token_ids] for _ in prompts]).log_softmax(-1)
    return logprobs


def test_pointwise_llm_judge_reads_its_verdict_from_yes_and_no_logits(chat_lm, monkeypatch):
    judge = get_judge(f"llm:{chat_lm}", batch_size=2)
    assert judge.chat and judge.name == "llm:tiny-chat"
    tokenizer = judge.lm.tokenizer
    assert {tokenizer.decode([t]).strip().lower() for t in judge.yes} <= {"yes", "y", "ye"}
    assert not set(judge.yes) & set(judge.no)
    predictions, golds, questions = ["7 pm on Friday", "", "noon"], ["7 pm on Friday", "Friday", "7 pm"], ["When?"] * 3
    monkeypatch.setattr(judge.lm, "next_token_logprobs", _lean(judge, "yes"))
    scores = judge.score(predictions, golds, questions)
    assert [s["llm_equivalent"] for s in scores] == [1.0, 0.0, 1.0], "an empty prediction is never equivalent"
    assert [s["em"] for s in scores] == [1.0, 0.0, 0.0]
    monkeypatch.setattr(judge.lm, "next_token_logprobs", _lean(judge, "no"))
    assert [s["llm_equivalent"] for s in judge.score(predictions, golds, questions)] == [0.0, 0.0, 0.0]
    monkeypatch.undo()
    real = judge.score(predictions, golds, questions)  # the model's own logits: a verdict for every item
    assert all(s["llm_equivalent"] in (0.0, 1.0) for s in real) and real[1]["llm_equivalent"] == 0.0


def test_pointwise_prompt_asks_about_equivalence(chat_lm):
    judge = get_judge(f"llm:{chat_lm}")
    seen = []

    def record(prompts, token_ids, batch_size):
        seen.extend(judge.lm.tokenizer.batch_decode(prompts))
        return torch.zeros(len(prompts), len(token_ids))

    judge.lm.next_token_logprobs = record
    judge.verdicts(["When is the booking?"], ["Friday"], ["7 pm on Friday"])
    assert seen == ["<|im_start|>user\nQuestion: When is the booking?\nGold answer: 7 pm on Friday\n"
                    "Predicted answer: Friday\n\nIs the predicted answer equivalent to the gold answer? "
                    "Reply yes or no.<|im_end|>\n<|im_start|>assistant\n"]


def test_agreement_with_the_rule_and_cohen_kappa():
    rows = [(1, 1, 1), (1, 0, 1), (0, 0, 0), (0, 0, 1), (1, 1, 1), (0, 0, 0)]  # (llm, em, contains)
    scores = [{"em": float(e), "contains": float(c), "llm_equivalent": float(v)} for v, e, c in rows]
    figures = agreement(scores)
    # EM: 5 of 6 agree; p_llm = 1/2, p_em = 1/3, chance 1/2*1/3 + 1/2*2/3 = 1/2: kappa (5/6 - 1/2) / (1/2) = 2/3
    assert figures["llm_em_agreement"] == pytest.approx(5 / 6) and figures["llm_em_kappa"] == pytest.approx(2 / 3)
    # containment: 5 of 6 agree; p_c = 2/3, chance 1/2*2/3 + 1/2*1/3 = 1/2: kappa 2/3
    assert figures["llm_contains_agreement"] == pytest.approx(5 / 6)
    assert figures["llm_contains_kappa"] == pytest.approx(2 / 3)
    assert cohen_kappa([True, False], [False, True]) == pytest.approx(-1)
    assert cohen_kappa([False] * 3, [False] * 3) is None, "both raters constant: kappa is undefined"
    assert llm_rates(scores)["llm_equivalent"] == pytest.approx(0.5)
    assert agreement([{"em": 1.0, "contains": 1.0}]) == {} and llm_rates([{"em": 1.0, "contains": 1.0}]) == {}


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
    scores = ray.get(judge.score.remote(answers, [r.answer for r in requests], [r.question for r in requests]))
    assert [s["success"] for s in scores] == [1, 0]
    for handle in (answerer, judge):
        ray.kill(handle)


def test_answerer_and_judge_of_one_model_share_its_actor(ray_session, chat_lm):
    from glyph_dist.models.actors import model_actor_name, serve_models, shared_answerer, shared_judge

    ray = ray_session
    spec = answerer_spec(str(chat_lm))
    actors = serve_models({spec, "context-recall"}, {judge_spec(f"llm:{chat_lm}"), "rule"})
    assert len(actors) == 1, "one model actor for the answerer and the judge of one model"
    answerer, judge = shared_answerer(spec), shared_judge(judge_spec(f"llm:{chat_lm}"))
    assert answerer.lm.actor._actor_id == judge.lm.actor._actor_id == actors[0]._actor_id
    named = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["name"].startswith("model-")]
    assert named == [model_actor_name(str(chat_lm.resolve()))]
    assert named[0].startswith(f"model-{ray.get_runtime_context().get_job_id()}-"), "runs on one cluster keep their own"
    requests = [_request(c) for c in CONTEXTS]
    local = get_answerer(spec, max_new_tokens=6)
    answerer.max_new_tokens = 6
    assert answerer.answer(requests) == local.answer(requests) and answerer.name == local.name
    answers = local.answer(requests)
    local_judge = get_judge(f"llm:{chat_lm}")
    golds, questions = [r.answer for r in requests], [r.question for r in requests]
    assert judge.score(answers, golds, questions) == local_judge.score(answers, golds, questions)
    ray.kill(actors[0])
