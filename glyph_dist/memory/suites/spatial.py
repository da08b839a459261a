"""Spatial suite: one maze per item, places are landmarks on a grid, routes are asked.

A maze is a square grid (easy 3x3 or 4x4, hard 5x5 or 6x6) with a distinct landmark in each cell
("the fountain", "the cake shop", ...). Its open edges are a random spanning tree plus some of the
other cell adjacencies (more in the hard profile, so routes can loop); the rest are walls. Each
open edge has one canonical direction, fixed when the maze is drawn, and is always described by
the same statement, however often and whichever way it is walked (canonical forms; see `forms.py`):
    move     "In maze 17, going north from the fountain leads to the bakery."
The item teaches random walks (which prefer unseen edges) as the move statements of their steps,
in order, plus
    blocked  "In maze 17, going east from the bakery is blocked."   (a wall next to a seen place)
    trip     "In maze 17, a trip from the fountain to the well went north, east, east."
             (reward 1.0; only over edges described by move statements; hard trips may detour
             through a random place, so they loop)
and, in the hard profile, a flapping edge: a seen edge off the asked path, reported blocked and open
again, alternately, after it was first seen. It counts as open when its last report is a move.
Questions, over the graph of the edges seen through move statements:
    route         "In maze 17, what is the shortest route from the fountain to the well?"
                  -> "north, east, east"; start and goal are joined by a unique shortest path of
                  >= 2 steps (hard prefers >= 3), unique even with the flapping edge open.
    end_position  "In maze 17, if you start at the fountain and go north, then east, where do you
                  end up?" -> "the cake shop"; a simple path of 2-4 steps off the flapping edge.
The evidence is the move statements along the answer's path. Route items carry in `meta` the maze,
start, goal, the open seen edges as [place, direction, place] (canonical) and the shortest length.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from itertools import count

from glyph_dist.memory.base import Item, Statement
from glyph_dist.memory.suites.forms import Phrasing

Cell = tuple[int, int]
Edge = frozenset  # of two adjacent cells

STEPS = {"north": (-1, 0), "south": (1, 0), "east": (0, 1), "west": (0, -1)}
LANDMARKS = (
    "the fountain", "the bakery", "the cake shop", "the well", "the clock tower", "the old oak", "the statue",
    "the stone bridge", "the mill", "the chapel", "the library", "the red barn", "the lighthouse", "the pond",
    "the iron gate", "the greenhouse", "the stable", "the forge", "the rose garden", "the tea house",
    "the observatory", "the windmill", "the orchard", "the boathouse", "the bandstand", "the archway",
    "the courtyard", "the pavilion", "the kiosk", "the toy shop", "the flower stall", "the post office",
    "the fire station", "the bookshop", "the watchtower", "the bathhouse", "the sundial", "the obelisk",
    "the cave", "the shrine", "the pier", "the granary", "the workshop", "the lookout", "the topiary",
    "the market hall", "the school", "the dovecote")


@dataclass(frozen=True)
class Profile:
    sides: tuple[int, ...]  # grid side lengths to draw from
    extra_open: float  # chance that an adjacency off the spanning tree is open
    walks: tuple[int, int]  # random walks per item (inclusive range)
    walk_steps: tuple[int, int]  # steps of all walks together
    walls: tuple[int, int]  # blocked reports of walls
    flapping: bool
    trips: tuple[int, int]
    loopy: float  # share of trips that detour through a random place
    asked_trip: float  # share of route items with a trip from start to goal
    question_steps: tuple[int, int]  # moves of an end_position question
    preferred_route: int  # shortest route length preferred when the seen graph has one
    route_share: float


SETTINGS = {
    "easy": Profile(sides=(3, 4), extra_open=0.15, walks=(1, 1), walk_steps=(4, 6), walls=(0, 1), flapping=False,
                    trips=(0, 1), loopy=0.0, asked_trip=0.0, question_steps=(2, 3), preferred_route=2,
                    route_share=0.6),
    "hard": Profile(sides=(5, 6), extra_open=0.3, walks=(2, 3), walk_steps=(8, 14), walls=(1, 3), flapping=True,
                    trips=(1, 2), loopy=0.6, asked_trip=0.3, question_steps=(2, 4), preferred_route=3,
                    route_share=0.6)}


_DIRECTION_OF = {delta: name for name, delta in STEPS.items()}


def direction(a: Cell, b: Cell) -> str:
    """The direction of the step from cell `a` to the adjacent cell `b`."""
    return _DIRECTION_OF[b[0] - a[0], b[1] - a[1]]


class Maze:
    """A grid of landmarks with open edges (a spanning tree plus extras) and walls."""

    def __init__(self, rng: random.Random, number: int, side: int, extra_open: float, phrasing: Phrasing):
        self.phrasing = phrasing
        cells = [(r, c) for r in range(side) for c in range(side)]
        self.number = number
        self.name = dict(zip(cells, rng.sample(LANDMARKS, len(cells))))
        adjacencies = [(a, b) for a in cells for b in ((a[0] + 1, a[1]), (a[0], a[1] + 1)) if b in self.name]
        rng.shuffle(adjacencies)
        root = {cell: cell for cell in cells}

        def find(cell: Cell) -> Cell:
            while root[cell] != cell:
                cell = root[cell] = root[root[cell]]
            return cell

        self.edges: dict[Edge, tuple[Cell, Cell]] = {}  # open edge -> canonical (from, to)
        self.walls: dict[Edge, tuple[Cell, Cell]] = {}
        for a, b in adjacencies:
            ra, rb = find(a), find(b)
            joins = ra != rb
            root[ra] = rb
            oriented = (a, b) if rng.random() < 0.5 else (b, a)
            (self.edges if joins or rng.random() < extra_open else self.walls)[Edge((a, b))] = oriented
        self.neighbours: dict[Cell, list[Cell]] = {cell: [] for cell in cells}
        for a, b in self.edges.values():
            self.neighbours[a].append(b)
            self.neighbours[b].append(a)

    def move(self, edge: Edge) -> str:
        a, b = self.edges[edge]
        return self.phrasing.say("move", (self.number, a, b), maze=f"maze {self.number}", direction=direction(a, b),
                                 origin=self.name[a], target=self.name[b])

    def blocked(self, a: Cell, b: Cell) -> str:
        return self.phrasing.say("blocked", (self.number, a, b), maze=f"maze {self.number}",
                                 direction=direction(a, b), origin=self.name[a])

    def trip(self, path: list[Cell]) -> str:
        return self.phrasing.say("trip", (self.number, *path), maze=f"maze {self.number}", origin=self.name[path[0]],
                                 goal=self.name[path[-1]], moves=", ".join(directions(path)))


def directions(path: list[Cell]) -> list[str]:
    return [direction(a, b) for a, b in zip(path, path[1:])]


def path_edges(path: list[Cell]) -> list[Edge]:
    return [Edge(pair) for pair in zip(path, path[1:])]


def _graph(edges: list[Edge]) -> dict[Cell, list[Cell]]:
    graph: dict[Cell, list[Cell]] = {}
    for edge in edges:
        a, b = sorted(edge)
        graph.setdefault(a, []).append(b)
        graph.setdefault(b, []).append(a)
    return graph


def _bfs(graph: dict[Cell, list[Cell]], source: Cell) -> tuple[dict[Cell, int], dict[Cell, int], dict[Cell, Cell]]:
    """Distances from `source`, the number of shortest paths (capped at 2) and a BFS parent of each cell."""
    distance, paths, parent = {source: 0}, {source: 1}, {}
    queue = deque([source])
    while queue:
        here = queue.popleft()
        for there in graph[here]:
            if there not in distance:
                distance[there], paths[there], parent[there] = distance[here] + 1, paths[here], here
                queue.append(there)
            elif distance[there] == distance[here] + 1:
                paths[there] = min(2, paths[there] + paths[here])
    return distance, paths, parent


def _shortest_path(graph: dict[Cell, list[Cell]], source: Cell, goal: Cell) -> list[Cell]:
    parent = _bfs(graph, source)[2]
    path = [goal]
    while path[-1] != source:
        path.append(parent[path[-1]])
    return path[::-1]


def _walks(rng: random.Random, maze: Maze, settings: Profile) -> list[Edge]:
    """The edges traversed by the item's random walks, in order, with repeats; later walks start at seen places."""
    total, walks = rng.randint(*settings.walk_steps), rng.randint(*settings.walks)
    traversed: list[Edge] = []
    visited: list[Cell] = []
    for w in range(walks):
        here = rng.choice(visited) if visited else rng.choice(list(maze.name))
        previous = None
        for _ in range(total // walks + (w < total % walks)):
            options = maze.neighbours[here]
            fresh = [c for c in options if Edge((here, c)) not in traversed]
            onward = [c for c in options if c != previous] or options
            previous, here = here, rng.choice(fresh if fresh and rng.random() < 0.75 else onward)
            traversed.append(Edge((previous, here)))
            visited += [cell for cell in (previous, here) if cell not in visited]
    return traversed


def _route_ends(rng: random.Random, graph: dict[Cell, list[Cell]], preferred: int) -> tuple[Cell, Cell] | None:
    """Start and goal joined by a unique shortest path of >= 2 steps (>= `preferred` when there are such)."""
    candidates = []
    for start in graph:
        distance, paths, _ = _bfs(graph, start)
        candidates += [(start, goal, d) for goal, d in distance.items() if d >= 2 and paths[goal] == 1]
    if not candidates:
        return None
    longest = max(d for *_, d in candidates)
    start, goal, _ = rng.choice([c for c in candidates if c[2] >= min(preferred, longest)])
    return start, goal


def _simple_path(rng: random.Random, graph: dict[Cell, list[Cell]], steps: int) -> list[Cell] | None:
    """A random path without repeated places of `steps` moves (or the longest found, if >= 2)."""
    best: list[Cell] = []
    for start in rng.sample(list(graph), len(graph)):
        path = [start]
        while len(path) <= steps and (onward := [c for c in graph[path[-1]] if c not in path]):
            path.append(rng.choice(onward))
        best = max(best, path, key=len)
        if len(best) > steps:
            break
    return best if len(best) >= 3 else None


def _trip(rng: random.Random, graph: dict[Cell, list[Cell]], loopy: float,
          ends: tuple[Cell, Cell] | None, avoid: tuple[Cell, Cell] | None) -> list[Cell] | None:
    """A successful trajectory over `graph`: between `ends`, or two random places >= 2 steps apart other
    than `avoid`; with chance `loopy` it detours through a random place."""
    if ends is None:
        start = rng.choice(list(graph))
        distance = _bfs(graph, start)[0]
        goals = [g for g, d in distance.items() if d >= 2 and {start, g} != set(avoid or ())]
        if not goals:
            return None
        ends = (start, rng.choice(goals))
    start, goal = ends
    path = _shortest_path(graph, start, goal)
    if rng.random() < loopy:
        via = rng.choice(list(_bfs(graph, start)[0]))
        detour = _shortest_path(graph, start, via) + _shortest_path(graph, via, goal)[1:]
        if len(detour) <= 13:
            path = detour
    return path


def _build(rng: random.Random, maze: Maze, settings: Profile, kind: str, item_id: str,
           step: count) -> Item | None:
    """One item on `maze`, or None when its walks saw too little for the question. The seen edges, less a
    flapping edge last reported blocked, are the open ones."""
    traversed = _walks(rng, maze, settings)
    seen = list(dict.fromkeys(traversed))
    graph = _graph(seen)
    ends = _route_ends(rng, graph, settings.preferred_route) if kind == "route" else None
    if kind == "route" and ends is None:
        return None
    gold = _shortest_path(graph, *ends) if ends else []
    off_route = [e for e in seen if e not in path_edges(gold)]
    flapping = rng.choice(off_route) if settings.flapping and off_route else None
    solid = _graph([e for e in seen if e != flapping])
    path = gold or _simple_path(rng, solid, rng.randint(*settings.question_steps))
    if path is None:
        return None

    texts = [(maze.move(edge), 0.0) for edge in traversed]
    for t in range(rng.randint(*settings.trips)):
        asked = ends if t == 0 and ends and rng.random() < settings.asked_trip else None
        trip = _trip(rng, solid, settings.loopy, asked, ends)
        if trip:
            texts.insert(rng.randint(0, len(texts)), (maze.trip(trip), 1.0))
    seen_cells = set(graph)
    walls = [(a, b) if a in seen_cells else (b, a) for a, b in maze.walls.values() if {a, b} & seen_cells]
    for a, b in rng.sample(walls, min(len(walls), rng.randint(*settings.walls))):
        texts.insert(rng.randint(0, len(texts)), (maze.blocked(a, b), 0.0))
    if flapping:
        move, blocked = maze.move(flapping), maze.blocked(*maze.edges[flapping])
        position = next(i for i, (text, _) in enumerate(texts) if text == move)
        for report in [blocked, move, blocked][:rng.randint(2, 3)]:
            position = rng.randint(position + 1, len(texts))
            texts.insert(position, (report, 0.0))
        if [text for text, _ in texts if text in (move, blocked)][-1] == blocked:
            seen.remove(flapping)

    question, answer, meta = _question(maze, kind, path, seen)
    return Item(item_id=item_id, suite="spatial", kind=kind,
                teach=tuple(Statement(text, next(step), reward) for text, reward in texts),
                question=question, answer=answer, evidence=tuple(maze.move(e) for e in path_edges(path)), meta=meta)


def _question(maze: Maze, kind: str, path: list[Cell], open_edges: list[Edge]) -> tuple[str, str, dict]:
    """Question, answer and meta of a `kind` item whose answer walks `path`."""
    names = [maze.name[cell] for cell in path]
    moves = directions(path)
    if kind == "route":
        edges = [[maze.name[a], direction(a, b), maze.name[b]] for a, b in (maze.edges[e] for e in open_edges)]
        return (f"In maze {maze.number}, what is the shortest route from {names[0]} to {names[-1]}?",
                ", ".join(moves),
                {"maze": maze.number, "start": names[0], "goal": names[-1], "edges": edges, "shortest": len(moves)})
    return (f"In maze {maze.number}, if you start at {names[0]} and go {', then '.join(moves)}, where do you end up?",
            names[-1], {"maze": maze.number, "start": names[0], "moves": moves})


def generate(n: int, rng: random.Random, profile: str, phrasing: Phrasing, name: str) -> list[Item]:
    settings = SETTINGS[profile]
    numbers = rng.sample(range(1, 10 * n + 90), n)
    step = count()
    items = []
    for i, number in enumerate(numbers):
        kind = "route" if rng.random() < settings.route_share else "end_position"
        while (item := _build(rng, Maze(rng, number, rng.choice(settings.sides), settings.extra_open, phrasing),
                              settings, kind, f"{name}/{i}", step)) is None:
            pass
        items.append(item)
    return items
