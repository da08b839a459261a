import json
import os
import re
import subprocess
import sys
from collections import defaultdict

import networkx as nx
import pytest

from glyph_dist.errors import GlyphDistError
from glyph_dist.memory.base import PROFILES, Item, Statement
from glyph_dist.memory.suites import generate_suite
from glyph_dist.memory.suites.forms import recognise
from glyph_dist.memory.suites.io import read_suite, write_suite
from glyph_dist.memory.suites.scoring import aggregate, score
from glyph_dist.memory_rows import SUITES
from glyph_dist.metrics import normalize

FIELDS = {  # statement type -> its fields in the order the checks below index them (from 1)
    "event": ("day", "subject", "verb", "object", "place"), "correction": ("day", "subject", "verb", "object", "place",
                                                                         "old"),
    "purchase": ("person", "product", "store"), "location": ("inner", "outer"),
    "move": ("maze", "direction", "origin", "target"), "blocked": ("maze", "direction", "origin"),
    "trip": ("maze", "origin", "goal", "moves")}
OFFSET = {"north": (-1, 0), "south": (1, 0), "east": (0, 1), "west": (0, -1)}
OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east"}


@pytest.fixture(scope="module")
def realisations() -> dict[tuple[str, str], list[Item]]:
    return {(suite, profile): generate_suite(suite, 80, 5, profile) for suite in SUITES for profile in PROFILES}


class Said(tuple):
    """(text, field 1, field 2, ...) of a generated statement, like a regex match's groups."""

    def groups(self) -> tuple:
        return self[1:]


def _plain(value: str) -> str:
    """A field as the checks compare it: "day 12" and "maze 17" as numbers, "The well" as "the well"."""
    value = re.sub(r"^(?:day|maze) (\d+)$", r"\1", value)
    return "t" + value[1:] if value.startswith("The ") else value


def said(kind: str, text: str) -> Said | None:
    """The fields of `text` when it is a generated statement of type `kind`, in any form, else None."""
    found = recognise(text)
    if found is None or found[0] != kind:
        return None
    return Said((text, *(_plain(found[2][name]) for name in FIELDS[kind])))


def stream(items: list[Item]) -> list[Statement]:
    return [s for item in items for s in item.teach]


def moves_graph(texts) -> dict[tuple[str, str], str]:
    """(place, direction) -> place over the move statements among `texts`, both ways round."""
    step = {}
    for text in texts:
        if m := said("move", text):
            _, direction, a, b = m.groups()
            step[a, direction], step[b, OPPOSITE[direction]] = b, a
    return step


def walk(step: dict, start: str, directions: list[str]) -> str | None:
    here = start
    for direction in directions:
        if (here, direction) not in step:
            return None
        here = step[here, direction]
    return here


# --- generation: arguments, determinism, the shared stream ---------------------------------------------------

@pytest.mark.parametrize("suite", SUITES)
def test_same_arguments_same_items_and_seeds_differ(suite):
    for profile in PROFILES:
        first = generate_suite(suite, 15, 11, profile)
        assert first == generate_suite(suite, 15, 11, profile)
        assert [i.teach for i in first] != [i.teach for i in generate_suite(suite, 15, 12, profile)]
        assert len(first) == 15 and len({i.item_id for i in first}) == 15


def test_items_do_not_depend_on_the_hash_seed_of_the_process():
    code = ("import hashlib, json; from dataclasses import asdict; from glyph_dist.memory.suites import generate_suite;"
            "print(hashlib.sha256(json.dumps([asdict(i) for s in ('episodic', 'semantic', 'spatial')"
            " for i in generate_suite(s, 10, 3, 'hard')]).encode()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(digests) == 1


@pytest.mark.parametrize(("args", "message"), [
    (("recall", 5, 1, "easy"), r"unknown suite 'recall'; known: episodic, semantic, spatial"),
    (("episodic", 5, 1, "medium"), r"unknown profile 'medium'; known profiles: easy, hard"),
    (("semantic", 0, 1, "easy"), r"positive integer, got 0"),
    (("spatial", -3, 1, "easy"), r"positive integer, got -3"),
    (("spatial", 2.5, 1, "easy"), r"positive integer, got 2.5"),
    (("episodic", True, 1, "easy"), r"positive integer, got True"),
    (("episodic", 5, "one", "easy"), r"seed must be an integer, got 'one'"),
])
def test_bad_arguments_name_the_value_and_the_known_ones(args, message):
    with pytest.raises(GlyphDistError, match=message):
        generate_suite(*args)


def test_teach_steps_number_one_stream_and_evidence_comes_from_it(realisations):
    for (suite, profile), items in realisations.items():
        statements = stream(items)
        assert [s.step for s in statements] == list(range(len(statements)))
        texts = {s.text for s in statements}
        for item in items:
            assert item.suite == suite and item.evidence and set(item.evidence) <= texts
            assert normalize(item.answer) not in normalize(item.question)  # the question alone does not answer


def test_profiles_differ_in_size_and_mix_question_kinds(realisations):
    kinds = {"episodic": {"where", "who", "when"}, "semantic": {"two_hop", "three_hop"},
             "spatial": {"route", "end_position"}}
    for suite in SUITES:
        easy, hard, heldout = (realisations[suite, p] for p in PROFILES)
        assert [(i.kind, i.question, i.answer) for i in heldout] == [(i.kind, i.question, i.answer) for i in hard]
        easy_mean, hard_mean = (sum(len(i.teach) for i in items) / len(items) for items in (easy, hard))
        assert 4 <= easy_mean <= 8 and 10 <= hard_mean <= 25, (suite, easy_mean, hard_mean)
        assert {i.kind for i in hard} == kinds[suite]
    assert {i.kind for i in realisations["semantic", "easy"]} == {"two_hop"}


# --- episodic ------------------------------------------------------------------------------------------------

def final_events(statements: list[Statement]) -> list[tuple]:
    """(day, subject, verb, object, place) of every event, with the corrections applied in stream order."""
    events, seen = {}, set()
    for s in statements:
        if m := said("correction", s.text):
            day, subject, verb, obj, new, old = m.groups()
            key = (day, subject, verb, obj)
            assert events.get(key) == old, f"correction before its event or of another place: {s.text}"
            events[key] = new
        elif m := said("event", s.text):
            day, subject, verb, obj, place = m.groups()
            assert (day, subject, verb, obj) not in seen
            seen.add((day, subject, verb, obj))
            events[day, subject, verb, obj] = place
        else:
            pytest.fail(f"not an episodic statement: {s.text}")
    return [(*key, place) for key, place in events.items()]


@pytest.mark.parametrize("profile", PROFILES)
def test_episodic_world_is_consistent_and_every_question_has_one_answer(profile):
    items = generate_suite("episodic", 1000, 4, profile)
    # every reading counts: the pair in either order, any verb, the asked person in either role
    places, partners, days = defaultdict(set), defaultdict(set), defaultdict(set)
    for day, subject, _, obj, place in final_events(stream(items)):  # also checks corrections follow events
        pair = frozenset((subject, obj))
        places[pair, day].add(place)
        partners[subject, place, day].add(obj)
        partners[obj, place, day].add(subject)
        days[pair, place].add(f"day {day}")
    assert all(len(v) == 1 for v in places.values())  # a pair meets once a day
    verb = "(?:meet|call|help|visit|interview|thank)"
    for item in items:
        assert item.answer in item.evidence[0]
        if m := re.fullmatch(rf"Where did (.+?) {verb} (.+) on day (\d+)\?", item.question):
            answers = places[frozenset((m[1], m[2])), m[3]]
        elif m := re.fullmatch(rf"Who did (.+?) {verb} at (the [a-z ]+) on day (\d+)\?", item.question):
            answers = partners[m[1], m[2], m[3]]
        else:
            m = re.fullmatch(rf"On which day did (.+?) {verb} (.+) at (the [a-z ]+)\?", item.question)
            answers = days[frozenset((m[1], m[2])), m[3]]
        assert answers == {item.answer}, item


def test_hard_episodic_corrects_a_share_of_asked_events_sometimes_items_later():
    items = generate_suite("episodic", 300, 2, "hard")
    corrected = [i for i in items if i.meta["corrected"]]
    assert 0.2 <= len(corrected) / len(items) <= 0.4
    position = {s.text: (n, s.step) for n, item in enumerate(items) for s in item.teach}
    events = {m.groups(): text for text in position if (m := said("event", text))}
    lags = []
    for item in corrected:
        day, subject, verb, obj, _, old = said("correction", item.evidence[0]).groups()
        event = position[events[day, subject, verb, obj, old]]
        assert event[1] < position[item.evidence[0]][1]
        lags.append(position[item.evidence[0]][0] - event[0])
    assert min(lags) == 0 and max(lags) >= 10
    easy = generate_suite("episodic", 300, 2, "easy")
    assert sum(i.meta["corrected"] for i in easy) < len(corrected) / 2


# --- semantic ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("profile", PROFILES)
def test_semantic_world_is_functional_and_chains_lead_to_the_answer(realisations, profile):
    items = realisations["semantic", profile]
    located, purchases = defaultdict(set), defaultdict(set)
    for s in stream(items):
        if m := said("purchase", s.text):
            purchases[m[1], m[2]].add(m[3])
        elif m := said("location", s.text):
            located[m[1]].add(m[2])
    assert all(len(v) == 1 for v in purchases.values())  # each person bought each product once
    assert all(len(v) == 1 for v in located.values())  # a store in one city, a city in one country
    for item in items:
        person, product, store = said("purchase", item.evidence[0]).groups()
        assert item.question.endswith(f"did {person} buy the {product}?")
        assert said("location", item.evidence[1])[1] == store
        city = said("location", item.evidence[1])[2]
        if item.kind == "two_hop":
            assert len(item.evidence) == 2 and city == item.answer
        else:
            assert said("location", item.evidence[2]).groups() == (city, item.answer) and "country" in item.question
    kinds = [recognise(s.text)[0] for s in stream(items)]
    rumours, misfits = kinds.count("rumour"), kinds.count("misfit")
    if profile != "easy":
        assert rumours > len(items) / 2 and misfits > len(items) / 4
    else:
        assert rumours + misfits < len(items) / 2


# --- spatial -------------------------------------------------------------------------------------------------

def grid(texts) -> dict[str, tuple[int, int]]:
    """Grid cells of the places joined to the first one by move statements; no place in two cells, no two
    places in one cell."""
    step = moves_graph(texts)
    start = min(a for a, _ in step)
    where, todo = {start: (0, 0)}, [start]
    while todo:
        here = todo.pop()
        for (a, direction), b in step.items():
            if a == here:
                cell = (where[a][0] + OFFSET[direction][0], where[a][1] + OFFSET[direction][1])
                if b not in where:
                    where[b] = cell
                    todo.append(b)
                assert where[b] == cell, f"{b} sits in two cells"
    assert len(set(where.values())) == len(where), "two places share a cell"
    return where


@pytest.mark.parametrize("profile", PROFILES)
def test_spatial_statements_describe_one_grid_per_maze_canonically(realisations, profile):
    items = realisations["spatial", profile]
    assert len({i.meta["maze"] for i in items}) == len(items)
    extents = []
    for item in items:
        texts = [s.text for s in item.teach]
        assert all(recognise(t)[2]["maze"] == f"maze {item.meta['maze']}" for t in texts)
        described = defaultdict(set)
        for text in texts:
            if m := said("move", text):
                described[frozenset((m[3], m[4]))].add(text)
        assert all(len(v) == 1 for v in described.values())  # one canonical statement per edge
        cells = grid(texts).values()
        extents.append(max(max(r for r, _ in cells) - min(r for r, _ in cells),
                           max(c for _, c in cells) - min(c for _, c in cells)) + 1)
        step = moves_graph(texts)
        for s in item.teach:
            if m := said("trip", s.text):
                assert s.reward == 1.0 and walk(step, m[2], m[4].split(", ")) == m[3]
            else:
                assert s.reward == 0.0 and (said("move", s.text) or said("blocked", s.text))
    assert max(extents) <= (4 if profile == "easy" else 6)
    if profile != "easy":
        assert max(extents) >= 5


@pytest.mark.parametrize("profile", PROFILES)
def test_spatial_gold_answers_follow_the_evidence_and_routes_are_unique_shortest(realisations, profile):
    for item in realisations["spatial", profile]:
        texts = [s.text for s in item.teach]
        evidence_steps = moves_graph(item.evidence)
        if item.kind == "end_position":
            assert walk(evidence_steps, item.meta["start"], item.meta["moves"]) == item.answer
            continue
        start, goal = item.meta["start"], item.meta["goal"]
        route = item.answer.split(", ")
        assert walk(evidence_steps, start, route) == goal
        assert len(route) == item.meta["shortest"] >= 2
        graph = nx.Graph([(m[3], m[4]) for t in texts if (m := said("move", t))])
        assert len(list(nx.all_shortest_paths(graph, start, goal))) == 1
        assert nx.shortest_path_length(graph, start, goal) == len(route)
        # meta edges: the seen edges, less a flapping one whose last report is "blocked"
        last = {}
        for text in texts:
            if m := said("move", text) or said("blocked", text):
                last[m[2], m[3]] = m[4] if said("move", text) else "blocked"
        edges = {(a, d, b) for (d, a), b in last.items() if b != "blocked"}
        assert {tuple(e) for e in item.meta["edges"]} == edges


def test_hard_mazes_have_flapping_edges_off_the_asked_path_and_loopy_trips():
    items = generate_suite("spatial", 60, 8, "hard")
    flapping = loopy = 0
    for item in items:
        texts = [s.text for s in item.teach]
        first_move = {}
        for i, text in enumerate(texts):
            if m := said("move", text):
                first_move.setdefault((m[2], m[3]), i)
        for i, text in enumerate(texts):
            if (m := said("blocked", text)) and (m[2], m[3]) in first_move:
                flapping += 1
                assert first_move[m[2], m[3]] < i  # first seen open, then reported blocked
                assert texts[first_move[m[2], m[3]]] not in item.evidence  # off the asked path
        graph = nx.Graph([(m[3], m[4]) for t in texts if (m := said("move", t))])
        for text in texts:
            if m := said("trip", text):
                loopy += len(m[4].split(", ")) > nx.shortest_path_length(graph, m[2], m[3])
    assert flapping >= len(items) / 2 and loopy >= len(items) / 10


# --- scoring -------------------------------------------------------------------------------------------------

ROUTE = Item("r", "spatial", "route", (), "In maze 1, what is the shortest route from the fountain to the well?",
             "east, north", (), {"maze": 1, "start": "the fountain", "goal": "the well", "shortest": 2,
                                 "edges": [["the fountain", "east", "the bakery"], ["the bakery", "north", "the well"],
                                           ["the pond", "west", "the bakery"]]})


def test_route_scoring_follows_the_predicted_moves_either_way_round():
    assert score(ROUTE, "east, north") == {"em_raw": 1.0, "em": 1.0, "f1": 1.0, "spatial_success": 1.0,
                                           "spatial_steps": 2.0, "spatial_suboptimality": 0.0}
    assert score(ROUTE, " East then north. ")["spatial_success"] == 1.0
    detour = score(ROUTE, "east, east, west, north")  # through the pond and back: a reversed edge, twice
    assert detour["spatial_success"] == 1.0 and detour["spatial_suboptimality"] == pytest.approx(1.0)
    assert detour["em"] == 0.0
    for wrong in ("north, east", "east", "east, north, north", "go east, north", ""):
        result = score(ROUTE, wrong)
        assert result["spatial_success"] == 0.0 and "spatial_suboptimality" not in result, wrong
    assert score(ROUTE, "north, east")["spatial_steps"] == 2.0


def test_text_scores_normalise_and_spatial_keys_only_where_they_apply():
    where = Item("e", "episodic", "where", (), "Where did A meet B on day 1?", "the museum", ())
    assert score(where, "The Museum.") == {"em_raw": 0.0, "em": 1.0, "f1": 1.0}
    assert score(where, " the museum ")["em_raw"] == 1.0
    who = Item("w", "episodic", "who", (), "Who did A meet at the park on day 1?", "Bob Tanaka", ())
    assert score(who, "Bob")["f1"] == pytest.approx(2 / 3) and score(who, "Bob")["em"] == 0.0
    end = Item("p", "spatial", "end_position", (), "q", "the well", (), {"maze": 1, "start": "x", "moves": []})
    assert score(end, "Well")["spatial_success"] == 1.0 and score(end, "the pond")["spatial_success"] == 0.0


def test_gold_answers_score_perfectly_on_generated_items(realisations):
    for (suite, profile), items in realisations.items():
        totals = aggregate([score(item, item.answer) for item in items])
        assert totals["em_raw"] == totals["em"] == totals["f1"] == 1.0
        if suite == "spatial":
            assert totals["spatial_success"] == 1.0 and totals["spatial_suboptimality"] == 0.0


def test_aggregate_means_each_key_over_the_items_that_have_it():
    totals = aggregate([{"em": 1.0, "spatial_success": 1.0, "spatial_suboptimality": 0.5},
                        {"em": 0.0, "spatial_success": 0.0}, {"em": 1.0}])
    assert totals == pytest.approx({"em": 2 / 3, "spatial_success": 0.5, "spatial_suboptimality": 0.5,
                                    "n_items": 3})
    with pytest.raises(GlyphDistError, match="no scores"):
        aggregate([])


# --- suite files ---------------------------------------------------------------------------------------------

def test_suite_files_round_trip(tmp_path, realisations):
    for (suite, profile), items in realisations.items():
        path = write_suite(tmp_path / f"{suite}-{profile}.jsonl", items)
        assert read_suite(path) == items
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging file left


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r["teach"][1].update(step="3"), r"suite\.jsonl:2: field 'teach\[1\]\.step' must be an integer"),
    (lambda r: r.pop("answer"), r"suite\.jsonl:2: field 'answer' is missing"),
    (lambda r: r.update(suite="procedural"), r"suite\.jsonl:2: field 'suite' must be one of"),
    (lambda r: r.update(hint="x"), r"suite\.jsonl:2: field 'hint' is not an item field"),
    (lambda r: r["evidence"].insert(0, 7), r"suite\.jsonl:2: field 'evidence\[0\]' must be a string"),
])
def test_a_bad_line_names_file_line_and_field(tmp_path, change, message):
    items = generate_suite("spatial", 2, 1)
    path = write_suite(tmp_path / "suite.jsonl", items)
    first, second = path.read_text().splitlines()
    record = json.loads(second)
    change(record)
    path.write_text(f"{first}\n{json.dumps(record)}\n")
    with pytest.raises(GlyphDistError, match=message):
        read_suite(path)


def test_malformed_json_names_file_and_line(tmp_path):
    path = tmp_path / "suite.jsonl"
    path.write_text("\n{not json\n")
    with pytest.raises(GlyphDistError, match=r"suite\.jsonl:2: malformed JSON"):
        read_suite(path)
