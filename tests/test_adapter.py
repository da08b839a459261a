"""The glyph adapter: glyph tokens, their initial embeddings, hybrid generation, save and load, the CLI."""

from __future__ import annotations

import copy
import dataclasses
import json
import math

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

from glyph_dist.cli import main
from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.codec import GlyphCodec
from glyph_dist.fgt.hybrid import GLYPH_CLOSE, GLYPH_OPEN, HybridTokenizer
from glyph_dist.fgt.store import load_tokenizer
from glyph_dist.models.adapter import ADAPTER_FILE, GlyphAdapter, glyph_tokens
from glyph_dist.models.catalog import resolve_model
from glyph_dist.models.pairs import Pair


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    """SmolLM2-135M-Instruct's tokenizer (a byte-level BPE with a chat template); its model is not loaded."""
    return load_tokenizer(resolve_model("smollm2"))


@pytest.fixture
def tokenizer(smollm2_tokenizer):
    return copy.deepcopy(smollm2_tokenizer)  # an adapter adds its tokens in place


def tiny_llama(tokenizer, tied: bool = False) -> LlamaForCausalLM:
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=2048, tie_word_embeddings=tied,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id)).eval()


@pytest.fixture(scope="module")
def adapter(smollm2_tokenizer, tape) -> GlyphAdapter:
    """A tiny random Llama with SmolLM2's tokenizer, adapted to the test tape (tests only read it)."""
    tokenizer = copy.deepcopy(smollm2_tokenizer)
    return GlyphAdapter(tiny_llama(tokenizer), tokenizer, tape)


def coded_phrases(tape, hybrid, n: int = 3) -> list[tuple[str, str]]:
    """(phrase, code) of representative phrases, each a whole sentence, that the hybrid tokenizer codes
    as one glyph."""
    phrases = [r.representative for r in tape.records[:60] if r.representative.endswith((".", "?", "!"))]
    coded = [(p, d[0].glyph) for p, (_, d) in zip(phrases, hybrid.encode_hybrid_batch(phrases))
             if len(d) == 1 and d[0].glyph]
    assert len(coded) >= n, "the test tape codes too few of its own representatives"
    return coded[:n]


def glyph_text(tape, hybrid, n: int = 3) -> str:
    return " ".join(p for p, _ in coded_phrases(tape, hybrid, n))


def test_glyph_tokens_are_dedicated_and_round_trip(adapter, tape, hybrid, smollm2_tokenizer):
    base_size = len(smollm2_tokenizer)
    tokens = glyph_tokens(tape)
    assert list(adapter.token_ids) == tokens and len(tokens) == len(tape.records) + 2
    assert sorted(adapter.token_ids.values()) == list(range(base_size, base_size + len(tokens)))
    assert adapter.model.get_input_embeddings().num_embeddings == len(adapter.tokenizer) == base_size + len(tokens)

    (first, _), (second, _), (third, _) = coded_phrases(tape, hybrid)
    codes = [code for _, code in coded_phrases(tape, hybrid)]
    text = f"Hello there. {first} We booked it for 7 pm. {second} {third}\nAnswer:"
    coded = adapter.hybrid_texts([text])[0]
    assert coded.count(GLYPH_OPEN) == 3 and all(f"{GLYPH_OPEN}{c}{GLYPH_CLOSE}" in coded for c in codes)
    assert coded.endswith("\nAnswer:")  # line breaks survive hybrid encoding
    ids = adapter.tokenizer(coded, add_special_tokens=False)["input_ids"]
    for code in codes:  # each glyph is exactly <GLYPH>, its code token, </GLYPH>
        at = ids.index(adapter.token_ids[code])
        assert ids[at - 1:at + 2] == [adapter.token_ids[GLYPH_OPEN], adapter.token_ids[code], adapter.token_ids[GLYPH_CLOSE]]
    assert adapter.tokenizer.decode(ids, skip_special_tokens=False) == coded
    # the ids equal the project's hybrid tokenizer's over the same base tokenizer (one-character codes)
    line = text.split("\n")[0]
    reference = HybridTokenizer(tape, copy.deepcopy(smollm2_tokenizer)).encode_hybrid(line)
    assert adapter.tokenizer(adapter.hybrid_texts([line])[0], add_special_tokens=False)["input_ids"] == reference


def test_codes_of_several_characters_are_one_token_each(tokenizer, tape, hybrid):
    codec = GlyphCodec(16)  # 16 one-character codes, then two-character codes sharing those characters
    small = dataclasses.replace(tape, codec=codec, records=[dataclasses.replace(r, glyph=codec.encode(r.family_id))
                                                            for r in tape.records])
    adapter = GlyphAdapter(tiny_llama(tokenizer), tokenizer, small)
    two = small.records[20].glyph
    assert len(two) == 2 and all(c in adapter.token_ids for c in two)
    ids = adapter.tokenizer(f"x {GLYPH_OPEN}{two}{GLYPH_CLOSE} y", add_special_tokens=False)["input_ids"]
    assert adapter.token_ids[two] in ids and not any(adapter.token_ids[c] in ids for c in two)
    assert adapter.decode(ids) == f"x {small.records[20].representative} y"


@pytest.mark.parametrize("tied", [False, True])
def test_initialisation_is_the_mean_of_the_representative_tokens(tokenizer, tape, tied):
    model = tiny_llama(tokenizer, tied)
    base_size = len(tokenizer)
    inputs = model.get_input_embeddings().weight.detach().clone()
    outputs = model.get_output_embeddings().weight.detach().clone()
    phrases = tokenizer([r.representative for r in tape.records], add_special_tokens=False)["input_ids"]
    adapter = GlyphAdapter(model, tokenizer, tape)

    new_inputs, new_outputs = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    assert (new_inputs.data_ptr() == new_outputs.data_ptr()) == tied
    for base, new in ((inputs, new_inputs), (outputs, new_outputs)):
        assert torch.equal(new[:base_size], base)  # the base vocabulary is untouched
        for record, phrase in zip(tape.records, phrases):
            assert torch.equal(new[adapter.token_ids[record.glyph]], base[phrase].mean(0))
        for tag in (GLYPH_OPEN, GLYPH_CLOSE):
            assert torch.equal(new[adapter.token_ids[tag]], base.mean(0))
    assert not torch.equal(new_inputs[adapter.token_ids[tape.records[0].glyph]],
                           new_inputs[adapter.token_ids[tape.records[1].glyph]])


def greedy(adapter: GlyphAdapter, ids: list[int], steps: int) -> list[int]:
    """Greedy decoding by hand: the arg-max of a full forward pass, one token at a time."""
    ids, new = list(ids), []
    with torch.no_grad():
        for _ in range(steps):
            token = int(adapter.model(torch.tensor([ids])).logits[0, -1].argmax())
            ids.append(token)
            new.append(token)
    return new


def test_generation_with_and_without_hybrid_encoding(adapter, tape, hybrid):
    prompt = glyph_text(tape, hybrid) + " Which day?"
    hybrid_ids, plain_ids = adapter.encode(prompt), adapter.encode(prompt, use_hybrid=False)
    assert adapter.chat and adapter.render([prompt])[0].startswith("<|im_start|>system")
    assert len(hybrid_ids) < len(plain_ids)
    assert sum(i in adapter.token_ids.values() for i in hybrid_ids) == 9  # three glyphs of three tokens
    assert not set(plain_ids) & set(adapter.token_ids.values())
    assert adapter.tokenizer(adapter.render([prompt], use_hybrid=False)[0], add_special_tokens=False)["input_ids"] \
        == plain_ids and prompt in adapter.render([prompt], use_hybrid=False)[0]
    for use_hybrid, ids in ((True, hybrid_ids), (False, plain_ids)):
        expected = adapter.decode(greedy(adapter, ids, 6))
        assert adapter.generate(prompt, use_hybrid, max_new_tokens=6) == expected
    assert adapter.generate(prompt, max_new_tokens=6) != adapter.generate(prompt, use_hybrid=False, max_new_tokens=6)


def test_output_is_decoded_with_glyph_expansion(adapter, tape):
    first, second = tape.records[0], tape.records[1]
    ids = adapter.tokenizer(f"Sure.{GLYPH_OPEN}{first.glyph}{GLYPH_CLOSE} Then {GLYPH_OPEN}{second.glyph}{GLYPH_CLOSE}",
                            add_special_tokens=False)["input_ids"]
    eos, start = adapter.tokenizer.eos_token_id, adapter.tokenizer.convert_tokens_to_ids("<|im_start|>")
    generated = [start, *ids, eos, *adapter.tokenizer("ignored", add_special_tokens=False)["input_ids"]]
    assert adapter.decode(generated) == f"Sure. {first.representative} Then {second.representative}"
    assert adapter.decode(generated, expand=False) == \
        f"Sure. {GLYPH_OPEN}{first.glyph}{GLYPH_CLOSE} Then {GLYPH_OPEN}{second.glyph}{GLYPH_CLOSE}"
    unknown = f"{GLYPH_OPEN}not a code{GLYPH_CLOSE}"  # a model may write anything between the tags
    assert adapter.expand(unknown) == unknown


def test_save_and_load(adapter, tape, hybrid, tmp_path):
    prompt = glyph_text(tape, hybrid, 2) + " Thanks."
    saved = adapter.save(tmp_path / "adapter")
    meta = json.loads((saved / ADAPTER_FILE).read_text())
    assert meta["glyph_tokens"] == adapter.token_ids and meta["threshold"] == adapter.threshold and meta["chat"]

    plain = AutoModelForCausalLM.from_pretrained(saved, local_files_only=True)  # any HF loader reads it
    for key, value in adapter.model.state_dict().items():
        assert torch.equal(plain.state_dict()[key], value), key

    loaded = GlyphAdapter.load(saved, device="cpu")
    assert loaded.token_ids == adapter.token_ids and loaded.tape.path == saved / "tape"
    assert torch.equal(loaded.model.get_input_embeddings().weight, adapter.model.get_input_embeddings().weight)
    assert loaded.encode(prompt) == adapter.encode(prompt)
    assert loaded.generate(prompt, max_new_tokens=5) == adapter.generate(prompt, max_new_tokens=5)

    with pytest.raises(GlyphDistError, match="already exists"):
        adapter.save(saved)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]  # no staging directory left behind
    adapter.model.save_pretrained(tmp_path / "bare")
    with pytest.raises(GlyphDistError, match="not a saved glyph adapter"):
        GlyphAdapter.load(tmp_path / "bare")


def test_bad_input_changes_nothing(tokenizer, tape, hybrid):
    model, size = tiny_llama(tokenizer), len(tokenizer)
    with pytest.raises(GlyphDistError, match="threshold"):
        GlyphAdapter(model, tokenizer, tape, threshold=1.5)
    assert len(tokenizer) == size and model.get_input_embeddings().num_embeddings == size

    other = dataclasses.replace(tape, records=tape.records[:10])
    GlyphAdapter(model, tokenizer, other)
    with pytest.raises(GlyphDistError, match="adapted to another tape"):
        GlyphAdapter(model, tokenizer, tape)

    adapter = GlyphAdapter(model, tokenizer, other)  # the adapted pair is taken as it is
    glyph = f"{GLYPH_OPEN}{tape.records[0].glyph}{GLYPH_CLOSE}"
    with pytest.raises(GlyphDistError, match=r"f\.jsonl, line 4: the pair already holds glyph codes"):
        adapter.sft_pairs([Pair(f"{glyph} when?", "7 pm", 4)], source="f.jsonl")
    with pytest.raises(GlyphDistError, match=r"line 5: the pair already holds glyph codes"):
        adapter.sft_pairs([Pair("When?", glyph, 5)], hybrid_targets=True)
    assert adapter.sft_pairs([Pair("When?", glyph, 5)])[0].target == glyph  # targets kept as they are
    assert adapter.sft_pairs([Pair(f"{glyph} when?", "7 pm", 4)], use_hybrid=False)[0].prompt.count(glyph) == 1


def test_score_covers_the_target_tokens(adapter, tape, hybrid):
    phrases = [p for p, _ in coded_phrases(tape, hybrid)]
    plain = [Pair(f"Context:\n{p}\nAnswer:", f"{p} Right.", i) for i, p in enumerate(phrases, 1)]
    assert [p.target for p in adapter.sft_pairs(plain)] == [p.target for p in plain]
    pairs = adapter.sft_pairs(plain, hybrid_targets=True)
    assert all(GLYPH_OPEN in p.prompt and GLYPH_OPEN in p.target for p in pairs)
    metrics = adapter.score(pairs)
    # by hand: each pair's full logits, the target tokens and eos scored from the token before each
    loss, correct, scored = 0.0, 0, 0
    for pair in pairs:
        prompt = adapter.tokenizer(pair.prompt, add_special_tokens=False)["input_ids"]
        target = adapter.tokenizer(pair.target, add_special_tokens=False)["input_ids"] + [adapter.tokenizer.eos_token_id]
        with torch.no_grad():
            logits = adapter.model(torch.tensor([prompt + target])).logits[0, len(prompt) - 1:-1]
        loss += torch.nn.functional.cross_entropy(logits, torch.tensor(target), reduction="sum").item()
        correct += sum(int(i == t) for i, t in zip(logits.argmax(-1).tolist(), target))
        scored += len(target)
    assert metrics["pairs"] == 3 and metrics["target_tokens"] == scored
    assert metrics["loss"] == pytest.approx(loss / scored, rel=1e-5)
    assert metrics["perplexity"] == pytest.approx(math.exp(loss / scored), rel=1e-5)
    assert metrics["token_accuracy"] == correct / scored
    short = adapter.score(pairs, max_length=8)  # truncation keeps the target
    assert short["target_tokens"] == scored and short["prompt_tokens_mean"] < metrics["prompt_tokens_mean"]


def test_cli_generate_and_test(adapter, tape, hybrid, tmp_path, capsys):
    saved = adapter.save(tmp_path / "adapter")
    prompt = glyph_text(tape, hybrid, 2)
    assert main(["adapter", "generate", "--model", str(saved), prompt, "--max-new-tokens", "4"]) == 0
    shown = capsys.readouterr().out
    assert f"prompt: {len(adapter.encode(prompt))} tokens (hybrid; plain: {len(adapter.encode(prompt, False))})" in shown
    assert f"output: {adapter.generate(prompt, max_new_tokens=4)}" in shown

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"prompt": f"Context:\n{p}\nAnswer:", "target": "7 pm", "variant": v}) + "\n"
                             for p, _ in coded_phrases(tape, hybrid) for v in ("raw", "glyph")))
    out = tmp_path / "test.json"
    assert main(["adapter", "test", "--model", str(saved), "--pairs", str(pairs), "--where", "variant=raw",
                 "--generations", "1", "--max-new-tokens", "3", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["metrics"]["pairs"] == 3 and result["hybrid"] and len(result["generations"]) == 1
    assert result["metrics"]["loss"] == pytest.approx(adapter.score(
        adapter.sft_pairs([Pair(f"Context:\n{p}\nAnswer:", "7 pm", 0) for p, _ in coded_phrases(tape, hybrid)]))["loss"])
    assert main(["adapter", "generate", "--model", str(tmp_path / "missing"), "x"]) == 2
    assert "neither a catalog name" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_train_end_to_end(ray_session, tokenizer, tape, hybrid, tmp_path, capsys):
    base = tmp_path / "base"
    tiny_llama(tokenizer).save_pretrained(base)
    tokenizer.save_pretrained(base)
    phrases = [p for p, _ in coded_phrases(tape, hybrid)]
    for split, n in (("train", 8), ("val", 4)):
        (tmp_path / f"{split}.jsonl").write_text("".join(
            json.dumps({"prompt": f"Context:\n{phrases[i % 3]}\nAnswer:", "target": phrases[(i + 1) % 3]}) + "\n"
            for i in range(n)))
    out = tmp_path / "run"
    args = ["adapter", "train", "--model", str(base), "--tape", str(tape.path), "--train", str(tmp_path / "train.jsonl"),
            "--val", str(tmp_path / "val.jsonl"), "--out", str(out), "max_steps=3", "eval_every=3",
            "learning_rate=0.01", "cpus_per_worker=1"]
    assert main(args) == 0
    shown = capsys.readouterr().out
    history = [json.loads(line) for line in (out / "sft" / "history.jsonl").read_text().splitlines()]
    assert [row["step"] for row in history] == [1, 2, 3] and "eval_loss" in history[-1]
    assert all(GLYPH_OPEN in line for line in (out / "data" / "val.jsonl").read_text().splitlines())

    init, trained = GlyphAdapter.load(out / "init", device="cpu"), GlyphAdapter.load(out / "adapter", device="cpu")
    val = [Pair(**json.loads(line), line=i) for i, line in enumerate((out / "data" / "val.jsonl").read_text().splitlines())]
    before, after = init.score(val, max_length=512), trained.score(val, max_length=512)
    assert f"val loss before {before['loss']:.4f}, after {history[-1]['eval_loss']:.4f}" in shown
    assert after["loss"] == pytest.approx(history[-1]["eval_loss"], rel=1e-4) and after["loss"] < before["loss"]
    assert trained.token_ids == init.token_ids and trained.tape.path == out / "adapter" / "tape"
    assert main(args) == 2 and "already exists" in capsys.readouterr().err


def test_cli_train_refuses_keys_it_sets_and_an_existing_out(tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "a", "target": "b"}) + "\n")
    args = ["adapter", "train", "--model", str(tmp_path), "--train", str(pairs), "--val", str(pairs)]
    assert main([*args, "--out", str(tmp_path / "new"), "max_steps=2", "where.variant=raw"]) == 2
    assert "sets where, which adapter train sets itself" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path)]) == 2 and "already exists" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs.jsonl"]
