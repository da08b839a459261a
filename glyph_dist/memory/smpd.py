"""SMPD: a spatial map of each maze, plus replay of successful trips distilled into route macros.

Write. Spatial statements are read by the template-free reader (`reading.read`: a maze, directions
and places found as typed mentions, their roles from cue words); anything else (the other suites,
or a statement it cannot read) is ignored and counted. Each maze keeps its passages: a passage is
an undirected link between two places, named by the place and direction of its first report; a move statement opens
it and says where it leads (the reverse move is implied), a blocked statement closes it. The open,
reliable passages form the maze's place graph (networkx), each edge carrying its canonical
direction and the move statement verbatim. The spatial gate (`gate.enabled`) keeps the map clean:
a report equal to the passage's current state is a repeat, counted and not stored; a passage whose
state flipped `gate.flap_flips` times (open, blocked, open, ...) is flapping and is held out of
planning as unreliable. Without the gate every report is stored and the last one wins.

Successful trips (`Statement.reward` 1.0) go to the maze's episode buffer. Replay-to-policy
distillation (`macro.distill`; every `macro.replay_every` writes and before each read, for the
mazes written since the last replay) traces each trip through the map: a move with a known passage
leads to the place its move statement names, a move straight back returns to the previous place,
the trip's last place is its goal, and places still unknown are filled in backwards from the goal.
Every stretch that returns to a place already passed (a loop, or a detour out and back) is cut,
and the rest is stored as a macro (start, goal, moves) with the move statements that confirm its
steps; per start and goal the shortest macro is kept.

Read. A route question is planned as the shortest path on the place graph; a macro for the same
start and goal replaces the plan when it is no longer (a cached route, or the only usable one when
the graph lacks or holds out a passage the trip went through), unless one of its passages is
reliably blocked now. An end-position question follows the named moves through the passages (or
through a macro's traced steps where no move statement covers one). The context is a derived line
(the route or the ending place), then the source statements of the steps in path order, then the
maze's other statements nearest the path, packed under the token budget in that priority.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass

import networkx as nx
from pydantic import Field

from glyph_dist.memory.base import OPPOSITE, MemoryModule, ModuleConfig, Services, Statement, pack_lines
from glyph_dist.memory.reading import read

SUCCESS = 1.0  # Statement.reward of a trip that reached its goal
TALLIES = ("offered", "ignored", "repeats", "replays", "pruned", "plans", "plans_from_macro")  # running counts

_MAZE = r"(?P<maze>[\w-]+)"
_DIRECTION = "north|south|east|west"
_MOVES = rf"(?P<moves>(?:{_DIRECTION})(?:,? (?:then )?(?:{_DIRECTION}))*)"


def _place(group: str) -> str:
    return rf"(?P<{group}>the [^,.?]+?)"


QUESTION_PATTERNS = {
    "route": rf"In maze {_MAZE}, what is the shortest route from {_place('place')} to {_place('target')}\?",
    "end": rf"In maze {_MAZE}, if you start at {_place('place')} and go {_MOVES}, where do you end up\?",
}
_QUESTIONS = {kind: re.compile(pattern, re.IGNORECASE) for kind, pattern in QUESTION_PATTERNS.items()}
_MAZE_MENTION = re.compile(r"\bmaze ([\w-]+)", re.IGNORECASE)


class MacroConfig(ModuleConfig):
    distill: bool = True  # replay successful trips into route macros; false: plan from the place graph alone
    replay_every: int = Field(16, ge=1)  # writes between replays (a replay also runs before every read)


class GateConfig(ModuleConfig):
    enabled: bool = True  # false: every report is stored as it comes and the last one wins
    flap_flips: int = Field(2, ge=1)  # open/blocked reversals after which a passage is held out of planning


class SmpdConfig(ModuleConfig):
    macro: MacroConfig = MacroConfig()
    gate: GateConfig = GateConfig()
    max_items: int = Field(1_000_000, ge=1)  # stored statements; over it the least recently written mazes go


@dataclass(frozen=True)
class Report:
    """One parsed statement or question (directions and places lower-cased)."""

    kind: str  # move, blocked, trip; route, end
    maze: str
    place: str  # where it starts
    text: str  # verbatim
    direction: str = ""  # move, blocked
    target: str = ""  # move: where it leads; trip, route: the goal
    moves: tuple[str, ...] = ()  # trip, end


def parse(text: str, patterns: dict[str, re.Pattern]) -> Report | None:
    """The report of the first question pattern the text (whitespace collapsed) matches, else None."""
    collapsed = " ".join(text.split())
    for kind, pattern in patterns.items():
        if match := pattern.fullmatch(collapsed):
            fields = {k: v.lower() for k, v in match.groupdict().items() if k != "maze"}
            moves = tuple(re.findall(_DIRECTION, fields.pop("moves", "")))
            return Report(kind, match["maze"], text=text, moves=moves, **fields)
    return None


def statement_report(text: str) -> Report | None:
    """The report of a spatial teach statement, else None."""
    reading = read(text)
    if reading is None or reading.kind not in ("move", "blocked", "trip"):
        return None
    fields = reading.fields
    return Report(reading.kind, fields["maze"], fields["origin"], text, direction=fields.get("direction", ""),
                  target=fields.get("to", fields.get("goal", "")),
                  moves=tuple(fields["route"].split(", ")) if "route" in fields else ())


@dataclass
class Passage:
    """An undirected passage, named by the place and direction of its first report."""

    place: str
    direction: str
    open: bool  # the current report
    target: str | None = None  # where it leads, once a move statement says so
    move_text: str | None = None
    blocked_text: str | None = None
    flips: int = 0  # open/blocked reversals

    def leads(self, place: str) -> str | None:
        return self.target if place == self.place else self.place

    def texts(self) -> list[str]:
        return [t for t in (self.move_text, self.blocked_text) if t]


@dataclass(frozen=True)
class Unknown:
    """A place a trip passed through that no move statement names."""

    index: int


Place = str | Unknown


@dataclass(frozen=True)
class Macro:
    """A distilled trip: the loop-free moves from start to goal."""

    start: str
    goal: str
    moves: tuple[str, ...]
    places: tuple[Place, ...]  # len(moves) + 1
    source: str  # the trip statement verbatim
    statements: tuple[str, ...]  # the move statements that confirm its steps, in path order


@dataclass(frozen=True)
class Plan:
    """A planned route or walk: its moves, the places passed and the statements it rests on."""

    moves: tuple[str, ...]
    places: tuple[str, ...]
    support: tuple[str, ...]
    from_macro: bool = False


def cut_loops(moves: tuple[str, ...], places: list[Place]) -> tuple[tuple[str, ...], tuple[Place, ...]]:
    """The moves and places with every stretch that returns to a place already passed removed."""
    kept_moves: list[str] = []
    kept_places: list[Place] = [places[0]]
    for move, place in zip(moves, places[1:]):
        if place in kept_places:
            cut = kept_places.index(place)
            del kept_moves[cut:], kept_places[cut + 1:]
        else:
            kept_moves.append(move)
            kept_places.append(place)
    return tuple(kept_moves), tuple(kept_places)


def _steps(count: int) -> str:
    return f"{count} step{'' if count == 1 else 's'}"


class Maze:
    """One maze: passages, the place graph of the usable ones, stored statements, trips, macros."""

    def __init__(self, gate: GateConfig):
        self.gate = gate
        self.slots: dict[tuple[str, str], Passage] = {}  # (place, direction) -> passage, both ends
        self.passages: list[Passage] = []
        self.graph = nx.Graph()
        self.records: list[Report] = []  # stored statements, in write order
        self.trips: list[Report] = []
        self.macros: dict[tuple[str, str], Macro] = {}

    @classmethod
    def rebuilt(cls, records: list[Report], gate: GateConfig) -> Maze:
        maze = cls(gate)
        for record in records:
            maze.write(record)
        return maze

    def write(self, report: Report) -> tuple[bool, bool]:
        """(stored, repeat): trips always go to the buffer; a repeated report is stored only without the gate."""
        repeat = False
        if report.kind == "trip":
            self.trips.append(report)
        else:
            repeat = self._observe(report)
            if repeat and self.gate.enabled:
                return False, True
        self.records.append(report)
        return True, repeat

    def _observe(self, report: Report) -> bool:
        """Apply a move or blocked report to its passage; True when it repeats the current state."""
        is_open = report.kind == "move"
        passage = self.slots.get((report.place, report.direction))
        if passage is None and is_open:
            passage = self.slots.get((report.target, OPPOSITE[report.direction]))
        if passage is None:
            passage = Passage(report.place, report.direction, is_open)
            self.passages.append(passage)
            self.slots[report.place, report.direction] = passage
            repeat = False
        else:
            repeat = passage.open == is_open
            if not repeat:
                passage.flips += 1
                passage.open = is_open
        if is_open and passage.target is None:
            passage.target = report.target if passage.place == report.place else report.place
            passage.move_text = report.text
            self.slots[passage.target, OPPOSITE[passage.direction]] = passage
        elif not is_open and passage.blocked_text is None:
            passage.blocked_text = report.text
        self._sync(passage)
        return repeat

    def flapping(self, passage: Passage) -> bool:
        return self.gate.enabled and passage.flips >= self.gate.flap_flips

    def blocked(self, passage: Passage) -> bool:
        """Reported blocked now, and reliably so (a flapping passage's last report does not count)."""
        return not passage.open and not self.flapping(passage)

    def _sync(self, passage: Passage) -> None:
        if passage.target is None:
            self.graph.add_node(passage.place)
            return
        self.graph.add_nodes_from((passage.place, passage.target))
        if passage.open and not self.flapping(passage):
            self.graph.add_edge(passage.place, passage.target, source=passage.place,
                                direction=passage.direction, statement=passage.move_text)
        elif self.graph.has_edge(passage.place, passage.target):
            self.graph.remove_edge(passage.place, passage.target)

    def leads(self, place: Place, direction: str) -> Passage | None:
        """The passage with a known target going `direction` from `place`."""
        passage = self.slots.get((place, direction)) if isinstance(place, str) else None
        return passage if passage is not None and passage.target is not None else None

    # distillation

    def distill(self) -> None:
        """Rebuild the macro library from every buffered trip; per start and goal the shortest stays."""
        self.macros = {}
        for trip in self.trips:
            macro = self._macro(trip)
            known = self.macros.get((macro.start, macro.goal))
            if known is None or len(macro.moves) < len(known.moves):
                self.macros[macro.start, macro.goal] = macro

    def _trace(self, trip: Report) -> list[Place]:
        places: list[Place] = [trip.place]
        for i, move in enumerate(trip.moves):
            if i and move == OPPOSITE[trip.moves[i - 1]]:
                places.append(places[-2])  # straight back to where it came from
            elif passage := self.leads(places[-1], move):
                places.append(passage.leads(places[-1]))
            else:
                places.append(Unknown(i + 1))
        for i in range(len(trip.moves), -1, -1):  # backwards from the goal
            if not isinstance(places[i], Unknown):
                continue
            name = trip.target if i == len(trip.moves) else None
            if name is None and (passage := self.leads(places[i + 1], OPPOSITE[trip.moves[i]])):
                name = passage.leads(places[i + 1])
            if name is not None:
                places = [name if p == places[i] else p for p in places]
        return places

    def _macro(self, trip: Report) -> Macro:
        moves, places = cut_loops(trip.moves, self._trace(trip))
        confirmed = []
        for here, move, there in zip(places, moves, places[1:]):
            passage = self.leads(here, move)
            if passage is not None and passage.leads(here) == there:
                confirmed.append(passage.move_text)
        return Macro(trip.place, trip.target, moves, places, trip.text, tuple(confirmed))

    def _macro_usable(self, macro: Macro) -> bool:
        passages = (self.leads(here, move) for here, move in zip(macro.places, macro.moves))
        return not any(passage is not None and self.blocked(passage) for passage in passages)

    # planning

    def route(self, start: str, goal: str) -> Plan | None:
        """The shortest graph path, replaced by a usable macro that is no longer."""
        plan = None
        if start in self.graph and goal in self.graph and nx.has_path(self.graph, start, goal):
            path = nx.shortest_path(self.graph, start, goal)
            moves, support = [], []
            for here, there in zip(path, path[1:]):
                edge = self.graph.edges[here, there]
                moves.append(edge["direction"] if edge["source"] == here else OPPOSITE[edge["direction"]])
                support.append(edge["statement"])
            plan = Plan(tuple(moves), tuple(path), tuple(support))
        macro = self.macros.get((start, goal))
        usable = macro is not None and self._macro_usable(macro)
        if usable and (plan is None or len(macro.moves) <= len(plan.moves)):
            places = tuple(p for p in macro.places if isinstance(p, str))
            return Plan(macro.moves, places, (*macro.statements, macro.source), from_macro=True)
        return plan

    def walk(self, start: str, moves: tuple[str, ...]) -> tuple[Plan, str | None]:
        """The places passed following `moves` from `start`, and the ending place (None where a step is unknown)."""
        places, support, from_macro = [start], [], False
        for move in moves:
            here = places[-1]
            if passage := self.leads(here, move):
                places.append(passage.leads(here))
                support.append(passage.move_text)
            elif step := self._macro_step(here, move):
                places.append(step[0])
                support.append(step[1])
                from_macro = True
            else:
                return Plan(moves, tuple(places), tuple(support), from_macro), None
        return Plan(moves, tuple(places), tuple(support), from_macro), places[-1]

    def _macro_step(self, place: str, move: str) -> tuple[str, str] | None:
        """(next place, trip statement) from a macro that traced this step between two named places."""
        for macro in self.macros.values():
            for here, step, there in zip(macro.places, macro.moves, macro.places[1:]):
                if isinstance(here, str) and isinstance(there, str):
                    if (here, step) == (place, move):
                        return there, macro.source
                    if (there, OPPOSITE[step]) == (place, move):
                        return here, macro.source
        return None

    def nearby(self, places: tuple[str, ...], exclude: set[str]) -> list[str]:
        """The passages' statements not in `exclude`, nearest to `places` first (hops over every known passage)."""
        known = nx.Graph()
        known.add_edges_from((p.place, p.target) for p in self.passages if p.target is not None)
        sources = [p for p in places if p in known]
        hops = nx.multi_source_dijkstra_path_length(known, sources) if sources else {}
        far = len(self.passages) + 1
        ranked = sorted(self.passages, key=lambda p: min(hops.get(p.place, far), hops.get(p.target, far)))
        return [text for passage in ranked for text in passage.texts() if text not in exclude]


class Smpd(MemoryModule):
    """Spatial map per maze, spatial gate, replay of successful trips distilled into route macros."""

    name = "smpd"

    def __init__(self, services: Services, config: SmpdConfig | None = None):
        self.services, self.config = services, config or SmpdConfig()
        self.mazes: OrderedDict[str, Maze] = OrderedDict()  # least recently written first
        self.dirty: set[str] = set()  # mazes written since their last replay
        self.stored = 0
        self.tally = dict.fromkeys(TALLIES, 0)

    def write(self, statement: Statement) -> None:
        self.tally["offered"] += 1
        report = statement_report(statement.text)
        if report is None or (report.kind == "trip" and statement.reward < SUCCESS):
            self.tally["ignored"] += 1
        else:
            if report.maze not in self.mazes:
                self.mazes[report.maze] = Maze(self.config.gate)
            self.mazes.move_to_end(report.maze)
            stored, repeat = self.mazes[report.maze].write(report)
            self.stored += stored
            self.tally["repeats"] += repeat
            if self.config.macro.distill:
                self.dirty.add(report.maze)
            self._prune(report.maze)
        if self.config.macro.distill and self.tally["offered"] % self.config.macro.replay_every == 0:
            self._replay()

    def _replay(self) -> None:
        replayed = False
        for name in self.dirty:
            if name in self.mazes:
                self.mazes[name].distill()
                replayed |= bool(self.mazes[name].trips)
        self.dirty.clear()
        self.tally["replays"] += replayed

    def _prune(self, current: str) -> None:
        """Drop the least recently written mazes while over `max_items`; the maze just written loses
        its oldest statements only when it alone is over."""
        limit = self.config.max_items
        while self.stored > limit:
            oldest = next(iter(self.mazes))
            if oldest != current:
                dropped, what = len(self.mazes.pop(oldest).records), f"maze {oldest} (least recently written)"
            else:
                records = self.mazes[current].records
                self.mazes[current] = Maze.rebuilt(records[len(records) - limit:], self.config.gate)
                dropped = len(records) - len(self.mazes[current].records)
                what = f"the oldest statements of maze {current}"
            self.stored -= dropped
            self.tally["pruned"] += dropped
            self.services.log(f"smpd: pruned {what}: {dropped} statements, over max_items={limit}")

    def handles(self, question: str) -> bool:
        return parse(question, _QUESTIONS) is not None

    def read(self, question: str, token_budget: int) -> str:
        if self.config.macro.distill:
            self._replay()
        query = parse(question, _QUESTIONS)
        if query is None:
            return self._listing(question, token_budget)
        maze = self.mazes.get(query.maze)
        if maze is None:
            return ""
        if query.kind == "route":
            plan = maze.route(query.place, query.target)
            derived = self._route_line(query, plan)
            places = plan.places if plan else (query.place, query.target)
        else:
            plan, end = maze.walk(query.place, query.moves)
            derived = self._end_line(query, plan, end)
            places = plan.places
        support = list(dict.fromkeys(plan.support)) if plan else []
        lines = [derived, *support, *maze.nearby(places, set(support))]
        return pack_lines(lines, token_budget, self.services.count)

    def _route_line(self, query: Report, plan: Plan | None) -> str:
        where = f"in maze {query.maze} from {query.place} to {query.target}"
        if plan is None:
            return f"No known route {where}."
        self._count_plan(plan)
        source = ", from a distilled trip" if plan.from_macro else ""
        return f"Route {where}: {', '.join(plan.moves) or 'no moves'} ({_steps(len(plan.moves))}{source})."

    def _end_line(self, query: Report, plan: Plan, end: str | None) -> str:
        if end is None:
            move = query.moves[len(plan.places) - 1]
            return f"Ending place: unknown (no statement says where going {move} from {plan.places[-1]} leads)."
        self._count_plan(plan)
        return f"Ending place: {end}."

    def _count_plan(self, plan: Plan) -> None:
        self.tally["plans"] += 1
        self.tally["plans_from_macro"] += plan.from_macro

    def _listing(self, question: str, token_budget: int) -> str:
        """Every statement stored for the mazes the question names, in write order."""
        names = dict.fromkeys(_MAZE_MENTION.findall(question))
        texts = [r.text for name in names if name in self.mazes for r in self.mazes[name].records]
        return pack_lines(list(dict.fromkeys(texts)), token_budget, self.services.count)

    def counters(self) -> dict[str, float | str]:
        mazes = list(self.mazes.values())
        return {
            **{key: self.tally[key] for key in ("offered", "ignored", "repeats")},
            "stored": self.stored,
            "edges": sum(m.graph.number_of_edges() for m in mazes),
            "flapping": sum(m.flapping(p) for m in mazes for p in m.passages),
            "blocked": sum(not p.open for m in mazes for p in m.passages),
            "trips": sum(len(m.trips) for m in mazes),
            "macros": sum(len(m.macros) for m in mazes),
            **{key: self.tally[key] for key in ("replays", "pruned", "plans", "plans_from_macro")},
        }
