import json
import re
import statistics
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from glyph_dist.context.bench import CellConfig, run_cell
from glyph_dist.context.episodes import load_episodes
from glyph_dist.data import long_conversations as lc
from glyph_dist.data.corpus import is_heldout
from glyph_dist.data.manifest import sha256, split_counts
from glyph_dist.data.context_bench import prepare_long_conversations
from glyph_dist.data.public_dialog import HELDOUT_FRACTION, HELDOUT_SEED, dialogue_facts
from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.ingest import sgd_dialogues
from glyph_dist.models.answerers import ContextRecall
from glyph_dist.models.judges import get_judge
from tests.conftest import SGD_DEV

PATH = Path("phase5") / "long_conversations.jsonl"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data")
    prepare_long_conversations(out, seed=lc.SEED, sgd_dir=SGD_DEV, quiet=True)
    return out


@pytest.fixture(scope="module")
def episodes(prepared) -> list[dict]:
    return [json.loads(line) for line in (prepared / PATH).read_text().splitlines()]


@pytest.fixture(scope="module")
def dialogues() -> dict[str, dict]:
    return {str(d["dialogue_id"]): d for d in sgd_dialogues(SGD_DEV)}


def _questions(episodes, kind: str | None = None):
    for episode in episodes:
        for question in episode["questions"]:
            if kind in (None, question["type"]):
                yield episode, question


def _said(value: str, text: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text) is not None


def _session(episode: dict, question: dict) -> dict:
    return episode["sessions"][question["session"] - 1]


def _session_end(episode: dict, number: int) -> int:
    sessions = episode["sessions"]
    return sessions[number]["start"] if number < len(sessions) else len(episode["turns"])


def test_shape_dated_sessions_and_sizes(episodes, dialogues):
    assert Counter(e["split"] for e in episodes) == lc.EPISODES
    for episode in episodes:
        turns, sessions = episode["turns"], episode["sessions"]
        assert lc.TURNS_RANGE[0] <= len(turns) <= lc.TURNS_RANGE[1]
        days = [date.fromisoformat(s["date"]) for s in sessions]
        assert days == sorted(days) and len(set(days)) == len(days)
        for number, (session, day) in enumerate(zip(sessions, days), start=1):
            header = turns[session["start"]]
            assert session["session"] == number and header["role"] == lc.DATE_ROLE
            assert header["text"] == f"Session {number} of the conversation, on {day:%A}, {day.day} {day:%B %Y}."
            utterances = [t["utterance"] for t in dialogues[session["dialogue_id"]]["turns"]]
            assert [t["text"] for t in turns[session["start"] + 1:_session_end(episode, number)]] == utterances
        assert sessions[0]["start"] == 0
        assert 0.8 * lc.QUESTIONS_PER_EPISODE <= len(episode["questions"]) <= lc.QUESTIONS_PER_EPISODE
        assert len({q["question"] for q in episode["questions"]}) == len(episode["questions"])


def test_every_type_in_every_split(episodes):
    for split in lc.SPLITS:
        kinds = Counter(q["type"] for e, q in _questions(episodes) if e["split"] == split)
        assert set(kinds) == set(lc.TYPES) and min(kinds.values()) >= 30, kinds


def test_answers_are_in_their_evidence_turns(episodes):
    for episode, question in _questions(episodes):
        n, evidence = len(episode["turns"]), question["evidence"]
        assert evidence == sorted(set(evidence)) and 0 <= evidence[0] and evidence[-1] < n
        assert any(_said(question["answer"], episode["turns"][i]["text"]) for i in evidence), question
        assert question["evidence_position"] == round(evidence[-1] / (n - 1), 4)
        session = _session(episode, question)
        assert all(session["start"] <= i < _session_end(episode, question["session"]) for i in evidence)


def test_revision_questions_point_at_the_latest_value(episodes, dialogues):
    revisions = list(_questions(episodes, "revision"))
    assert len(revisions) >= 60
    across_sessions = 0
    for episode, question in revisions:
        assert question["question"].startswith("Most recently, ")
        assert len(question["evidence"]) == 1 and question["superseded"]
        assert max(question["superseded"]) < question["evidence"][0]
        assert not any(_said(question["answer"], episode["turns"][i]["text"]) for i in question["superseded"])
        across_sessions += min(question["superseded"]) < _session(episode, question)["start"]
        # no later session of the episode sets the same slot of the same domain again
        domain = question["service"].split("_")[0]
        later = episode["sessions"][question["session"]:]
        assert not any(f.service.split("_")[0] == domain and f.slot == question["slot"]
                       for s in later for f in dialogue_facts(dialogues[s["dialogue_id"]])), question
    assert across_sessions >= 30


def test_temporal_questions_need_the_session_date(episodes):
    asks = Counter()
    for episode, question in _questions(episodes, "temporal"):
        session = _session(episode, question)
        day = date.fromisoformat(session["date"])
        date_text = f"{day.day} {day:%B %Y}"
        assert question["evidence"][0] == session["start"] and len(question["evidence"]) == 2
        asks[question["asks"]] += 1
        if question["asks"] == "date":
            assert question["answer"] == date_text
        else:
            assert question["question"].startswith(f"In the session of {date_text}, ")
            assert _said(question["answer"], episode["turns"][question["evidence"][1]]["text"])
    assert min(asks.values()) >= 50, asks


def test_multi_hop_bridges_name_one_session(episodes):
    questions = list(_questions(episodes, "multi_hop"))
    assert len(questions) >= 100
    for episode, question in questions:
        bridge = re.match(r'In the session where the user gave "(.+?)" for ', question["question"]).group(1)
        first, second = (episode["turns"][i]["text"] for i in question["evidence"])
        assert _said(bridge, first) or _said(bridge, second)
        assert _said(question["answer"], first) or _said(question["answer"], second)
        start, end = _session(episode, question)["start"], _session_end(episode, question["session"])
        assert not any(_said(bridge, t["text"]) for i, t in enumerate(episode["turns"]) if not start <= i < end)


def test_evidence_spreads_over_the_whole_history(episodes):
    for split in lc.SPLITS:
        positions = [q["evidence_position"] for e, q in _questions(episodes) if e["split"] == split]
        fifths = Counter(min(int(p * 5), 4) for p in positions)
        assert all(fifths[k] >= 0.15 * len(positions) for k in range(5)), (split, fifths)
        assert statistics.pstdev(positions) > 0.25


def test_dev_and_test_use_disjoint_held_out_dialogues(episodes):
    used = {split: {s["dialogue_id"] for e in episodes if e["split"] == split for s in e["sessions"]}
            for split in lc.SPLITS}
    assert not used["dev"] & used["test"]
    assert all(is_heldout(d, HELDOUT_FRACTION, HELDOUT_SEED) for ids in used.values() for d in ids)


def test_same_seed_same_bytes_other_seed_differs(prepared, episodes, tmp_path):
    manifest = prepare_long_conversations(tmp_path / "same", sgd_dir=SGD_DEV, quiet=True)
    assert (tmp_path / "same" / PATH).read_bytes() == (prepared / PATH).read_bytes()
    entry = manifest["files"][PATH.as_posix()]
    assert entry["sha256"] == sha256(prepared / PATH) and entry["seed"] == lc.SEED
    assert entry["splits"] == split_counts(episodes, lc.SPLITS)
    prepare_long_conversations(tmp_path / "other", seed=7, sgd_dir=SGD_DEV, quiet=True)
    assert (tmp_path / "other" / PATH).read_bytes() != (prepared / PATH).read_bytes()


def test_bad_input_raises_and_writes_nothing(tmp_path):
    missing = tmp_path / "no-sgd-here"
    with pytest.raises(GlyphDistError, match=str(missing)):
        prepare_long_conversations(tmp_path / "a", sgd_dir=missing, quiet=True)
    assert not (tmp_path / "a").exists()


def test_the_context_bench_reads_each_split(prepared, episodes, hybrid, tmp_path):
    for split in lc.SPLITS:
        assert len(load_episodes(prepared / PATH, split)) == lc.EPISODES[split]
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps(episodes[0]) + "\n")
    cell = run_cell(CellConfig(dataset=str(one), budget=512, split="dev", strategies=("bm25_topk", "full")),
                    hybrid, ContextRecall(), get_judge("rule"))
    assert cell["results"]["full"]["evidence_recall"] == 1.0
    assert 0.0 < cell["results"]["bm25_topk"]["evidence_recall"] < 1.0
    by_type = {row["bucket"]: row for row in cell["results"]["full"]["by_question_type"]}
    assert set(by_type) == {q["type"] for q in episodes[0]["questions"]}
    assert sum(row["n"] for row in by_type.values()) == len(episodes[0]["questions"])
    assert all(row["evidence_recall"] == 1.0 for row in by_type.values())
