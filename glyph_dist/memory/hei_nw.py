"""HEI-NW: a hippocampal episodic index with neuromodulated writes.

Write. A statement is embedded and expanded into a sparse key: a fixed seeded random projection to
`key_size` units, of which the `k_wta` most active win (k-winners-take-all). This is pattern
separation: statements with close embeddings get keys that overlap far less than the embeddings do.
A neuromodulated gate scores the statement

    S = alpha * surprise + beta * novelty + gamma * reward + delta * pin

and stores it when S > tau (every statement when the gate is disabled). Surprise is the model's mean
token NLL squashed to [0, 1] when the services carry a model, else the embedder's prediction error,
1 - cosine to a running context vector of the recent statements. Novelty is 1 - the largest overlap
of the key with a stored key, found in a faiss binary index over the keys (k active units each, so
the overlap is 1 - hamming / 2k). A repeat has novelty 0, so with alpha <= tau it is rejected unless
it is rewarded or pinned. A stored statement that restates every word of one of its nearest stored
memories (a correction restates the event it corrects) is linked to it as its revision.

Consolidation. A memory's strength starts at its gate score S and decays by `decay` per stream step.
Every `replay_every` writes the `replay_count` memories of highest priority (S + reward, divided by
one plus the times already replayed, so replay works down the list) are replayed: each gains S again.
When the store exceeds `max_items`, the weakest memories (unpinned ones first) are pruned, the index
is rebuilt and the pruning is logged.

Read. The question's key is the cue. With Hopfield completion, a modern Hopfield network runs over the
keys X of the cue's `neighbours` nearest memories in the index (the others' attention is negligible),
xi <- normalise(X^T softmax(beta X xi) + cue_weight * cue), the cue staying on as an external field,
so the cue settles on the episode it partially matches and memories rank by similarity to the
completed pattern; without it, memories rank by key overlap with the cue. The revisions of a chosen
memory rank at least as high as it, and ties go to the later memory: a correction outranks the event
it corrects. The `top_k` best distinct statements are packed verbatim under the token budget, the
best first, and shown in the order they were written.
"""

from __future__ import annotations

import math
import re

import faiss
import numpy as np
from pydantic import Field, model_validator

from glyph_dist.memory.base import MemoryModule, ModuleConfig, Services, Statement, pack_lines

_REVISION_NEIGHBOURS = 32  # nearest stored keys a new memory is checked against as their revision
_WORD = re.compile(r"\w+")


class GateConfig(ModuleConfig):
    """Write gate: S = alpha*surprise + beta*novelty + gamma*reward + delta*pin, written when S > tau."""

    enabled: bool = True
    # With these weights a key that overlaps every stored key by less than ~90-95% passes (new events
    # overlap their nearest stored key by at most ~0.9, a correction its event by ~0.6-0.9), while a
    # repeat (overlap 1) is rejected: its score is at most alpha, and alpha does not exceed tau.
    alpha: float = Field(0.1, ge=0)
    beta: float = Field(1.0, ge=0)
    gamma: float = Field(0.25, ge=0)  # above tau: a rewarded statement (reward 1) is always written
    delta: float = Field(1.0, ge=0)  # a pinned statement is always written
    tau: float = 0.1


class HopfieldConfig(ModuleConfig):
    """Hopfield completion of the cue at read: xi <- normalise(X^T softmax(beta X xi) + cue_weight * cue)."""

    enabled: bool = True
    beta: float = Field(64.0, gt=0)  # key similarities lie in [0, 1]: a lead of 0.1 weighs e^6.4 ~ 600 times
    steps: int = Field(1, ge=1)
    cue_weight: float = Field(1.0, ge=0)  # the cue as an external field keeps completion near what was asked
    neighbours: int = Field(64, ge=1)  # the cue's nearest keys the network runs over (the rest weigh ~0)


class HeiNwConfig(ModuleConfig):
    gate: GateConfig = GateConfig()
    hopfield: HopfieldConfig = HopfieldConfig()
    key_size: int = Field(2048, ge=8)  # units of the expanded key; a multiple of 8 (a binary faiss code)
    k_wta: int = Field(128, ge=1)  # active units per key (6%); fewer separate more but retrieve worse
    seed: int = 0  # of the random expansion
    top_k: int = Field(16, ge=1)  # candidates offered to the packer
    replay_every: int = Field(100, ge=1)  # written memories between replays
    replay_count: int = Field(10, ge=0)  # memories replayed each time
    decay: float = Field(0.999, gt=0, le=1)  # strength factor per stream step (half-life ~700 steps)
    max_items: int = Field(100_000, ge=1)
    prune_fraction: float = Field(0.05, ge=0, lt=1)  # of max_items freed at once on overflow: rare rebuilds and logs
    # Recency: a revision ranks at least as high as the memory it revises. There is no general recency
    # bonus: the questions usually come after the whole stream, where it would only favour late items.
    supersede: bool = True
    context_decay: float = Field(0.9, ge=0, lt=1)  # the embedder-surprise context averages ~10 recent statements
    surprise_scale: float = Field(4.0, gt=0)  # nats of mean token NLL that map to surprise 1 - 1/e

    @model_validator(mode="after")
    def _check_key(self) -> HeiNwConfig:
        if self.key_size % 8:
            raise ValueError(f"key_size={self.key_size} must be a multiple of 8")
        if self.k_wta >= self.key_size:
            raise ValueError(f"k_wta={self.k_wta} must be below key_size={self.key_size}")
        return self


def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


class _Store:
    """The stored memories as growable parallel columns in write order."""

    def __init__(self, k: int, code_bytes: int):
        self.size = 0
        self.texts: list[str] = []
        self.words: list[frozenset[str]] = []
        self.columns = {
            "id": np.zeros(16, dtype=np.int64),  # write sequence number, increasing
            "units": np.zeros((16, k), dtype=np.int32),  # the key's active units
            "code": np.zeros((16, code_bytes), dtype=np.uint8),  # the key as a packed bit vector
            "salience": np.zeros(16), "reward": np.zeros(16), "strength": np.zeros(16),
            "replays": np.zeros(16, dtype=np.int64), "pinned": np.zeros(16, dtype=bool),
            "tokens": np.zeros(16, dtype=np.int64),  # the text's token count, -1 until a read needs it
        }

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name][:self.size]

    def append(self, text: str, words: frozenset[str], **values) -> None:
        if self.size == len(self.columns["id"]):
            self.columns = {name: np.concatenate([column, np.zeros_like(column)])
                            for name, column in self.columns.items()}
        self.texts.append(text)
        self.words.append(words)
        for name, value in values.items():
            self.columns[name][self.size] = value
        self.size += 1

    def keep(self, mask: np.ndarray) -> None:
        """Drop the memories where `mask` is False, keeping write order."""
        self.texts = [text for text, kept in zip(self.texts, mask) if kept]
        self.words = [words for words, kept in zip(self.words, mask) if kept]
        n = len(self.texts)
        for column in self.columns.values():
            column[:n] = column[:self.size][mask]
        self.size = n

    def position(self, memory_id: int) -> int | None:
        """The memory's position, or None when it is not stored (never was, or was pruned)."""
        position = int(np.searchsorted(self["id"], memory_id))
        return position if position < self.size and self["id"][position] == memory_id else None


class HeiNw(MemoryModule):
    """Sparse-key episodic index with a neuromodulated write gate, replay, pruning and Hopfield recall."""

    name = "hei_nw"
    uses_model_surprise = True

    def __init__(self, services: Services, config: HeiNwConfig | None = None):
        self.services, self.config = services, config or HeiNwConfig()
        self.surprise_source = "model" if services.surprise is not None else "embedder"
        self.store = _Store(self.config.k_wta, self.config.key_size // 8)
        self.index = faiss.IndexBinaryFlat(self.config.key_size)
        self.projection: np.ndarray | None = None  # embedding -> key units, drawn at the first embedding
        self.context: np.ndarray | None = None  # running context of the embedder surprise
        self.revisions: dict[int, list[int]] = {}  # memory id -> ids of the later memories that restate it
        self.separator_tokens: int | None = None  # tokens of the newline between packed lines
        self.last_step = 0
        self.offered = self.written = self.rejected = self.pruned = self.replayed = 0
        self.score_sum = 0.0

    # keys

    def _units(self, embedding: np.ndarray) -> np.ndarray:
        """The k-WTA key: indices of the k most active units of the random expansion."""
        if self.projection is None:
            rng = np.random.default_rng(self.config.seed)
            self.projection = rng.standard_normal((len(embedding), self.config.key_size)).astype(np.float32)
        activation = embedding @ self.projection
        return np.argpartition(-activation, self.config.k_wta - 1)[:self.config.k_wta].astype(np.int32)

    def _code(self, units: np.ndarray) -> np.ndarray:
        bits = np.zeros(self.config.key_size, dtype=np.uint8)
        bits[units] = 1
        return np.packbits(bits)

    def _nearest(self, code: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(key overlaps in [0, 1], positions) of the k stored keys nearest to `code`, nearest first."""
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)  # one query: more threads only add start-up cost and contention
        try:
            distances, positions = self.index.search(code[None, :], min(k, self.store.size))
        finally:
            faiss.omp_set_num_threads(threads)
        return 1.0 - distances[0] / (2.0 * self.config.k_wta), positions[0]

    # write

    def _surprise(self, text: str, embedding: np.ndarray) -> float:
        """In [0, 1]: the model's squashed mean token NLL, else 1 - cosine to the running context."""
        if self.services.surprise is not None:
            nll = float(np.asarray(self.services.surprise([text]))[0])
            return 1.0 - math.exp(-max(nll, 0.0) / self.config.surprise_scale)
        if self.context is None:
            self.context = embedding.astype(np.float64)
            return 1.0
        norm = math.sqrt(float(self.context @ self.context))
        surprise = 1.0 - float(embedding @ self.context) / norm if norm > 0 else 1.0
        rate = self.config.context_decay
        self.context *= rate
        self.context += (1.0 - rate) * embedding
        return min(max(surprise, 0.0), 1.0)

    def write(self, statement: Statement) -> None:
        self.offered += 1
        embedding = self.services.embed([statement.text])[0]
        units = self._units(embedding)
        code = self._code(units)
        overlaps, neighbours = self._nearest(code, _REVISION_NEIGHBOURS) if self.store.size else ([0.0], [])
        gate = self.config.gate
        score = (gate.alpha * self._surprise(statement.text, embedding) + gate.beta * (1.0 - float(overlaps[0]))
                 + gate.gamma * statement.reward + gate.delta * statement.pinned)
        self.score_sum += score
        self._decay(statement.step)
        if gate.enabled and score <= gate.tau:
            self.rejected += 1
            return
        words = _words(statement.text)
        for position in neighbours:
            if self.store.words[position] <= words:
                self.revisions.setdefault(int(self.store["id"][position]), []).append(self.offered)
        self.store.append(statement.text, words, id=self.offered, units=units, code=code, salience=score,
                          reward=statement.reward, strength=score, replays=0, pinned=statement.pinned,
                          tokens=-1)
        self.index.add(code[None, :])
        self.written += 1
        if self.written % self.config.replay_every == 0:
            self._replay()
        if self.store.size > self.config.max_items:
            self._prune()

    # consolidation

    def _decay(self, step: int) -> None:
        if step > self.last_step:
            self.store["strength"][:] *= self.config.decay ** (step - self.last_step)
            self.last_step = step

    def _replay(self) -> None:
        """Re-encode the memories of highest priority: each gains its gate score again."""
        count = min(self.config.replay_count, self.store.size)
        if not count:
            return
        salience = self.store["salience"]
        priority = (salience + self.store["reward"]) / (1.0 + self.store["replays"])
        chosen = np.argpartition(-priority, count - 1)[:count]
        self.store["strength"][chosen] += salience[chosen]
        self.store["replays"][chosen] += 1
        self.replayed += count

    def _prune(self) -> None:
        """Drop the weakest memories (unpinned first, then the older of equals) and rebuild the index."""
        max_items = self.config.max_items
        count = self.store.size - max_items + int(self.config.prune_fraction * max_items)
        weakest = np.lexsort((self.store["strength"], self.store["pinned"]))[:count]  # stable: older first
        mask = np.ones(self.store.size, dtype=bool)
        mask[weakest] = False
        self.store.keep(mask)
        kept = set(self.store["id"].tolist())
        self.revisions = {memory: later for memory, later in self.revisions.items() if memory in kept}
        self.index.reset()
        self.index.add(self.store["code"])
        self.pruned += count
        self.services.log(f"hei_nw: pruned {count} {'memory' if count == 1 else 'memories'} (max_items={max_items})")

    # read

    def _complete(self, cue: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
        """Similarity of each neighbour's key to the cue after Hopfield completion over the neighbours."""
        config, k = self.config.hopfield, self.config.k_wta
        units = self.store["units"][neighbours]
        pattern = cue
        for _ in range(config.steps):
            similarity = pattern[units].sum(axis=1) / math.sqrt(k)
            attention = np.exp(config.beta * (similarity - similarity.max()))
            recalled = np.bincount(units.ravel(), np.repeat(attention / attention.sum(), k),
                                   minlength=self.config.key_size) / math.sqrt(k)
            pattern = recalled + config.cue_weight * cue
            pattern /= np.linalg.norm(pattern)
        return pattern[units].sum(axis=1) / math.sqrt(k)

    def _candidates(self, units: np.ndarray) -> dict[int, float]:
        """Score by position of the best memories for the cue whose active units are `units`."""
        hopfield = self.config.hopfield
        if not hopfield.enabled:
            scores, positions = self._nearest(self._code(units), self.config.top_k)
        else:
            positions = self._nearest(self._code(units), max(hopfield.neighbours, self.config.top_k))[1]
            cue = np.zeros(self.config.key_size)
            cue[units] = 1.0 / math.sqrt(self.config.k_wta)
            scores = self._complete(cue, positions)
        best = np.argsort(-scores, kind="stable")[:self.config.top_k]
        return {int(positions[i]): float(scores[i]) for i in best}

    def _with_revisions(self, candidates: dict[int, float]) -> dict[int, float]:
        """The candidates and their stored revisions (and theirs), each scoring at least as high as
        what it revises."""
        scored = dict(candidates)
        pending = sorted(candidates)  # positions in write order: a revision comes after what it revises
        while pending:
            position = pending.pop(0)
            for memory in self.revisions.get(int(self.store["id"][position]), []):
                revision = self.store.position(memory)
                if revision is not None and scored.get(revision, -math.inf) < scored[position]:
                    scored[revision] = scored[position]
                    pending.append(revision)
        return scored

    def _pack(self, positions: list[int], priority: list[int], token_budget: int) -> str:
        """pack_lines over the stored lines at `positions`. Each line's token count is kept in the
        store (counted at the first read that offers it) and a joined text is first estimated as its
        lines plus separators, exact for a tokenizer that splits at newlines; the packed text is then
        counted exactly and, were it over the budget, packed again with exact counts."""
        tokens, texts = self.store["tokens"], self.store.texts
        for position in positions:
            if tokens[position] < 0:
                tokens[position] = self.services.count(texts[position])
        known = {texts[p]: int(tokens[p]) for p in positions}
        if self.separator_tokens is None:
            self.separator_tokens = self.services.count("\n")

        def estimate(text: str) -> int:
            lines = text.split("\n")
            if not all(line in known for line in lines):
                return self.services.count(text)
            return sum(known[line] for line in lines) + self.separator_tokens * (len(lines) - 1)

        lines = [texts[p] for p in positions]
        packed = pack_lines(lines, token_budget, estimate, priority)
        if self.services.count(packed) > token_budget:
            packed = pack_lines(lines, token_budget, self.services.count, priority)
        return packed

    def read(self, question: str, token_budget: int) -> str:
        if not self.store.size:
            return ""
        scored = self._candidates(self._units(self.services.embed([question])[0]))
        if self.config.supersede:
            scored = self._with_revisions(scored)
        positions = sorted(scored)
        ranked = sorted(range(len(positions)), key=lambda i: (-scored[positions[i]], -positions[i]))
        distinct, seen = [], set()
        for i in ranked:  # best first; ties: the later memory first
            text = self.store.texts[positions[i]]
            if text not in seen:
                seen.add(text)
                distinct.append(i)
        return self._pack(positions, distinct, token_budget)

    def counters(self) -> dict[str, float | str]:
        return {"offered": self.offered, "written": self.written, "rejected": self.rejected,
                "pruned": self.pruned, "replayed": self.replayed, "stored": self.store.size,
                "surprise_source": self.surprise_source,
                "mean_gate_score": self.score_sum / self.offered if self.offered else 0.0}

