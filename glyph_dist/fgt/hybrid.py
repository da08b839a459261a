"""The hybrid tokenizer: phrases close to a tape family become `<GLYPH>code</GLYPH>` tokens.

It wraps any Hugging Face tokenizer and adds `<GLYPH>` and `</GLYPH>` as special tokens and the
tape's glyph characters as ordinary tokens, so a glyph code of c characters costs c + 2 tokens.
Text is segmented into sentences (whitespace normalised); every sentence the tape's phrase filter
accepts is embedded and looked up in the tape's faiss index, and replaced by its family's code
when the cosine similarity reaches the threshold.
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
from glyph_dist.fgt.ingest import PhraseFilter, split_sentences
from glyph_dist.fgt.store import Tape

GLYPH_OPEN, GLYPH_CLOSE = "<GLYPH>", "</GLYPH>"
DEFAULT_THRESHOLD = 0.75
_GLYPH_SPAN = re.compile(re.escape(GLYPH_OPEN) + r"(.*?)" + re.escape(GLYPH_CLOSE))


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


@dataclass
class PhraseDecision:
    """What the encoder did with one sentence."""

    text: str
    similarity: float  # to the nearest family; nan where the filter rejected the sentence
    family_id: int
    glyph: str | None  # the code emitted, or None where the base tokens were kept

    def as_dict(self) -> dict:
        return {"text": self.text, "similarity": None if np.isnan(self.similarity) else round(self.similarity, 4),
                "family_id": self.family_id, "glyph": self.glyph,
                "decision": "glyph" if self.glyph else "text"}


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
                 threshold: float = DEFAULT_THRESHOLD):
        if not 0.0 <= threshold <= 1.0:
            raise GlyphDistError(f"similarity threshold must be in [0, 1], got {threshold}")
        self.tape = tape
        self.threshold = threshold
        self.base = copy.deepcopy(base if base is not None else tape.tokenizer)
        self.phrase_filter = PhraseFilter(**tape.meta.get("phrase_filter", {}))
        specials = [t for t in (GLYPH_OPEN, GLYPH_CLOSE) if t not in self.base.get_vocab()]
        if specials:
            self.base.add_special_tokens({"additional_special_tokens": specials})
        alphabet = sorted({c for r in tape.records for c in r.glyph})
        self.base.add_tokens(sorted(set(alphabet) - set(self.base.get_vocab())))
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

    def decisions(self, plan: DocumentPlan, threshold: float | None = None) -> list[PhraseDecision]:
        threshold = self.threshold if threshold is None else threshold
        return [PhraseDecision(s, float(sim), int(fam),
                               self.tape.records[fam].glyph if fam >= 0 and sim >= threshold else None)
                for s, sim, fam in zip(plan.sentences, plan.similarity, plan.family_id)]

    def pieces(self, decisions: Sequence[PhraseDecision]) -> list[str]:
        """The document as alternating plain-text runs and glyph codes (codes wrapped in tags)."""
        pieces, run = [], []
        for d in decisions:
            if d.glyph is None:
                run.append(d.text)
                continue
            if run:
                pieces.append((" " if pieces else "") + " ".join(run))
                run = []
            pieces.append(f"{GLYPH_OPEN}{d.glyph}{GLYPH_CLOSE}")
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
            decided = [self.decisions(p, threshold) for p in self.plan(texts)]
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
        """Replace every `<GLYPH>code</GLYPH>` span by its family's representative phrase."""
        return _GLYPH_SPAN.sub(lambda m: self.tape.record(m.group(1)).representative, text)

    def decode_hybrid_with_expansion(self, ids: Sequence[int]) -> str:
        return self.expand(self.decode_hybrid(ids))
