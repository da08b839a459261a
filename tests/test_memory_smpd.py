"""SMPD: spatial map, spatial gate, replay-to-policy distillation, budgets and pruning."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from glyph_dist.memory.base import Services, Statement
from glyph_dist.memory.smpd import Smpd, SmpdConfig

# Maze 17: a short route north of the fountain and a long one south of it.
#   bakery --- cake shop --- well
#     |                       |
#   fountain                tower
#     |                       |
#   garden --- mill ------- pond
NORTH = "In maze 17, going north from the fountain leads to the bakery."
BAKERY_EAST = "In maze 17, going east from the bakery leads to the cake shop."
CAKE_EAST = "In maze 17, going east from the cake shop leads to the well."
LONG_WAY = (
    "In maze 17, going south from the fountain leads to the garden.",
    "In maze 17, going east from the garden leads to the mill.",
    "In maze 17, going east from the mill leads to the pond.",
    "In maze 17, going north from the pond leads to the tower.",
    "In maze 17, going north from the tower leads to the well.",
)
MAZE = (NORTH, BAKERY_EAST, CAKE_EAST, *LONG_WAY)
BAKERY_BLOCKED = "In maze 17, going east from the bakery is blocked."
TRIP = "In maze 17, a trip from the fountain to the well went north, south, north, east, west, east, east."
ROUTE = "In maze 17, what is the shortest route from the fountain to the well?"
SHORT = "Route in maze 17 from the fountain to the well: north, east, east (3 steps)."
LONG = "Route in maze 17 from the fountain to the well: south, east, east, north, north (5 steps)."
END = "In maze 17, if you start at the fountain and go north, then east, where do you end up?"


def count(text: str) -> int:
    return len(text.split())


def memory(log: list[str] | None = None, **config) -> Smpd:
    services = Services(embed=lambda texts: np.zeros((len(texts), 4), np.float32), count=count,
                        log=(log.append if log is not None else print))
    return Smpd(services, SmpdConfig.model_validate(config))


def teach(module: Smpd, *texts: str, reward: float = 0.0) -> None:
    for text in texts:
        module.write(Statement(text, step=module.counters()["offered"], reward=reward))


def test_route_is_the_shortest_path_with_its_move_statements_in_order_within_budgets():
    module = memory()
    teach(module, *MAZE)
    full = module.read(ROUTE, 512)
    lines = full.splitlines()
    assert lines[:4] == [SHORT, NORTH, BAKERY_EAST, CAKE_EAST]
    assert sorted(lines[4:]) == sorted(LONG_WAY)  # then the rest of the map, nearest first:
    assert lines[4:6] == [LONG_WAY[0], LONG_WAY[4]]  # passages that touch the path,
    assert lines[-1] == LONG_WAY[2]  # the mill - pond passage two steps away last
    assert count(full) <= 512
    assert module.read(ROUTE, 32).splitlines() == [SHORT, NORTH]
    assert count(module.read(ROUTE, 8)) <= 8
    assert module.counters()["plans"] == 3 and module.counters()["edges"] == 8


def test_end_position_follows_the_moves_and_says_when_a_step_is_unknown():
    module = memory()
    teach(module, *MAZE)
    lines = module.read(END, 512).splitlines()
    assert lines[:3] == ["Ending place: the cake shop.", NORTH, BAKERY_EAST]
    unknown = module.read("In maze 17, if you start at the well and go north, where do you end up?", 512)
    assert unknown.startswith("Ending place: unknown (no statement says where going north from the well leads).")
    assert module.counters()["plans"] == 1


def test_repeated_observations_are_counted_not_stored_with_the_gate():
    gated, open_gate = memory(), memory(gate={"enabled": False})
    for module in (gated, open_gate):
        teach(module, *MAZE, NORTH, NORTH)
        assert module.counters()["repeats"] == 2
        assert module.read(ROUTE, 512).count(NORTH) == 1
    assert gated.counters()["stored"] == len(MAZE)
    assert open_gate.counters()["stored"] == len(MAZE) + 2


def test_a_flapping_passage_is_held_out_with_the_gate_and_the_last_report_wins_without_it():
    gated, open_gate = memory(), memory(gate={"enabled": False})
    for module in (gated, open_gate):
        teach(module, *MAZE, BAKERY_BLOCKED, BAKERY_EAST)  # open, blocked, open: two flips
    assert gated.read(ROUTE, 512).splitlines()[:6] == [LONG, *LONG_WAY]
    assert gated.counters()["flapping"] == 1 and gated.counters()["edges"] == 7
    assert open_gate.read(ROUTE, 512).splitlines()[:4] == [SHORT, NORTH, BAKERY_EAST, CAKE_EAST]
    assert open_gate.counters()["flapping"] == 0 and open_gate.counters()["edges"] == 8
    teach(open_gate, BAKERY_BLOCKED)
    assert open_gate.read(ROUTE, 512).splitlines()[0] == LONG
    assert open_gate.counters()["blocked"] == 1


def test_a_single_blocked_report_closes_the_passage_with_the_gate_too():
    module = memory()
    teach(module, *MAZE, BAKERY_BLOCKED)
    assert module.read(ROUTE, 512).splitlines()[0] == LONG
    assert module.counters()["flapping"] == 0 and module.counters()["blocked"] == 1


def test_distilled_trip_routes_through_a_held_out_passage_and_the_ablation_does_not():
    distilled, ablated = memory(), memory(macro={"distill": False})
    for module in (distilled, ablated):
        teach(module, *MAZE, BAKERY_BLOCKED, BAKERY_EAST)
        teach(module, TRIP, reward=1.0)
    lines = distilled.read(ROUTE, 512).splitlines()
    assert lines[0] == SHORT.replace("(3 steps)", "(3 steps, from a distilled trip)")
    assert lines[1:5] == [NORTH, BAKERY_EAST, CAKE_EAST, TRIP]  # loops cut, the trip is the source
    assert ablated.read(ROUTE, 512).splitlines()[0] == LONG
    on, off = distilled.counters(), ablated.counters()
    assert (on["trips"], on["macros"], on["plans_from_macro"]) == (1, 1, 1) and on["replays"] >= 1
    assert (off["trips"], off["macros"], off["plans_from_macro"], off["replays"]) == (1, 0, 0, 0)


def test_an_unsuccessful_trip_is_not_replayed():
    module = memory()
    teach(module, *MAZE, BAKERY_BLOCKED, BAKERY_EAST, TRIP)
    assert module.read(ROUTE, 512).splitlines()[0] == LONG
    assert module.counters()["trips"] == 0 and module.counters()["ignored"] == 1


def test_a_trip_fills_a_step_no_move_statement_covers():
    distilled, ablated = memory(), memory(macro={"distill": False})
    for module in (distilled, ablated):
        teach(module, *(text for text in MAZE if text != CAKE_EAST))
        teach(module, "In maze 17, a trip from the fountain to the well went north, east, east.", reward=1.0)
    question = "In maze 17, if you start at the cake shop and go east, where do you end up?"
    assert distilled.read(question, 512).startswith("Ending place: the well.")
    assert ablated.read(question, 512).startswith("Ending place: unknown")
    assert distilled.read(ROUTE, 512).splitlines()[0].endswith("(3 steps, from a distilled trip).")
    assert ablated.read(ROUTE, 512).splitlines()[0] == LONG


def test_a_shorter_graph_route_beats_a_longer_macro():
    module = memory()
    teach(module, *MAZE)
    teach(module, "In maze 17, a trip from the fountain to the well went south, east, east, north, north.", reward=1.0)
    assert module.read(ROUTE, 512).splitlines()[0] == SHORT
    assert module.counters()["macros"] == 1 and module.counters()["plans_from_macro"] == 0


def test_replay_runs_every_n_writes():
    module = memory(macro={"replay_every": 4})
    teach(module, TRIP, reward=1.0)
    teach(module, NORTH, BAKERY_EAST)
    assert module.counters()["macros"] == 0
    teach(module, CAKE_EAST)
    assert module.counters()["macros"] == 1 and module.counters()["replays"] == 1


def test_other_suites_are_ignored_and_unparsed_questions_list_the_named_maze():
    module = memory()
    teach(module, "On day 12, Alice Moreau met Bob Tanaka at the library.", "Harbor Books is in Lyon.", NORTH)
    assert module.counters()["ignored"] == 2 and module.counters()["stored"] == 1
    assert module.handles(ROUTE) and module.handles(END)
    assert not module.handles("Where did Alice Moreau meet Bob Tanaka on day 12?")
    assert module.read("What lies around maze 17?", 512) == NORTH
    assert module.read("Where did Alice Moreau meet Bob Tanaka on day 12?", 512) == ""
    assert module.read("In maze 99, what is the shortest route from the fountain to the well?", 512) == ""


def test_over_max_items_the_least_recently_written_maze_is_pruned_and_logged():
    log: list[str] = []
    module = memory(log, max_items=10)
    teach(module, *MAZE)
    teach(module, "In maze 18, going west from the gate leads to the tree.",
          "In maze 18, going west from the tree leads to the pit.", "In maze 18, going north from the pit is blocked.")
    assert module.counters()["pruned"] == len(MAZE) and module.counters()["stored"] == 3
    assert len(log) == 1 and "maze 17" in log[0] and "max_items=10" in log[0]
    assert module.read(ROUTE, 512) == ""
    route = module.read("In maze 18, what is the shortest route from the gate to the pit?", 512)
    assert route.startswith("Route in maze 18 from the gate to the pit: west, west (2 steps).")


def test_a_maze_alone_over_max_items_loses_its_oldest_statements():
    log: list[str] = []
    module = memory(log, max_items=6)
    teach(module, *MAZE)
    assert module.counters()["pruned"] == 2 and module.counters()["stored"] == 6
    assert log and all("maze 17" in line for line in log)
    assert module.read(ROUTE, 512).splitlines()[0] == LONG  # the short way's first two passages are gone


@pytest.mark.parametrize(("config", "key"), [({"macro": {"distil": False}}, "distil"),
                                           ({"gate": {"enabeld": True}}, "enabeld"), ({"max_item": 3}, "max_item")])
def test_unknown_config_keys_are_errors_that_name_the_key(config, key):
    with pytest.raises(ValidationError, match=key):
        SmpdConfig.model_validate(config)
