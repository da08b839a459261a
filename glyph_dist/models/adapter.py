"""The glyph adapter: a Hugging Face causal LM that reads and writes a tape's glyph codes.

`GlyphAdapter(model, tokenizer, tape)` adds `<GLYPH>`, `</GLYPH>` and one special token per glyph
code of the tape to the tokenizer and resizes the model's embeddings. Each code's input and output
embedding starts as the mean of the embeddings of its family's representative phrase tokens (the
phrase as the base tokenizer splits it), so a glyph starts out meaning its family; the two tags
start as the mean of the base vocabulary's embeddings. With tied embeddings the one matrix is
initialised once.

One token per code, not per character: every family gets an embedding of its own even where codes
run to several characters (a tape with more families than the glyph alphabet) and share them. The
tokenizer matches the longest added token, so `<GLYPH>code</GLYPH>` in text is exactly three
tokens. Up to the alphabet size (2048 by default) every code is one character and the ids are
those of the hybrid tokenizer over the same base tokenizer. A code that is already an ordinary
token of the base vocabulary is refused: it would share that token's embedding.

A text is hybrid-encoded line by line: the hybrid tokenizer replaces each sentence close to a
family by `<GLYPH>code</GLYPH>` and normalises the whitespace within a line; line breaks are kept.
A prompt then becomes one user message of the tokenizer's chat template, where it has one. Output
is decoded up to the first eos with glyph expansion: each `<GLYPH>code</GLYPH>` of a code on the
tape becomes its family's representative phrase (other spans are left as the model wrote them).

A saved adapter is a `save_pretrained` directory, which plain `AutoModelForCausalLM` loads and the
SFT job fine-tunes as `model=DIR`, plus a copy of the tape (`tape/`) and `glyph_adapter.json`.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.hybrid import DEFAULT_THRESHOLD, GLYPH_CLOSE, GLYPH_OPEN, HybridTokenizer
from glyph_dist.fgt.store import Tape, load_tape, load_tokenizer
from glyph_dist.models.hf import chat_texts
from glyph_dist.models.pairs import Pair, tokenize_pairs

ADAPTER_FILE = "glyph_adapter.json"
TAPE_DIR = "tape"
_GLYPH_SPAN = re.compile(re.escape(GLYPH_OPEN) + r"(.*?)" + re.escape(GLYPH_CLOSE))


def glyph_tokens(tape: Tape) -> list[str]:
    """The tokens an adapter adds: the two tags, then one per family's code in family order."""
    return [GLYPH_OPEN, GLYPH_CLOSE, *(record.glyph for record in tape.records)]


def _representative_ids(tokenizer: PreTrainedTokenizerBase, tape: Tape) -> list[list[int]]:
    ids = tokenizer([r.representative for r in tape.records], add_special_tokens=False)["input_ids"]
    empty = [r.glyph for r, phrase in zip(tape.records, ids) if not phrase]
    if empty:
        raise GlyphDistError(f"tape {tape.path}: the representative phrase of glyph(s) {' '.join(empty[:8])} "
                             f"gives no tokens, so it has no embedding to start from")
    return ids


@torch.no_grad()
def _initialise(weight: torch.Tensor, base_size: int, tag_ids: list[int], code_ids: list[int],
                phrase_ids: list[list[int]]) -> None:
    """Tags: the mean of the base vocabulary's rows; each code: the mean of its phrase's token rows."""
    weight[tag_ids] = weight[:base_size].float().mean(0).to(weight.dtype)
    for code_id, phrase in zip(code_ids, phrase_ids):
        weight[code_id] = weight[phrase].float().mean(0).to(weight.dtype)


def add_glyph_tokens(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, tape: Tape) -> dict[str, int]:
    """Add the tape's glyph tokens to `tokenizer` and `model` (in place) and initialise their
    embeddings; returns token -> id. A tokenizer that holds every glyph token already (a saved
    adapter, or a model trained with the tape's tokenizer) is taken as it is."""
    tokens = glyph_tokens(tape)
    rows = model.get_input_embeddings().num_embeddings
    added = tokenizer.get_added_vocab()
    present = [t for t in tokens if t in added]
    if len(present) == len(tokens):
        ids = {t: added[t] for t in tokens}
        if max(ids.values()) >= rows:
            raise GlyphDistError(f"the tokenizer gives glyph tokens ids up to {max(ids.values())} but the model has "
                                 f"{rows} embedding rows: model and tokenizer do not belong together")
        return ids
    if present:
        raise GlyphDistError(f"the tokenizer holds {len(present)} of the {len(tokens)} glyph tokens of tape "
                             f"{tape.path} (e.g. {present[0]!r}): it was adapted to another tape")
    vocab = tokenizer.get_vocab()
    clash = [t for t in tokens if t in vocab]
    if clash:
        raise GlyphDistError(f"glyph token(s) {' '.join(clash[:8])} are ordinary tokens of the base vocabulary, "
                             f"so they cannot get embeddings of their own")
    phrase_ids = _representative_ids(tokenizer, tape)
    base_size = len(tokenizer)
    tokenizer.add_special_tokens({"extra_special_tokens": tokens}, replace_extra_special_tokens=False)
    ids = dict(zip(tokens, tokenizer.convert_tokens_to_ids(tokens)))
    model.resize_token_embeddings(max(len(tokenizer), rows), mean_resizing=False)
    tag_ids, code_ids = [ids[GLYPH_OPEN], ids[GLYPH_CLOSE]], [ids[t] for t in tokens[2:]]
    inputs, outputs = model.get_input_embeddings().weight, model.get_output_embeddings()
    _initialise(inputs, base_size, tag_ids, code_ids, phrase_ids)
    if outputs is not None and outputs.weight.data_ptr() != inputs.data_ptr():
        _initialise(outputs.weight, base_size, tag_ids, code_ids, phrase_ids)
    return ids


def _load_model(path: Path, device: str | None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    if not (path / "config.json").is_file():
        raise GlyphDistError(f"{path} holds no Hugging Face model (no config.json)")
    tokenizer = load_tokenizer(path)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise GlyphDistError(f"cannot load a causal LM from {path}: {exc}") from exc
    return model.to(device or ("cuda" if torch.cuda.is_available() else "cpu")).eval(), tokenizer


def _read_meta(directory: Path) -> dict:
    path = directory / ADAPTER_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise GlyphDistError(f"{path}: unreadable adapter description ({exc})") from exc


class GlyphAdapter:
    """A causal LM with glyph tokens: hybrid-encoded prompts in, glyph-expanded text out."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, tape: Tape,
                 threshold: float = DEFAULT_THRESHOLD, chat: bool | None = None):
        has_template = bool(getattr(tokenizer, "chat_template", None))
        if chat and not has_template:
            raise GlyphDistError("chat prompts need a tokenizer with a chat template; this one has none")
        if tokenizer.eos_token_id is None:
            raise GlyphDistError("the tokenizer has no eos token to end generations and targets with")
        if not 0.0 <= threshold <= 1.0:
            raise GlyphDistError(f"similarity threshold must be in [0, 1], got {threshold}")
        self.model, self.tokenizer, self.tape = model, tokenizer, tape
        self.token_ids = add_glyph_tokens(model, tokenizer, tape)
        self.hybrid = HybridTokenizer(tape, tokenizer, threshold)  # over the tokenizer with its glyph tokens
        self.chat = has_template if chat is None else chat
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self._representatives = {r.glyph: r.representative for r in tape.records}

    @property
    def threshold(self) -> float:
        return self.hybrid.threshold

    @classmethod
    def load(cls, model: str | Path, tape: str | Path | None = None, threshold: float | None = None,
             chat: bool | None = None, device: str | None = None) -> GlyphAdapter:
        """A saved adapter (its tape and settings are the defaults), or any causal LM (a catalog name
        or local directory) adapted to `tape`."""
        from glyph_dist.models.catalog import resolve_model

        path = resolve_model(str(model))
        meta = _read_meta(path)
        if tape is None:
            if not meta:
                raise GlyphDistError(f"{path} is not a saved glyph adapter (no {ADAPTER_FILE}): name the tape")
            tape = path / meta["tape"]
        adapter = cls(*_load_model(path, device), load_tape(tape),
                      meta.get("threshold", DEFAULT_THRESHOLD) if threshold is None else threshold,
                      meta.get("chat") if chat is None else chat)
        if meta and meta["glyph_tokens"] != adapter.token_ids:
            raise GlyphDistError(f"{path}: the tokenizer's glyph token ids differ from those in {ADAPTER_FILE}")
        return adapter

    def save(self, directory: str | Path) -> Path:
        """Write model, tokenizer, a copy of the tape and `glyph_adapter.json` into a new directory
        (staged beside it and renamed into place, so an interrupted save leaves nothing)."""
        directory = Path(directory)
        if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
            raise GlyphDistError(f"{directory} already exists: save an adapter into a new directory")
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
        try:
            self.model.save_pretrained(staging)
            self.tokenizer.save_pretrained(staging)
            shutil.copytree(self.tape.path, staging / TAPE_DIR)
            meta = {"tape": TAPE_DIR, "tape_source": str(self.tape.path), "threshold": self.threshold,
                    "chat": self.chat, "glyph_tokens": self.token_ids}
            (staging / ADAPTER_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
            staging.chmod(0o755)  # mkdtemp makes it private
            if directory.exists():
                directory.rmdir()
            staging.rename(directory)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return directory

    # -- text in
    def hybrid_texts(self, texts: Sequence[str]) -> list[str]:
        """Each text with its sentences close to a family replaced by `<GLYPH>code</GLYPH>`, line by line."""
        lines = [text.split("\n") for text in texts]
        plans = self.hybrid.plan([line for doc in lines for line in doc])
        rendered = iter("".join(self.hybrid.pieces(self.hybrid.decisions(plan))) for plan in plans)
        return ["\n".join(next(rendered) for _ in doc) for doc in lines]

    def render(self, prompts: Sequence[str], use_hybrid: bool = True) -> list[str]:
        """The texts the model reads: hybrid-encoded unless `use_hybrid` is False, each a user message
        of the chat template when `chat`."""
        texts = self.hybrid_texts(prompts) if use_hybrid else list(prompts)
        if not self.chat:
            return texts
        return chat_texts(self.tokenizer, texts)

    def encode(self, prompt: str, use_hybrid: bool = True) -> list[int]:
        """Token ids of the rendered prompt (the template holds any special tokens it needs)."""
        return self.tokenizer(self.render([prompt], use_hybrid)[0], add_special_tokens=False)["input_ids"]

    def sft_pairs(self, pairs: Sequence[Pair], use_hybrid: bool = True, hybrid_targets: bool = False,
                  source: str = "pairs") -> list[Pair]:
        """(prompt, target) pairs as the model is trained on them: prompts rendered (hybrid-encoded unless
        `use_hybrid` is False); targets as they are, or hybrid-encoded too with `hybrid_targets` (a
        glyph then stands for its family's representative in place of the exact answer). Hybrid
        encoding takes plain text only."""
        hybrid_targets = use_hybrid and hybrid_targets
        coded = next((p for p in pairs if use_hybrid and GLYPH_OPEN in p.prompt
                      or hybrid_targets and GLYPH_OPEN in p.target), None)
        if coded is not None:
            raise GlyphDistError(f"{source}, line {coded.line}: the pair already holds glyph codes; hybrid "
                                 f"encoding takes plain pairs (e.g. --where variant=raw), or use --no-hybrid")
        targets = [p.target for p in pairs]
        return [Pair(prompt, target, p.line) for p, prompt, target in
                zip(pairs, self.render([p.prompt for p in pairs], use_hybrid),
                    self.hybrid_texts(targets) if hybrid_targets else targets)]

    # -- text out
    def expand(self, text: str) -> str:
        """Each `<GLYPH>code</GLYPH>` of a code on the tape replaced by its family's representative phrase."""
        return _GLYPH_SPAN.sub(lambda m: self._representatives.get(m.group(1), m.group(0)), text)

    def decode(self, ids: Sequence[int], expand: bool = True) -> str:
        """Text of generated ids up to the first eos, without special tokens other than the glyph tokens."""
        ids = list(ids)
        if self.tokenizer.eos_token_id in ids:
            ids = ids[:ids.index(self.tokenizer.eos_token_id)]
        dropped = set(self.tokenizer.all_special_ids) - set(self.token_ids.values())
        text = self.hybrid.decode_hybrid([i for i in ids if i not in dropped])
        return (self.expand(text) if expand else text).strip()

    @torch.inference_mode()
    def generate(self, prompt: str, use_hybrid: bool = True, max_new_tokens: int = 64, expand: bool = True) -> str:
        """The greedy continuation of the prompt (hybrid-encoded unless `use_hybrid` is False), decoded
        with glyph expansion unless `expand` is False."""
        ids = torch.tensor([self.encode(prompt, use_hybrid)], device=self.model.device)
        out = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                  do_sample=False, num_beams=1, eos_token_id=self.tokenizer.eos_token_id,
                                  pad_token_id=self.pad_id)
        return self.decode(out[0, ids.shape[1]:].tolist(), expand)

    @torch.inference_mode()
    def score(self, pairs: Sequence[Pair], max_length: int = 1024) -> dict:
        """Teacher-forced metrics of pairs already rendered (`sft_pairs`) over their target tokens and eos,
        tokenized and truncated as the SFT job does (a target token is scored when a token precedes it):
        mean cross-entropy (nats), perplexity, and the share of target tokens that are the model's most
        likely next token. One pair a forward pass, so nothing is padded."""
        if not pairs:
            raise GlyphDistError("no pairs to score")
        data = tokenize_pairs(list(pairs), self.tokenizer, max_length)
        loss, correct, scored = 0.0, 0, 0
        for ids, prompt_len in (data[i] for i in range(len(data))):
            ids = torch.as_tensor(ids, device=self.model.device)
            first = max(prompt_len, 1)  # the first scored target position
            if first >= len(ids):
                continue
            logits = self.model(input_ids=ids[None], logits_to_keep=len(ids) - first + 1).logits[0, :-1].float()
            targets = ids[first:]
            loss += F.cross_entropy(logits, targets, reduction="sum").item()
            correct += int((logits.argmax(-1) == targets).sum())
            scored += len(targets)
        return {"pairs": len(data), "prompt_tokens_mean": sum(data.prompt_lens) / len(data),
                "target_tokens": scored, "loss": loss / scored, "perplexity": math.exp(loss / scored),
                "token_accuracy": correct / scored}
