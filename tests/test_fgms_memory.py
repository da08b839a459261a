"""The FGMS core without Ray: writes, idempotency, durability, policies, modes, budgets, isolation."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgms.memory import ShardMemory, inner_products
from glyph_dist.fgms.schema import MAX_TOKEN_BUDGET, MemoryRecord, ReadRequest

TURNS = [
    "Hi, I need to find a restaurant in San Jose.",
    "Sure, what kind of food would you like?",
    "Something Italian, for four people at 7 pm.",
    "I found Sino and Il Fornaio. Which one would you like?",
    "Let's book Il Fornaio. Have a great day!",
    "Your table at Il Fornaio is booked for 4 people at 7 pm.",
    "Actually, change the reservation to 8 pm please.",
    "Done, the reservation is now at 8 pm. Thank you very much.",
    "Also, what will the weather be like in San Jose tomorrow?",
    "It will be sunny with a high of 75 degrees.",
]


def episode(actor="agent-1", episode_id="ep-1", start=0, **extra):
    return [MemoryRecord(actor_id=actor, record_id=f"{episode_id}-{i}", episode_id=episode_id, turn=i,
                         role="user" if i % 2 == 0 else "assistant", text=t, **extra)
            for i, t in enumerate(TURNS, start=start)]


@pytest.fixture
def memory(tape_root, tmp_path):
    return ShardMemory.open(tape_root, tmp_path)


def test_write_splits_embeds_and_maps_families(memory):
    response = memory.write(episode())
    assert (response.written, response.duplicates) == (10, 0)
    assert response.spans > 10  # several turns hold two sentences
    spans = memory.actors["agent-1"]
    assert spans.size == response.spans
    assert (spans.family_id[:spans.size] >= 0).any(), "common phrases map to tape families"


def test_repeated_writes_are_no_ops(memory):
    memory.write(episode())
    again = memory.write(episode()[:3] + episode()[:1])
    assert (again.written, again.duplicates, again.spans) == (0, 4, 0)
    stats = memory.stats()
    assert stats["records"] == 10
    batch = [MemoryRecord(actor_id="b", record_id="same", text="First version of the note."),
             MemoryRecord(actor_id="b", record_id="same", text="Second version of the note.")]
    assert memory.write(batch).written == 1


def test_reopened_storage_restores_everything(memory, tape_root, tmp_path):
    memory.write(episode())
    memory.write(episode(actor="agent-2"))
    request = ReadRequest(actor_id="agent-1", query="reservation time", token_budget=80)
    before = memory.read(request)
    reopened = ShardMemory.open(tape_root, tmp_path)
    assert reopened.stats() == memory.stats()
    assert reopened.read(request) == before


def test_storage_of_another_tape_is_refused(memory, tape_root, tmp_path):
    memory.write(episode())
    memory.storage.db.execute("UPDATE meta SET value = '\"v9999\"' WHERE key = 'tape_version'")
    with pytest.raises(GlyphDistError, match="tape_version"):
        ShardMemory.open(tape_root, tmp_path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(budget=st.integers(1, 400), mode=st.sampled_from(["text", "glyph", "mixed"]),
       policy=st.sampled_from(["recent", "relevant", "mixed", "foveated"]))
def test_budget_is_honoured_to_the_token(memory, budget, mode, policy):
    if "agent-1" not in memory.actors:
        memory.write(episode())
    response = memory.read(ReadRequest(actor_id="agent-1", query="when is the table booked", token_budget=budget,
                                       mode=mode, policy=policy, unit="span"))  # one line per item
    assert response.token_estimate == len(memory.hybrid.token_ids([response.context])[0])
    assert response.token_estimate <= budget
    assert len(response.context.splitlines()) == len(response.items)
    turns = [i.turn for i in response.items]
    assert turns == sorted(turns), "items come in chronological order"


def test_glyph_mode_fits_more_history_than_text(memory):
    memory.write(episode())
    request = dict(actor_id="agent-1", query="", token_budget=60, policy="recent", unit="span")
    text = memory.read(ReadRequest(mode="text", **request))
    glyph = memory.read(ReadRequest(mode="glyph", **request))
    mixed = memory.read(ReadRequest(mode="mixed", **request))
    assert len(glyph.items) > len(text.items)
    assert len(text.items) <= len(mixed.items) <= len(glyph.items)
    assert all(i.rendered_as == "text" for i in text.items)
    assert {i.rendered_as for i in glyph.items} >= {"glyph"}
    coded = next(i for i in glyph.items if i.rendered_as == "glyph")
    assert f"<GLYPH>{coded.glyphs}</GLYPH>" in glyph.context and coded.address


def test_relevant_policy_uses_embedding_similarity(memory):
    memory.write(episode())
    response = memory.read(ReadRequest(actor_id="agent-1", query="How hot will it be in San Jose tomorrow?",
                                       token_budget=30, policy="relevant", mode="text", relevance="dense"))
    best = max(response.items, key=lambda i: i.score)
    assert "weather" in best.text or "sunny" in best.text


def test_foveated_keeps_start_relevant_and_end(memory):
    memory.write(episode())
    response = memory.read(ReadRequest(actor_id="agent-1", query="Italian food for four people",
                                       token_budget=70, policy="foveated", mode="text"))
    turns = [i.turn for i in response.items]
    assert turns[0] == 0 and turns[-1] == 9 and 2 in turns
    assert len(set((i.record_id, i.span) for i in response.items)) == len(response.items)


def test_filters(memory):
    now = datetime.now(timezone.utc)
    memory.write(episode(episode_id="old", created_at=now - timedelta(days=2)))
    memory.write(episode(episode_id="new", tags=["booking"]))
    big = 4096
    only_new = memory.read(ReadRequest(actor_id="agent-1", token_budget=big, filters={"episode_id": "new"}))
    assert {i.episode_id for i in only_new.items} == {"new"}
    tagged = memory.read(ReadRequest(actor_id="agent-1", token_budget=big, filters={"tags": ["booking"]}))
    assert {i.episode_id for i in tagged.items} == {"new"}
    recent = memory.read(ReadRequest(actor_id="agent-1", token_budget=big,
                                     filters={"since": (now - timedelta(hours=1)).isoformat()}))
    old = memory.read(ReadRequest(actor_id="agent-1", token_budget=big, filters={"until": now - timedelta(days=1)}))
    assert {i.episode_id for i in recent.items} == {"new"} and {i.episode_id for i in old.items} == {"old"}
    none = memory.read(ReadRequest(actor_id="agent-1", token_budget=big, filters={"tags": ["missing"]}))
    assert none.items == [] and none.context == "" and none.candidates_considered == 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writes=st.lists(st.tuples(st.sampled_from(["ann", "bob", "cy"]), st.sampled_from(TURNS)), min_size=1, max_size=12),
       reader=st.sampled_from(["ann", "bob", "cy", "dee"]), budget=st.integers(1, 500),
       policy=st.sampled_from(["recent", "relevant", "mixed", "foveated"]))
def test_reads_never_return_another_actors_memories(tape_root, tmp_path_factory, writes, reader, budget, policy):
    memory = ShardMemory.open(tape_root, tmp_path_factory.mktemp("iso"))
    memory.write([MemoryRecord(actor_id=a, record_id=f"{a}-{k}", text=t) for k, (a, t) in enumerate(writes)])
    response = memory.read(ReadRequest(actor_id=reader, query="restaurant", token_budget=budget, policy=policy,
                                       unit="span"))
    own = {f"{a}-{k}" for k, (a, _) in enumerate(writes) if a == reader}
    assert {i.record_id for i in response.items} <= own
    assert response.candidates_considered == (memory.actors[reader].size if reader in memory.actors else 0)
    assert len(response.context.splitlines()) == len(response.items)


def test_budget_is_honoured_under_a_tokenizer_that_merges_across_lines(tape, tmp_path):
    """A BPE without pre-tokenizer learns merges over line breaks: the read must count the string."""
    from tokenizers import Tokenizer, models, trainers

    from glyph_dist.fgms.storage import ShardStorage
    from glyph_dist.fgt.bpe import as_hf_tokenizer
    from glyph_dist.fgt.hybrid import HybridTokenizer

    lines = "\n".join(f"[t{i} user] {t}" for i, t in enumerate(TURNS))
    base = Tokenizer(models.BPE())
    base.train_from_iterator([lines] * 50, trainers.BpeTrainer(vocab_size=400, show_progress=False,
                                                                special_tokens=["<|endoftext|>", "<|pad|>"]))
    hybrid = HybridTokenizer(tape, base=as_hf_tokenizer(base))
    assert not hybrid.counts_lines_additively
    memory = ShardMemory(hybrid, ShardStorage(tmp_path / "shard.sqlite", tape.version, tape.meta["dim"]))
    memory.write(episode())
    for budget in range(4, 120, 7):
        response = memory.read(ReadRequest(actor_id="agent-1", token_budget=budget, mode="text", policy="recent"))
        assert response.token_estimate == len(hybrid.token_ids([response.context])[0]) <= budget


@pytest.mark.parametrize("filters", [{"episode_id": "ep-3"}, {"tags": ["booking"]}, {}],
                         ids=["narrow filter (gather)", "broad filter (scan, then index)", "no filter (scan)"])
def test_relevant_reads_score_candidates_by_their_own_similarity(memory, filters):
    """However the candidates are scored (a gather for a narrow filter, one scan of every span
    otherwise), each item's score is the cosine of its span and the query."""
    for k in range(6):
        memory.write(episode(episode_id=f"ep-{k}", start=10 * k, tags=["booking"] if k else []))
    query = "change the reservation to 8 pm"
    response = memory.read(ReadRequest(actor_id="agent-1", query=query, token_budget=400, policy="relevant",
                                       mode="text", relevance="dense", unit="span", neighbours=0, filters=filters))
    assert response.items and {i.episode_id for i in response.items} <= ({"ep-3"} if filters.get("episode_id")
                                                                          else {f"ep-{k}" for k in range(6)})
    vectors = memory.tape.embedder.encode([query] + [i.text for i in response.items])
    assert [i.score for i in response.items] == pytest.approx((vectors[1:] @ vectors[0]).tolist(), abs=1e-5)


def test_inner_products_match_numpy_and_refuse_a_wrong_query():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((1000, 32)).astype(np.float32)
    query = rng.standard_normal(32).astype(np.float32)
    assert inner_products(vectors, query) == pytest.approx(vectors @ query, rel=1e-5, abs=1e-5)
    with pytest.raises(ValueError, match="float32 rows"):
        inner_products(vectors, query[:16])
    with pytest.raises(ValueError, match="float32 rows"):
        inner_products(vectors.astype(np.float64), query)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 3000), limit=st.integers(1, 600), seed=st.integers(0, 2**16),
       policy=st.sampled_from(["relevant", "mixed"]))
def test_ranking_policies_return_the_best_scores_best_first(n, limit, seed, policy):
    """`relevant` and `mixed` pick exactly the `limit` best candidates by their score, best first."""
    from glyph_dist.fgms.policies import get_policy, recency
    from glyph_dist.fgms.schema import PolicyWeights

    relevance = np.random.default_rng(seed).uniform(-1, 1, n).astype(np.float32)
    weights = PolicyWeights()
    expected = (relevance if policy == "relevant"
                else weights.recency * recency(n).astype(np.float64) + weights.relevance * relevance.astype(np.float64))
    picked, scores = get_policy(policy).rank(relevance, weights, limit)
    tolerance = 1e-6  # float32 arithmetic
    assert len(picked) == len(set(picked.tolist())) == min(n, limit)
    assert scores == pytest.approx(expected[picked], abs=tolerance)
    assert (np.diff(expected[picked]) <= tolerance).all(), "best first"
    left_out = np.setdiff1d(np.arange(n), picked)
    if len(left_out):
        assert expected[left_out].max() <= expected[picked].min() + tolerance, "no better candidate left out"



@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 400), limit=st.integers(1, 500), seed=st.integers(0, 2**16),
       levels=st.integers(1, 6), zero_share=st.floats(0, 1), negative=st.booleans())
def test_top_equals_a_full_sort_with_later_candidates_first_among_ties(n, limit, seed, levels, zero_share, negative):
    """`top` picks what a full sort by (score descending, index descending) puts first, also when most
    scores are 0 (BM25, fusion) and when ties straddle the cut."""
    from glyph_dist.fgms.policies import top

    rng = np.random.default_rng(seed)
    scores = rng.integers(1, levels + 1, n).astype(np.float32) / levels  # few distinct values: many ties
    scores[rng.random(n) < zero_share] = 0
    if negative:
        scores[rng.random(n) < 0.3] *= -1
    expected = sorted(range(n), key=lambda i: (-scores[i], -i))[:limit]
    assert top(scores, limit).tolist() == expected


@settings(max_examples=30, deadline=None)
@given(n=st.integers(9_000, 60_000), limit=st.integers(1, 2_000), seed=st.integers(0, 2**16),
       levels=st.sampled_from([3, 50, 0]), zero_share=st.sampled_from([0.0, 0.5, 0.99]))
def test_top_over_many_scores_equals_a_full_sort(n, limit, seed, levels, zero_share):
    """Over many scores `top` first selects from a sample's bound; the result is still the full sort's."""
    from glyph_dist.fgms.policies import top

    rng = np.random.default_rng(seed)
    scores = rng.uniform(-0.2, 1, n).astype(np.float32)
    if levels:
        scores = np.round(scores * levels) / levels  # many ties
    scores[rng.random(n) < zero_share] = 0
    expected = np.lexsort((-np.arange(n), -scores))[:limit]
    assert top(scores, limit).tolist() == expected.tolist()


@settings(max_examples=100, deadline=None)
@given(lengths=st.lists(st.integers(1, 7), min_size=1, max_size=60), seed=st.integers(0, 2**16),
       filtered=st.booleans())
def test_a_turn_units_similarity_is_its_best_spans(lengths, seed, filtered):
    """A turn's dense similarity is the maximum of its spans', as `np.maximum.reduceat` takes it."""
    from types import SimpleNamespace

    from glyph_dist.fgms.memory import _Units

    rng = np.random.default_rng(seed)
    record_of = np.repeat(np.arange(len(lengths)), lengths)
    candidates = np.arange(len(record_of))
    if filtered:  # whole records pass the filters
        candidates = candidates[np.isin(record_of, np.flatnonzero(rng.random(len(lengths)) < 0.6))]
    if len(candidates) == 0:
        return
    similarity = rng.choice(np.float32([-0.5, 0, 0.25, 0.5, 1]), len(candidates))
    units = _Units.of(SimpleNamespace(record_of=record_of), candidates, "turn")
    starts = np.flatnonzero(np.r_[True, np.diff(record_of[candidates]) != 0])
    assert units.dense(similarity).tolist() == np.maximum.reduceat(similarity, starts).tolist()
    assert (record_of[units.first] == record_of[units.last]).all()


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 60), window=st.integers(0, 8), depth=st.integers(1, 80), seed=st.integers(0, 2**16))
def test_neighbour_relevance_is_the_best_source_within_the_window(n, window, depth, seed):
    """Each unit gets the best relevance among the top-`depth` positive units within `window` of it, itself excluded."""
    from glyph_dist.fgms.neighbours import neighbour_relevance
    from glyph_dist.fgms.policies import top

    rng = np.random.default_rng(seed)
    relevance = np.where(rng.random(n) < 0.5, 0, rng.uniform(-0.5, 1, n)).astype(np.float32)
    sources = {int(i) for i in top(relevance, depth) if relevance[i] > 0}
    expected = [max([relevance[j] for j in sources if 0 < abs(i - j) <= window], default=0.0) for i in range(n)]
    assert neighbour_relevance(relevance, window, depth).tolist() == pytest.approx(expected)


def test_neighbours_bring_the_turns_around_a_relevant_turn(memory):
    """A turn that shares no word with the question enters the context next to the turn that matches it."""
    texts = ["I want to book a table at Sushi Den downtown.", "Sure, for what time?", "At half past seven.",
             *[f"The weather report for day {k} says rain." for k in range(40)]]
    memory.write([MemoryRecord(actor_id="agent-n", record_id=f"r{i}", turn=i, role="user", text=text)
                  for i, text in enumerate(texts)])
    request = dict(actor_id="agent-n", query="Which restaurant did I book a table at?", token_budget=80,
                   relevance="lexical")
    alone = {i.record_id for i in memory.read(ReadRequest(**request, neighbours=0)).items}
    shared = {i.record_id for i in memory.read(ReadRequest(**request, neighbours=2)).items}
    assert "r0" in alone and "r1" not in alone
    assert {"r0", "r1", "r2"} <= shared


@pytest.mark.parametrize("unit", ["span", "turn"])
def test_a_write_after_a_read_is_read_next_time(memory, unit):
    """The units over every span, kept between reads, follow each write."""
    request = ReadRequest(actor_id="agent-w", query="parking", token_budget=200, unit=unit)
    memory.write([MemoryRecord(actor_id="agent-w", record_id="a", text="The garage opens at six. It has parking.")])
    assert {i.record_id for i in memory.read(request).items} == {"a"}
    memory.write([MemoryRecord(actor_id="agent-w", record_id="b", text="Street parking is free on Sundays.")])
    assert {i.record_id for i in memory.read(request).items} == {"a", "b"}

# -- reliability: atomic writes, exact date-times, quarantine at restore, glyph tags in user text
EXTREME_TIMES = ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"]


def _rows(memory, table: str) -> int:
    return memory.storage.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def _snapshot(memory) -> dict:
    return {a: (s.size, list(s.seq), list(s.text), {k: list(v) for k, v in s.episode_index.items()},
                {k: list(v) for k, v in s.tag_index.items()}, list(s.record_of[:s.size]), list(s.lexical.lengths),
                {t: (list(d), list(f)) for t, (d, f) in s.lexical.postings.items()}) for a, s in memory.actors.items()}


@pytest.mark.parametrize("created_at", EXTREME_TIMES)
def test_date_times_whose_utc_instant_leaves_the_calendar_are_kept_exactly(memory, tape_root, tmp_path, created_at):
    """A date-time that is valid as written but whose UTC instant is year 10000 or year 0 is stored
    and returned as written, and poisons neither later writes nor the restore."""
    memory.write([MemoryRecord(actor_id="t", record_id="edge", text="The edge of the calendar.", created_at=created_at)])
    memory.write([MemoryRecord(actor_id="t", record_id="next", text="A write after it.")])
    exact = {"since": created_at, "until": created_at}
    request = ReadRequest(actor_id="t", token_budget=400, mode="text", filters=exact)
    response = memory.read(request)
    assert [i.record_id for i in response.items] == ["edge"]
    assert response.items[0].created_at == datetime.fromisoformat(created_at)
    assert response.items[0].created_at.utcoffset() == datetime.fromisoformat(created_at).utcoffset()
    reopened = ShardMemory.open(tape_root, tmp_path)
    assert reopened.read(request) == response and reopened.stats()["records"] == 2
    assert reopened.write([MemoryRecord(actor_id="t", record_id="after", text="Still writable.")]).written == 1
    assert reopened.health()["status"] == "ok"


class _InjectedFault(RuntimeError):
    pass


def test_a_fault_in_the_index_step_stores_nothing_and_later_writes_work(memory, tape_root, tmp_path, monkeypatch):
    from glyph_dist.fgms.memory import ActorSpans

    memory.write(episode(tags=["booking"]))
    before, seq, stored = _snapshot(memory), memory.next_seq, (_rows(memory, "records"), _rows(memory, "spans"))
    batch = episode(episode_id="ep-2", tags=["booking", "more"]) + episode(actor="newcomer", episode_id="ep-3")
    real_append, calls = ActorSpans.append, []

    def failing_append(self, entry):
        calls.append(entry)
        real_append(self, entry)  # the record is half in the index when the fault strikes
        if len(calls) == 12:
            raise _InjectedFault("index step failed")

    monkeypatch.setattr(ActorSpans, "append", failing_append)
    with pytest.raises(_InjectedFault):
        memory.write(batch)
    assert (_rows(memory, "records"), _rows(memory, "spans")) == stored, "the transaction was rolled back"
    assert _snapshot(memory) == before and memory.next_seq == seq and "newcomer" not in memory.actors
    health = memory.health()
    assert health["status"] == "degraded" and health["failed_writes"] == 1
    assert "index step failed" in health["last_write_error"]
    monkeypatch.setattr(ActorSpans, "append", real_append)
    assert memory.write(batch).written == 20
    assert memory.health()["status"] == "ok" and memory.health()["failed_writes"] == 1
    reopened = ShardMemory.open(tape_root, tmp_path)
    assert _snapshot(reopened) == _snapshot(memory) and reopened.next_seq == memory.next_seq


def test_a_failed_commit_leaves_neither_store_nor_index_holding_the_batch(memory, tape_root, tmp_path):
    import sqlite3

    class CommitFails:
        def __init__(self, db):
            self.db = db

        def __getattr__(self, name):
            return getattr(self.db, name)

        def execute(self, sql, *args):
            if sql == "COMMIT":
                raise sqlite3.OperationalError("disk I/O error")
            return self.db.execute(sql, *args)

    memory.write(episode())
    before, seq = _snapshot(memory), memory.next_seq
    db, memory.storage.db = memory.storage.db, CommitFails(memory.storage.db)
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        memory.write(episode(episode_id="ep-2"))
    memory.storage.db = db
    assert _snapshot(memory) == before and memory.next_seq == seq and _rows(memory, "records") == 10
    assert memory.write(episode(episode_id="ep-2")).written == 10
    assert ShardMemory.open(tape_root, tmp_path).stats()["records"] == 20


def _corrupt(memory) -> dict[str, str]:
    """Rows a restore cannot use, written straight into the shard's SQLite file: record id -> what the
    quarantine reason names."""
    import json

    db, seq = memory.storage.db, memory.next_seq
    vector = np.ones(memory.tape.meta["dim"], dtype=np.float32).tobytes()

    def body(record_id, created_at=0, **fields):
        return json.dumps({"actor_id": "agent-1", "record_id": record_id, "role": "user", "text": "Damaged.",
                           "created_at": created_at, **fields})

    def span(record_id, text="Damaged.", family=-1, vector=vector):
        nonlocal seq
        db.execute("INSERT INTO spans VALUES (?, 'agent-1', ?, 0, ?, ?, 0.0, ?)", (seq, record_id, text, family, vector))
        seq += 1

    rows = {  # record id -> stored body
        "poison": body("poison", created_at=253402343999.0),  # what an earlier version committed for
        "not-json": "{not json",                                # 9999-12-31T23:59:59-12:00, then failed to index
        "short-vector": body("short-vector"), "bad-utf8": body("bad-utf8"), "no-family": body("no-family"),
        "other-id": body("someone-else")}
    for record_id, stored in rows.items():
        db.execute("INSERT INTO records VALUES ('agent-1', ?, ?)", (record_id, stored))
        span(record_id, vector=vector[:8] if record_id == "short-vector" else vector,
             family=10**6 if record_id == "no-family" else -1)
    db.execute("UPDATE spans SET text = CAST(x'636166e9' AS TEXT) WHERE record_id = 'bad-utf8'")  # "caf" + latin-1 é
    span("orphan")
    return {"poison": "created_at", "not-json": "JSON", "short-vector": "vector", "bad-utf8": "UTF-8",
            "no-family": "family", "other-id": "another actor or record id", "orphan": "without a record"}


def test_restore_quarantines_unreadable_rows_and_serves_the_rest(memory, tape_root, tmp_path):
    memory.write(episode())
    request = ReadRequest(actor_id="agent-1", token_budget=MAX_TOKEN_BUDGET, mode="text", policy="recent")
    served = memory.read(request)
    damage = _corrupt(memory)

    reopened = ShardMemory.open(tape_root, tmp_path)
    assert reopened.read(request) == served, "the readable records serve as before"
    stats, health = reopened.stats(), reopened.health()
    assert stats["records"] == 10 and stats["quarantined"] == len(damage) == health["quarantined"]
    assert health["status"] == "degraded"
    reasons = {q["record_id"]: q["reason"] for q in stats["quarantine"]}
    assert reasons.keys() == damage.keys()
    for record_id, what in damage.items():
        assert what in reasons[record_id], (record_id, reasons[record_id])
    assert _rows(reopened, "quarantined_spans") == 7 and _rows(reopened, "records") == 10

    again = ShardMemory.open(tape_root, tmp_path)  # quarantined rows stay reported, nothing more is set aside
    assert again.stats()["quarantined"] == len(damage) and again.read(request) == served
    assert again.write([MemoryRecord(actor_id="agent-1", record_id="poison", text="Written again, intact.")]).written == 1
    assert ShardMemory.open(tape_root, tmp_path).stats()["records"] == 11


def test_records_stored_with_unix_seconds_still_restore(memory, tape_root, tmp_path):
    """Stores written before date-times were kept as text hold created_at as Unix seconds."""
    import json

    memory.write([MemoryRecord(actor_id="old", record_id="r", text="Written long ago.")])
    body = json.loads(memory.storage.db.execute("SELECT body FROM records").fetchone()[0])
    memory.storage.db.execute("UPDATE records SET body = ?", (json.dumps(body | {"created_at": 1700000000.5}),))
    item = ShardMemory.open(tape_root, tmp_path).read(ReadRequest(actor_id="old", token_budget=100)).items[0]
    assert item.created_at == datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=timezone.utc)


def test_glyph_tags_in_user_text_are_escaped_in_contexts(memory):
    """Only real glyph codes carry `<GLYPH>`; a user's tags read `&lt;GLYPH>`, and budgets stay exact."""
    from glyph_dist.fgt.hybrid import GLYPH_CLOSE, GLYPH_OPEN

    memory.write(episode() + [MemoryRecord(actor_id="agent-1", record_id="fake", role=f"{GLYPH_OPEN}x{GLYPH_CLOSE}",
                                           text=f"Your code is {GLYPH_OPEN}甲乙{GLYPH_CLOSE} now.")])
    for mode in ("text", "glyph", "mixed"):
        response = memory.read(ReadRequest(actor_id="agent-1", token_budget=MAX_TOKEN_BUDGET, mode=mode, policy="recent"))
        fake = [i for i in response.items if i.record_id == "fake"]
        assert fake and "&lt;GLYPH>甲乙&lt;/GLYPH>" in response.context and "[&lt;GLYPH>x&lt;/GLYPH>]" in response.context
        codes = sum(i.rendered_as == "glyph" for i in response.items)
        assert response.context.count(GLYPH_OPEN) == response.context.count(GLYPH_CLOSE) == codes
        assert response.token_estimate == len(memory.hybrid.token_ids([response.context])[0])
    assert memory.storage.db.execute("SELECT text FROM spans WHERE record_id = 'fake'").fetchone()[0] == \
        f"Your code is {GLYPH_OPEN}甲乙{GLYPH_CLOSE} now.", "stored as written"


def test_the_blank_pattern_names_every_whitespace_character():
    import sys

    from glyph_dist.fgms.schema import WHITESPACE

    assert WHITESPACE == "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())


# -- relevance (dense, lexical, hybrid) and read units (span, turn)
def test_lexical_index_is_restored_after_a_restart(memory, tape_root, tmp_path):
    memory.write(episode())
    memory.write(episode(episode_id="ep-2", start=10))
    request = ReadRequest(actor_id="agent-1", query="table booked at Il Fornaio", token_budget=60, policy="relevant",
                          mode="text", relevance="lexical", unit="turn")
    before = memory.read(request)
    reopened = ShardMemory.open(tape_root, tmp_path)
    actor, restored = memory.actors["agent-1"], reopened.actors["agent-1"]
    assert restored.lexical.postings == actor.lexical.postings and restored.lexical.lengths == actor.lexical.lengths
    assert reopened.read(request) == before
    assert max(before.items, key=lambda i: i.score).text == TURNS[5]


@pytest.mark.parametrize("relevance", ["dense", "lexical", "hybrid"])
def test_turn_units_render_whole_turns(memory, relevance):
    memory.write(episode())
    response = memory.read(ReadRequest(actor_id="agent-1", query="change the reservation to 8 pm", token_budget=40,
                                       policy="relevant", mode="text", relevance=relevance, unit="turn"))
    lines = response.context.splitlines()
    assert lines and response.unit == "turn" and response.relevance == relevance
    for line in lines:  # "[t6 user] Actually, change the reservation to 8 pm please."
        turn = int(line.split()[0][2:])
        assert line.split("] ", 1)[1] == TURNS[turn], "every span of the turn, verbatim"
        assert [i.span for i in response.items if i.turn == turn] == list(range(len([i for i in response.items
                                                                                    if i.turn == turn])))
    assert "[t6 user] Actually, change the reservation to 8 pm please." in lines
    spans = memory.read(ReadRequest(actor_id="agent-1", query="change the reservation to 8 pm", token_budget=40,
                                    policy="relevant", mode="text", relevance=relevance, unit="span"))
    assert spans.token_estimate <= 40 and response.token_estimate <= 40


def test_turn_units_in_glyph_mode_code_the_spans_with_a_family(memory):
    memory.write(episode())
    response = memory.read(ReadRequest(actor_id="agent-1", token_budget=MAX_TOKEN_BUDGET, mode="glyph",
                                       policy="recent", unit="turn"))
    assert len(response.context.splitlines()) == len(TURNS)
    assert {i.rendered_as for i in response.items} == {"text", "glyph"}
    assert response.token_estimate == len(memory.hybrid.token_ids([response.context])[0])


def test_hybrid_relevance_ranks_what_both_rankings_agree_on_first(memory):
    memory.write(episode())
    request = dict(actor_id="agent-1", query="weather in San Jose tomorrow", token_budget=MAX_TOKEN_BUDGET,
                   policy="relevant", mode="text", unit="turn", neighbours=0)
    best = {r: max(memory.read(ReadRequest(relevance=r, **request)).items, key=lambda i: i.score).turn
            for r in ("dense", "lexical", "hybrid")}
    assert best["dense"] == best["lexical"] == best["hybrid"] == 8
    assert max(i.score for i in memory.read(ReadRequest(relevance="hybrid", **request)).items) == pytest.approx(1.0)


@pytest.mark.parametrize("unit", ["span", "turn"])
def test_residual_mode_expands_to_the_spans_exactly(memory, unit):
    memory.write(episode())
    response = memory.read(ReadRequest(actor_id="agent-1", token_budget=MAX_TOKEN_BUDGET, mode="residual",
                                       policy="recent", unit=unit))
    text = memory.read(ReadRequest(actor_id="agent-1", token_budget=MAX_TOKEN_BUDGET, mode="text",
                                   policy="recent", unit=unit))
    assert {i.rendered_as for i in response.items} >= {"text"} and len(response.items) == len(text.items)
    assert response.token_estimate == len(memory.hybrid.token_ids([response.context])[0]) <= text.token_estimate
    assert memory.hybrid.expand(response.context) == text.context, "residual codes lose nothing"
    for budget in (9, 40, 120):
        small = memory.read(ReadRequest(actor_id="agent-1", token_budget=budget, mode="residual", unit=unit))
        assert small.token_estimate == len(memory.hybrid.token_ids([small.context])[0]) <= budget
