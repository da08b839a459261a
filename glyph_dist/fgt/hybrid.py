"""The hybrid tokenizer: phrases close to a tape family become `<GLYPH>code</GLYPH>` tokens.

It wraps any Hugging Face tokenizer and adds `<GLYPH>` and `</GLYPH>` as special tokens and the
tape's glyph characters and the residual marks `⟨ ⟩ →` as ordinary tokens, so a glyph code of c
characters costs c + 2 tokens. Text is segmented into sentences (whitespace normalised); every
sentence the tape's phrase filter accepts is embedded and looked up in the tape's faiss index; its
family is the nearest one when the cosine similarity reaches the threshold. Then, by `codes`:

- `glyph`: a sentence with a family becomes the family's code (its own words are lost);
- `residual`: per sentence, whichever keeps the sentence exactly at fewer tokens (each form counted
  alone). A sentence without a family stays verbatim. Otherwise the glyph alone, when the sentence
  is the representative and the code costs fewer tokens than the sentence; else the glyph followed
  by its complete residual (glyph_dist.fgt.codec: the runs that differ), when that costs fewer than
  `residual_max_ratio` x the sentence's tokens; else the sentence verbatim. Every form expands to
  the sentence exactly, so residual coding loses nothing.

`expand` turns a context back into text: a glyph alone becomes its representative, a glyph with a
residual the phrase the residual rebuilds (exactly, for a complete residual).
"""

from __future__ import annotations

import copy
import gc
import itertools
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from tokenizers import pre_tokenizers
from transformers import PreTrainedTokenizerBase

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.codec import RESIDUAL_CLOSE, RESIDUAL_OPEN, SLOT_ARROW, decode_residual, encode_residual
from glyph_dist.fgt.ingest import PhraseFilter, split_sentences
from glyph_dist.fgt.store import Tape

GLYPH_OPEN, GLYPH_CLOSE = "<GLYPH>", "</GLYPH>"
DEFAULT_THRESHOLD = 0.75
CODES = ("glyph", "residual")
RESIDUAL_MAX_RATIO = 1.0  # a residual code is used when it costs fewer tokens than this x the verbatim sentence
_GLYPH_SPAN = re.compile(re.escape(GLYPH_OPEN) + r"(.*?)" + re.escape(GLYPH_CLOSE)
                         + f"({RESIDUAL_OPEN}[^{RESIDUAL_OPEN}{RESIDUAL_CLOSE}]*{RESIDUAL_CLOSE})?")


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during a batch: encoding allocates many short-lived,
    acyclic objects (freed by reference counting anyway), and each full collection would otherwise
    walk every object of the process, the loaded model included."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class Rendering:
    """How one sentence is written in a context, and its token count alone."""

    kind: str  # "text", "glyph" or "residual"
    content: str  # the sentence, or `<GLYPH>code</GLYPH>` followed by the residual
    tokens: int
    residual: str | None = None


@dataclass
class PhraseDecision:
    """What the encoder did with one sentence."""

    text: str
    similarity: float  # to the nearest family; nan where the filter rejected the sentence
    family_id: int
    glyph: str | None  # the code emitted, or None where the base tokens were kept
    residual: str | None = None  # the residual after the code, where one was emitted

    @property
    def kind(self) -> str:
        return "residual" if self.residual else "glyph" if self.glyph else "text"

    def as_dict(self) -> dict:
        return {"text": self.text, "similarity": None if np.isnan(self.similarity) else round(self.similarity, 4),
                "family_id": self.family_id, "glyph": self.glyph, "residual": self.residual, "decision": self.kind}


@dataclass
class DocumentPlan:
    """Sentences of a document with their vectors and nearest families: encoding at any threshold
    reuses it."""

    sentences: list[str]
    vectors: np.ndarray
    similarity: np.ndarray  # nan where the phrase filter rejected the sentence
    family_id: np.ndarray  # -1 where the phrase filter rejected the sentence


class HybridTokenizer:
    def __init__(self, tape: Tape, base: PreTrainedTokenizerBase | None = None,
                 threshold: float = DEFAULT_THRESHOLD, codes: str = "glyph",
                 residual_max_ratio: float = RESIDUAL_MAX_RATIO):
        if not 0.0 <= threshold <= 1.0:
            raise GlyphDistError(f"similarity threshold must be in [0, 1], got {threshold}")
        if codes not in CODES:
            raise GlyphDistError(f"unknown codes {codes!r}: use {' or '.join(CODES)}")
        if not residual_max_ratio > 0:
            raise GlyphDistError(f"residual_max_ratio must be positive, got {residual_max_ratio}")
        self.tape = tape
        self.threshold, self.codes, self.residual_max_ratio = threshold, codes, residual_max_ratio
        self.base = copy.deepcopy(base if base is not None else tape.tokenizer)
        self.phrase_filter = PhraseFilter(**tape.meta.get("phrase_filter", {}))
        specials = [t for t in (GLYPH_OPEN, GLYPH_CLOSE) if t not in self.base.get_vocab()]
        if specials:
            self.base.add_special_tokens({"additional_special_tokens": specials})
        alphabet = sorted({c for r in tape.records for c in r.glyph})
        self.base.add_tokens(sorted(set(alphabet) - set(self.base.get_vocab())))
        self.base.add_tokens([m for m in (RESIDUAL_OPEN, RESIDUAL_CLOSE, SLOT_ARROW) if m not in self.base.get_vocab()])
        self.open_id = self.base.convert_tokens_to_ids(GLYPH_OPEN)
        self.close_id = self.base.convert_tokens_to_ids(GLYPH_CLOSE)
        self._glyph_char_ids = dict(zip(alphabet, self.base.convert_tokens_to_ids(alphabet)))

    # -- planning: segmentation, embedding and nearest family, done once per document
    def plan(self, texts: Sequence[str], batch_size: int = 4096) -> list[DocumentPlan]:
        sentences = [split_sentences(t) for t in texts]
        flat = [s for doc in sentences for s in doc]
        vectors = self.tape.embedder.encode(flat, batch_size)
        eligible = np.array([self.phrase_filter.accepts(s) for s in flat], dtype=bool)
        similarity = np.full(len(flat), np.nan, dtype=np.float32)
        family = np.full(len(flat), -1, dtype=np.int64)
        if eligible.any():
            sims, ids = self.tape.index.search(vectors[eligible], 1)
            similarity[eligible], family[eligible] = sims[:, 0], ids[:, 0]
        plans, start = [], 0
        for doc in sentences:
            end = start + len(doc)
            plans.append(DocumentPlan(doc, vectors[start:end], similarity[start:end], family[start:end]))
            start = end
        return plans

    def decisions(self, plan: DocumentPlan, threshold: float | None = None,
                  codes: str | None = None) -> list[PhraseDecision]:
        threshold = self.threshold if threshold is None else threshold
        families = [int(fam) if fam >= 0 and sim >= threshold else -1
                    for sim, fam in zip(plan.similarity, plan.family_id)]
        if (codes or self.codes) == "glyph":
            return [PhraseDecision(s, float(sim), int(fam), self.tape.records[k].glyph if k >= 0 else None)
                    for s, sim, fam, k in zip(plan.sentences, plan.similarity, plan.family_id, families)]
        return [PhraseDecision(s, float(sim), int(fam), self.tape.records[k].glyph if r.kind != "text" else None,
                               r.residual)
                for s, sim, fam, k, r in zip(plan.sentences, plan.similarity, plan.family_id, families,
                                             self.render(plan.sentences, families))]

    def render(self, sentences: Sequence[str], family_ids: Sequence[int]) -> list[Rendering]:
        """The residual decision rule (module docstring) for sentences whose family is known
        (-1: none); token counts by the base tokenizer, one batch."""
        records = [self.tape.records[k] if k >= 0 else None for k in family_ids]
        residuals = [encode_residual(s, r.representative) if r is not None and GLYPH_OPEN not in s
                     and GLYPH_CLOSE not in s else None for s, r in zip(sentences, records)]
        counts = self.token_ids(list(sentences) + [r for r in residuals if r])
        residual_counts = iter(len(ids) for ids in counts[len(sentences):])
        renderings = []
        for sentence, record, residual, ids in zip(sentences, records, residuals, counts):
            code = f"{GLYPH_OPEN}{record.glyph}{GLYPH_CLOSE}" if record else ""
            code_cost = len(record.glyph) + 2 if record else 0
            residual_cost = code_cost + next(residual_counts) if residual else None
            if residual == "" and code_cost < len(ids):
                renderings.append(Rendering("glyph", code, code_cost))
            elif residual_cost is not None and residual_cost < self.residual_max_ratio * len(ids):
                renderings.append(Rendering("residual", code + residual, residual_cost, residual))
            else:
                renderings.append(Rendering("text", sentence, len(ids)))
        return renderings

    def pieces(self, decisions: Sequence[PhraseDecision]) -> list[str]:
        """The document as alternating plain-text runs and glyph codes (codes wrapped in tags, each
        followed directly by its residual, if any)."""
        pieces, run = [], []
        for d in decisions:
            if d.glyph is None:
                run.append(d.text)
                continue
            if run:
                pieces.append((" " if pieces else "") + " ".join(run))
                run = []
            pieces.append(f"{GLYPH_OPEN}{d.glyph}{GLYPH_CLOSE}")
            if d.residual:
                pieces.append(d.residual)
        if run:
            pieces.append((" " if pieces else "") + " ".join(run))
        return pieces

    def _glyph_ids(self, piece: str) -> list[int] | None:
        """Token ids of a `<GLYPH>code</GLYPH>` piece without running the tokenizer, else None."""
        if not (piece.startswith(GLYPH_OPEN) and piece.endswith(GLYPH_CLOSE)):
            return None
        code = piece[len(GLYPH_OPEN):-len(GLYPH_CLOSE)]
        return [self.open_id, *(self._glyph_char_ids[c] for c in code), self.close_id]

    def encode_pieces(self, pieces_per_doc: Sequence[Sequence[str]]) -> list[list[int]]:
        """Token ids per document: glyph pieces by table look-up, text runs in one tokenizer batch."""
        flat = [p for pieces in pieces_per_doc for p in pieces]
        ids = [self._glyph_ids(p) for p in flat]
        texts = [i for i, piece_ids in enumerate(ids) if piece_ids is None]
        for i, piece_ids in zip(texts, self.token_ids([flat[i] for i in texts])):
            ids[i] = piece_ids
        out, start = [], 0
        for pieces in pieces_per_doc:
            out.append(list(itertools.chain.from_iterable(ids[start:start + len(pieces)])))
            start += len(pieces)
        return out

    @property
    def counts_lines_additively(self) -> bool:
        """Whether the token count of whitespace-trimmed lines joined by newlines is the sum of the
        lines' counts plus one count per newline: true for a byte-level BPE without a normaliser or
        prefix space, whose pre-tokenizer always splits a newline from the characters around it."""
        if not self.base.is_fast:
            return False
        backend = self.base.backend_tokenizer
        pre = backend.pre_tokenizer
        return (backend.normalizer is None and isinstance(pre, pre_tokenizers.ByteLevel)
                and pre.use_regex and not pre.add_prefix_space)

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Base-tokenizer ids of each text (glyph tokens included), no special tokens added."""
        if not texts:
            return []
        if self.base.is_fast:
            return [e.ids for e in self.base.backend_tokenizer.encode_batch_fast(texts, add_special_tokens=False)]
        return self.base(texts, add_special_tokens=False)["input_ids"]

    # -- the public interface
    def encode_hybrid_batch(self, texts: Sequence[str], threshold: float | None = None
                            ) -> list[tuple[list[int], list[PhraseDecision]]]:
        with cyclic_gc_paused():
            decided = [self.decisions(p, threshold) for p in self.plan(texts)]  # by self.codes
            ids = self.encode_pieces([self.pieces(d) for d in decided])
        return list(zip(ids, decided))

    def encode_hybrid(self, text: str, return_details: bool = False):
        ids, decisions = self.encode_hybrid_batch([text])[0]
        if return_details:
            return ids, [d.as_dict() for d in decisions]
        return ids

    def encode_regular(self, texts: Sequence[str]) -> list[list[int]]:
        """Base-tokenizer ids of the same whitespace-normalised text, for comparison."""
        return self.token_ids([" ".join(split_sentences(t)) for t in texts])

    def decode_hybrid(self, ids: Sequence[int]) -> str:
        text = self.base.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)
        return re.sub(r"(?<=\S)" + re.escape(GLYPH_OPEN), " " + GLYPH_OPEN, text)

    def expand(self, text: str) -> str:
        """A context as text: every `<GLYPH>code</GLYPH>` becomes its family's representative phrase,
        and a code followed directly by a residual `⟨...⟩` the phrase that the residual rebuilds."""
        return _GLYPH_SPAN.sub(lambda m: decode_residual(self.tape.record(m.group(1)).representative, m.group(2) or ""),
                               text)

    def decode_hybrid_with_expansion(self, ids: Sequence[int]) -> str:
        return self.expand(self.decode_hybrid(ids))
