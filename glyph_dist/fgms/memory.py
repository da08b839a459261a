"""The shard core, plain Python: write records durably, read the best context under a token budget.

Each record's text is split into sentence spans, embedded, and mapped to its tape family where the
similarity reaches the hybrid tokenizer's threshold; the record as a whole is added to the actor's
BM25 index (`lexical`). Spans live per actor in write order (write order is the memory's
chronology). A read filters the actor's spans, scores the units it packs (spans, or whole records
with `unit: turn`) by relevance, ranks them with a policy, renders them by mode (verbatim, as glyph
codes, or as glyph codes with residuals, which lose nothing), and packs lines into the budget; the
returned `token_estimate` is the exact token count of the returned context.

Relevance: `dense` is the cosine of the query's and the span's embeddings (a turn: its best span);
`lexical` is the record's BM25 divided by the best candidate's (a span: its record's); `hybrid` is
the reciprocal-rank fusion of the two rankings (`lexical.reciprocal_rank_fusion`, over each
ranking's top `limit` units, dense weighted `lexical.DENSE_WEIGHT`), 1.0 for a unit both rank first.
With `neighbours: w`, each unit then gains a share of the relevance of the best unit within w
units of it (`neighbours.py`).

A write is atomic: every derived value (spans, vectors, families, token counts, timestamps) is
computed first, the in-memory index is extended inside the storage transaction, and a failure
anywhere rolls back both, leaving the sequence counter where it was. A restore sets aside (quarantines)
each stored record it cannot read and serves the rest. User text and roles are stored as written; in
contexts and items, the glyph tags in them read `&lt;GLYPH>` and `&lt;/GLYPH>`, so only real codes
carry the tags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import faiss
import numpy as np
import orjson

from glyph_dist.fgms.lexical import DENSE_WEIGHT, LexicalIndex, reciprocal_rank_fusion
from glyph_dist.fgms.neighbours import neighbour_relevance
from glyph_dist.fgms.policies import get_policy
from glyph_dist.fgms.schema import MemoryRecord, ReadRequest, ReadResponse, WriteResponse, microseconds
from glyph_dist.fgms.storage import RestoredRecord, ShardStorage, StoredRecord, StoredSpan
from glyph_dist.fgt.hybrid import GLYPH_CLOSE, GLYPH_OPEN, HybridTokenizer
from glyph_dist.fgt.store import load_tape, load_tokenizer

EXCERPT_CHARS = 80
MAX_RANKED = 4096  # candidates a policy ranks per read, at most
MIN_LINE_TOKENS = 4  # "[", role, "]", content: no line is shorter under a byte-level BPE
QUARANTINE_SHOWN = 20  # quarantined records listed in the stats, latest first
_GLYPH_TAG = re.compile("|".join(re.escape(tag) for tag in (GLYPH_OPEN, GLYPH_CLOSE)))


def escape_glyph_tags(text: str) -> str:
    """`<GLYPH>` and `</GLYPH>` in user text as `&lt;GLYPH>` and `&lt;/GLYPH>`: only real codes carry the tags."""
    return _GLYPH_TAG.sub(lambda tag: "&lt;" + tag.group()[1:], text)


@dataclass
class _Entry:
    """A record ready for the in-memory index, every value derived: its spans, their texts as
    rendered (tags escaped), its line prefix and token counts, and its created_at as microseconds and as
    ISO 8601."""

    record: StoredRecord
    spans: list[StoredSpan]
    texts: list[str]
    prefix: str
    prefix_tokens: int
    text_tokens: list[int]
    created_us: int
    created_iso: str


@dataclass
class ActorSpans:
    """One actor's spans in write order: columns as growable arrays and lists."""

    dim: int
    size: int = 0
    vectors: np.ndarray = field(init=False)
    created_us: np.ndarray = field(init=False)  # the record's created_at, microseconds since the Unix epoch
    family_id: np.ndarray = field(init=False)
    prefix_tokens: np.ndarray = field(init=False)  # tokens of the line prefix "[t3 user]"
    text_tokens: np.ndarray = field(init=False)  # tokens of " " + the span's text
    record_of: np.ndarray = field(init=False)  # the span's record, numbered per actor in write order
    seq: list[int] = field(default_factory=list)
    record_id: list[str] = field(default_factory=list)
    span: list[int] = field(default_factory=list)
    text: list[str] = field(default_factory=list)  # tags escaped
    record: list[StoredRecord] = field(default_factory=list)
    created_iso: list[str] = field(default_factory=list)  # the record's created_at as ISO 8601, per span
    prefix: list[str] = field(default_factory=list)  # the record's line prefix, per span
    episode_index: dict[str, list[int]] = field(default_factory=dict)
    tag_index: dict[str, list[int]] = field(default_factory=dict)
    lexical: LexicalIndex = field(default_factory=LexicalIndex)
    residual: dict[int, tuple[str, str, int]] = field(default_factory=dict)  # span -> residual rendering, once read
    whole: dict[str, "_Units"] = field(default_factory=dict)  # unit -> the units over every span, until a change

    def __post_init__(self):
        self.vectors = np.zeros((16, self.dim), dtype=np.float32)
        self.created_us = np.zeros(16, dtype=np.int64)
        self.family_id = np.zeros(16, dtype=np.int64)
        self.prefix_tokens = np.zeros(16, dtype=np.int64)
        self.text_tokens = np.zeros(16, dtype=np.int64)
        self.record_of = np.zeros(16, dtype=np.int64)

    def _reserve(self, extra: int) -> None:
        needed = self.size + extra
        if needed <= len(self.created_us):
            return
        capacity = max(needed, 2 * len(self.created_us))
        self.vectors = np.resize(self.vectors, (capacity, self.dim))
        self.created_us = np.resize(self.created_us, capacity)
        self.family_id = np.resize(self.family_id, capacity)
        self.prefix_tokens = np.resize(self.prefix_tokens, capacity)
        self.text_tokens = np.resize(self.text_tokens, capacity)
        self.record_of = np.resize(self.record_of, capacity)

    def append(self, entry: _Entry) -> None:
        self._reserve(len(entry.spans))
        self.whole.clear()
        record, number = entry.record, self.lexical.size
        self.lexical.append(" ".join(s.text for s in entry.spans))
        for s, text, tokens in zip(entry.spans, entry.texts, entry.text_tokens):
            i = self.size
            self.vectors[i] = s.vector
            self.created_us[i] = entry.created_us
            self.family_id[i] = s.family_id
            self.prefix_tokens[i] = entry.prefix_tokens
            self.text_tokens[i] = tokens
            self.record_of[i] = number
            self.seq.append(s.seq)
            self.record_id.append(s.record_id)
            self.span.append(s.span)
            self.text.append(text)
            self.record.append(record)
            self.created_iso.append(entry.created_iso)
            self.prefix.append(entry.prefix)
            if record.episode_id is not None:
                self.episode_index.setdefault(record.episode_id, []).append(i)
            for tag in record.tags:
                self.tag_index.setdefault(tag, []).append(i)
            self.size += 1

    def truncate(self, size: int) -> None:
        """Forget every span from index `size` on (undoes appends)."""
        self.size = min(self.size, size)
        self.whole.clear()
        self.residual = {i: form for i, form in self.residual.items() if i < self.size}
        self.lexical.truncate(int(self.record_of[self.size - 1]) + 1 if self.size else 0)
        for column in (self.seq, self.record_id, self.span, self.text, self.record, self.created_iso, self.prefix):
            del column[size:]
        for index in (self.episode_index, self.tag_index):
            for key in list(index):
                while index[key] and index[key][-1] >= size:
                    index[key].pop()
                if not index[key]:
                    del index[key]

    def similarity(self, query: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Exact cosine similarity of the candidates to the query: a gather for a small subset, else
        one scan of every span."""
        if 4 * len(candidates) < self.size:
            return self.vectors[candidates] @ query
        scores = inner_products(self.vectors[:self.size], query)
        return scores if len(candidates) == self.size else scores[candidates]

    def units(self, candidates: np.ndarray, unit: str) -> "_Units":
        """What a read over the candidates ranks; the units over every span are kept until the next change."""
        if len(candidates) < self.size:
            return _Units.of(self, candidates, unit)
        if unit not in self.whole:
            self.whole[unit] = _Units.of(self, candidates, unit)
        return self.whole[unit]

    def candidates(self, request: ReadRequest) -> np.ndarray:
        """Indices of the spans that pass the request's filters, in write order."""
        f = request.filters
        if f.episode_id is None and not f.tags and f.since is None and f.until is None:
            return np.arange(self.size)
        mask = np.ones(self.size, dtype=bool)
        if f.episode_id is not None:
            mask &= _index_mask(self.episode_index.get(f.episode_id, []), self.size)
        for tag in f.tags:
            mask &= _index_mask(self.tag_index.get(tag, []), self.size)
        if f.since is not None:
            mask &= self.created_us[:self.size] >= microseconds(f.since)
        if f.until is not None:
            mask &= self.created_us[:self.size] <= microseconds(f.until)
        return np.flatnonzero(mask)


def inner_products(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    """`vectors @ query` for float32 rows, by faiss's SIMD kernel on the calling thread: a memory-bound
    scan, about twice as fast here as a one-thread BLAS matrix-vector product."""
    if vectors.dtype != np.float32 or query.shape != vectors.shape[1:]:
        raise ValueError(f"inner_products: float32 rows as long as the query {query.shape} expected, "
                         f"got {vectors.dtype} {vectors.shape}")
    query = np.ascontiguousarray(query, dtype=np.float32)
    out = np.empty(len(vectors), dtype=np.float32)
    faiss.fvec_inner_products_ny(faiss.swig_ptr(out), faiss.swig_ptr(query), faiss.swig_ptr(vectors),
                                 vectors.shape[1], len(vectors))
    return out


def _index_mask(indices: list[int], size: int) -> np.ndarray:
    mask = np.zeros(size, dtype=bool)
    mask[indices] = True
    return mask


def line_prefix(record: StoredRecord) -> str:
    turn = f"t{record.turn} " if record.turn is not None else ""
    return f"[{turn}{escape_glyph_tags(record.role)}]"


@dataclass
class _Line:
    first: int  # span indices within the actor: a span, or every span of a record
    last: int
    score: float
    rendered_as: str  # "text"; "glyph" or "residual": the spans with a family so coded, the others verbatim
    tokens: int  # of the line as rendered, its newline not counted

    @property
    def spans(self) -> range:
        return range(self.first, self.last + 1)


@dataclass
class _Units:
    """What a read ranks and packs: spans, or records (every span of each, first to last)."""

    first: np.ndarray
    last: np.ndarray
    record: np.ndarray  # each unit's record number (for BM25)
    starts: np.ndarray | None  # records: where each starts among the candidate spans
    later: list[tuple[np.ndarray, np.ndarray]]  # records: their second, third, ... spans (see `_later_spans`)

    @classmethod
    def of(cls, actor: "ActorSpans", candidates: np.ndarray, unit: str) -> "_Units":
        record = actor.record_of[candidates]
        if unit == "span":
            return cls(candidates, candidates, record, None, [])
        starts = np.flatnonzero(np.r_[True, record[1:] != record[:-1]])  # a record passes the filters whole
        lengths = np.diff(np.r_[starts, len(candidates)])
        return cls(candidates[starts], candidates[starts + lengths - 1], record[starts], starts,
                   _later_spans(starts, lengths))

    def dense(self, similarity: np.ndarray) -> np.ndarray:
        """Unit similarity from the candidate spans' similarity: a record's is its best span's (the
        maximum `np.maximum.reduceat` takes, span by span, as a few gathers: three times faster)."""
        if self.starts is None:
            return similarity
        best = similarity[self.starts]
        for positions, units in self.later:
            best[units] = np.maximum(best[units], similarity[positions])
        return best


def _later_spans(starts: np.ndarray, lengths: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """For r = 1, 2, ...: (positions among the candidate spans, units) of the units' spans r after their first."""
    rank = np.arange(lengths.sum()) - np.repeat(starts, lengths)
    unit = np.repeat(np.arange(len(starts)), lengths)
    return [(positions, unit[positions])
            for positions in (np.flatnonzero(rank == r) for r in range(1, int(lengths.max(initial=1))))]


class ShardMemory:
    def __init__(self, hybrid: HybridTokenizer, storage: ShardStorage):
        self.hybrid = hybrid
        self.tape = hybrid.tape
        self.storage = storage
        self.actors: dict[str, ActorSpans] = {}
        self.records = 0
        self.next_seq = 0
        self.failed_writes = 0
        self.last_write_error: str | None = None
        self.newline_tokens = len(hybrid.token_ids(["\n"])[0])
        self.additive = hybrid.counts_lines_additively
        self.glyph_tokens = np.array([len(ids) for ids in hybrid.token_ids(
            [f" {GLYPH_OPEN}{r.glyph}{GLYPH_CLOSE}" for r in self.tape.records])], dtype=np.int64)
        self._restore()

    @classmethod
    def open(cls, tape_dir: Path | str, storage_dir: Path | str, shard: int = 0,
             tokenizer: str | None = None) -> "ShardMemory":
        tape = load_tape(tape_dir)
        base = load_tokenizer(tokenizer) if tokenizer else None
        return cls.on(HybridTokenizer(tape, base=base), storage_dir, shard)

    @classmethod
    def on(cls, hybrid: HybridTokenizer, storage_dir: Path | str, shard: int = 0) -> "ShardMemory":
        """The shard's memory over a tokenizer (and tape) already loaded, which shards may share."""
        tape = hybrid.tape
        return cls(hybrid, ShardStorage(Path(storage_dir) / f"shard-{shard:03d}.sqlite", tape.version, tape.meta["dim"]))

    def _restore(self) -> None:
        """Index every stored record that can be read; quarantine the others (see `storage`)."""
        stored = self.storage.restorable()
        for entry in stored:
            if entry.problem is None:
                entry.problem = self._check(entry)
        self.storage.quarantine([e for e in stored if e.problem is not None])
        restored = [(e.record, e.spans) for e in stored if e.problem is None]
        for entry in self._entries(restored):
            self._actor(entry.record.actor_id).append(entry)
        self.records = len(restored)
        self.next_seq = self.storage.last_seq() + 1

    def _check(self, entry: RestoredRecord) -> str | None:
        """What keeps a readable record from being indexed, if anything."""
        if [s.span for s in entry.spans] != list(range(len(entry.spans))):
            return "its spans are not numbered 0, 1, ... in write order"
        if any(not -1 <= s.family_id < len(self.tape.records) for s in entry.spans):
            return f"a span's family is not one of the tape's {len(self.tape.records)}"
        return None

    def _entries(self, records: list[tuple[StoredRecord, list[StoredSpan]]]) -> list[_Entry]:
        """The records' index entries, token counts taken in one batch."""
        prefixes = [line_prefix(record) for record, _ in records]
        texts = [[escape_glyph_tags(s.text) for s in spans] for _, spans in records]
        counts = [len(ids) for ids in self.hybrid.token_ids(prefixes + [f" {t}" for ts in texts for t in ts])]
        prefix_counts, content_counts = counts[:len(prefixes)], iter(counts[len(prefixes):])
        return [_Entry(record, spans, ts, prefix, prefix_tokens, [next(content_counts) for _ in spans],
                       microseconds(record.created_at), record.created_at.isoformat())
                for (record, spans), ts, prefix, prefix_tokens in zip(records, texts, prefixes, prefix_counts)]

    def _actor(self, actor_id: str) -> ActorSpans:
        if actor_id not in self.actors:
            self.actors[actor_id] = ActorSpans(self.tape.meta["dim"])
        return self.actors[actor_id]

    # -- writes
    def write(self, records: list[MemoryRecord]) -> WriteResponse:
        """Store new records durably; records already stored (same actor and record id) are skipped.
        All or nothing: on any failure neither the storage nor the index holds any of the batch."""
        try:
            response = self._write(records)
        except Exception as exc:
            self.failed_writes += 1
            self.last_write_error = f"{type(exc).__name__}: {exc}"[:200]
            raise
        self.last_write_error = None
        return response

    def _write(self, records: list[MemoryRecord]) -> WriteResponse:
        keys = [(r.actor_id, r.record_id) for r in records]
        known = self.storage.known_records(keys)
        new, seen = [], set(known)
        for record, key in zip(records, keys):
            if key not in seen:
                seen.add(key)
                new.append(record)
        if not new:
            return WriteResponse(written=0, duplicates=len(records), spans=0)
        now = datetime.now(timezone.utc)
        bodies = [r.model_dump(mode="json") | {"created_at": (r.created_at or now).isoformat()} for r in new]
        plans = self.hybrid.plan([r.text for r in new])
        spans_per_record, seq = [], self.next_seq
        for record, plan in zip(new, plans):
            similarity = np.nan_to_num(plan.similarity, nan=0.0)  # nan: the phrase filter rejected the span
            family = np.where(similarity >= self.hybrid.threshold, plan.family_id, -1).tolist()
            spans = []
            for i, text in enumerate(plan.sentences):
                spans.append(StoredSpan(seq, record.actor_id, record.record_id, i, text, family[i],
                                        float(similarity[i]), plan.vectors[i]))
                seq += 1
            spans_per_record.append(spans)
        entries = self._entries([(StoredRecord.model_validate(body), spans)
                                 for body, spans in zip(bodies, spans_per_record)])
        sizes = {actor_id: actor.size for actor_id, actor in self.actors.items()}
        try:
            with self.storage.appending(bodies, [s for spans in spans_per_record for s in spans]):
                for entry in entries:
                    self._actor(entry.record.actor_id).append(entry)
        except BaseException:
            self._truncate(sizes)
            raise
        self.next_seq, self.records = seq, self.records + len(new)
        return WriteResponse(written=len(new), duplicates=len(records) - len(new),
                             spans=sum(len(s) for s in spans_per_record))

    def _truncate(self, sizes: dict[str, int]) -> None:
        """Back to the given span count per actor; actors not listed are dropped."""
        for actor_id in list(self.actors):
            if actor_id in sizes:
                self.actors[actor_id].truncate(sizes[actor_id])
            else:
                del self.actors[actor_id]

    # -- reads
    def read(self, request: ReadRequest) -> ReadResponse:
        """The best context for the request; see `read_json` for the form the shard actor returns."""
        return ReadResponse.model_validate(self.read_dict(request))

    def read_json(self, request: ReadRequest) -> bytes:
        """The response as UTF-8 JSON (what the shard actor returns and HTTP passes through)."""
        return orjson.dumps(self.read_dict(request))

    def read_dict(self, request: ReadRequest) -> dict:
        """The response as plain JSON-ready data, in the shape of `ReadResponse`."""
        actor = self.actors.get(request.actor_id)
        candidates = actor.candidates(request) if actor else np.zeros(0, dtype=np.int64)
        if len(candidates) == 0:
            return self._response(actor, [], request, 0)
        units = actor.units(candidates, request.unit)
        limit = min(len(units.first), MAX_RANKED, max(1, request.token_budget // MIN_LINE_TOKENS))
        policy = get_policy(request.policy)
        if request.query.strip() and policy.uses_relevance:
            relevance = self._relevance(actor, candidates, units, request, limit)
            if request.neighbours and request.weights.neighbours:
                shared = neighbour_relevance(relevance, request.neighbours, limit)
                relevance = relevance + np.float32(request.weights.neighbours) * shared
        else:
            relevance = np.zeros(len(units.first), dtype=np.float32)
        picked, scores = policy.rank(relevance, request.weights, limit)
        lines = self._pack(actor, units.first[picked], units.last[picked], scores, request)
        return self._response(actor, lines, request, len(candidates))

    def _relevance(self, actor: ActorSpans, candidates: np.ndarray, units: _Units, request: ReadRequest,
                   depth: int) -> np.ndarray:
        """The units' relevance to the query, by `request.relevance` (module docstring)."""
        rankings = []
        if request.relevance != "lexical":
            query = self.tape.embedder.encode([request.query])[0]
            rankings.append(units.dense(actor.similarity(query, candidates)))
        if request.relevance != "dense":
            bm25 = actor.lexical.scores(request.query)[units.record]
            best = bm25.max()
            rankings.append(bm25 / best if best > 0 else bm25)
        if len(rankings) == 1:
            return rankings[0]
        return reciprocal_rank_fusion(rankings, depth, [DENSE_WEIGHT, 1 - DENSE_WEIGHT])

    def _form(self, actor: ActorSpans, index: int, rendered_as: str) -> tuple[str, str, int]:
        """(kind, content, tokens of " " + content) of one span in a line rendered as `rendered_as`: a
        span without a family stays verbatim; in a residual line the hybrid tokenizer's residual rule
        (`HybridTokenizer.render`) decides, once per span."""
        family = int(actor.family_id[index])
        if rendered_as == "text" or family < 0:
            return "text", actor.text[index], int(actor.text_tokens[index])
        if rendered_as == "glyph":
            return "glyph", f"{GLYPH_OPEN}{self.tape.records[family].glyph}{GLYPH_CLOSE}", int(self.glyph_tokens[family])
        if index not in actor.residual:
            rendering = self.hybrid.render([actor.text[index]], [family])[0]
            tokens = (actor.text_tokens[index] if rendering.kind == "text"
                      else len(self.hybrid.token_ids([" " + rendering.content])[0]))
            actor.residual[index] = (rendering.kind, rendering.content, int(tokens))
        return actor.residual[index]

    def _render(self, actor: ActorSpans, line: _Line) -> str:
        contents = [self._form(actor, i, line.rendered_as)[1] for i in line.spans]
        return f"{actor.prefix[line.first]} {' '.join(contents)}"

    @staticmethod
    def _options(mode: str, has_glyph: bool, verbatim_left: bool) -> tuple[str, ...]:
        """Renderings to try for one span, preferred first."""
        if mode == "text" or not has_glyph:
            return ("text",)
        if mode == "mixed" and verbatim_left:
            return ("text", "glyph")
        return ("residual",) if mode == "residual" else ("glyph",)

    def _pack(self, actor: ActorSpans, first: np.ndarray, last: np.ndarray, scores: np.ndarray,
              request: ReadRequest) -> list[_Line]:
        """Greedy packing of units (spans first..last) in priority order, by mode, from the token
        counts kept for every span."""
        lengths = last - first + 1
        offsets = np.cumsum(lengths) - lengths
        spans = np.arange(lengths.sum()) - np.repeat(offsets, lengths) + np.repeat(first, lengths)
        family = actor.family_id[spans]
        text = actor.text_tokens[spans]
        glyph = np.where(family >= 0, self.glyph_tokens[np.maximum(family, 0)], text)
        has_glyph = (np.maximum.reduceat(family, offsets) >= 0).tolist()
        costs = {"text": (actor.prefix_tokens[first] + np.add.reduceat(text, offsets)).tolist(),
                 "glyph": (actor.prefix_tokens[first] + np.add.reduceat(glyph, offsets)).tolist()}
        if request.mode == "residual":
            costs["residual"] = [int(actor.prefix_tokens[a]) + sum(self._form(actor, i, "residual")[2]
                                                                   for i in range(a, b + 1))
                                 for a, b in zip(first.tolist(), last.tolist())]
        budget, used, verbatim_used = request.token_budget, 0, 0
        verbatim_budget = request.weights.verbatim_share * budget
        lines: list[_Line] = []
        for k, (a, b) in enumerate(zip(first.tolist(), last.tolist())):
            if budget - used < MIN_LINE_TOKENS:
                break
            for kind in self._options(request.mode, has_glyph[k], verbatim_used < verbatim_budget):
                cost = costs[kind][k] + (self.newline_tokens if lines else 0)
                if used + cost <= budget:
                    lines.append(_Line(a, b, float(scores[k]), kind, costs[kind][k]))
                    used += cost
                    verbatim_used += costs[kind][k] if kind == "text" else 0
                    break
        return lines

    def _count(self, lines: list[_Line], context: str) -> int:
        """Tokens of the context: the kept line counts summed where the tokenizer counts lines
        additively (see `HybridTokenizer.counts_lines_additively`), else a count of the string."""
        if self.additive:
            return sum(line.tokens for line in lines) + self.newline_tokens * (len(lines) - 1)
        return len(self.hybrid.token_ids([context])[0])

    def _response(self, actor: ActorSpans | None, lines: list[_Line], request: ReadRequest,
                  considered: int) -> dict:
        """Lines in chronological order. Should a tokenizer that is not additive merge across line
        boundaries and push the context over the budget, the lowest-priority line goes."""
        while lines:
            chronological = sorted(lines, key=lambda line: actor.seq[line.first])
            context = "\n".join(self._render(actor, line) for line in chronological)
            tokens = self._count(chronological, context)
            if tokens <= request.token_budget:
                break
            lines = lines[:-1]
        else:
            chronological, context, tokens = [], "", 0
        return {"items": [item for line in chronological for item in self._items(actor, line)],
                "context": context, "token_estimate": tokens, "token_budget": request.token_budget,
                "candidates_considered": considered, "policy": request.policy, "mode": request.mode,
                "relevance": request.relevance, "unit": request.unit}

    def _items(self, actor: ActorSpans, line: _Line) -> list[dict]:
        """The spans of a returned line (one record's)."""
        record, score = actor.record[line.first], round(line.score, 6)
        items = []
        for i, family in zip(line.spans, actor.family_id[line.first:line.last + 1].tolist()):
            rendered_as, text = self._form(actor, i, line.rendered_as)[0], actor.text[i]
            tape_record = self.tape.records[family] if family >= 0 else None
            items.append({"record_id": actor.record_id[i], "span": actor.span[i], "episode_id": record.episode_id,
                          "turn": record.turn, "role": record.role,
                          "address": tape_record.address if tape_record else None,
                          "glyphs": tape_record.glyph if tape_record else None, "rendered_as": rendered_as,
                          "text": text if rendered_as == "text" or len(text) <= EXCERPT_CHARS
                          else text[:EXCERPT_CHARS - 1] + "…",
                          "score": score, "created_at": actor.created_iso[i]})
        return items

    def stats(self) -> dict:
        quarantined, latest = self.storage.quarantined(QUARANTINE_SHOWN)
        return {"actors": len(self.actors), "records": self.records,
                "spans": sum(a.size for a in self.actors.values()),
                "tape_version": self.tape.version, "storage": str(self.storage.path),
                "quarantined": quarantined, "quarantine": latest, "failed_writes": self.failed_writes}

    def health(self) -> dict:
        """`degraded` while stored records are quarantined or since the latest write failed."""
        quarantined = self.storage.quarantined(0)[0]
        return {"status": "degraded" if quarantined or self.last_write_error else "ok", "quarantined": quarantined,
                "failed_writes": self.failed_writes, "last_write_error": self.last_write_error}
