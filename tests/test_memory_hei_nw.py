"""HEI-NW: recall under the budget, corrections, the write gate, Hopfield completion, pruning, config."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from glyph_dist.memory.base import Services, Statement
from glyph_dist.memory.hei_nw import HeiNw, HeiNwConfig

EVENTS = [
    "On day 3, Hugo Silva visited Nadia Rossi at the park.",
    "On day 12, Alice Moreau met Bob Tanaka at the library.",
    "On day 40, Wei Kim thanked Omar Petrov at the zoo.",
    "On day 7, Grace Novak interviewed Liam Costa at the harbour.",
    "On day 21, Tara Weber called Emil Sato at the station.",
    "On day 12, Keiko Varga helped Marco Laine at the cinema.",
]
WHERE = "Where did Alice Moreau meet Bob Tanaka on day 12?"
CORRECTION = "Actually, on day 12, Alice Moreau met Bob Tanaka at the museum, not at the library."


@pytest.fixture(scope="module")
def services(tape) -> Services:
    return Services(embed=tape.embedder.encode,
                    count=lambda text: len(tape.tokenizer(text, add_special_tokens=False).input_ids))


def _memory(services: Services, texts: list[str], **config) -> HeiNw:
    memory = HeiNw(services, HeiNwConfig.model_validate(config))
    for step, text in enumerate(texts):
        memory.write(Statement(text, step))
    return memory


@pytest.mark.parametrize("hopfield", [True, False])
def test_where_question_reads_its_event_within_the_budget(services, hopfield):
    memory = _memory(services, EVENTS, hopfield={"enabled": hopfield})
    for budget in (16, 64, 512):
        context = memory.read(WHERE, budget)
        assert services.count(context) <= budget
        assert (EVENTS[1] in context.split("\n")) == (budget >= services.count(EVENTS[1]))
    lines = memory.read(WHERE, 512).split("\n")
    assert len(lines) == len(EVENTS) and lines == sorted(lines, key=EVENTS.index)  # in the order written


def test_correction_outranks_its_event(services):
    texts = [*EVENTS[:3], CORRECTION, *EVENTS[3:]]
    assert services.count(EVENTS[1]) < services.count(CORRECTION)  # the event would fit a one-line budget too
    memory = _memory(services, texts)
    assert memory.read(WHERE, services.count(CORRECTION)) == CORRECTION
    two_lines = memory.read(WHERE, services.count(EVENTS[1] + "\n" + CORRECTION)).split("\n")
    assert two_lines == [EVENTS[1], CORRECTION]


def test_new_facts_and_corrections_pass_the_gate_and_repeats_do_not(services):
    texts = [*EVENTS, CORRECTION, *[EVENTS[1]] * 4]
    gated = _memory(services, texts).counters()
    assert gated["offered"] == 11 and gated["written"] == 7 and gated["rejected"] == 4 and gated["stored"] == 7
    open_gate = _memory(services, texts, gate={"enabled": False}).counters()
    assert open_gate["written"] == open_gate["stored"] == 11 and open_gate["rejected"] == 0


def test_reward_and_pin_pass_the_gate_for_a_repeat(services):
    memory = _memory(services, EVENTS[:2])
    memory.write(Statement(EVENTS[0], 2, reward=1.0))
    memory.write(Statement(EVENTS[1], 3, pinned=True))
    memory.write(Statement(EVENTS[1], 4))
    assert (memory.counters()["written"], memory.counters()["rejected"]) == (4, 1)
    assert memory.read(WHERE, 512).count(EVENTS[1]) == 1  # a stored repeat is shown once


def test_hopfield_completion_ranks_by_the_completed_episode(services):
    """The cue matches "met Carla Okafor" best. Completion settles on that episode, so its near copy
    ("helped Carla Okafor", same day and place) comes next; plain nearest neighbours rank "met Bob
    Tanaka" next instead, which shares more of the cue's words. Two lines fit the budget."""
    met_carla = "On day 12, Alice Moreau met Carla Okafor at the library."
    helped_carla = "On day 12, Alice Moreau helped Carla Okafor at the library."
    texts = [EVENTS[1], met_carla, helped_carla, EVENTS[0], EVENTS[2], EVENTS[3]]
    cue = "Who did Alice Moreau meet on day 12?"
    budget = max(services.count(met_carla + "\n" + other) for other in (EVENTS[1], helped_carla))
    assert budget < services.count("\n".join(texts[:3]))
    completed = _memory(services, texts).read(cue, budget).split("\n")
    nearest = _memory(services, texts, hopfield={"enabled": False}).read(cue, budget).split("\n")
    assert completed == [met_carla, helped_carla]
    assert nearest == [EVENTS[1], met_carla]


def test_pruning_keeps_max_items_logs_it_and_keeps_pinned_memories(services):
    logged: list[str] = []
    logging = Services(embed=services.embed, count=services.count, log=logged.append)
    memory = HeiNw(logging, HeiNwConfig(max_items=4, gate={"enabled": False}))
    memory.write(Statement(EVENTS[1], 0, pinned=True))
    for step, text in enumerate([*EVENTS[2:], EVENTS[0], CORRECTION], start=1):
        memory.write(Statement(text, step * 1000))
    counters = memory.counters()
    assert counters["stored"] == 4 and counters["pruned"] == 3 and counters["written"] == 7
    assert logged == ["hei_nw: pruned 1 memory (max_items=4)"] * 3
    assert memory.index.ntotal == 4
    context = memory.read(WHERE, 512)
    assert EVENTS[1] in context and CORRECTION in context  # the pinned event and the newest memory
    assert EVENTS[2] not in context and EVENTS[3] not in context  # the oldest unpinned ones went first


def test_replay_runs_every_n_writes_and_strengthens_the_replayed(services):
    memory = _memory(services, EVENTS, replay_every=2, replay_count=3, decay=1.0)
    assert memory.counters()["replayed"] == 2 + 3 + 3  # after writes 2, 4 and 6; at most the stored ones
    replayed = memory.store["replays"] > 0
    assert np.allclose(memory.store["strength"], memory.store["salience"] * (1 + memory.store["replays"]))
    assert replayed.sum() == 6 and memory.store["replays"].sum() == 8


def test_surprise_source_follows_the_services(services):
    calls: list[str] = []

    def surprise(texts):
        calls.extend(texts)
        return np.full(len(texts), 3.0)

    with_model = Services(embed=services.embed, count=services.count, surprise=surprise)
    counters = _memory(with_model, EVENTS[:3]).counters()
    assert counters["surprise_source"] == "model" and calls == EVENTS[:3]
    assert counters["mean_gate_score"] > 0
    assert _memory(services, EVENTS[:3]).counters()["surprise_source"] == "embedder"


def test_empty_memory_reads_nothing(services):
    memory = HeiNw(services)
    assert memory.read(WHERE, 512) == "" and memory.handles(WHERE) is False


@pytest.mark.parametrize("config, named", [
    ({"gate": {"alhpa": 0.2}}, "alhpa"), ({"hopfield": {"temperature": 1}}, "temperature"),
    ({"max_item": 10}, "max_item"), ({"k_wta": 4096}, "k_wta"), ({"key_size": 1001}, "key_size")])
def test_bad_config_is_an_error_naming_the_key(config, named):
    with pytest.raises(ValidationError, match=named):
        HeiNwConfig.model_validate(config)
