"""SGC-RSS: schema-guided consolidation into a relational semantic store.

Write. A teach statement is parsed into tuples (`tuples.extract`); a statement of no known form is
counted as unparsed and kept nowhere. The schema index classifies each tuple by the known schemas
of its relation, (head type, relation, tail type), and the entity types learnt so far: it *fits*
when exactly one schema agrees with the known types (the type of an untyped side is then inferred
from that schema: "Harbor Books is in Lyon." types Lyon a city once Harbor Books is a known store),
it is a *misfit* when the known types contradict every schema of the relation ("The lamp is in
Lyon.": a product is not located in a city), and *open* otherwise (several schemas possible, or a
relation without schemas). The write gate rejects a tuple that is already known (stored, pending
or flagged) and a hedged tuple (confidence under `gate.hedged_below`) whose functional slot holds a
different, confirmed tail in the graph or the buffer; that rumour is also flagged as a
contradiction. With the schema fast track a fitting tuple enters the knowledge graph at once; every
other tuple (with `schema.fast_track=false`: every tuple) waits in the episodic buffer.

Consolidation runs every `consolidation.period` writes (and on `consolidate()`). It re-examines the
buffer until nothing more changes: a tuple that now fits a schema, or an open tuple seen
`consolidation.recurrence` times (its signature becomes a schema when both types are known),
enters the graph; a misfit is flagged and never enters; the rest waits. A tuple of a functional
schema (a store is in one city, a city in one country, a meeting happens at one place) that enters
the graph and finds a different tail in its slot keeps the more confident of the two (on a tie the
later: a correction wins over its event) and flags the other as a contradiction.

Read. A relational question ("In which city did X buy the Y?") is a path search in the graph: from
the entities the question names, along out-edges (an edge with a qualifier only where the question
names it: the purchase of the lamp, not of the kettle), to the nearest entity of the asked type
within `max_hops`. The context is the path's source statements verbatim, one derived line
("=> Alice Moreau bought the lamp in Lyon."), then further related statements. Any other question,
or one without a path, gets the related statements alone. Related statements are those of every
stored tuple, consolidated or pending, ranked by how many of their entities the question names,
then by proximity (hops over the stored tuples) to the path or to the named entities, the later
statement first on ties (a correction outranks its event). Lines are packed by `pack_lines`.

Read does not consolidate: reading never changes the memory. Derived answers come from the graph
alone, so a read sees the inferences that the writes and the periodic consolidations made, and the
fast track's contribution is exactly the tuples that are in the graph before the next
consolidation; pending tuples still reach a read verbatim, as related statements.

Over `max_items` stored tuples (graph and buffer), the least confident, oldest first, are pruned
(never those of pinned statements) and each pruning is logged.
"""

from __future__ import annotations

import enum
import functools
import heapq
import math
import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import networkx as nx
from pydantic import Field

from glyph_dist.memory.base import OPPOSITE, MemoryModule, ModuleConfig, Services, Statement, pack_lines
from glyph_dist.memory.tuples import EVENT_VERBS, Fact, extract
from glyph_dist.metrics import normalize

COUNTERS = ("offered", "unparsed", "extracted", "fast_tracked", "buffered", "consolidated", "consolidations",
            "rejected", "contradictions", "misfits", "pruned")

PRUNE_SLACK = 20  # a prune frees 1/20 of max_items beyond the excess


class SchemaConfig(ModuleConfig):
    fast_track: bool = True  # a tuple that fits a known schema enters the graph without waiting for consolidation


class GateConfig(ModuleConfig):
    enabled: bool = True  # False: every extracted tuple is stored, duplicates and rumours included
    hedged_below: float = Field(0.5, ge=0.0, le=1.0)  # a tuple less confident than this is hedged


class ConsolidationConfig(ModuleConfig):
    period: int = Field(16, ge=1)  # writes between two consolidations
    recurrence: int = Field(2, ge=1)  # sightings that admit a tuple no known schema decides


with warnings.catch_warnings():
    # `schema` is the experiments' knob section; the field shadows pydantic's deprecated `BaseModel.schema()`.
    warnings.filterwarnings("ignore", message='Field name "schema"', category=UserWarning)

    class SgcRssConfig(ModuleConfig):
        schema: SchemaConfig = SchemaConfig()
        gate: GateConfig = GateConfig()
        consolidation: ConsolidationConfig = ConsolidationConfig()
        max_items: int = Field(1_000_000, ge=1)  # stored tuples (graph and buffer) before pruning
        max_hops: int = Field(3, ge=1)  # longest path a read follows, and the reach of graph proximity
        candidates: int = Field(64, ge=1)  # related statements offered to the packer


@dataclass(frozen=True)
class Schema:
    head_type: str
    relation: str
    tail_type: str
    functional: bool = False  # one tail per slot (head, relation, qualifier, time)


SEED_SCHEMAS: tuple[Schema, ...] = (
    *(Schema("person", verb, "person") for verb in EVENT_VERBS),
    *(Schema("person", f"{verb}_at", "place", functional=True) for verb in EVENT_VERBS),
    Schema("person", "bought", "product"),
    Schema("person", "bought_at", "store"),
    Schema("store", "located_in", "city", functional=True),
    Schema("city", "located_in", "country", functional=True),
    *(Schema("landmark", f"{direction}_of", "landmark") for direction in OPPOSITE),
    Schema("landmark", "blocked", "direction"),
    Schema("landmark", "trip_to", "landmark"),
)


@dataclass(frozen=True)
class RelationalQuestion:
    """A multi-hop question form: the `target` group names the entity type asked for; `derived` is
    the answer line, formatted with the question's groups and `answer`."""

    regex: re.Pattern
    derived: str


QUESTIONS: tuple[RelationalQuestion, ...] = (
    RelationalQuestion(re.compile(r"^In which (?P<target>city|country) did (?P<subject>.+?) buy (?P<object>.+?)\?$"),
                       "{subject} bought {object} in {answer}."),
)


class Verdict(enum.Enum):
    FITS = "fits"
    MISFIT = "misfit"
    OPEN = "open"


@dataclass(frozen=True)
class Flag:
    """A tuple kept out of the graph, and why."""

    fact: Fact
    reason: str


class SchemaIndex:
    """Known schemas by relation, and the entity types learnt from the tuples."""

    def __init__(self, schemas: Iterable[Schema]):
        self.by_relation: dict[str, list[Schema]] = defaultdict(list)
        self.types: dict[str, str] = {}
        for schema in schemas:
            self.add(schema)

    def add(self, schema: Schema) -> None:
        if schema not in self.by_relation[schema.relation]:
            self.by_relation[schema.relation].append(schema)

    def type_of(self, entity: str, hint: str | None) -> str | None:
        return self.types.get(entity, hint)

    def learn(self, entity: str, entity_type: str | None) -> None:
        """The first type learnt for an entity stays."""
        if entity_type:
            self.types.setdefault(entity, entity_type)

    def classify(self, fact: Fact) -> tuple[Verdict, Schema | None]:
        """Whether the tuple fits a known schema (and which), is a misfit, or is still open."""
        schemas = self.by_relation.get(fact.relation, [])
        head, tail = self.type_of(fact.head, fact.head_type), self.type_of(fact.tail, fact.tail_type)
        agreeing = [s for s in schemas if head in (None, s.head_type) and tail in (None, s.tail_type)]
        if len(agreeing) == 1:
            return Verdict.FITS, agreeing[0]
        if schemas and not agreeing:
            return Verdict.MISFIT, None
        return Verdict.OPEN, None


@functools.lru_cache(maxsize=65536)
def _words(text: str) -> frozenset[str]:
    return frozenset(normalize(text).split())


def _named(term: str, question_words: frozenset[str]) -> bool:
    """Whether the question names the term: every word of it occurs in the question."""
    words = _words(term)
    return bool(words) and words <= question_words


class StoreView:
    """What a read looks up in the stored tuples: links between entities, the tuples at each
    entity, the statements that mention each term, and each statement's latest step."""

    def __init__(self, facts: Iterable[Fact]):
        self.neighbours: dict[str, set[str]] = defaultdict(set)
        self.incident: dict[str, list[Fact]] = defaultdict(list)
        self.sources: dict[str, set[str]] = defaultdict(set)  # term -> statements whose tuples mention it
        self.terms_by_word: dict[str, set[str]] = defaultdict(set)
        self.step: dict[str, int] = {}
        for fact in facts:
            self.neighbours[fact.head].add(fact.tail)
            self.neighbours[fact.tail].add(fact.head)
            self.incident[fact.head].append(fact)
            self.incident[fact.tail].append(fact)
            for term in fact.terms:
                self.sources[term].add(fact.source)
                for word in _words(term):
                    self.terms_by_word[word].add(term)
            self.step[fact.source] = max(self.step.get(fact.source, fact.step), fact.step)

    def named(self, question_words: frozenset[str]) -> set[str]:
        """The stored terms the question names."""
        return {term for word in question_words for term in self.terms_by_word.get(word, ())
                if _named(term, question_words)}

    def levels(self, seeds: Iterable[str], max_hops: int) -> Iterator[tuple[int, list[str]]]:
        """(hops, the entities that many hops from the nearest seed) over the stored tuples, either
        way, breadth first up to `max_hops`."""
        frontier = list(dict.fromkeys(seeds))
        reached = set(frontier)
        for hops in range(max_hops + 1):
            if not frontier:
                return
            yield hops, frontier
            frontier = list(dict.fromkeys(neighbour for node in frontier for neighbour in self.neighbours[node]
                                          if neighbour not in reached))
            reached.update(frontier)


class SgcRss(MemoryModule):
    """Tuples from the teach stream, consolidated by schema into a knowledge graph."""

    name = "sgc_rss"

    def __init__(self, services: Services, config: SgcRssConfig | None = None):
        self.services, self.config = services, config or SgcRssConfig()
        self.graph = nx.MultiDiGraph()  # entity -> entity, one edge per consolidated tuple (attribute `fact`)
        self.schemas = SchemaIndex(SEED_SCHEMAS)
        self.buffer: list[Fact] = []  # the episodic buffer: tuples waiting for consolidation
        self.flags: list[Flag] = []  # contradictions and misfits, never in the graph
        self.known: Counter[tuple] = Counter()  # keys of the stored and flagged tuples
        self.seen: Counter[tuple] = Counter()  # sightings of each tuple, rejected duplicates included
        self.pinned: set[str] = set()  # statements the user asked to keep: never pruned
        self.counts: Counter[str] = Counter()
        self.writes_since_consolidation = 0
        self.edge_count = 0  # the graph's edges (networkx counts a multigraph's edges by walking it)
        self._view: StoreView | None = None  # the read index of the stored tuples; None: stale

    # -- write ---------------------------------------------------------------------------------

    def write(self, statement: Statement) -> None:
        self.counts["offered"] += 1
        facts = extract(statement.text, statement.step)
        if not facts:
            self.counts["unparsed"] += 1
        if statement.pinned:
            self.pinned.add(statement.text)
        for fact in facts:
            self.counts["extracted"] += 1
            self.seen[fact.key] += 1
            self._offer(fact)
        self.writes_since_consolidation += 1
        if self.writes_since_consolidation >= self.config.consolidation.period:
            self.consolidate()
        self._prune()

    def _offer(self, fact: Fact) -> None:
        verdict, schema = self.schemas.classify(fact)
        if self.config.gate.enabled:
            if self.known[fact.key]:
                self.counts["rejected"] += 1
                return
            rival = self._confirmed_rival(fact, schema)
            if rival is not None:
                self.counts["rejected"] += 1
                self._flag(fact, f"contradicts the confirmed {rival.source!r}", "contradictions")
                return
        self.schemas.learn(fact.head, fact.head_type)
        self.schemas.learn(fact.tail, fact.tail_type)
        self.known[fact.key] += 1
        if self.config.schema.fast_track and verdict is Verdict.FITS:
            self.counts["fast_tracked"] += 1
            self._admit(fact, schema)
        else:
            self.counts["buffered"] += 1
            self.buffer.append(fact)
            self._view = None

    def _slot(self, fact: Fact) -> Iterator[tuple[str, str, int, Fact]]:
        """The graph's edges in the fact's slot: (head, tail, key, fact)."""
        if fact.head in self.graph:
            for head, tail, key, other in self.graph.out_edges(fact.head, keys=True, data="fact"):
                if other.slot == fact.slot:
                    yield head, tail, key, other

    def _confirmed_rival(self, fact: Fact, schema: Schema | None) -> Fact | None:
        """For a hedged tuple of a functional schema, a confirmed tuple it contradicts: in the graph,
        or pending in the buffer (a confirmation that waits for consolidation is still known)."""
        hedged_below = self.config.gate.hedged_below
        if fact.confidence >= hedged_below or schema is None or not schema.functional:
            return None
        candidates = [*(other for *_, other in self._slot(fact)), *(o for o in self.buffer if o.slot == fact.slot)]
        return next((other for other in candidates if other.tail != fact.tail and other.confidence >= hedged_below),
                    None)

    def _admit(self, fact: Fact, schema: Schema | None) -> bool:
        """Put a tuple into the graph, settling a contradiction in a functional slot; False when it lost."""
        if schema is not None and schema.functional:
            for head, tail, key, other in list(self._slot(fact)):
                if other.tail == fact.tail:
                    continue
                if (other.confidence, other.step) > (fact.confidence, fact.step):
                    self._flag(fact, f"contradicts the more confident {other.source!r}", "contradictions")
                    return False
                self._remove_edge(head, tail, key)
                self._flag(other, f"contradicted by the more confident {fact.source!r}", "contradictions")
        if schema is not None:
            self.schemas.learn(fact.head, schema.head_type)
            self.schemas.learn(fact.tail, schema.tail_type)
        else:
            head_type, tail_type = self.schemas.types.get(fact.head), self.schemas.types.get(fact.tail)
            if head_type and tail_type:
                self.schemas.add(Schema(head_type, fact.relation, tail_type))
        self.graph.add_edge(fact.head, fact.tail, fact=fact)
        self.edge_count += 1
        self._view = None
        return True

    def _flag(self, fact: Fact, reason: str, counter: str) -> None:
        self.flags.append(Flag(fact, reason))
        self.counts[counter] += 1

    def _remove_edge(self, head: str, tail: str, key: int) -> None:
        self.graph.remove_edge(head, tail, key)
        self.edge_count -= 1
        self._view = None
        for node in {head, tail}:
            if self.graph.degree(node) == 0:
                self.graph.remove_node(node)

    def consolidate(self) -> None:
        """Admit the buffered tuples that now fit a schema or recur, flag the misfits; repeated while
        an admission (which may type an entity) lets more tuples in."""
        self.writes_since_consolidation = 0
        self.counts["consolidations"] += 1
        changed = True
        while changed and self.buffer:
            changed, waiting = False, []
            for fact in self.buffer:
                verdict, schema = self.schemas.classify(fact)
                if verdict is Verdict.MISFIT:
                    self._flag(fact, "fits no schema of its relation", "misfits")
                elif verdict is Verdict.FITS or self.seen[fact.key] >= self.config.consolidation.recurrence:
                    self.counts["consolidated"] += self._admit(fact, schema)
                    changed = True
                else:
                    waiting.append(fact)
            self.buffer = waiting
            self._view = None

    def _prune(self) -> None:
        max_items = self.config.max_items
        stored_count = self.edge_count + len(self.buffer)
        if stored_count <= max_items:
            return
        excess = stored_count - max_items + max_items // PRUNE_SLACK  # room for the next writes: fewer prunes
        stored = [(fact, (head, tail, key)) for head, tail, key, fact in self.graph.edges(keys=True, data="fact")]
        stored += [(fact, None) for fact in self.buffer]
        victims = sorted((entry for entry in stored if entry[0].source not in self.pinned),
                         key=lambda entry: (entry[0].confidence, entry[0].step))[:excess]
        for fact, edge in victims:
            if edge is None:
                self.buffer.remove(fact)
                self._view = None
            else:
                self._remove_edge(*edge)
            self.known[fact.key] -= 1
        self.counts["pruned"] += len(victims)
        message = (f"sgc_rss: over max_items={max_items}: pruned {len(victims)} tuple(s), "
                   "the least confident and oldest first")
        if victims:
            first = victims[0][0]
            message += f" (e.g. {first.head} {first.relation} {first.tail}, step {first.step})"
        if stored_count - len(victims) > max_items:
            message += f"; {stored_count - len(victims) - max_items} over the limit remain: they belong to pinned statements"
        self.services.log(message)

    # -- read ----------------------------------------------------------------------------------

    def handles(self, question: str) -> bool:
        return any(form.regex.match(question.strip()) for form in QUESTIONS)

    def read(self, question: str, token_budget: int) -> str:
        view = self._index()
        question_words = _words(question)
        named = view.named(question_words)
        for form in QUESTIONS:
            match = form.regex.match(question.strip())
            starts = sorted(term for term in named if term in self.graph)
            path = self._path(starts, match["target"], question_words) if match else None
            if path:
                lines = list(dict.fromkeys(fact.source for fact in path))
                lines.append("=> " + form.derived.format(**match.groupdict(), answer=path[-1].tail))
                nodes = [path[0].head, *(fact.tail for fact in path)]
                lines += [source for source in self._related(view, nodes, named) if source not in lines]
                return pack_lines(lines, token_budget, self.services.count)
        seeds = sorted(term for term in named if term in view.neighbours)
        return pack_lines(self._related(view, seeds, named), token_budget, self.services.count)

    def _path(self, starts: list[str], target_type: str, question_words: frozenset[str]) -> list[Fact] | None:
        """The shortest chain of graph out-edges from a named entity to an entity of the asked type
        (breadth first, the more confident and later edge first); None when there is none."""
        reached: dict[str, Fact | None] = dict.fromkeys(starts)
        frontier = list(starts)
        for _ in range(self.config.max_hops):
            following = []
            for node in frontier:
                edges = sorted((fact for *_, fact in self.graph.out_edges(node, data="fact")),
                               key=lambda fact: (-fact.confidence, -fact.step))
                for fact in edges:
                    if fact.tail in reached or (fact.qualifier and not _named(fact.qualifier, question_words)):
                        continue
                    reached[fact.tail] = fact
                    if self.schemas.types.get(fact.tail) == target_type:
                        return self._trace(reached, fact.tail)
                    following.append(fact.tail)
            frontier = following
        return None

    @staticmethod
    def _trace(reached: dict[str, Fact | None], node: str) -> list[Fact]:
        path = []
        while (fact := reached[node]) is not None:
            path.append(fact)
            node = fact.head
        return path[::-1]

    def _stored(self) -> Iterator[Fact]:
        """The graph's tuples, then the buffer's."""
        yield from (fact for *_, fact in self.graph.edges(data="fact"))
        yield from self.buffer

    def _index(self) -> StoreView:
        """The read index of the stored tuples, rebuilt after the store changed."""
        if self._view is None:
            self._view = StoreView(self._stored())
        return self._view

    def _related(self, view: StoreView, seeds: list[str], named: set[str]) -> list[str]:
        """Stored statements (consolidated or pending), at most `candidates`: the more entities the
        question names the earlier, then the nearer the seeds, then the later taught; statements
        that neither name an entity of the question nor lie within `max_hops` of a seed are left out.
        The neighbourhood is explored a hop at a time until it holds enough statements to choose from."""
        naming: Counter[str] = Counter(source for term in named for source in view.sources[term])
        rank = {source: (math.inf, -view.step[source]) for source in naming}
        for hops, nodes in view.levels(seeds, self.config.max_hops):
            for fact in (fact for node in nodes for fact in view.incident[node]):
                rank[fact.source] = min(rank.get(fact.source, (hops, -fact.step)), (hops, -fact.step))
            if len(rank) >= len(naming) + self.config.candidates:
                break
        return heapq.nsmallest(self.config.candidates, rank, key=lambda source: (-naming[source], *rank[source]))

    def counters(self) -> dict[str, float | str]:
        return {**{name: self.counts[name] for name in COUNTERS}, "pending": len(self.buffer),
                "flagged": len(self.flags), "nodes": self.graph.number_of_nodes(),
                "edges": self.edge_count}
