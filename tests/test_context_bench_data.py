import json
import re
import statistics
from collections import Counter
from pathlib import Path

import pytest

from glyph_dist.data.agent_logs import SLOTS
from glyph_dist.data.corpus import is_heldout
from glyph_dist.data.manifest import sha256, split_counts
from glyph_dist.data.context_bench import prepare_context_bench
from glyph_dist.data.public_dialog import HELDOUT_FRACTION, HELDOUT_SEED, SlotFact, dialogue_facts, question_text
from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.ingest import sgd_dialogues
from tests.conftest import SGD_DEV

NAMES = ("agent_logs", "public_dialog")
OTHER_ENTRY = {"path": "corpus/sgd_train.jsonl", "sha256": "0" * 64}


def _prepare(out: Path, seed: int = 1337) -> dict:
    return prepare_context_bench(out, seed=seed, sgd_dir=SGD_DEV, quiet=True)


def _read(out: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (out / "phase5" / f"{name}.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """Seed-1337 data sets, written over a manifest that already holds another entry."""
    out = tmp_path_factory.mktemp("data")
    (out / "MANIFEST.json").write_text(json.dumps({"files": {OTHER_ENTRY["path"]: OTHER_ENTRY}}))
    _prepare(out)
    return out


@pytest.fixture(scope="module")
def episodes(prepared) -> dict[str, list[dict]]:
    return {name: _read(prepared, name) for name in NAMES}


def _questions(episodes: list[dict], split: str | None = None):
    for episode in episodes:
        if split in (None, episode["split"]):
            for question in episode["questions"]:
                yield episode, question


def test_same_seed_same_bytes_other_seed_differs(prepared, tmp_path):
    manifest = _prepare(tmp_path / "same")
    assert manifest == json.loads((tmp_path / "same" / "MANIFEST.json").read_text())
    _prepare(tmp_path / "other", seed=7)
    for name in NAMES:
        first = (prepared / "phase5" / f"{name}.jsonl").read_bytes()
        assert (tmp_path / "same" / "phase5" / f"{name}.jsonl").read_bytes() == first
        assert (tmp_path / "other" / "phase5" / f"{name}.jsonl").read_bytes() != first


@pytest.mark.parametrize("name", NAMES)
def test_answers_occur_verbatim_in_valid_evidence_turns(episodes, name):
    for episode, question in _questions(episodes[name]):
        n = len(episode["turns"])
        evidence = question["evidence"]
        assert evidence == sorted(set(evidence)) and 0 <= evidence[0] and evidence[-1] < n
        assert question["answer"] and question["answer"] in episode["turns"][evidence[-1]]["text"]
        assert question["evidence_position"] == round(evidence[-1] / (n - 1), 4)


def test_agent_values_never_contain_one_another():
    values = [value for slot in SLOTS for value in slot.values]
    assert len(set(values)) == len(values)
    assert not [(a, b) for a in values for b in values if a != b and a in b]


def test_agent_answers_occur_only_in_their_evidence(episodes):
    for episode, question in _questions(episodes["agent_logs"]):
        holders = [i for i, turn in enumerate(episode["turns"]) if question["answer"] in turn["text"]]
        assert holders and set(holders) <= set(question["evidence"]), (episode["episode_id"], question)


@pytest.mark.parametrize("name", NAMES)
def test_revised_questions_point_at_the_later_turn(episodes, name):
    revised = [(e, q) for e, q in _questions(episodes[name], "test") if q["revised"]]
    assert len(revised) >= 10
    for episode, question in _questions(episodes[name]):
        assert question["revised"] == bool(question["superseded"])
        if question["revised"]:
            assert question["superseded"][-1] < question["evidence"][-1]
            said = re.compile(rf"(?<!\w){re.escape(question['answer'])}(?!\w)")
            assert not any(said.search(episode["turns"][i]["text"]) for i in question["superseded"]
                           if i not in question["evidence"])


def test_terse_agent_revisions_keep_the_turn_they_revise(episodes):
    terse = [q for _, q in _questions(episodes["agent_logs"]) if len(q["evidence"]) == 2]
    assert terse
    assert all(q["revised"] and q["evidence"][0] == q["superseded"][-1] for q in terse)


@pytest.mark.parametrize("name", NAMES)
def test_evidence_positions_spread_over_the_episode(episodes, name):
    positions = [q["evidence_position"] for _, q in _questions(episodes[name])]
    quartiles = Counter(min(int(p * 4), 3) for p in positions)
    assert all(quartiles[k] >= 0.1 * len(positions) for k in range(4)), quartiles
    assert sum(p < 0.1 for p in positions) < 0.2 * len(positions)
    assert statistics.pstdev(positions) > 0.2


def test_agent_episode_lengths_span_tens_to_hundreds(episodes):
    for split in ("train", "val", "test"):
        lengths = [len(e["turns"]) for e in episodes["agent_logs"] if e["split"] == split]
        assert min(lengths) >= 20 and max(lengths) >= 5 * min(lengths), split
    lengths = [len(e["turns"]) for e in episodes["agent_logs"]]
    assert min(lengths) <= 25 and max(lengths) >= 300


def test_agent_logs_vary_their_wording(episodes):
    questions = {}
    for _, question in _questions(episodes["agent_logs"]):
        questions.setdefault(question["slot"], set()).add(question["question"])
    assert set(questions) == {slot.name for slot in SLOTS}
    assert all(len(texts) >= 4 for texts in questions.values())
    for episode in episodes["agent_logs"]:
        texts = [turn["text"] for turn in episode["turns"]]
        assert len(set(texts)) >= 0.8 * len(texts), episode["episode_id"]


def test_splits_and_sizes(episodes):
    agent = Counter(e["split"] for e in episodes["agent_logs"])
    assert agent == {"train": 112, "val": 24, "test": 24}
    for name in NAMES:
        test = [e for e in episodes[name] if e["split"] == "test"]
        assert 20 <= len(test) <= 30
        assert all(5 <= len(e["questions"]) <= 10 for e in test)
        ids = [e["episode_id"] for e in episodes[name]]
        assert len(set(ids)) == len(ids)


def test_public_dialog_follows_the_corpus_split(episodes, sgd_corpus):
    corpus_train = {json.loads(line)["episode_id"].removeprefix("sgd-dev-")
                    for line in sgd_corpus["train"].read_text().splitlines()}
    by_split: dict[str, set[str]] = {"train": set(), "val": set(), "test": set()}
    for episode in episodes["public_dialog"]:
        held = {is_heldout(d, HELDOUT_FRACTION, HELDOUT_SEED) for d in episode["dialogue_ids"]}
        assert held == {episode["split"] != "train"}, episode["episode_id"]
        by_split[episode["split"]].update(episode["dialogue_ids"])
    assert by_split["train"] <= corpus_train
    assert not (by_split["val"] | by_split["test"]) & corpus_train
    assert not by_split["val"] & by_split["test"]


def test_public_dialog_questions_have_one_answer(episodes):
    services = {d["dialogue_id"]: {s.split("_")[0] for s in d["services"]} for d in sgd_dialogues(SGD_DEV)}
    for episode in episodes["public_dialog"]:
        domains = Counter(domain for d in episode["dialogue_ids"] for domain in services[d])
        for question in episode["questions"]:
            assert question["dialogue_id"] in episode["dialogue_ids"]
            assert domains[question["service"].split("_")[0]] == 1, (episode["episode_id"], question)
            start = episode["dialogue_starts"][episode["dialogue_ids"].index(question["dialogue_id"])]
            assert start <= question["evidence"][0]


def test_manifest_matches_the_files_and_keeps_other_entries(prepared, episodes):
    manifest = json.loads((prepared / "MANIFEST.json").read_text())
    assert manifest["files"][OTHER_ENTRY["path"]] == OTHER_ENTRY
    for name in NAMES:
        entry = manifest["files"][f"phase5/{name}.jsonl"]
        assert entry["sha256"] == sha256(prepared / entry["path"])
        assert entry["splits"] == split_counts(episodes[name])
        assert entry["seed"] == 1337 and entry["generator"].endswith(name)


def test_bad_input_raises_and_writes_nothing(tmp_path):
    missing = tmp_path / "no-sgd-here"
    with pytest.raises(GlyphDistError, match=str(missing)):
        prepare_context_bench(tmp_path / "a", sgd_dir=missing, quiet=True)
    assert not (tmp_path / "a").exists()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "MANIFEST.json").write_text("{not json")
    with pytest.raises(GlyphDistError, match="MANIFEST.json"):
        prepare_context_bench(tmp_path / "b", sgd_dir=SGD_DEV, quiet=True)
    assert not (tmp_path / "b" / "phase5").exists()


def _user(text: str, service: str, informs: dict[str, str], state: dict[str, list[str]]) -> dict:
    actions = [{"act": "INFORM", "slot": slot, "values": [value]} for slot, value in informs.items()]
    return {"speaker": "USER", "utterance": text,
            "frames": [{"service": service, "actions": actions, "state": {"slot_values": state}}]}


def test_dialogue_facts_keep_the_latest_verbatim_user_value():
    system = {"speaker": "SYSTEM", "utterance": "How about 9 pm at Sino?", "frames": []}
    dialogue = {"dialogue_id": "x_1", "services": ["Restaurants_2"], "turns": [
        _user("A table in San Jose at 6 pm, for two.", "Restaurants_2",
              {"location": "San Jose", "time": "6 pm", "number_of_seats": "2"},
              {"location": ["San Jose"], "time": ["6 pm"], "number_of_seats": ["2"]}),
        system,
        _user("Make it 7 pm please.", "Restaurants_2", {"time": "7 pm"},
              {"location": ["San Jose"], "time": ["7 pm"], "number_of_seats": ["2"]}),
        system,
        _user("Sounds good, book Sino.", "Restaurants_2", {},
              {"location": ["San Jose"], "time": ["7 pm"], "restaurant_name": ["Sino"], "number_of_seats": ["2"]}),
    ]}
    facts = {f.slot: f for f in dialogue_facts(dialogue)}
    assert set(facts) == {"location", "time"}  # "2" is not said verbatim; Sino came from the system
    assert (facts["time"].answer, facts["time"].evidence, facts["time"].superseded) == ("7 pm", (2,), (0,))
    assert (facts["location"].answer, facts["location"].evidence) == ("San Jose", (0,))


def test_question_text_from_template_or_schema_description():
    descriptions = {("Flights_3", "number_stops"): "Number of stops in the itinerary"}
    fact = SlotFact("x_1", "Restaurants_2", "time", "7 pm", (0,), (), ())
    assert question_text(fact, descriptions) == "What time did the user want for the restaurant reservation?"
    fact = SlotFact("x_1", "Flights_3", "number_stops", "1", (0,), (), ())
    expected = "For the flight, what did the user give as the number of stops in the itinerary?"
    assert question_text(fact, descriptions) == expected
